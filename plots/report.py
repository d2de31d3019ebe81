#!/usr/bin/python3
"""Charts and report for one results folder.

    /usr/bin/python3 plots/report.py RESULTS_DIR [--out DIR] [--spectrum-connections N]
    ./run_all.sh plot RESULTS_DIR          (the same)

Writes every chart (PNG) plus report.md, report.html and results.csv (one row
per run) into RESULTS_DIR (or --out): findings first (generated sentences with
their numbers and intervals), compact summary tables (best model per workload,
the others as ratios to it with 95% intervals, '≈' within noise, warnings as
footnote markers), the charts (time series first), the machine, failed runs
and warnings, and the command that reproduces the numbers. report.html is self-contained apart from the PNGs
beside it. Exit status: 0 written, 2 bad arguments or no results.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import sys
from dataclasses import dataclass
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import charts  # noqa: E402
import document as doc  # noqa: E402
import formatting as fm  # noqa: E402
import results as rs  # noqa: E402
import disk as dk  # noqa: E402
import references as refs  # noqa: E402
import service as sv  # noqa: E402
import uncertainty as unc  # noqa: E402
from formatting import fmt_ratio, fmt_rps  # noqa: E402


# --- summary: best model per workload -------------------------------------------

@dataclass
class SummaryRow:
    """One closed-loop (workload, connections) cell group of the summary."""
    workload: rs.Workload
    connections: int
    best: Optional[str]                  # model variant with the highest mean req/s
    best_rps: Optional[float]
    rps: dict[str, Optional[float]]      # label -> mean req/s (None: no successful run)
    ratios: dict[str, Optional[float]]   # label -> mean req/s / best_rps
    state: dict[str, str]                # label -> "ok", "failed" or "not run"
    best_p99: Optional[str]              # model variant with the lowest mean p99
    best_p99_us: Optional[float]
    warnings: dict[str, list[str]]       # label -> distinct warnings of its runs


def summary_rows(res: rs.Results) -> list[SummaryRow]:
    rows = []
    labels = res.labels()
    for wl in res.workloads("closed"):
        for x in res.xs(wl):
            rps, p99, state, warnings = {}, {}, {}, {}
            for label in labels:
                cell = res.cell(wl, label, x)
                st = cell.stat("requests_per_s") if cell else None
                lat = cell.stat("p99_us") if cell else None
                rps[label] = st.mean if st else None
                p99[label] = lat.mean if lat else None
                state[label] = ("not run" if cell is None else
                                "ok" if cell.ok_repetitions > 0 or st else "failed")
                found = sorted({w for r in (cell.runs if cell else []) for w in r.warnings})
                if found:
                    warnings[label] = found
            best = _best(rps, max)
            best_p99 = _best(p99, min)
            best_rps = rps[best] if best else None
            ratios = {l: (v / best_rps if v is not None and best_rps else None)
                      for l, v in rps.items()}
            rows.append(SummaryRow(wl, int(x), best, best_rps, rps, ratios, state, best_p99,
                                   p99[best_p99] if best_p99 else None, warnings))
    return rows


def _best(values: dict[str, Optional[float]], pick) -> Optional[str]:
    """The label with the max (or min) value; ties go to the first label."""
    present = [(l, v) for l, v in values.items() if v is not None]
    if not present:
        return None
    target = pick(v for _, v in present)
    return next(l for l, v in present if v == target)


@dataclass
class OpenLoopRow:
    workload: rs.Workload
    label: str
    low_rate: Optional[float]
    low_p99_us: Optional[float]
    knee_rate: Optional[float]     # first offered rate where p99 > 3x low-load p99
    max_achieved: Optional[float]


def openloop_rows(res: rs.Results) -> list[OpenLoopRow]:
    rows = []
    for wl in res.workloads("open"):
        p99 = res.series(wl, "p99_us")
        achieved = res.series(wl, "requests_per_s")
        for label in res.labels():
            pts = p99.get(label, [])
            ach = achieved.get(label, [])
            if not pts and not ach:
                continue
            knee = charts.tail_knee(pts)
            rows.append(OpenLoopRow(wl, label, pts[0][0] if pts else None,
                                    pts[0][1].mean if pts else None,
                                    knee[0] if knee else None,
                                    max((s.mean for _, s in ach), default=None)))
    return rows


def _machine_table(res: rs.Results) -> doc.Table:
    c = res.ctx
    calib = [("syscall (getppid)", c("calibration.syscall_ns"), "ns"),
             ("loopback RTT, same CPU", c("calibration.loopback_rtt_same_cpu_us"), "µs"),
             ("loopback RTT, across CPUs", c("calibration.loopback_rtt_cross_cpu_us"), "µs"),
             ("thread switch", c("calibration.thread_switch_ns"), "ns"),
             ("fiber switch", c("calibration.fiber_switch_ns"), "ns"),
             ("disk random 4 KiB read (median)", c("calibration.disk_random_read_4k_us"), "µs"),
             ("disk random 4 KiB read (p90)", c("calibration.disk_random_read_4k_p90_us"), "µs")]
    ports = (f"{c('limits.ephemeral_port_first')}–{c('limits.ephemeral_port_last')}"
             if c("limits.ephemeral_port_first") is not None else None)
    git = c("git.commit")
    if git and c("git.dirty"):
        git += " (uncommitted changes)"
    rows = [("host", c("host")), ("CPU", c("cpu_model")), ("CPUs online", c("cpus_online")),
            ("pinning", rs.pinning(c("server_cpus"), c("client_cpus"))),
            ("kernel", c("kernel")), ("OS", c("os")),
            ("open files (RLIMIT_NOFILE)", c("limits.nofile")),
            ("ephemeral ports", ports), ("somaxconn", c("limits.somaxconn")),
            ("pid_max", c("limits.pid_max")),
            ("compiler", c("build.compiler")), ("build type", c("build.build_type")),
            ("C++ flags", c("build.flags")), ("sanitizer", c("build.sanitize") or None),
            ("git commit", git), ("started (UTC)", c("date_utc"))]
    rows += [(f"calibration: {name}", f"{fm.fmt_figure(rs.number(v))} {unit}")
             for name, v, unit in calib if rs.number(v) is not None]
    return doc.Table(["", "value"], [[k, str(v)] for k, v in rows if v not in (None, "")])


SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _marker(n: int) -> str:
    return str(n).translate(SUPERSCRIPTS)


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _note_kind(warning: str) -> str:
    """A warning with its numbers masked: runs that differ only in their
    figures ('other processes used 87%' and '...used 140%') share a note."""
    return _NUMBER.sub("#", warning)


def _note_legend(kind: str, examples: list[str]) -> str:
    """The note's text: the warning, its first figure as the range seen."""
    values = sorted({float(m.group()) for w in examples
                     for m in [_NUMBER.search(w)] if m is not None})
    if len(values) <= 1:
        return examples[0]
    lo, hi = values[0], values[-1]
    span = f"{lo:g}–{hi:g}"
    return _NUMBER.sub(lambda _: span, examples[0], count=1)


