"""Uncertainty of a run's and a cell's figures, and an honest ranking.

Per run: the 95% interval of throughput (and of server CPU per request)
from batch means over its time series (stats.batch_means_interval). Per
cell: the t interval over its successful repetitions when it has two or
more, else its one run's batch-means interval (infinite when that run has
no time series: results from before runs recorded one).

Ranking a (workload, connections) row of the summary (the best is one of
the models; reference servers, peer:NAME, get their ratio to it):

- Throughput ranks models, except where the load generator saturated: a
  saturated client measures itself, so models whose runs saturated it are
  ranked by server CPU per request instead (lower is better), which still
  separates servers. The row says which basis it used.
- A ratio whose 95% interval includes 1.0 is not a ranking: "≈" (and for
  two client-bound models whose CPU per request is within noise, "tie").
- What bound the best model: "errors" (more than 1 in 1,000 requests
  failed), "client CPU" (load generator saturated), "server CPU" (the
  server used ≥ 90% of its CPUs), "noise" (its CPUs were that full only
  with the hypervisor's steal and other processes' CPU counted: the
  machine's neighbours were the limit), else the closed loop's concurrency:
  "workers" for a model whose requests hold a worker through their backend
  calls (the registry's app_wait; /app and mix workloads) with more
  connections than its default pool, else "connections".
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Optional

import results as rs
from stats import Interval, batch_means, batch_means_interval, mean_interval, number, \
    ratio_interval

SERVER_CPU_BOUND = 0.90     # of the server's CPUs
ERROR_BOUND = 1e-3          # errors per request
WORKERS_PER_CPU = 4         # the servers' default worker pool (README: --workers)
# Mann–Whitney over repetitions needs four a side to reach p < 0.05.
MIN_REPS_FOR_TEST = 4

# The method of a cell's interval when its one run has no time series.
NO_INTERVAL = "no time series"

# Per-run metric -> the time series key whose batch means give its interval.
SERIES_KEY = {"requests_per_s": "requests_per_s",
              "server_cpu_us_per_request": "server_cpu_us_per_request",
              "p99_us": "p99_us"}


def run_interval(run: rs.Run, metric: str = "requests_per_s") -> Optional[Interval]:
    """Batch-means interval of one run's metric; None without a series."""
    key = SERIES_KEY.get(metric)
    if key is None:
        return None
    iv = batch_means_interval(run.series_values(key))
    if iv is None:
        return None
    # Centre it on the run's own figure (the series' mean of full intervals
    # differs from it by the cut last interval only).
    own = run.metric(metric)
    return Interval(own, iv.half_width, iv.n, iv.method) if own is not None else iv


def cell_interval(cell: Optional[rs.Cell], metric: str = "requests_per_s") -> Optional[Interval]:
    """The cell's 95% interval: over repetitions (2+), else batch means."""
    if cell is None:
        return None
    vals = [r.metric(metric) for r in cell.ok_runs]
    vals = [v for v in vals if v is not None]
    if len(vals) >= 2:
        return mean_interval(vals, "repetitions")
    if len(vals) == 1:
        runs = [r for r in cell.ok_runs if r.metric(metric) is not None]
        # One run without a time series (results written before runs kept
        # one) has no interval at all: an infinite one, so nothing it is
        # compared with is ranked ('≈'), but its figure is still shown.
        return run_interval(runs[0], metric) or Interval(vals[0], math.inf, 1, NO_INTERVAL)
    return None


def test_samples(cell: Optional[rs.Cell], metric: str, method: str) -> list[float]:
    """What a significance test compares: the repetitions' values, or the
    batch means of every repetition's time series pooled."""
    if cell is None:
        return []
    if method == "repetitions":
        return [v for v in (r.metric(metric) for r in cell.ok_runs) if v is not None]
    key = SERIES_KEY.get(metric)
    out: list[float] = []
    for r in cell.ok_runs:
        vals = r.series_values(key) if key else []
        out += batch_means(vals, min(10, len(vals))) if len(vals) >= 2 else []
    return out


def test_method(a: Optional[rs.Cell], b: Optional[rs.Cell]) -> str:
    n = min(len(a.ok_runs) if a else 0, len(b.ok_runs) if b else 0)
    return "repetitions" if n >= MIN_REPS_FOR_TEST else "batch means"


# --- what bound a run ----------------------------------------------------------

def saturated(cell: Optional[rs.Cell]) -> bool:
    """The load generator saturated in most of the cell's successful runs."""
    runs = cell.ok_runs if cell else []
    flags = [rs.lookup(r.raw, "loadgen.saturated") is True for r in runs]
    return bool(flags) and sum(flags) * 2 > len(flags)


def server_cpu_fraction(run: rs.Run, server_cpus: int) -> Optional[float]:
    user, sys_ = number(rs.lookup(run.raw, "server.cpu_user_s")), number(
        rs.lookup(run.raw, "server.cpu_sys_s"))
    dur = number(run.raw.get("duration_s"))
    if user is None or sys_ is None or not dur:
        return None
    return (user + sys_) / dur / max(server_cpus, 1)


