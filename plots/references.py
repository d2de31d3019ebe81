"""Models against references: each default model's throughput and server
CPU per request as a ratio to each reference server (peer:NAME,
servers/peers/) measured in the same cell.

A ratio carries the 95% interval of the two cells' intervals combined
(uncertainty.cell_interval: repetitions when a cell has two or more, else
its one run's batch means; stats.ratio_interval); "≈" marks a ratio whose
interval includes 1. A peer has no counters block, so the figures that
come from a server's own counters are missing for it (PEER_LACKS); a cell
a peer did not run (its check refused the protocol, or it serves files
only) is "—" with the reason, a failed one "failed".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import results as rs
import uncertainty as unc
from formatting import fmt_ratio
from stats import ratio_interval

# What a peer lacks: it has no counters block (results/README.md,
# peer_config_files), so server_counters are null and the warnings that need
# counters (connections held at the window's end) cannot be given.
PEER_LACKS = ("server_counters (app_requests, backend_*, offload_*, uring_file_reads)",
              "the count of connections the server held at the window's end")

METRICS = (("requests_per_s", "throughput"), ("server_cpu_us_per_request", "CPU/req"))


@dataclass
class Ratio:
    """One model's figure over one peer's in one cell."""
    state: str                    # "ok", "missing", "failed", "no figure"
    low: Optional[float] = None
    ratio: Optional[float] = None
    high: Optional[float] = None

    @property
    def includes_one(self) -> bool:
        return self.ratio is not None and self.low is not None and self.low <= 1.0 <= self.high

    def text(self) -> str:
        """'0.72× (0.66–0.79)', '≈ 1.02× (0.95–1.09)', '—', 'failed'."""
        if self.state != "ok":
            return {"missing": "—", "failed": "failed", "no figure": "n/a"}[self.state]
        if self.low is None or self.high is None or self.high == float("inf"):
            return f"{fmt_ratio(self.ratio)} (no interval)"
        band = f"({self.low:.2f}–{self.high:.2f})"
        return f"≈ {fmt_ratio(self.ratio)} {band}" if self.includes_one else f"{fmt_ratio(self.ratio)} {band}"


@dataclass
class Row:
    workload: rs.Workload
    connections: Optional[int]
    model: str
    peer: str
    ratios: dict[str, Ratio]      # metric -> Ratio
    reps: tuple[int, int]         # successful repetitions: model's, peer's


def peers_of(res: rs.Results) -> list[str]:
    return [l for l in res.labels() if rs.is_peer(l)]


def default_models(res: rs.Results) -> list[str]:
    """The models' default variants that ran (every model label when the
    folder has no registry)."""
    defaults = {f"{m.get('name')}:{m.get('variant')}" for m in res.registry()
                if m.get("default") is True and not m.get("peer")}
    models = [l for l in res.labels() if not rs.is_peer(l)]
    return [l for l in models if l in defaults] if defaults else models


def _ratio(model: Optional[rs.Cell], peer: Optional[rs.Cell], metric: str) -> Ratio:
    if peer is None or model is None:
        return Ratio("missing")
    if not peer.ok_runs or not model.ok_runs:
        return Ratio("failed")
    a, b = unc.cell_interval(model, metric), unc.cell_interval(peer, metric)
    if a is None or b is None:
        return Ratio("no figure")
    r = ratio_interval(a, b)
    if r is None:
        return Ratio("no figure")
    return Ratio("ok", *r)


def rows(res: rs.Results) -> list[Row]:
    """One row per (cell, default model, peer) where the peer ran in that
    workload at all, in the order of the workloads and connection counts."""
    peers, models = peers_of(res), default_models(res)
    out: list[Row] = []
    for wl in res.workloads():
        cells = res.cells_of(wl)
        ran = {c.key.label for c in cells}
        wl_peers = [p for p in peers if p in ran]
        if not wl_peers:
            continue
        for conns in sorted({c.key.connections for c in cells if c.key.connections is not None}):
            at = {c.key.label: c for c in cells if c.key.connections == conns}
            for model in models:
                if model not in at:
                    continue
                for peer in wl_peers:
                    m, p = at.get(model), at.get(peer)
                    out.append(Row(wl, conns, model, peer,
                                   {metric: _ratio(m, p, metric) for metric, _ in METRICS},
                                   (len(m.ok_runs) if m else 0, len(p.ok_runs) if p else 0)))
    return out


def skipped_peers(res: rs.Results) -> list[tuple[str, str]]:
    """[(peer cell key, reason)] of the peers' cells the harness skipped."""
    return [(what, why) for what, why in res.skipped() if what.startswith(rs.PEER_MODEL + "-")]