def _versus_cell(v: unc.Versus, best: Optional[str]) -> str:
    """A short token: '0.60× ±4%', '≈', 'tie', 'CPU 1.08× ±2%', 'failed'."""
    if v.ratio is None:
        return v.state if v.state != "ok" else "—"
    if v.label == best:
        return "1.00×"
    if v.verdict in ("≈", "tie"):
        return v.verdict
    half = v.rel_half
    pm = f" ±{half * 100:.0f}%" if half is not None and half >= 0.005 else \
        (" ±<1%" if half is not None else "")
    prefix = "CPU " if v.basis == "CPU per request" else ""
    return f"{prefix}{fmt_ratio(v.ratio)}{pm}"


def _header_bytes_note(res: rs.Results, wl: rs.Workload, x) -> Optional[str]:
    """'header bytes differ: reactor:epoll 128 B, peer:nginx 236 B' when the
    servers of one cell sent response heads of different sizes (means more
    than half a byte apart): they did different work per request."""
    sizes = {}
    for label in res.labels():
        cell = res.cell(wl, label, x)
        st = cell.stat("response_header_bytes_per_request") if cell else None
        if st is not None:
            sizes[label] = st.mean
    if len(sizes) < 2 or max(sizes.values()) - min(sizes.values()) <= 0.5:
        return None
    return "header bytes differ: " + ", ".join(f"{l} {v:.0f} B" for l, v in sizes.items())


