#!/usr/bin/python3
"""Compares two results folders: two machines, two commits, two kernels.

    /usr/bin/python3 plots/compare.py A B [--out DIR] [--fail-on METRIC,...] [--alpha P]

benchstat-style: for every matrix cell present in both folders and each of
throughput, p99 and server CPU per request, A ± its 95% interval, B ± its
interval, the change in %, and the p-value of a two-sided Mann–Whitney U
test — over the repetitions when each side has at least four, else over the
batch means of the runs' time series (uncertainty.py) — with "~" when the
change is not significant (p >= --alpha, 0.05), and the geometric mean of
B/A per workload. Printed as text on stdout and written, with ratios of
every metric, a geometric mean per model variant and overlaid charts (A
dashed, B solid: each metric against connections or rate, and throughput
and p99 over time for every closed-loop cell both have a time series of),
to compare.md, compare.html and compare_*.png in B (or
--out).

Exit status: 0 written, 2 bad arguments or unreadable folders, 1 when a
metric named by --fail-on (e.g. requests_per_s) got significantly worse in
some cell (lower throughput; higher latency or CPU): a script can gate on it.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import charts  # noqa: E402
import document as doc  # noqa: E402
import formatting as fm  # noqa: E402
import results as rs  # noqa: E402
import uncertainty as unc  # noqa: E402
from stats import geomean, mann_whitney  # noqa: E402

# (metric, column title, higher is better)
METRICS = (("requests_per_s", "throughput", True), ("p50_us", "p50", False),
           ("p99_us", "p99", False), ("p99_9_us", "p99.9", False),
           ("server_cpu_us_per_request", "CPU/request", False),
           ("server_cs_per_request", "switches/request", False),
           ("server_pss_per_connection_kb", "PSS/connection", False))


# Metrics tested for significance: (metric, title, unit formatter, higher is better).
TESTED = (("requests_per_s", "throughput", fm.fmt_rps, True),
          ("p99_us", "p99", fm.fmt_us, False),
          ("server_cpu_us_per_request", "CPU/request", fm.fmt_us, False))
ALPHA = 0.05


@dataclass
class Delta:
    """One metric of one cell, A against B."""
    a: Optional[unc.Interval]
    b: Optional[unc.Interval]
    change: Optional[float]       # B / A - 1
    p: Optional[float]
    method: str                   # "repetitions" or "batch means"
    n: tuple[int, int]            # samples the test compared
    significant: bool = False
    worse: bool = False           # significant and in the bad direction


@dataclass
class CompareRow:
    key: rs.CellKey
    a: dict[str, Optional[float]]        # metric -> mean in A
    b: dict[str, Optional[float]]        # metric -> mean in B
    ratio: dict[str, Optional[float]]    # metric -> B / A
    deltas: dict = None                  # metric of TESTED -> Delta


def delta(cell_a: rs.Cell, cell_b: rs.Cell, metric: str, higher_better: bool,
          alpha: float = ALPHA) -> Delta:
    method = unc.test_method(cell_a, cell_b)
    xa = unc.test_samples(cell_a, metric, method)
    xb = unc.test_samples(cell_b, metric, method)
    ia, ib = unc.cell_interval(cell_a, metric), unc.cell_interval(cell_b, metric)
    ma, mb = _mean(cell_a, metric), _mean(cell_b, metric)
    change = mb / ma - 1 if ma and mb is not None else None
    p = mann_whitney(xa, xb) if xa and xb else None
    sig = p is not None and p < alpha
    worse = sig and change is not None and ((change < 0) if higher_better else (change > 0))
    return Delta(ia, ib, change, p, method, (len(xa), len(xb)), sig, worse)


def _mean(cell: rs.Cell, metric: str) -> Optional[float]:
    st = cell.stat(metric)
    return st.mean if st else None


def compare_rows(res_a: rs.Results, res_b: rs.Results, alpha: float = ALPHA) -> list[CompareRow]:
    """Cells present in both folders, in B's order (workload, model, x)."""
    order = {l: i for i, l in enumerate(_labels(res_a, res_b))}
    keys = [k for k in res_b.cells if k in res_a.cells]
    keys.sort(key=lambda k: (k.workload.sort_key(), order.get(k.label, 0), k.x or 0))
    rows = []
    for k in keys:
        a = {m: _mean(res_a.cells[k], m) for m, _, _ in METRICS}
        b = {m: _mean(res_b.cells[k], m) for m, _, _ in METRICS}
        ratio = {m: (b[m] / a[m] if a[m] and b[m] is not None else None) for m in a}
        deltas = {m: delta(res_a.cells[k], res_b.cells[k], m, hb, alpha) for m, _, _, hb in TESTED}
        rows.append(CompareRow(k, a, b, ratio, deltas))
    return rows