def bound_of(cell: Optional[rs.Cell], server_cpus: int, machine_cpus: int) -> Optional[str]:
    """'errors', 'client CPU', 'server CPU', 'noise' or 'concurrency' (see above)."""
    runs = cell.ok_runs if cell else []
    if not runs:
        return None
    req = sum(number(r.raw.get("requests")) or 0 for r in runs)
    errs = sum(sum(r.errors.get(k, 0) for k in r.errors if k != "late") for r in runs)
    if req and errs / req > ERROR_BOUND:
        return "errors"
    if saturated(cell):
        return "client CPU"
    fr = [f for f in (server_cpu_fraction(r, server_cpus) for r in runs) if f is not None]
    if fr and statistics.fmean(fr) >= SERVER_CPU_BOUND:
        return "server CPU"
    taken = [f for f in (neighbours_fraction(r, machine_cpus) for r in runs) if f is not None]
    if fr and taken and statistics.fmean(fr) + statistics.fmean(taken) >= SERVER_CPU_BOUND:
        return "noise"
    return "concurrency"


def neighbours_fraction(run: rs.Run, machine_cpus: int) -> Optional[float]:
    """The share of the server's CPUs that others had in the run's window:
    the hypervisor's steal on them, plus other processes' CPU spread evenly
    over the machine's CPUs (they are not pinned). None without figures."""
    steal = number(rs.lookup(run.raw, "noise.steal_server_cpus_pct"))
    other = number(rs.lookup(run.raw, "noise.other_processes_cpu_pct"))
    if steal is None and other is None:
        return None
    return ((steal or 0.0) + (other or 0.0) / max(machine_cpus, 1)) / 100.0


# --- ranking ----------------------------------------------------------------------

@dataclass
class Versus:
    """One model against the row's best."""
    label: str
    state: str                            # "ok", "failed", "not run"
    basis: str = "throughput"             # what the ratio compares
    ratio: Optional[float] = None         # model / best (throughput or CPU per request)
    low: Optional[float] = None
    high: Optional[float] = None
    verdict: str = ""                     # "best", "lower", "higher", "≈", "tie"
    cpu_ratio: Optional[float] = None     # CPU per request, model / best
    notes: list[str] = field(default_factory=list)   # warnings of its runs

    @property
    def rel_half(self) -> Optional[float]:
        """The interval's half-width as a fraction of the ratio (log scale)."""
        if self.ratio and self.low and self.high:
            return (math.log(self.high) - math.log(self.low)) / 2
        return None


@dataclass
class Ranked:
    workload: rs.Workload
    connections: int
    basis: str                            # "throughput" or "CPU per request"
    best: Optional[str]
    best_rps: Optional[Interval]
    best_cpu: Optional[Interval]
    bound: Optional[str]
    versus: dict[str, Versus]
    best_p99: Optional[str] = None
    best_p99_us: Optional[float] = None


def _verdict(r: Optional[tuple[float, float, float]], higher_word: str, lower_word: str) -> str:
    if r is None:
        return ""
    low, _, high = r
    if low <= 1.0 <= high:
        return "≈"
    return higher_word if low > 1.0 else lower_word


def rank_row(res: rs.Results, wl: rs.Workload, x) -> Ranked:
    labels = res.labels()
    server_cpus = len(res.ctx("server_cpus") or [0])
    cells = {l: res.cell(wl, l, x) for l in labels}
    rps = {l: cell_interval(c, "requests_per_s") for l, c in cells.items()}
    cpu = {l: cell_interval(c, "server_cpu_us_per_request") for l, c in cells.items()}
    sat = {l: saturated(c) for l, c in cells.items()}
    present = [l for l in labels if rps[l] is not None]
    # The best is a model: reference servers (peer:NAME) are measured
    # against it like every model, but rank only where no model has a result.
    rankable = [l for l in present if not rs.is_peer(l)] or present
    basis = "throughput"
    best = max(rankable, key=lambda l: rps[l].mean) if rankable else None
    if best is not None and sat[best]:
        # The client limited the fastest model: among the models that
        # saturated it too (or whose throughput is within noise of the
        # best's), the least CPU per request serves best.
        pool = [l for l in rankable if cpu[l] is not None and
                (sat[l] or _verdict(ratio_interval(rps[l], rps[best]), "", "") == "≈")]
        if len(pool) >= 1 and cpu[best] is not None:
            basis = "CPU per request"
            best = min(pool, key=lambda l: cpu[l].mean)
    versus: dict[str, Versus] = {}
    for l in labels:
        c = cells[l]
        state = ("not run" if c is None else
                 "ok" if rps[l] is not None or (c and c.ok_runs) else "failed")
        v = Versus(l, state)
        v.notes = sorted({w for r in (c.runs if c else []) for w in r.warnings})
        if best is not None and rps[l] is not None:
            cr = ratio_interval(cpu[l], cpu[best]) if cpu[l] and cpu[best] else None
            v.cpu_ratio = cr[1] if cr else None
            client_bound = basis == "CPU per request" and sat[l]
            if client_bound and cr is not None:
                v.basis = "CPU per request"
                v.low, v.ratio, v.high = cr
                v.verdict = "best" if l == best else (
                    "tie" if _verdict(cr, "", "") == "≈" else _verdict(cr, "higher", "lower"))
            else:
                r = ratio_interval(rps[l], rps[best])
                if r is not None:
                    v.low, v.ratio, v.high = r
                    v.verdict = "best" if l == best else _verdict(r, "higher", "lower")
                elif rps[best] and rps[best].mean:
                    v.ratio = rps[l].mean / rps[best].mean
        versus[l] = v
    p99 = {l: (c.stat("p99_us").mean if c and c.stat("p99_us") else None)
           for l, c in cells.items()}
    p99_present = [(l, v) for l, v in p99.items() if v is not None]
    best_p99 = min(p99_present, key=lambda t: t[1]) if p99_present else None
    machine_cpus = int(number(res.ctx("cpus_online")) or server_cpus)
    bound = bound_of(cells.get(best), server_cpus, machine_cpus) if best else None
    if bound == "concurrency":
        # Neither CPU was full: what the closed loop's concurrency was held
        # by: a fixed worker pool smaller than the connections, or the
        # connections themselves (Little's law: connections / latency).
        # A worker is held through a request's backend wait only (the
        # registry's app_wait); other requests free it at once.
        workers = WORKERS_PER_CPU * server_cpus
        waits = bool(wl.app and wl.app.get("calls")) or bool(wl.mix)
        bound = ("workers" if waits and res.app_wait(best) == "worker" and int(x) > workers
                 else "connections")
    return Ranked(wl, int(x), basis, best, rps.get(best) if best else None,
                  cpu.get(best) if best else None, bound, versus,
                  best_p99[0] if best_p99 else None, best_p99[1] if best_p99 else None)