def _summary_tables(res: rs.Results, rows: list[unc.Ranked]) -> list[doc.Block]:
    """Per closed-loop workload, two tables of numbers and short tokens
    only: the best model per connection count, then each model (a row)
    against that best (a column per connection count), so the width grows
    with the connection counts, not with the models; each model's warnings
    are footnote markers with their legend below."""
    labels = res.labels()
    blocks: list[doc.Block] = []
    for wl in res.workloads("closed"):
        wl_rows = [r for r in rows if r.workload == wl]
        best = doc.Table(["connections", "ranked by", "best", "requests/s", "95% CI", "bound by",
                          "lowest p99", "p99"], [], numeric={0, 3, 4, 7}, compact=True,
                         caption=f"{wl.describe()}: the best model per connection count")
        notes: dict[str, int] = {}        # warning kind -> footnote number
        seen: dict[str, list[str]] = {}   # warning kind -> the warnings
        for r in wl_rows:
            ci = r.best_rps.rel if r.best_rps is not None else None
            conns = fm.format_count(r.connections)
            head_note = _header_bytes_note(res, wl, r.connections)
            if head_note:  # its own note (its figures are the point, not masked)
                seen[head_note] = [head_note]
                conns += _marker(notes.setdefault(head_note, len(notes) + 1))
            best.rows.append([conns,
                              "CPU/req" if r.basis == "CPU per request" else "req/s",
                              rs.display_label(r.best) if r.best else "—",
                              fmt_rps(r.best_rps.mean if r.best_rps else None),
                              (f"±{ci * 100:.1f}%" if ci is not None and math.isfinite(ci)
                               else "none" if ci is not None else "—"),
                              r.bound or "—", rs.display_label(r.best_p99) if r.best_p99 else "—",
                              fm.fmt_us(r.best_p99_us)])
        versus = doc.Table(["model:variant"] + [fm.format_count(r.connections) for r in wl_rows],
                           [], numeric=set(range(1, 1 + len(wl_rows))), compact=True,
                           caption=f"{wl.describe()}: each model against the best, "
                                   "per connection count")
        for label in labels:
            cells = []
            for r in wl_rows:
                v = r.versus[label]
                kinds = list(dict.fromkeys(_note_kind(n) for n in v.notes))
                for n in v.notes:
                    seen.setdefault(_note_kind(n), []).append(n)
                text = _versus_cell(v, r.best) + "".join(
                    _marker(notes.setdefault(k, len(notes) + 1)) for k in kinds)
                cells.append(doc.Strong(text) if label == r.best else text)
            versus.rows.append([rs.display_label(label)] + cells)
        blocks += [best, versus]
        if notes:
            blocks.append(doc.Para("Notes: " + " · ".join(
                f"{_marker(i)} {_note_legend(k, seen[k])}" for k, i in notes.items())))
    return blocks


