"""The one module that knows the results JSON schema (results/README.md, v1).

Everything else in plots/ reads a results folder through `load(folder)` and
the small classes below, never the raw JSON: when the schema changes, this is
the only file to edit.

The loader is deliberately tolerant. A harness that is killed leaves the runs
finished so far; a failed run keeps only what it measured; a metric that
could not be measured is null. None of that may crash a chart: missing or
malformed values become None and, where worth telling the reader, a line in
`Results.problems`.

    from results import load
    res = load("results/latest")
    for wl in res.workloads():
        for label, points in res.series(wl, "requests_per_s").items(): ...
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Optional

from formatting import format_bytes, format_count
from gbench import Microbench, load_microbench
from stats import Stat, number

SCHEMA_VERSION = 1

# The model order of folders written before results.json recorded the
# registry (config.registry); newer folders take the order from there, so
# colours and table columns follow the server's own list.
FALLBACK_MODEL_ORDER = ("process", "thread", "pool", "reactor", "fiber")
# The model name of the reference servers (servers/peers/): "peer:nginx".
PEER_MODEL = "peer"
REFERENCE_SUFFIX = " (reference)"


def is_peer(label: str) -> bool:
    """Whether a model:variant label is a reference server."""
    return label.split(":", 1)[0] == PEER_MODEL


def display_label(label: str) -> str:
    """A label as charts show it: peers marked as references."""
    return label + REFERENCE_SUFFIX if is_peer(label) else label

# Latency keys of a run's `latency` object, with the percentile each stands for.
LATENCY_PERCENTILES = (
    ("p50_us", 0.50), ("p75_us", 0.75), ("p90_us", 0.90),
    ("p99_us", 0.99), ("p99_9_us", 0.999), ("p99_99_us", 0.9999),
)
ERROR_CLASSES = ("connect", "read", "write", "timeout", "reset", "status", "mismatch", "late")


def lookup(obj, dotted: str):
    """obj["a.b"] or obj["a"]["b"]: README tables name nested keys with dots."""
    if not isinstance(obj, dict):
        return None
    if dotted in obj:
        return obj[dotted]
    head, dot, rest = dotted.partition(".")
    if not dot:
        return None
    return lookup(obj.get(head), rest)


def _ratio(numerator, denominator) -> Optional[float]:
    n, d = number(numerator), number(denominator)
    if n is None or d is None or d <= 0:
        return None
    return n / d


# Per-run metrics by name: where each lives in a runs[] entry. Aggregated
# metrics are looked up by these names in `aggregates[].metrics` (the names
# the harness wrote are Results.aggregate_metrics()); the rest are derived
# here because charts need them per run.
RUN_METRICS: dict[str, Callable[[dict], Optional[float]]] = {
    "requests_per_s": lambda r: number(r.get("requests_per_s")),
    "mb_per_s": lambda r: number(r.get("mb_per_s")),
    "response_header_bytes_per_request": lambda r: number(r.get("response_header_bytes_per_request")),
    "p50_us": lambda r: number(lookup(r, "latency.p50_us")),
    "p99_us": lambda r: number(lookup(r, "latency.p99_us")),
    "p99_9_us": lambda r: number(lookup(r, "latency.p99_9_us")),
    "server_cpu_us_per_request": lambda r: number(lookup(r, "server.cpu_us_per_request")),
    "server_cs_per_request": lambda r: number(lookup(r, "server.cs_per_request")),
    "server_pss_per_connection_kb": lambda r: number(lookup(r, "server.pss_per_connection_kb")),
    "server_pss_peak_kb": lambda r: number(lookup(r, "server.pss_peak_kb")),
    "p75_us": lambda r: number(lookup(r, "latency.p75_us")),
    "p90_us": lambda r: number(lookup(r, "latency.p90_us")),
    "p99_99_us": lambda r: number(lookup(r, "latency.p99_99_us")),
    "max_us": lambda r: number(lookup(r, "latency.max_us")),
    "server_voluntary_cs_per_request":
        lambda r: _ratio(lookup(r, "server.voluntary_cs"), r.get("requests")),
    "server_involuntary_cs_per_request":
        lambda r: _ratio(lookup(r, "server.involuntary_cs"), r.get("requests")),
    "server_pss_idle_kb": lambda r: number(lookup(r, "server.pss_idle_kb")),
    "uncorrected_p99_us": lambda r: number(lookup(r, "latency_uncorrected.p99_us")),
    "loadgen_cpu_utilization": lambda r: number(lookup(r, "loadgen.cpu_utilization")),
    "jain_index": lambda r: number(lookup(r, "fairness.jain_index")),
    "backend_calls": lambda r: number(lookup(r, "server_counters.backend_calls")),
    "backend_cpu_s": lambda r: number(lookup(r, "backend.cpu_s")),
}


def parse_app_query(query: str) -> Optional[dict[str, int]]:
    """'calls=1&delay_us=10' -> {'calls': 1, 'delay_us': 10, ...} with the
    four names of an /app request (0 when absent); None if it is not one."""
    out = {"cpu_us": 0, "calls": 0, "delay_us": 0, "bytes": 0}
    if query:
        for pair in query.split("&"):
            name, eq, value = pair.partition("=")
            if not eq or name not in out or not value.isdigit():
                return None
            out[name] = int(value)
    return out


def app_params(path_or_spec: Optional[str]) -> Optional[dict[str, int]]:
    """The /app parameters of a workload spec ('app:...') or a path
    ('/app?...'); None for anything else."""
    if not isinstance(path_or_spec, str):
        return None
    for prefix in ("app:", "/app?"):
        if path_or_spec.startswith(prefix):
            return parse_app_query(path_or_spec[len(prefix):])
    return None


@dataclass(frozen=True)
class Workload:
    """What the load generator asked for, apart from concurrency (closed loop).

    Open-loop workloads also fix the connection count: their x axis is the
    offered rate.
    """
    proto: str
    msg_size_bytes: Optional[int]
    file_size_bytes: Optional[int]
    load: str = "closed"
    connections: Optional[int] = None
    spec: Optional[str] = None     # results.json's `workload` for app: and mix: ones

    @property
    def is_open(self) -> bool:
        return self.load == "open"

    @property
    def app(self) -> Optional[dict[str, int]]:
        """The /app parameters of an app: workload, else None."""
        return app_params(self.spec)

    @property
    def mix(self) -> Optional[str]:
        return self.spec[4:] if self.spec and self.spec.startswith("mix:") else None

    def describe(self) -> str:
        parts = [self.proto]
        if self.spec:
            parts.append(f"/app?{self.spec[4:]}" if self.app is not None else self.spec)
        if self.msg_size_bytes is not None:
            parts.append(f"{format_bytes(self.msg_size_bytes)} messages")
        if self.file_size_bytes is not None:
            parts.append(f"{format_bytes(self.file_size_bytes)} file")
        if self.is_open:
            parts.append(f"open loop, {format_count(self.connections)} connections")
        else:
            parts.append(f"{self.load} loop")
        return ", ".join(parts)

    def slug(self) -> str:
        """A file-name-safe tag, e.g. 'echo_m64' or 'http_f1024_c100_open'."""
        s = self.proto
        if self.msg_size_bytes is not None:
            s += f"_m{self.msg_size_bytes}"
        if self.file_size_bytes is not None:
            s += f"_f{self.file_size_bytes}"
        if self.spec:
            s += "_" + self.spec.replace(":", "-").replace("&", "-").replace("=", "")
        if self.is_open:
            s += f"_c{self.connections}_open"
        elif self.load != "closed":
            s += f"_{self.load}"
        return re.sub(r"[^A-Za-z0-9_.-]", "-", s)

    def sort_key(self):
        return (self.load != "closed", self.proto, self.msg_size_bytes or 0,
                self.file_size_bytes or 0, self.spec or "", self.connections or 0)


@dataclass(frozen=True)
class CellKey:
    """The keys that identify a matrix cell, in runs[] and aggregates[] alike."""
    model: str
    variant: str
    proto: str
    connections: Optional[int]
    msg_size_bytes: Optional[int]
    file_size_bytes: Optional[int]
    load: str
    rate_per_s: Optional[float]
    workload_spec: Optional[str] = None   # `workload` of app:, mix: and disk: cells
    backend_conns: Optional[int] = None
    server_memory_bytes: Optional[int] = None
    # Open loop at a share of the cell's closed-loop throughput ("80%"): each
    # run's rate_per_s is its own, so the share identifies the cell.
    rate_of_capacity: Optional[float] = None

    @staticmethod
    def of(obj: dict) -> "CellKey":
        def as_int(v):
            v = number(v)
            return int(v) if v is not None else None
        spec = obj.get("workload")
        # file: workloads stay keyed by their size alone, as before workloads.
        spec = spec if isinstance(spec, str) and not spec.startswith("file:") else None
        share = number(obj.get("rate_of_capacity"))
        return CellKey(str(obj.get("model") or "?"), str(obj.get("variant") or ""),
                       str(obj.get("proto") or "?"), as_int(obj.get("connections")),
                       as_int(obj.get("msg_size_bytes")), as_int(obj.get("file_size_bytes")),
                       str(obj.get("load") or "closed"),
                       None if share is not None else number(obj.get("rate_per_s")),
                       spec, as_int(obj.get("backend_conns")), as_int(obj.get("server_memory_bytes")),
                       share)

    @property
    def label(self) -> str:
        """'reactor:epoll', the name a chart legend uses for a model variant."""
        return f"{self.model}:{self.variant}" if self.variant else self.model

    @property
    def workload(self) -> Workload:
        open_loop = self.load == "open"
        return Workload(self.proto, self.msg_size_bytes, self.file_size_bytes, self.load,
                        self.connections if open_loop else None, self.workload_spec)

    @property
    def x(self) -> Optional[float]:
        """Where the cell sits on its workload's x axis."""
        return self.rate_per_s if self.load == "open" else self.connections

    def describe(self) -> str:
        s = f"{self.label} {self.workload.describe()}"
        if self.load == "open":
            s += f", {format_count(self.rate_per_s)} req/s offered"
        else:
            s += f", {format_count(self.connections)} connections"
        return s


