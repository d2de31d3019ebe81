"""Shaping of the disk-workload figures (plain values, tested by
plots/tests/test_shaped.py; charts.py draws them, report.py tabulates them).

A disk cell GETs the files of a data set on disk (results.json `workload`
"disk:...", the harness's dataset.h) after the set was evicted from the page
cache, usually with the server in a memory cgroup. Flash's figure (Pai et
al., USENIX 1999) is throughput against the data set's size relative to the
memory the server may cache it in: below 1 the set fits and every model is
CPU-bound; above it reads go to the disk, and a model that blocks its only
thread on a cold read (SPED: reactor:epoll, fiber:hub) falls behind those
that block one connection of many (MP/MT) or hand the read to helpers
(AMPED: reactor:offload, fiber:offload) or to io_uring (reactor:uring).

Cells are grouped into one figure per (file sizes, popularity, connections,
memory limit); the x of a cell is disk.dataset_to_memory_ratio (or the
data set's MiB when the server had no limit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

import results as rs
from stats import Stat, number

# The models Flash's comparison names, by their part in it.
EVENT_LOOPS = ("reactor:epoll", "fiber:hub")          # SPED: one thread blocks on a cold read
OFFLOAD_PAIRS = (("reactor:offload", "reactor:epoll"),  # AMPED against its own SPED
                 ("fiber:offload", "fiber:hub"),
                 ("reactor:uring", "reactor:epoll"))
BLOCKING = ("process:fork", "thread:per-conn", "pool:ready")  # block one connection (MP/MT)


def is_disk(wl: rs.Workload) -> bool:
    return bool(wl.spec) and wl.spec.startswith("disk:")


def disk_params(spec: Optional[str]) -> Optional[dict]:
    """{'files'|'total': str, 'size': str, 'zipf': float} of a disk: spec."""
    if not spec or not spec.startswith("disk:"):
        return None
    out = {}
    for pair in spec[5:].split("&"):
        name, _, value = pair.partition("=")
        out[name] = value
    if "zipf" in out:
        try:
            out["zipf"] = float(out["zipf"])
        except ValueError:
            out["zipf"] = None
    return out


def family(spec: str) -> str:
    """What a figure's cells share: the spec without its amount ("size=16KiB&zipf=0.8")."""
    p = disk_params(spec) or {}
    return "&".join(f"{k}={p[k]:g}" if isinstance(p[k], float) else f"{k}={p[k]}"
                    for k in ("size", "zipf") if k in p)


@dataclass
class FlashPoint:
    x: float                         # data set / memory limit (or MiB without a limit)
    rps: Stat
    p99_us: Optional[Stat]
    read_per_request: Optional[Stat]  # disk bytes read per request
    hit_ratio: Optional[Stat]


@dataclass
class FlashData:
    family: str                      # "size=16KiB&zipf=0.8"
    connections: int
    memory_limit_bytes: Optional[int]
    relative: bool                   # x is a ratio to the memory limit
    series: dict = field(default_factory=dict)   # label -> [FlashPoint] sorted by x

    def points(self, label: str) -> list[FlashPoint]:
        return self.series.get(label, [])

    def at(self, label: str, x: float) -> Optional[FlashPoint]:
        for p in self.points(label):
            if abs(p.x - x) <= 1e-9 * max(1.0, abs(x)):
                return p
        return None

    @property
    def xs(self) -> list[float]:
        return sorted({p.x for pts in self.series.values() for p in pts})


def _run_number(run: rs.Run, dotted: str) -> Optional[float]:
    return number(rs.lookup(run.raw, dotted))


def _cell_x(cell: rs.Cell) -> tuple[Optional[float], bool]:
    ratios = [_run_number(r, "disk.dataset_to_memory_ratio") for r in cell.runs]
    ratios = [v for v in ratios if v is not None]
    if ratios:
        return sum(ratios) / len(ratios), True
    sizes = [_run_number(r, "disk.dataset_bytes") for r in cell.runs]
    sizes = [v for v in sizes if v is not None]
    return (sizes[0] / 2**20, False) if sizes else (None, False)


def _memory_limit(cell: rs.Cell) -> Optional[int]:
    for r in cell.runs:
        v = number(r.raw.get("server_memory_bytes"))
        if v is not None:
            return int(v)
    return None