def _reference_blocks(res: rs.Results) -> list[doc.Block]:
    """"Models against references": per workload, each default model's
    throughput and server CPU per request over each peer's (references.py)."""
    rows = refs.rows(res)
    if not rows:
        return []
    b: list[doc.Block] = [doc.Heading("Models against references"), doc.Para(
        "Each default model's throughput and server CPU per request divided by each reference "
        "server's (peer:NAME, servers/peers/) in the same cell, measured in this run. In brackets "
        "the 95% interval of the ratio (the two cells' intervals combined); '≈' where it includes "
        "1. Throughput above 1: the model served more; CPU per request below 1: it spent less. "
        "'reps': successful repetitions, the model's / the peer's. References have no counters "
        "block, so they lack: " + "; ".join(refs.PEER_LACKS) + ".")]
    versions = [f"{p.get('model')}: {p.get('version')}" for p in res.config.get("peers") or []
                if isinstance(p, dict) and p.get("version")]
    if versions:
        b.append(doc.Para("Reference versions: " + "; ".join(versions) + "."))
    by_wl: dict[rs.Workload, list[refs.Row]] = {}
    for r in rows:
        by_wl.setdefault(r.workload, []).append(r)
    for wl, wl_rows in by_wl.items():
        t = doc.Table(["model", "against", "connections"] + [name for _, name in refs.METRICS] + ["reps"],
                      [], numeric={2, 3, 4, 5}, compact=True,
                      caption=f"{wl.describe()}: models against references")
        for r in wl_rows:
            t.rows.append([r.model, rs.display_label(r.peer), fm.format_count(r.connections)]
                          + [r.ratios[m].text() for m, _ in refs.METRICS] + [f"{r.reps[0]}/{r.reps[1]}"])
        b.append(t)
    skipped = refs.skipped_peers(res)
    if skipped:
        reasons: dict[str, list[str]] = {}
        for what, why in skipped:
            reasons.setdefault(why, []).append(what)
        b.append(doc.Para("References not run: " + "; ".join(
            f"{why} ({len(whats)} cell{'s' if len(whats) > 1 else ''})" for why, whats in reasons.items()) + "."))
    return b


def _openloop_table(rows: list[OpenLoopRow]) -> doc.Table:
    t = doc.Table(["workload", "model", "p99 at the lowest rate", "p99 turns up at",
                   "max achieved requests/s"], [], numeric={2, 3, 4},
                  caption=f"Open loop: the first offered rate at which p99 exceeds "
                          f"{charts.KNEE_FACTOR:g}× its low-load value")
    for r in rows:
        low = (f"{fm.fmt_us(r.low_p99_us)} at {fm.format_count(r.low_rate)}/s"
               if r.low_p99_us is not None else "—")
        knee = f"{fm.format_count(r.knee_rate)}/s" if r.knee_rate else "not reached"
        t.rows.append([r.workload.describe(), r.label, low, knee, fmt_rps(r.max_achieved)])
    return t


def _disk_blocks(res: rs.Results) -> list[doc.Block]:
    """Flash's experiment: each model's throughput and the page-cache hit
    ratio per data-set size, the comparisons the result rests on, and the
    latency at a share of each model's capacity."""
    flash = dk.flash_data(res)
    shares = dk.share_rows(res)
    if not flash and not shares:
        return []
    b: list[doc.Block] = [doc.Heading("Disk-bound files")]
    b.append(doc.Para(
        "GETs of a data set on disk, evicted from the page cache before every run, with the "
        "server in a memory cgroup whose limit caps the page cache it can fill. A model whose one "
        "thread blocks on a cold read (reactor:epoll, fiber:hub) stalls every connection; the "
        "per-connection models block one; reactor:offload and fiber:offload hand reads that are "
        "not cached to helper threads (Flash's AMPED, libuv's pool, eventlet's tpool), and "
        "reactor:uring submits them to io_uring, its loop serving the others meanwhile."))
    for data in flash:
        labels = list(data.series)
        t = doc.Table(["data set"] + labels + ["page-cache hit ratio (best model)"], [],
                      numeric=set(range(0, len(labels) + 2)),
                      caption=f"{dk.describe(data)}: requests/s")
        for x in data.xs:
            row = [f"{x:g}×" if data.relative else f"{x:g} MiB"]
            best, hit = None, None
            for label in labels:
                p = data.at(label, x)
                row.append(fmt_rps(p.rps.mean) if p else "—")
                if p and (best is None or p.rps.mean > best):
                    best, hit = p.rps.mean, p.hit_ratio
            row.append(f"{hit.mean:.0%}" if hit is not None else "—")
            t.rows.append(row)
        b.append(t)
        ratios = dk.flash_ratios(data)
        if ratios:
            b.append(doc.Para("Throughput ratios: " + "; ".join(
                f"at {r.x:g}{'×' if data.relative else ' MiB'} {r.what} = {r.ratio:.2f}" for r in ratios) + "."))
    if shares:
        t = doc.Table(["workload", "model", "offered requests/s", "achieved requests/s", "p50", "p99",
                       "p99.9"], [], numeric={2, 3, 4, 5, 6},
                      caption="Open loop at a share of each model's own closed-loop throughput "
                              "(latency corrected for coordinated omission)")
        for r in shares:
            t.rows.append([f"{r.spec}, {r.share:.0%} of capacity", r.label,
                           fmt_rps(r.offered_rps) if r.offered_rps is not None else "—",
                           fmt_rps(r.rps.mean) if r.rps else "failed",
                           fm.fmt_us(r.p50_us.mean) if r.p50_us else "—",
                           fm.fmt_us(r.p99_us.mean) if r.p99_us else "—",
                           fm.fmt_us(r.p99_9_us.mean) if r.p99_9_us else "—"])
        b.append(t)
    return b