class Run:
    """One runs[] entry: a (cell, repetition) measurement."""

    def __init__(self, raw: dict):
        self.raw = raw
        self.key = CellKey.of(raw)

    @property
    def id(self) -> str:
        return str(self.raw.get("id") or f"{self.key.label}_{self.key.proto}_r{self.repetition}")

    @property
    def repetition(self) -> int:
        r = number(self.raw.get("repetition"))
        return int(r) if r is not None else 0

    @property
    def ok(self) -> bool:
        return self.raw.get("status") == "ok"

    @property
    def status(self) -> str:
        return str(self.raw.get("status") or "unknown")

    @property
    def failure_reason(self) -> Optional[str]:
        reason = self.raw.get("failure_reason")
        return str(reason) if reason else None

    @property
    def warnings(self) -> list[str]:
        w = self.raw.get("warnings")
        out = [str(x) for x in w] if isinstance(w, list) else []
        if lookup(self.raw, "loadgen.saturated") is True and not any("saturat" in x for x in out):
            out.append("loadgen saturated")
        return out

    @property
    def errors(self) -> dict[str, int]:
        """Error classes with a non-zero count."""
        errs = self.raw.get("errors")
        if not isinstance(errs, dict):
            return {}
        return {k: int(v) for k, v in errs.items() if number(v) and v > 0}

    def metric(self, name: str) -> Optional[float]:
        fn = RUN_METRICS.get(name)
        return fn(self.raw) if fn else number(lookup(self.raw, name))

    def intervals(self, warmup: bool = False) -> list[dict]:
        """timeseries.intervals of the window (or, with warmup=True, all of
        them, warm-up first); [] when the run has no time series."""
        ts = self.raw.get("timeseries")
        ivs = ts.get("intervals") if isinstance(ts, dict) else None
        if not isinstance(ivs, list):
            return []
        ivs = [i for i in ivs if isinstance(i, dict) and number(i.get("start_s")) is not None]
        return ivs if warmup else [i for i in ivs if i.get("warmup") is not True]

    @property
    def interval_s(self) -> Optional[float]:
        ts = self.raw.get("timeseries")
        return number(ts.get("interval_s")) if isinstance(ts, dict) else None

    def series_values(self, key: str) -> list[float]:
        """One value per full-length window interval (a last interval cut
        short by the window's end is left out: its rate is noisier)."""
        step = self.interval_s
        out = []
        for i in self.intervals():
            d = number(i.get("duration_s"))
            v = number(i.get(key))
            if v is None or d is None or (step and d < step * 0.999):
                continue
            out.append(v)
        return out

    @property
    def hgrm_file(self) -> Optional[str]:
        f = self.raw.get("hgrm_file")
        return f if isinstance(f, str) and f else None