def flash_data(res: rs.Results) -> list[FlashData]:
    """One FlashData per figure, from the closed-loop disk cells."""
    groups: dict[tuple, FlashData] = {}
    for wl in res.workloads("closed"):
        if not is_disk(wl):
            continue
        for cell in res.cells_of(wl):
            rps = cell.stat("requests_per_s")
            x, relative = _cell_x(cell)
            if rps is None or x is None or cell.key.connections is None:
                continue
            limit = _memory_limit(cell)
            key = (family(wl.spec), cell.key.connections, limit, relative)
            g = groups.setdefault(key, FlashData(key[0], key[1], limit, relative))
            g.series.setdefault(cell.key.label, []).append(FlashPoint(
                x, rps, cell.stat("p99_us"), cell.stat("disk.read_bytes_per_request"),
                cell.stat("disk.page_cache_hit_ratio")))
    order = res.labels()
    out = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2] or 0)):
        g = groups[key]
        g.series = {l: sorted(g.series[l], key=lambda p: p.x) for l in order if l in g.series}
        out.append(g)
    return out


@dataclass
class FlashRatio:
    """One comparison Flash's argument rests on, at one x."""
    x: float
    what: str                # "reactor:offload / reactor:epoll"
    ratio: float


def flash_ratios(data: FlashData) -> list[FlashRatio]:
    """At the smallest and the largest x: each offloading model against its
    own event loop, and against the best model that blocks one connection."""
    xs = data.xs
    if not xs:
        return []
    out = []
    for x in sorted({xs[0], xs[-1]}):
        best_blocking = None
        for label in BLOCKING:
            p = data.at(label, x)
            if p is not None and (best_blocking is None or p.rps.mean > best_blocking[1]):
                best_blocking = (label, p.rps.mean)
        for fast, slow in OFFLOAD_PAIRS:
            a, b = data.at(fast, x), data.at(slow, x)
            if a is None:
                continue
            if b is not None and b.rps.mean > 0:
                out.append(FlashRatio(x, f"{fast} / {slow}", a.rps.mean / b.rps.mean))
            if best_blocking is not None and best_blocking[1] > 0:
                out.append(FlashRatio(x, f"{fast} / {best_blocking[0]} (best blocking)",
                                      a.rps.mean / best_blocking[1]))
    return out


def describe(data: FlashData) -> str:
    p = disk_params("disk:" + data.family) or {}
    size = p.get("size", "?")
    files = "SPECweb99-like files" if size == "specweb" else f"{size} files"
    zipf = p.get("zipf")
    pop = "uniform popularity" if zipf == 0 else f"Zipf({zipf:g}) popularity" if zipf is not None else ""
    limit = (f", server memory limit {rs.format_bytes(data.memory_limit_bytes)}"
             if data.memory_limit_bytes else ", no memory limit")
    return f"{files}, {pop}, {data.connections} connections{limit}"


def slug(data: FlashData) -> str:
    s = f"disk_{data.family}_c{data.connections}"
    if data.memory_limit_bytes:
        s += f"_mem{data.memory_limit_bytes}"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", s.replace("&", "_").replace("=", ""))


@dataclass
class ShareRow:
    """An open-loop disk cell offered a share of its own closed-loop throughput."""
    label: str
    spec: str
    share: float                 # of capacity, e.g. 0.8
    offered_rps: Optional[float]  # mean of its runs' rate_per_s
    rps: Optional[Stat]
    p50_us: Optional[Stat]
    p99_us: Optional[Stat]
    p99_9_us: Optional[Stat]


def share_rows(res: rs.Results) -> list[ShareRow]:
    rows = []
    for wl in res.workloads("open"):
        if not is_disk(wl):
            continue
        for cell in res.cells_of(wl):
            if cell.key.rate_of_capacity is None:
                continue
            offered = [number(r.raw.get("rate_per_s")) for r in cell.runs]
            offered = [v for v in offered if v is not None]
            rows.append(ShareRow(cell.key.label, wl.spec, cell.key.rate_of_capacity,
                                 sum(offered) / len(offered) if offered else None,
                                 cell.stat("requests_per_s"), cell.stat("p50_us"),
                                 cell.stat("p99_us"), cell.stat("p99_9_us")))
    order = {l: i for i, l in enumerate(res.labels())}
    return sorted(rows, key=lambda r: (r.spec, r.share, order.get(r.label, len(order))))