def _service_tables(rows: list[sv.ServiceRow]) -> list[doc.Table]:
    """One table per service cell group (workload x connections): which limit
    bound each model and how close it came to its ceiling."""
    tables = []
    groups: dict[tuple, list[sv.ServiceRow]] = {}
    for r in rows:
        groups.setdefault((r.workload, r.connections), []).append(r)
    for (wl, conns), group in groups.items():
        t = doc.Table(["model", "requests/s", "concurrency ceiling", "CPU ceiling", "ceiling",
                       "fraction of ceiling", "bound by"], [], numeric={1, 2, 3, 4, 5},
                      caption=f"{wl.describe()}, {fm.format_count(conns)} connections")
        for r in group:
            c = r.ceiling
            conc = (f"{fmt_rps(c.concurrency_rps)} ({fm.format_count(c.concurrency)} waiting)"
                    if c.concurrency_rps is not None else "—")
            t.rows.append([r.label, fmt_rps(r.rps) if r.rps is not None else "failed", conc,
                           fmt_rps(c.cpu_rps) if c.cpu_rps is not None else "—",
                           fmt_rps(c.rps) if c.rps is not None else "—",
                           f"{r.fraction:.2f}" if r.fraction is not None else "—",
                           r.bound or "—"])
        tables.append(t)
    return tables


def _agents_blocks(res: rs.Results) -> list[doc.Block]:
    """Runs driven from client hosts (--client-hosts): each agent's share, rate, CPU,
    saturation, clock and failure, so a saturated or failing host is seen by name."""
    rows = []
    for r in res.runs:
        for a in r.raw.get("agents") or []:
            cpu = rs.number(a.get("cpu_utilization"))
            offset, rtt = rs.number(a.get("clock_offset_ms")), rs.number(a.get("rtt_ms"))
            rows.append([r.id, str(a.get("host", "?")), str(a.get("connections", "—")),
                         fmt_rps(rs.number(a.get("requests_per_s"))),
                         "—" if cpu is None else f"{cpu * 100:.0f}%",
                         "yes" if a.get("saturated") is True else "no" if a.get("saturated") is False else "—",
                         str(a.get("errors_total")) if a.get("errors_total") is not None else "—",
                         "—" if offset is None else f"{offset:+.3f}",
                         "—" if rtt is None else f"{rtt:.3f}",
                         a.get("failure_reason") or "—"])
    if not rows:
        return []
    return [doc.Heading("Client hosts"),
            doc.Para("Load from client hosts (config.client_hosts): one row per agent and run. "
                     "The runs' figures are all agents' together (histograms merged exactly); a "
                     "saturated agent measured itself, not the server."),
            doc.Table(["run", "host", "conns", "req/s", "CPU", "saturated", "errors",
                       "clock offset ms", "RTT ms", "failure"], rows, numeric={2, 3, 4, 6, 7, 8})]


def _failed_table(res: rs.Results) -> Optional[doc.Table]:
    failed = res.failed_runs()
    if not failed:
        return None
    rows = []
    for r in failed:
        extra = "; ".join(r.warnings + [f"{k}={v}" for k, v in r.errors.items()])
        rows.append([r.id, r.key.describe(), r.failure_reason or r.status, extra])
    return doc.Table(["run", "cell", "reason", "warnings, errors"], rows)