def _pm(iv: Optional[unc.Interval], fmt) -> str:
    if iv is None:
        return "—"
    rel = iv.rel
    return f"{fmt(iv.mean)} ±{rel * 100:.0f}%" if rel is not None and math.isfinite(rel) \
        else fmt(iv.mean)


def _change(d: Delta) -> str:
    if d.change is None:
        return "—"
    return f"{d.change * 100:+.1f}%" if d.significant else "~"


def _p(d: Delta) -> str:
    if d.p is None:
        return "—"
    return f"p={d.p:.3f} n={d.n[0]}+{d.n[1]}"


def significance_tables(rows: list[CompareRow], res_b: rs.Results) -> list[doc.Block]:
    """Per workload and tested metric: A ± CI, B ± CI, change (or ~), p, and
    the geometric mean of B / A over the workload's cells."""
    out: list[doc.Block] = []
    for wl in res_b.workloads():
        wl_rows = [r for r in rows if r.key.workload == wl]
        if not wl_rows:
            continue
        for metric, title, fmt, _ in TESTED:
            if all(r.deltas[metric].a is None and r.a[metric] is None for r in wl_rows):
                continue
            t = doc.Table(["cell", "A", "B", "change", "p"], [], numeric={1, 2, 3},
                          caption=f"{wl.describe()}: {title}")
            for r in wl_rows:
                d = r.deltas[metric]
                a = _pm(d.a, fmt) if d.a else fmt(r.a[metric]) if r.a[metric] is not None else "—"
                b = _pm(d.b, fmt) if d.b else fmt(r.b[metric]) if r.b[metric] is not None else "—"
                t.rows.append([_cell_name(r.key), a, b, _change(d), _p(d)])
            g = geomean(r.ratio[metric] for r in wl_rows)
            t.rows.append(["geomean", "", "", f"{(g - 1) * 100:+.1f}%" if g else "—", ""])
            out.append(t)
    return out