class Cell:
    """A matrix cell: its repetitions and the harness's aggregate, if any."""

    def __init__(self, key: CellKey):
        self.key = key
        self.runs: list[Run] = []
        self.aggregate: Optional[dict] = None

    @property
    def ok_runs(self) -> list[Run]:
        return [r for r in self.runs if r.ok]

    @property
    def repetitions(self) -> int:
        n = number((self.aggregate or {}).get("repetitions"))
        return int(n) if n is not None else len(self.runs)

    @property
    def ok_repetitions(self) -> int:
        n = number((self.aggregate or {}).get("ok_repetitions"))
        return int(n) if n is not None else len(self.ok_runs)

    def stat(self, metric: str) -> Optional[Stat]:
        """The harness's aggregate when it has this metric, else computed here
        from the successful runs (statistics use only those, as the harness's)."""
        agg = lookup(self.aggregate or {}, "metrics." + metric) if self.aggregate else None
        st = Stat.from_aggregate(agg, self.ok_repetitions)
        if st is not None:
            return st
        return Stat.of(r.metric(metric) for r in self.ok_runs)

    def representative_run(self, metric: str = "p99_us") -> Optional[Run]:
        """The successful run with the median value of `metric` (lower median),
        so a single distribution drawn for the cell is a typical one."""
        runs = [r for r in self.ok_runs if r.metric(metric) is not None] or self.ok_runs
        if not runs:
            return None
        runs = sorted(runs, key=lambda r: (r.metric(metric) or 0.0, r.repetition))
        return runs[(len(runs) - 1) // 2]


def label_sort_key(label: str, first_seen: dict[str, int],
                   model_order=FALLBACK_MODEL_ORDER):
    """Models in model_order (unknown ones after, by name), then each model's
    variants in the order first seen."""
    model = label.split(":", 1)[0]
    order = tuple(m for m in model_order if m != PEER_MODEL)
    # Peers (references) come after every model, whatever the order says.
    rank = len(order) + 1 if model == PEER_MODEL else order.index(model) if model in order else len(order)
    return (rank, model if rank == len(order) else "", first_seen.get(label, 0))


@dataclass
class Results:
    """A loaded results folder."""
    folder: str
    schema_version: Optional[int]
    context: dict
    config: dict
    runs: list[Run]
    cells: dict[CellKey, Cell]
    microbench: Optional[Microbench] = None
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return os.path.basename(os.path.abspath(self.folder)) or self.folder

    def ctx(self, dotted: str):
        return lookup(self.context, dotted)

    def registry(self) -> list[dict]:
        """config.registry: the server's models ({name, variant, default,
        ...}) in registry order; [] for folders written before it was kept."""
        reg = self.config.get("registry")
        return [m for m in reg if isinstance(m, dict) and m.get("name")] \
            if isinstance(reg, list) else []

    def app_wait(self, label: str) -> Optional[str]:
        """The registry's app_wait of a model variant ('connection', 'worker',
        'loop'), None when the folder does not say."""
        for m in self.registry():
            if f"{m.get('name')}:{m.get('variant')}" == label:
                w = m.get("app_wait")
                return w if isinstance(w, str) else None
        return None

    def mixes(self) -> dict[str, list[dict]]:
        """config.mixes: name -> [{path, weight}]."""
        m = self.config.get("mixes")
        return m if isinstance(m, dict) else {}

    def model_order(self) -> tuple[str, ...]:
        """Model names in the registry's order (the fallback for old folders)."""
        names = dict.fromkeys(str(m["name"]) for m in self.registry())
        return tuple(names) or FALLBACK_MODEL_ORDER

    def aggregate_metrics(self) -> list[str]:
        """The metric names the harness aggregated, as aggregates[].metrics
        names them (in the order first seen)."""
        names: dict[str, None] = {}
        for cell in self.cells.values():
            metrics = (cell.aggregate or {}).get("metrics")
            if isinstance(metrics, dict):
                names.update(dict.fromkeys(metrics))
        return list(names)

    def labels(self) -> list[str]:
        """Model variants in a stable order: the registry's model order, then
        the order the matrix ran them."""
        first_seen: dict[str, int] = {}
        for cell in self.cells.values():
            first_seen.setdefault(cell.key.label, len(first_seen))
        order = self.model_order()
        return sorted(first_seen, key=lambda l: label_sort_key(l, first_seen, order))

    def workloads(self, load: Optional[str] = None) -> list[Workload]:
        wls = {c.key.workload for c in self.cells.values()
               if load is None or c.key.load == load}
        return sorted(wls, key=Workload.sort_key)

    def cells_of(self, workload: Workload) -> list[Cell]:
        return [c for c in self.cells.values() if c.key.workload == workload]

    def xs(self, workload: Workload) -> list[float]:
        return sorted({c.key.x for c in self.cells_of(workload) if c.key.x is not None})

    def series(self, workload: Workload, metric: str) -> dict[str, list[tuple[float, Stat]]]:
        """{label: [(x, stat)]} sorted by x, only points with a value."""
        out: dict[str, list[tuple[float, Stat]]] = {}
        for cell in self.cells_of(workload):
            st = cell.stat(metric)
            if st is not None and cell.key.x is not None:
                out.setdefault(cell.key.label, []).append((cell.key.x, st))
        order = self.labels()
        return {l: sorted(out[l], key=lambda p: p[0]) for l in order if l in out}

    def cell(self, workload: Workload, label: str, x) -> Optional[Cell]:
        for c in self.cells_of(workload):
            if c.key.label == label and c.key.x == x:
                return c
        return None

    def skipped(self) -> list[tuple[str, str]]:
        """[(what, reason)]: what the matrix asked for but the harness did not
        run (config.skipped)."""
        out = []
        for item in self.config.get("skipped") or []:
            if isinstance(item, dict):
                out.append((str(item.get("what") or "?"), str(item.get("reason") or "")))
            elif item:
                out.append((str(item), ""))
        return out

    def failed_runs(self) -> list[Run]:
        return [r for r in self.runs if not r.ok]

    def machine(self) -> str:
        """'Intel Xeon E5-2680 v4 · 2 CPUs · server CPU 0, client CPU 1'."""
        cpu = str(self.ctx("cpu_model") or "")
        cpu = re.sub(r"\((R|TM|tm|r)\)|\bCPU\b|\s+@.*$", "", cpu)
        cpu = re.sub(r"\s+", " ", cpu).strip() or "unknown CPU"
        cores = number(self.ctx("cpus_online"))
        parts = [cpu]
        if cores is not None:
            parts.append(f"{int(cores)} CPUs")
        parts.append(pinning(self.ctx("server_cpus"), self.ctx("client_cpus")))
        return " · ".join(parts)


def _cpu_list(cpus) -> Optional[str]:
    if not isinstance(cpus, list) or not cpus:
        return None
    return ",".join(str(c) for c in cpus)


def pinning(server_cpus, client_cpus) -> str:
    s, c = _cpu_list(server_cpus), _cpu_list(client_cpus)
    if s is None and c is None:
        return "not pinned"
    return (f"server CPU {s or 'any'}, client CPU {c or 'any'}")


def load(path: str) -> Results:
    """Reads a results folder (or its results.json) and its microbench.json."""
    if os.path.isdir(path):
        folder, json_path = path, os.path.join(path, "results.json")
    else:
        folder, json_path = os.path.dirname(path) or ".", path
    problems: list[str] = []
    raw: dict = {}
    if os.path.exists(json_path):
        with open(json_path, encoding="utf-8") as f:
            raw = json.load(f)
        if not isinstance(raw, dict):
            raise ValueError(f"{json_path}: top level is not a JSON object")
    elif not os.path.exists(os.path.join(folder, "microbench.json")):
        raise FileNotFoundError(f"{json_path}: no results.json (and no microbench.json)")
    version = raw.get("schema_version")
    if raw and version != SCHEMA_VERSION:
        problems.append(f"results.json has schema_version {version!r}; "
                        f"these charts know version {SCHEMA_VERSION}")
    runs, cells = _read_cells(raw, problems)
    res = Results(folder, version, _dict(raw.get("context")), _dict(raw.get("config")),
                  runs, cells, problems=problems)
    mb_path = os.path.join(folder, "microbench.json")
    if os.path.exists(mb_path):
        try:
            res.microbench = load_microbench(mb_path)
            problems.extend(res.microbench.problems)
        except (ValueError, OSError) as e:
            problems.append(f"microbench.json not read: {e}")
    return res


def _dict(v) -> dict:
    return v if isinstance(v, dict) else {}


def _read_cells(raw: dict, problems: list[str]):
    runs: list[Run] = []
    cells: dict[CellKey, Cell] = {}
    for i, r in enumerate(raw.get("runs") or []):
        if not isinstance(r, dict) or not r.get("model"):
            problems.append(f"runs[{i}] has no model: skipped")
            continue
        run = Run(r)
        runs.append(run)
        cells.setdefault(run.key, Cell(run.key)).runs.append(run)
    for i, a in enumerate(raw.get("aggregates") or []):
        if not isinstance(a, dict) or not a.get("model"):
            problems.append(f"aggregates[{i}] has no model: skipped")
            continue
        key = CellKey.of(a)
        cells.setdefault(key, Cell(key)).aggregate = a
    return runs, cells


# --- latency distributions (.hgrm) -------------------------------------------

def read_hgrm(path: str) -> list[tuple[float, float]]:
    """[(percentile as a fraction 0..1, value)] from an HdrHistogram
    percentile-distribution text file; values in the file's own unit."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if len(fields) < 3 or line.lstrip().startswith("#"):
                continue
            try:
                value, pct = float(fields[0]), float(fields[1])
            except ValueError:
                continue  # the header line
            if 0.0 <= pct <= 1.0 and math.isfinite(value):
                rows.append((pct, value))
    return rows


def _value_at(rows: list[tuple[float, float]], p: float) -> Optional[float]:
    for pct, value in rows:
        if pct >= p:
            return value
    return rows[-1][1] if rows else None


def hgrm_scale_to_us(rows, run: Run) -> float:
    """The factor that turns the file's values into microseconds.

    HdrHistogram's text format carries no unit. The load generator writes
    milliseconds (the HdrHistogram/wrk convention); a file in microseconds is
    recognised by comparing its median with the run's p50_us.
    """
    p50_us = run.metric("p50_us")
    median = _value_at(rows, 0.5)
    if p50_us is None or not median:
        return 1000.0
    as_ms = abs(math.log(median * 1000.0 / p50_us)) if p50_us > 0 else math.inf
    as_us = abs(math.log(median / p50_us)) if p50_us > 0 else math.inf
    return 1000.0 if as_ms <= as_us else 1.0


@dataclass
class Spectrum:
    """A latency distribution: percentiles (fractions) and values in µs."""
    points: list[tuple[float, float]]
    source: str  # "hgrm" or "json"
    run: Run


def spectrum(res: Results, run: Run) -> Optional[Spectrum]:
    """The run's distribution from its .hgrm, else the JSON percentiles."""
    candidates = [run.hgrm_file, os.path.join("runs", run.id + ".hgrm")]
    for rel in candidates:
        if not rel:
            continue
        path = rel if os.path.isabs(rel) else os.path.join(res.folder, rel)
        if not os.path.exists(path):
            continue
        try:
            rows = read_hgrm(path)
        except (OSError, UnicodeDecodeError) as e:
            res.problems.append(f"{rel}: not readable ({e})")
            continue
        if rows:
            scale = hgrm_scale_to_us(rows, run)
            return Spectrum([(p, v * scale) for p, v in rows], "hgrm", run)
    pts = [(p, run.metric(k)) for k, p in LATENCY_PERCENTILES]
    pts = [(p, v) for p, v in pts if v is not None]
    return Spectrum(pts, "json", run) if pts else None