def _warning_table(res: rs.Results) -> Optional[doc.Table]:
    rows = []
    for r in res.runs:
        if r.ok and (r.warnings or r.errors):
            errors = ", ".join(f"{k}={v}" for k, v in r.errors.items())
            rows.append([r.id, "; ".join(r.warnings) or "—", errors or "—"])
    return doc.Table(["run", "warnings", "errors (count by class)"], rows) if rows else None


def _partial_cells(res: rs.Results) -> list[str]:
    out = []
    for cell in res.cells.values():
        if 0 < cell.ok_repetitions < cell.repetitions:
            out.append(f"{cell.key.describe()}: {cell.ok_repetitions} of {cell.repetitions} "
                       "repetitions succeeded; its statistics use those only.")
    return out


# --- the report -------------------------------------------------------------------

SUMMARY_NOTE = (
    "Throughput is the mean over successful repetitions, with its 95% confidence interval "
    "(over repetitions when there are several, else from batch means over the run's time "
    "series). The first table names the best model per connection count; in the second, each "
    "model is a ratio to that best, with the ratio's interval; '≈' "
    "marks a ratio whose interval includes 1.00× (not ranked). Where the load generator "
    "saturated ('ranked by CPU/req'), throughput measures the client, so the models that "
    "saturated it are ranked by server CPU per request ('CPU 1.08×': 8% more CPU per request "
    "than the best; 'tie' when within noise). 'bound by': what limited the best model — "
    "server CPU (≥ 90% of its CPUs), client CPU (load generator saturated), noise (its CPUs "
    "were that full only with the hypervisor's steal and other processes' CPU counted), the "
    "connections or the worker pool (neither CPU full: the closed loop's concurrency) or "
    "errors. Superscripts point to the notes below the tables.")


def build_blocks(res: rs.Results, chart_list: list[charts.Chart]) -> list[doc.Block]:
    b: list[doc.Block] = [doc.Para(_overview(res))]
    ranked = unc.ranked_rows(res)
    # Reference servers named as such wherever a sentence names one.
    found = [re.sub(rf"\b{rs.PEER_MODEL}:[\w.-]+", lambda m: rs.display_label(m.group(0)), s)
             for s in unc.findings(ranked)]
    b.append(doc.Heading("Findings"))
    b.append(doc.Bullets(found) if found else doc.Para("No closed-loop cells to compare."))
    b.append(doc.Heading("Summary: best model per workload"))
    if ranked:
        b.append(doc.Para(SUMMARY_NOTE))
        b += _summary_tables(res, ranked)
    else:
        b.append(doc.Para("No closed-loop cells in this folder."))
    ol = openloop_rows(res)
    if ol:
        b.append(_openloop_table(ol))
    b += _reference_blocks(res)
    service = sv.service_rows(res)
    if service:
        b.append(doc.Heading("Service cells: what bound each model"))
        b.append(doc.Para(
            "For /app workloads with backend calls. Concurrency ceiling: Little's law, the "
            "requests the model can hold waiting at once ÷ the backend wait per request "
            "(connections for models that hold a request on its own thread, process, fiber or "
            "continuation, capped by the backend connections where each waiting request holds "
            "one; the worker pool, 4 × server CPUs by default; 1 where the loop blocks on each "
            "call). CPU ceiling: server CPUs ÷ the server CPU per request measured in that run. "
            "Bound by: 'client' when the load generator saturated its CPUs (which it shares "
            "with the backend), else the lower ceiling when the model reached "
            f"{sv.BOUND_FRACTION:.0%} of it; 'neither' when it stayed below both (something "
            "else held it back)."))
        b += _service_tables(service)
    b += _disk_blocks(res)
    section = None
    for chart in chart_list:
        if chart.section != section:
            section = chart.section
            b.append(doc.Heading(section))
        b.append(doc.Image(chart.filename, chart.title, chart.caption))
    b += [doc.Heading("Machine"), _machine_table(res)]
    noise = _noise_para(res)
    if noise:
        b.append(noise)
    b += _agents_blocks(res)
    b += _problems_blocks(res)
    b += _reproduce_blocks(res)
    return b