def text_report(rows: list[CompareRow], res_b: rs.Results) -> str:
    """The benchstat-like text printed on stdout."""
    lines = []
    for block in significance_tables(rows, res_b):
        lines.append(block.caption)
        widths = [max(len(str(x)) for x in col) for col in zip(block.headers, *block.rows)]
        for row in [block.headers] + block.rows:
            lines.append("  " + "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                          for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        lines.append("")
    return "\n".join(lines)


def regressions(rows: list[CompareRow], metrics: list[str]) -> list[str]:
    """Cells where one of `metrics` got significantly worse."""
    out = []
    for r in rows:
        for m in metrics:
            d = (r.deltas or {}).get(m)
            if d is not None and d.worse:
                out.append(f"{r.key.describe()}: {m} {d.change * 100:+.1f}% (p={d.p:.3g})")
    return out


def geomean_by_label(rows: list[CompareRow]) -> dict[str, dict[str, Optional[float]]]:
    """{label: {metric: geometric mean of B/A over its matched cells}}."""
    acc: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        for m, v in r.ratio.items():
            if v is not None and v > 0:
                acc.setdefault(r.key.label, {}).setdefault(m, []).append(math.log(v))
    return {l: {m: (math.exp(sum(v) / len(v)) if (v := ms.get(m)) else None)
                for m, _, _ in METRICS} for l, ms in acc.items()}


def _model_order(res_a: rs.Results, res_b: rs.Results) -> tuple[str, ...]:
    """B's registry order, then models only A has (an older server)."""
    return tuple(dict.fromkeys(res_b.model_order() + res_a.model_order()))


def _labels(res_a: rs.Results, res_b: rs.Results) -> list[str]:
    seen = {l: i for i, l in enumerate(res_a.labels() + res_b.labels())}
    order = _model_order(res_a, res_b)
    return sorted(seen, key=lambda l: rs.label_sort_key(l, seen, order))


def _cell_name(k: rs.CellKey) -> str:
    if k.load == "open":
        return f"{k.label} @ {fm.format_count(k.rate_per_s)}/s"
    return f"{k.label} @ {fm.format_count(k.connections)} conns"


def _ratio_tables(rows: list[CompareRow], res_b: rs.Results) -> list[doc.Table]:
    tables = []
    for wl in res_b.workloads():
        wl_rows = [r for r in rows if r.key.workload == wl]
        if not wl_rows:
            continue
        t = doc.Table(["cell", "req/s A", "req/s B"] + [title for _, title, _ in METRICS], [],
                      caption=f"{wl.describe()}: B / A", numeric=set(range(1, 3 + len(METRICS))))
        for r in wl_rows:
            t.rows.append([_cell_name(r.key), fm.fmt_rps(r.a["requests_per_s"]),
                           fm.fmt_rps(r.b["requests_per_s"])] +
                          [fm.fmt_ratio(r.ratio[m]) for m, _, _ in METRICS])
        tables.append(t)
    return tables


def _context_table(res_a: rs.Results, res_b: rs.Results) -> doc.Table:
    keys = (("host", "host"), ("CPU", "cpu_model"), ("CPUs", "cpus_online"),
            ("kernel", "kernel"), ("git commit", "git.commit"), ("build", "build.build_type"),
            ("started (UTC)", "date_utc"), ("command", "command"))
    rows = [["pinning", rs.pinning(res_a.ctx("server_cpus"), res_a.ctx("client_cpus")),
             rs.pinning(res_b.ctx("server_cpus"), res_b.ctx("client_cpus"))]]
    rows += [[name, str(res_a.ctx(k) if res_a.ctx(k) is not None else "—"),
              str(res_b.ctx(k) if res_b.ctx(k) is not None else "—")] for name, k in keys]
    return doc.Table(["", f"A: {res_a.name}", f"B: {res_b.name}"], rows)


def build_blocks(res_a, res_b, rows, chart_list) -> list[doc.Block]:
    only_a = [k for k in res_a.cells if k not in res_b.cells]
    only_b = [k for k in res_b.cells if k not in res_a.cells]
    b: list[doc.Block] = [doc.Para(
        f"A = {res_a.folder}, B = {res_b.folder}. {len(rows)} cells in both; ratios are B / A "
        "of the means over successful repetitions: above 1× means B is higher (better for "
        "throughput, worse for latency, CPU, switches and memory).")]
    b += [doc.Heading("Machines"), _context_table(res_a, res_b)]
    b.append(doc.Heading("Summary: geometric mean of B / A per model variant"))
    geo = geomean_by_label(rows)
    if geo:
        b.append(doc.Table(["model:variant"] + [t for _, t, _ in METRICS],
                           [[l] + [fm.fmt_ratio(g[m]) for m, _, _ in METRICS]
                            for l, g in ((l, geo[l]) for l in _labels(res_a, res_b) if l in geo)],
                           numeric=set(range(1, 1 + len(METRICS)))))
    else:
        b.append(doc.Para("No cell has a value in both folders."))
    b.append(doc.Heading("Significance"))
    b.append(doc.Para(
        "Each figure ± the half-width of its 95% interval (over repetitions, or batch means of "
        "the time series with one repetition). 'change' is B / A − 1 when a two-sided "
        "Mann–Whitney U test gives p < 0.05 (over the repetitions when each side has at least "
        "four, else over the batch means of the runs' time series), else '~' (not "
        "significant). The last row of each table is the geometric mean of B / A."))
    b += significance_tables(rows, res_b)
    b.append(doc.Heading("Ratios per cell"))
    b += _ratio_tables(rows, res_b)
    if only_a or only_b:
        b.append(doc.Heading("Cells in one folder only"))
        b.append(doc.Bullets([f"only in A: {k.describe()}" for k in only_a] +
                             [f"only in B: {k.describe()}" for k in only_b]))
    if chart_list:
        b.append(doc.Heading("Charts"))
        b += [doc.Image(c.filename, c.title, c.caption) for c in chart_list]
    return b


def write_compare(folder_a: str, folder_b: str, out_dir: Optional[str] = None,
                  charts_too: bool = True, alpha: float = ALPHA):
    res_a, res_b = rs.load(folder_a), rs.load(folder_b)
    out_dir = out_dir or res_b.folder
    os.makedirs(out_dir, exist_ok=True)
    rows = compare_rows(res_a, res_b, alpha)
    style = charts.Style(_labels(res_a, res_b), model_order=_model_order(res_a, res_b))
    names = (res_a.name, res_b.name)
    if names[0] == names[1]:
        names = ("A", "B")
    chart_list = []
    for wl in res_b.workloads():
        if wl not in res_a.workloads() or not charts_too:
            continue
        for metric in charts.COMPARE_METRICS:
            c = charts.compare(res_a, res_b, names, wl, metric, out_dir, style)
            if c:
                chart_list.append(c)
        if not wl.is_open:
            for x in sorted(set(res_a.xs(wl)) & set(res_b.xs(wl))):
                c = charts.compare_timeseries(res_a, res_b, names, wl, x, out_dir, style)
                if c:
                    chart_list.append(c)
    blocks = build_blocks(res_a, res_b, rows, chart_list)
    doc.write(os.path.join(out_dir, "compare.md"), os.path.join(out_dir, "compare.html"),
              f"conc-bench comparison: {res_a.name} → {res_b.name}", blocks)
    return rows, chart_list, out_dir


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Compare two results folders (B / A).")
    p.add_argument("a", help="baseline results folder")
    p.add_argument("b", help="results folder compared against A")
    p.add_argument("--out", help="where to write compare.md/.html and charts (default: B)")
    p.add_argument("--fail-on", default="", metavar="METRIC,...",
                   help="exit 1 when one of these got significantly worse in some cell: "
                        + ", ".join(m for m, _, _, _ in TESTED))
    p.add_argument("--alpha", type=float, default=ALPHA,
                   help="significance level of the test (default 0.05)")
    p.add_argument("--no-charts", action="store_true", help="tables only (faster)")
    args = p.parse_args(argv)
    fail_on = [m for m in args.fail_on.split(",") if m]
    unknown = [m for m in fail_on if m not in {t[0] for t in TESTED}]
    if unknown or not 0 < args.alpha < 1:
        print(f"compare.py: --fail-on takes {', '.join(t[0] for t in TESTED)}; --alpha in (0, 1)",
              file=sys.stderr)
        return 2
    try:
        rows, chart_list, out_dir = write_compare(args.a, args.b, args.out,
                                                  charts_too=not args.no_charts, alpha=args.alpha)
    except (OSError, ValueError) as e:
        print(f"compare.py: {e}", file=sys.stderr)
        return 2
    print(text_report(rows, rs.load(args.b)))
    print(f"{len(rows)} matching cells, {len(chart_list)} charts; "
          f"report: {os.path.join(out_dir, 'compare.html')}")
    worse = regressions(rows, fail_on)
    for w in worse:
        print(f"regressed: {w}", file=sys.stderr)
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
