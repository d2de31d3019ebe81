#!/usr/bin/python3
"""bench_json.py: merges, prints and checks Google Benchmark JSON of bench/.

  bench_json.py merge OUT.json IN.json...   one {context, benchmarks[]} document
  bench_json.py table FILE.json             a short table on stdout
  bench_json.py check --binary B [--filter RE] --families F1,F2 [--min-time S]
                                            runs B, checks its JSON (the ctests)
  bench_json.py check --file F.json --families F1,F2   checks a merged file

run_bench.sh uses merge and table; CMake registers one `check` per binary.
The check is about behaviour, never timing: the output parses, the expected
families are there, nothing failed, and the counters that state facts hold
them (readiness reports exactly the active descriptors, memory measured all
its items).

Google Benchmark JSON is read by plots/gbench.py, the one reader the charts
use too; it is imported from plots/ next to this folder (standard library
only, so any python3 runs this script).
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "plots"))

from gbench import family, load_json as load, ns_of, short_name  # noqa: E402

# The counter that carries each family's figure, shown in the table.
KEY_COUNTERS = ("ns_per_switch", "ns_per_yield", "ns_per_spawn", "ns_per_wait", "pss_kb_per_item",
                "page_tables_kb_per_item", "kernel_stack_kb_per_item")
MEMORY_ITEMS = 1000  # memory_bench.cpp's kItems
NEEDS_TWO_CPUS = "needs two allowed CPUs"  # the cross_cpu variants' skip message


# --- merge ---------------------------------------------------------------------------------

def merge(out_path, in_paths, extra_context):
    """The first input's context (machine, caches, library) plus this run's
    notes; per-binary date and load average under context.per_executable."""
    docs = []
    for p in in_paths:
        try:
            docs.append(load(p))
        except (OSError, ValueError) as e:  # one failed binary must not lose the rest
            print(f"bench_json.py: skipping {p}: {e}", file=sys.stderr)
    if not docs:
        raise SystemExit("bench_json.py: no benchmark output to merge")
    context = dict(docs[0].get("context", {}))
    context["executable"] = "bench/run_bench.sh"
    context["executables"] = [d.get("context", {}).get("executable", "?") for d in docs]
    context["per_executable"] = {
        d.get("context", {}).get("executable", "?"): {
            "date": d.get("context", {}).get("date"),
            "load_avg": d.get("context", {}).get("load_avg")}
        for d in docs}
    context.update(extra_context)
    benchmarks = [b for d in docs for b in d["benchmarks"]]
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"context": context, "benchmarks": benchmarks}, f, indent=1)
        f.write("\n")
    os.replace(tmp, out_path)
    return len(benchmarks)


# --- table ---------------------------------------------------------------------------------

def fmt_ns(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def table_rows(doc):
    """One row per benchmark: the mean aggregate when repeated, else the run."""
    rows, seen = [], {}
    for b in doc["benchmarks"]:
        name = b.get("run_name") or b.get("name", "?")
        if b.get("error_occurred"):
            rows.append((short_name(name), "ERROR", "", b.get("error_message", "")))
            continue
        is_mean = b.get("run_type") == "aggregate" and b.get("aggregate_name") == "mean"
        is_cv = b.get("run_type") == "aggregate" and b.get("aggregate_name") == "cv"
        if is_cv and name in seen and family(name) != "BM_Memory":
            rows[seen[name]] = rows[seen[name]][:2] + (f"{100 * b['real_time']:.0f}%",) + \
                rows[seen[name]][3:]
            continue
        if b.get("run_type") == "aggregate" and not is_mean:  # (or a memory cv)
            continue
        ns = ns_of(b)
        if ns is None:  # an unknown unit: shown as it is
            ns = float(b["real_time"])
        counters = "  ".join(f"{k}={b[k]:.4g}" for k in KEY_COUNTERS if k in b)
        # A memory benchmark's time is its set-up of 1000 items: not a figure.
        shown = "-" if family(name) == "BM_Memory" else fmt_ns(ns)
        row = (short_name(name), shown, "", counters)
        if name in seen:
            rows[seen[name]] = row  # the mean replaces the single repetitions
        else:
            seen[name] = len(rows)
            rows.append(row)
    return rows


def table(path):
    doc = load(path)
    rows = table_rows(doc)
    width = max([len(r[0]) for r in rows] + [9])
    print(f"{'benchmark':<{width}}  {'time/iter':>10}  {'cv':>4}  counters")
    for name, t, cv, counters in rows:
        print(f"{name:<{width}}  {t:>10}  {cv:>4}  {counters}")


# --- check (ctest) -------------------------------------------------------------------------

def check_doc(doc, families):
    problems = []
    if not isinstance(doc.get("context"), dict):
        problems.append("no context object")
    elif "library_build_note" not in doc["context"]:
        problems.append("context lacks library_build_note")
    benches = [b for b in doc["benchmarks"] if b.get("run_type", "iteration") == "iteration"]
    found = {family(b["name"]) for b in benches}
    for f in families:
        if f not in found:
            problems.append(f"family {f} missing (found {sorted(found)})")
    for b in benches:
        problems += check_bench(b)
    return problems


def check_bench(b):
    name = b["name"]
    if b.get("error_occurred"):
        if b.get("error_message") == NEEDS_TWO_CPUS and len(os.sched_getaffinity(0)) < 2:
            return []  # a cross-CPU variant on a one-CPU machine: skipped by design
        return [f"{name}: {b.get('error_message')}"]
    out = []
    t = b.get("real_time")
    if not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0 or b.get("iterations", 0) < 1:
        out.append(f"{name}: no time measured")
    m = re.search(r"/active:(\d+)/", name)
    if m and b.get("ready_per_wait") != int(m.group(1)):
        out.append(f"{name}: ready_per_wait {b.get('ready_per_wait')} != {m.group(1)}")
    if family(name) == "BM_Memory":
        if b.get("items") != MEMORY_ITEMS:
            out.append(f"{name}: items {b.get('items')} != {MEMORY_ITEMS}")
        if not b.get("pss_kb_per_item", 0) > 0:
            out.append(f"{name}: pss_kb_per_item {b.get('pss_kb_per_item')} not positive")
    if family(name) == "BM_Switch" and not b.get("ns_per_switch", 0) > 0:
        out.append(f"{name}: no ns_per_switch counter")
    return out


def run_binary(args):
    cmd = [args.binary, "--benchmark_format=json", f"--benchmark_min_time={args.min_time}"]
    if args.filter:
        cmd.append(f"--benchmark_filter={args.filter}")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=args.timeout)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        raise SystemExit(f"FAIL: {' '.join(cmd)} exited {proc.returncode}")
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise SystemExit(f"FAIL: output is not JSON: {e}\n{proc.stdout[:500]}")
    return doc


def check(args):
    if args.file:
        doc = load(args.file)
    elif args.binary:
        doc = run_binary(args)
    else:
        raise SystemExit("check needs --binary or --file")
    problems = check_doc(doc, [f for f in args.families.split(",") if f])
    for p in problems:
        print(f"FAIL: {p}", file=sys.stderr)
    if problems:
        raise SystemExit(1)
    names = list(dict.fromkeys(short_name(b["name"]) for b in doc["benchmarks"]
                               if b.get("run_type", "iteration") == "iteration"))
    print(f"ok: {len(names)} benchmarks: {', '.join(names)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("merge")
    m.add_argument("out")
    m.add_argument("inputs", nargs="+")
    m.add_argument("--context", action="append", default=[], metavar="KEY=VALUE")
    t = sub.add_parser("table")
    t.add_argument("file")
    c = sub.add_parser("check")
    c.add_argument("--binary", help="run this benchmark binary and check its output")
    c.add_argument("--filter", default="")
    c.add_argument("--families", default="")
    c.add_argument("--file", help="check this merged file instead of running a binary")
    c.add_argument("--min-time", default="0.01")
    c.add_argument("--timeout", type=float, default=240)
    args = ap.parse_args()
    if args.cmd == "merge":
        extra = dict(kv.split("=", 1) for kv in args.context)
        n = merge(args.out, args.inputs, extra)
        print(f"bench_json.py: {n} results in {args.out}", file=sys.stderr)
    elif args.cmd == "table":
        table(args.file)
    else:
        check(args)


if __name__ == "__main__":
    main()
