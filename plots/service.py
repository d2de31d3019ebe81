"""Shaping of the service-workload figures (plain values, tested by
plots/tests/test_shaped.py; charts.py draws them, report.py tabulates them).

A service cell is a closed-loop cell whose workload is `app:` with backend
calls. What can bound a model there:

  * concurrency (Little's law): a request waits calls x delay_us for the
    backend, so at most N requests can be waiting at once, and throughput
    cannot pass N / (calls x delay). N is what holds a waiting request
    (config.registry's app_wait): C connections for "connection" models,
    also capped by the server's backend connections (--backend-conns,
    default 1024 per process) for models that hold one backend connection
    exclusively per waiting request (thread, process, pool, fiber; the
    reactor pipelines calls on its connections, so its cap is C); W workers
    for "worker" models (pool:*, process:prefork: 4 x the server's CPUs by
    default, and no more than C); 1 for "loop" (reactor:uring blocks its
    loop on each call).
  * CPU: server_cpus / (server CPU seconds per request, measured in that
    run).
  * client: the load generator saturated its CPUs (it shares them with the
    backend), so the server may have had more to give.

The ceiling is the smaller of the first two; the bound named for a cell is
"client" when the load generator saturated, else the lower ceiling's when
the model came within BOUND_FRACTION of it, else "neither": something else
held it back (the figures do not say what).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import results as rs
from stats import Stat, number

BOUND_FRACTION = 0.8           # a ceiling reached to 80% is taken as the bound
DEFAULT_BACKEND_CONNS = 1024    # bench_server --backend-conns default (per process)
WORKERS_PER_CPU = 4             # pool and prefork default: 4 x server CPUs
# Models that hold a backend connection to themselves while a request waits.
EXCLUSIVE_BACKEND_MODELS = ("thread", "process", "pool", "fiber")


@dataclass
class Ceiling:
    concurrency: Optional[float]      # requests that can wait at once
    concurrency_rps: Optional[float]  # concurrency / wait per request (None: no wait)
    cpu_rps: Optional[float]          # server CPUs / CPU seconds per request

    @property
    def rps(self) -> Optional[float]:
        present = [v for v in (self.concurrency_rps, self.cpu_rps) if v is not None]
        return min(present) if present else None

    @property
    def binding(self) -> Optional[str]:
        if self.concurrency_rps is None and self.cpu_rps is None:
            return None
        if self.cpu_rps is None or (self.concurrency_rps is not None
                                    and self.concurrency_rps <= self.cpu_rps):
            return "concurrency"
        return "CPU"


def server_cpu_count(res: rs.Results) -> int:
    cpus = res.ctx("server_cpus")
    return len(cpus) if isinstance(cpus, list) and cpus else 1


def is_service(wl: rs.Workload) -> bool:
    app = wl.app
    return not wl.is_open and app is not None and app["calls"] > 0


def concurrency_of(res: rs.Results, label: str, connections: int,
                   backend_conns: Optional[int]) -> Optional[float]:
    """How many requests of this model can wait for the backend at once."""
    wait = res.app_wait(label)
    model = label.split(":", 1)[0]
    cap = backend_conns or DEFAULT_BACKEND_CONNS
    if wait == "connection":
        return float(min(connections, cap) if model in EXCLUSIVE_BACKEND_MODELS else connections)
    if wait == "worker":
        return float(min(WORKERS_PER_CPU * server_cpu_count(res), connections, cap))
    if wait == "loop":
        return 1.0
    return None


def cell_ceiling(res: rs.Results, cell: rs.Cell) -> Ceiling:
    app = cell.key.workload.app or {"calls": 0, "delay_us": 0}
    wait_s = app["calls"] * app["delay_us"] / 1e6
    conc = concurrency_of(res, cell.key.label, cell.key.connections or 0, cell.key.backend_conns)
    conc_rps = conc / wait_s if conc and wait_s > 0 else None
    cpu = cell.stat("server_cpu_us_per_request")
    cpu_rps = (server_cpu_count(res) / (cpu.mean * 1e-6)
               if cpu is not None and cpu.mean and cpu.mean > 0 else None)
    return Ceiling(conc, conc_rps, cpu_rps)


@dataclass
class ServiceRow:
    workload: rs.Workload
    connections: int
    label: str
    rps: Optional[float]
    ceiling: Ceiling
    fraction: Optional[float]    # rps / ceiling
    bound: Optional[str]         # "client", "concurrency", "CPU"; None without a run
    saturated: bool


def service_rows(res: rs.Results) -> list[ServiceRow]:
    rows = []
    for wl in res.workloads("closed"):
        if not is_service(wl):
            continue
        for x in res.xs(wl):
            for label in res.labels():
                cell = res.cell(wl, label, x)
                if cell is None:
                    continue
                st = cell.stat("requests_per_s")
                ceiling = cell_ceiling(res, cell)
                saturated = any(rs.lookup(r.raw, "loadgen.saturated") is True for r in cell.ok_runs)
                rps = st.mean if st else None
                fraction = rps / ceiling.rps if rps is not None and ceiling.rps else None
                bound = None
                if rps is not None:
                    bound = ("client" if saturated else
                             ceiling.binding if fraction is None or fraction >= BOUND_FRACTION
                             else "neither")
                rows.append(ServiceRow(wl, int(x), label, rps, ceiling, fraction, bound, saturated))
    return rows


@dataclass
class DelayData:
    """Throughput vs backend delay at one connection count, for app
    workloads that differ only in delay_us."""
    connections: int
    fixed: str                 # what the workloads share, e.g. "calls=1"
    series: dict               # label -> [(delay_us, Stat of requests/s)]
    ceilings: dict             # label -> [(delay_us, ceiling requests/s)]


def delay_data(res: rs.Results) -> list[DelayData]:
    groups: dict[tuple, dict] = {}
    for wl in res.workloads("closed"):
        if not is_service(wl):
            continue
        app = wl.app
        fixed = (app["calls"], app["cpu_us"], app["bytes"])
        for cell in res.cells_of(wl):
            if cell.key.connections is None:
                continue
            g = groups.setdefault((cell.key.connections, fixed), {"series": {}, "ceilings": {}})
            st = cell.stat("requests_per_s")
            if st is None:
                continue
            g["series"].setdefault(cell.key.label, []).append((app["delay_us"], st))
            ceiling = cell_ceiling(res, cell).rps
            if ceiling is not None:
                g["ceilings"].setdefault(cell.key.label, []).append((app["delay_us"], ceiling))
    out = []
    order = res.labels()
    for (conns, fixed), g in sorted(groups.items()):
        if not g["series"]:
            continue
        calls, cpu_us, nbytes = fixed
        desc = f"calls={calls}" + (f", cpu_us={cpu_us}" if cpu_us else "") + \
            (f", bytes={nbytes}" if nbytes else "")
        out.append(DelayData(conns, desc,
                             {l: sorted(g["series"][l], key=lambda p: p[0])
                              for l in order if l in g["series"]},
                             {l: sorted(g["ceilings"][l]) for l in order if l in g["ceilings"]}))
    return out


@dataclass
class MixPoint:
    mix: str
    heavy_share_pct: float
    light_path: str
    light_p99_us: Stat


@dataclass
class MixData:
    """Light-request p99 vs the heavy requests' share, at one connection count."""
    connections: int
    series: dict               # label -> [(heavy share %, Stat of the light class's p99 µs)]
    points: dict               # label -> [MixPoint]