def _noise_para(res: rs.Results) -> Optional[doc.Para]:
    """The worst steal and other-process CPU any run saw, if recorded."""
    steal = [v for r in res.runs for v in (rs.number(rs.lookup(r.raw, "noise.steal_server_cpus_pct")),
                                            rs.number(rs.lookup(r.raw, "noise.steal_client_cpus_pct")))
             if v is not None]
    other = [v for r in res.runs
             if (v := rs.number(rs.lookup(r.raw, "noise.other_processes_cpu_pct"))) is not None]
    if not steal and not other:
        return None
    parts = []
    if steal:
        parts.append(f"steal time up to {max(steal):.1f}% of a CPU's time")
    if other:
        parts.append(f"other processes used up to {max(other):.0f}% of one CPU "
                     f"(median {sorted(other)[len(other) // 2]:.0f}%)")
    return doc.Para("Noise during the measured windows: " + "; ".join(parts) + ". Runs above "
                    "2% steal or 10% of a CPU for other processes carry a 'noisy machine' "
                    "warning.")


def _overview(res: rs.Results) -> str:
    ok = sum(1 for r in res.runs if r.ok)
    parts = [f"{len(res.runs)} runs ({ok} succeeded, {len(res.runs) - ok} failed)"]
    profile = res.config.get("profile")
    if profile:
        parts.append(f"profile {profile}")
    dur = rs.number(res.config.get("duration_s"))
    if dur is not None:
        parts.append(f"{dur:g} s measured per run")
    reps = rs.number(res.config.get("repeat"))
    if reps is not None:
        parts.append(f"{int(reps)} repetition{'s' if reps != 1 else ''} per cell")
    if res.microbench:
        parts.append(f"{len(res.microbench.benches)} micro-benchmarks")
    text = f"Results folder {res.name}: " + ", ".join(parts) + "."
    description = res.config.get("description")
    return text + (f" Matrix: {description}" if description else "")


def _problems_blocks(res: rs.Results) -> list[doc.Block]:
    b: list[doc.Block] = [doc.Heading("Failed runs")]
    failed = _failed_table(res)
    b.append(failed if failed else doc.Para("None: every run succeeded."))
    b.append(doc.Heading("Warnings"))
    notes = _partial_cells(res) + list(res.problems)
    notes += [f"not run: {what}" + (f" ({why})" if why else "") for what, why in res.skipped()]
    warn = _warning_table(res)
    if warn:
        b.append(doc.Para("Runs that succeeded with warnings. 'loadgen saturated' means the "
                          "load generator used ≥ 90% of its CPU: the server may have had more "
                          "to give."))
        b.append(warn)
    if notes:
        b.append(doc.Bullets(notes))
    if not warn and not notes:
        b.append(doc.Para("None."))
    return b


def _reproduce_blocks(res: rs.Results) -> list[doc.Block]:
    b: list[doc.Block] = [doc.Heading("How to reproduce")]
    cmd = res.ctx("command")
    commit = res.ctx("git.commit")
    if cmd:
        where = f" at commit {commit}" if commit else ""
        b.append(doc.Para(f"The command that produced these numbers{where}:"))
        b.append(doc.Code(str(cmd)))
    else:
        b.append(doc.Para("results.json does not record the command."))
    b.append(doc.Para("Re-draw the charts and this report from results.json:"))
    b.append(doc.Code(f"./run_all.sh plot {_repo_relative(res.folder)}"))
    return b


