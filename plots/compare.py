#!/usr/bin/python3
"""Compares two results folders: two machines, two commits, two kernels.

    /usr/bin/python3 plots/compare.py A B [--out DIR]

For every matrix cell present in both folders, the ratio B/A of each metric's
mean (throughput, latency percentiles, CPU, context switches and memory per
request or connection), a geometric-mean summary per model variant, and
overlaid charts (A dashed, B solid). Writes compare.md, compare.html and the
compare_*.png charts into B (or --out). Exit status: 0 written, 2 bad
arguments or unreadable folders.
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

# (metric, column title, higher is better)
METRICS = (("requests_per_s", "throughput", True), ("p50_us", "p50", False),
           ("p99_us", "p99", False), ("p99_9_us", "p99.9", False),
           ("server_cpu_us_per_request", "CPU/request", False),
           ("server_cs_per_request", "switches/request", False),
           ("server_pss_per_connection_kb", "PSS/connection", False))


@dataclass
class CompareRow:
    key: rs.CellKey
    a: dict[str, Optional[float]]        # metric -> mean in A
    b: dict[str, Optional[float]]        # metric -> mean in B
    ratio: dict[str, Optional[float]]    # metric -> B / A


def _mean(cell: rs.Cell, metric: str) -> Optional[float]:
    st = cell.stat(metric)
    return st.mean if st else None


def compare_rows(res_a: rs.Results, res_b: rs.Results) -> list[CompareRow]:
    """Cells present in both folders, in B's order (workload, model, x)."""
    order = {l: i for i, l in enumerate(_labels(res_a, res_b))}
    keys = [k for k in res_b.cells if k in res_a.cells]
    keys.sort(key=lambda k: (k.workload.sort_key(), order.get(k.label, 0), k.x or 0))
    rows = []
    for k in keys:
        a = {m: _mean(res_a.cells[k], m) for m, _, _ in METRICS}
        b = {m: _mean(res_b.cells[k], m) for m, _, _ in METRICS}
        ratio = {m: (b[m] / a[m] if a[m] and b[m] is not None else None) for m in a}
        rows.append(CompareRow(k, a, b, ratio))
    return rows


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


def write_compare(folder_a: str, folder_b: str, out_dir: Optional[str] = None):
    res_a, res_b = rs.load(folder_a), rs.load(folder_b)
    out_dir = out_dir or res_b.folder
    os.makedirs(out_dir, exist_ok=True)
    rows = compare_rows(res_a, res_b)
    style = charts.Style(_labels(res_a, res_b), model_order=_model_order(res_a, res_b))
    names = (res_a.name, res_b.name)
    if names[0] == names[1]:
        names = ("A", "B")
    chart_list = []
    for wl in res_b.workloads():
        if wl not in res_a.workloads():
            continue
        for metric in charts.COMPARE_METRICS:
            c = charts.compare(res_a, res_b, names, wl, metric, out_dir, style)
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
    args = p.parse_args(argv)
    try:
        rows, chart_list, out_dir = write_compare(args.a, args.b, args.out)
    except (OSError, ValueError) as e:
        print(f"compare.py: {e}", file=sys.stderr)
        return 2
    print(f"{len(rows)} matching cells, {len(chart_list)} charts; "
          f"report: {os.path.join(out_dir, 'compare.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