def ranked_rows(res: rs.Results) -> list[Ranked]:
    return [rank_row(res, wl, x) for wl in res.workloads("closed") for x in res.xs(wl)]


# --- findings: sentences with their numbers --------------------------------------

def _pct(h: Optional[float]) -> str:
    return f"±{h * 100:.0f}%" if h is not None and h >= 0.005 else "±<1%" if h is not None else ""


def _conns(n: int) -> str:
    return f"{n / 1000:g}k" if n >= 1000 and n % 100 == 0 else str(n)


def findings(rows: list[Ranked], limit: int = 10) -> list[str]:
    """One sentence per row: the best model against the runner-up, with
    the ratio's interval, or why there is no winner."""
    out = []
    for row in rows:
        if row.best is None:
            continue
        where = f"At {_conns(row.connections)} connections ({row.workload.describe()})"
        bound = f" (bound by {row.bound})" if row.bound else ""
        others = [v for l, v in row.versus.items() if l != row.best and v.ratio is not None]
        # The runner-up is a model where there is one (peers have their own
        # section, "Models against references").
        others = [v for v in others if not rs.is_peer(v.label)] or others
        if not others:
            out.append(f"{where}, only {row.best} has a result.")
            continue
        by_cpu = [v for v in others if v.basis == "CPU per request"]
        if row.basis == "CPU per request" and by_cpu:
            rival = min(by_cpu, key=lambda v: v.ratio)
            if row.best_cpu is not None and row.best_cpu.method == NO_INTERVAL:
                out.append(f"{where} the load generator was the limit; {row.best} needed "
                           f"{1 / rival.ratio:.2f}× the server CPU per request of "
                           f"{rival.label} in one run without a time series: no interval, "
                           f"not ranked.")
            elif rival.verdict == "tie":
                out.append(f"{where} the load generator was the limit for {row.best} and "
                           f"{rival.label}, and their server CPU per request is the same within "
                           f"noise ({rival.ratio:.2f}×, {_pct(rival.rel_half)}): a tie.")
            else:
                out.append(f"{where} the load generator was the limit; ranked by server CPU "
                           f"per request, {row.best} needs {1 / rival.ratio:.2f}× the CPU of "
                           f"{rival.label} ({_pct(rival.rel_half)}).")
            if len(out) >= limit:
                break
            continue
        rival = max((v for v in others if v.basis == "throughput"), key=lambda v: v.ratio,
                    default=None)
        if rival is None:
            continue
        client = " the load generator was the limit, and" if row.basis == "CPU per request" \
            else ""
        cpu = (f" at {1 / rival.cpu_ratio:.2f}× its CPU per request"
               if rival.cpu_ratio else "")
        if row.best_rps is not None and row.best_rps.method == NO_INTERVAL:
            out.append(f"{where},{client} {row.best} measured {1 / rival.ratio:.2f}× "
                       f"{rival.label} in one run without a time series: no interval, "
                       f"not ranked{bound}.")
        elif rival.verdict == "≈":
            out.append(f"{where},{client} {row.best} and {rival.label} are within noise of "
                       f"each other ({1 / rival.ratio:.2f}×, {_pct(rival.rel_half)}): not "
                       f"ranked{bound}.")
        else:
            out.append(f"{where},{client} {row.best} serves {1 / rival.ratio:.2f}× "
                       f"{rival.label} ({_pct(rival.rel_half)}){cpu}{bound}.")
        if len(out) >= limit:
            break
    return out[:limit]