def _repo_relative(folder: str) -> str:
    """The folder as run_all.sh (at the repository's top) would name it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.abspath(folder)
    return os.path.relpath(path, root) if path.startswith(root + os.sep) else path


CSV_COLUMNS = (
    ("id", lambda r: r.id), ("model", lambda r: r.key.model), ("variant", lambda r: r.key.variant),
    ("proto", lambda r: r.key.proto), ("workload", lambda r: r.raw.get("workload")),
    ("connections", lambda r: r.key.connections), ("msg_size_bytes", lambda r: r.key.msg_size_bytes),
    ("file_size_bytes", lambda r: r.key.file_size_bytes), ("load", lambda r: r.key.load),
    ("rate_per_s", lambda r: r.key.rate_per_s), ("repetition", lambda r: r.repetition),
    ("status", lambda r: r.status), ("duration_s", lambda r: r.metric("duration_s")),
    ("requests", lambda r: r.metric("requests")),
    ("requests_per_s", lambda r: r.metric("requests_per_s")),
    ("requests_per_s_ci95_low", lambda r: (lambda i: i.low if i else None)(unc.run_interval(r))),
    ("requests_per_s_ci95_high", lambda r: (lambda i: i.high if i else None)(unc.run_interval(r))),
    ("p50_us", lambda r: r.metric("p50_us")), ("p99_us", lambda r: r.metric("p99_us")),
    ("p99_9_us", lambda r: r.metric("p99_9_us")),
    ("server_cpu_us_per_request", lambda r: r.metric("server_cpu_us_per_request")),
    ("server_cs_per_request", lambda r: r.metric("server_cs_per_request")),
    ("server_pss_per_connection_kb", lambda r: r.metric("server_pss_per_connection_kb")),
    ("loadgen_cpu_utilization", lambda r: r.metric("loadgen_cpu_utilization")),
    ("loadgen_saturated", lambda r: rs.lookup(r.raw, "loadgen.saturated")),
    ("errors_total", lambda r: sum(v for k, v in r.errors.items() if k != "late")),
    ("steal_server_cpus_pct", lambda r: r.metric("noise.steal_server_cpus_pct")),
    ("other_processes_cpu_pct", lambda r: r.metric("noise.other_processes_cpu_pct")),
    ("warnings", lambda r: "; ".join(r.warnings)),
)


def write_csv(res: rs.Results, path: str):
    """results.csv: one row per run, for spreadsheets (empty cell = null)."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow([name for name, _ in CSV_COLUMNS])
        for r in res.runs:
            row = []
            for _, get in CSV_COLUMNS:
                v = get(r)
                row.append("" if v is None else ("true" if v is True else "false" if v is False
                                                 else f"{v:.6g}" if isinstance(v, float) else v))
            w.writerow(row)


def write_report(folder: str, out_dir: Optional[str] = None,
                 spectrum_connections=None) -> tuple[rs.Results, list[charts.Chart], str]:
    """Loads the folder, draws the charts and writes report.md/.html into
    out_dir (default: the folder). Returns what it did."""
    res = rs.load(folder)
    out_dir = out_dir or res.folder
    chart_list = charts.render_all(res, out_dir, spectrum_connections)
    blocks = build_blocks(res, chart_list)
    title = f"conc-bench results: {res.name}"
    if res.runs:
        write_csv(res, os.path.join(out_dir, "results.csv"))
    doc.write(os.path.join(out_dir, "report.md"), os.path.join(out_dir, "report.html"),
              title, blocks)
    return res, chart_list, out_dir


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Charts (PNG), report.md and report.html for a "
                                            "results folder.")
    p.add_argument("results_dir", help="results folder holding results.json "
                                       "(e.g. results/latest)")
    p.add_argument("--out", help="write charts and report here instead (default: the folder)")
    p.add_argument("--spectrum-connections", type=int, metavar="N",
                   help="connection count of the latency spectrum chart (default: the largest "
                        "at which most models succeeded)")
    args = p.parse_args(argv)
    try:
        res, chart_list, out_dir = write_report(args.results_dir, args.out,
                                                args.spectrum_connections)
    except (OSError, ValueError) as e:
        print(f"report.py: {e}", file=sys.stderr)
        return 2
    for problem in res.problems:
        print(f"report.py: warning: {problem}", file=sys.stderr)
    print(f"{len(chart_list)} charts; report: {os.path.join(out_dir, 'report.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