def _class_cpu(path) -> Optional[int]:
    app = rs.app_params(path)
    if app is not None:
        return app["cpu_us"]
    return 0 if isinstance(path, str) else None


def light_and_share(classes) -> Optional[tuple[dict, float]]:
    """(the light class, the heavy share in %) of a run's results classes:
    light is the class whose /app path has the smaller cpu_us."""
    if not isinstance(classes, list):
        return None
    known = [c for c in classes if isinstance(c, dict) and _class_cpu(c.get("path")) is not None]
    if len(known) < 2:
        return None
    known.sort(key=lambda c: _class_cpu(c.get("path")))
    light = known[0]
    light_cpu = _class_cpu(light.get("path"))
    weights = [number(c.get("weight")) or 0 for c in known]
    total = sum(weights)
    if total <= 0:
        return None
    heavy = sum(w for c, w in zip(known, weights) if _class_cpu(c.get("path")) > light_cpu)
    return light, 100.0 * heavy / total


def mix_data(res: rs.Results) -> list[MixData]:
    groups: dict[int, dict] = {}
    for wl in res.workloads("closed"):
        if wl.mix is None:
            continue
        for cell in res.cells_of(wl):
            values, share, light_path = [], None, None
            for run in cell.ok_runs:
                found = light_and_share(run.raw.get("classes"))
                if found is None:
                    continue
                light, share = found
                light_path = light.get("path")
                values.append(number(rs.lookup(light, "latency.corrected.p99_us")))
            st = Stat.of(values)
            if st is None or share is None or cell.key.connections is None:
                continue
            g = groups.setdefault(cell.key.connections, {})
            g.setdefault(cell.key.label, []).append(MixPoint(wl.mix, share, str(light_path), st))
    out = []
    order = res.labels()
    for conns, by_label in sorted(groups.items()):
        pts = {l: sorted(by_label[l], key=lambda p: p.heavy_share_pct) for l in order if l in by_label}
        out.append(MixData(conns, {l: [(p.heavy_share_pct, p.light_p99_us) for p in v]
                                   for l, v in pts.items()}, pts))
    return out
