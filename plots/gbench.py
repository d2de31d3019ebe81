"""The one reader of Google Benchmark JSON (bench/'s micro-benchmarks).

plots/ draws microbench.json through it (results.load attaches it), and
bench/bench_json.py (merge, table, check) imports it from here, so the
format's details (time units, aggregate entries, the option parts Google
Benchmark appends to names) are known in one place.

    import gbench
    doc = gbench.load_json("microbench.json")      # the raw document, checked
    mb = gbench.load_microbench("microbench.json")  # per benchmark statistics

Standard library only: bench_json.py runs under any python3.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Optional

from stats import Stat, number

TIME_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
# Name parts Google Benchmark appends for options, not for the thing measured.
OPTION_PART = re.compile(r"^(real_time|process_time|manual_time|"
                         r"(min_time|min_warmup_time|iterations|repeats):.*)$")
_ARG_PART = re.compile(r"^(?:([A-Za-z_][A-Za-z0-9_]*):)?(\d+)$")


def load_json(path: str) -> dict:
    """The document, checked to be Google Benchmark JSON (a 'benchmarks' array)."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise ValueError(f"{path}: not Google Benchmark JSON (no 'benchmarks' array)")
    return doc


def family(name: str) -> str:
    """'BM_Poll/epoll/1000' -> 'BM_Poll'."""
    return name.split("/", 1)[0]


def short_name(name: str) -> str:
    """The name without the option parts: 'BM_X/8/real_time' -> 'BM_X/8'."""
    return "/".join(p for p in name.split("/") if not OPTION_PART.match(p))


def ns_of(entry: dict) -> Optional[float]:
    """An entry's real time per iteration in nanoseconds, None without one."""
    t = number(entry.get("real_time"))
    scale = TIME_UNIT_NS.get(str(entry.get("time_unit", "ns")))
    return t * scale if t is not None and scale is not None else None


@dataclass
class Bench:
    """One benchmark (all its repetitions): real time per iteration in ns,
    and its user counters (e.g. ns_per_switch, pss_kb_per_item)."""
    name: str
    family: str
    label: str           # the name between the family and a trailing number
    arg: Optional[int]   # the trailing number (e.g. watched fds), if any
    arg_name: Optional[str]
    stat: Stat
    counters: dict[str, Stat] = field(default_factory=dict)

    def value(self, metric: str) -> Optional[Stat]:
        """'real_time' (ns) or a counter's statistics."""
        return self.stat if metric == "real_time" else self.counters.get(metric)


@dataclass
class Microbench:
    context: dict
    benches: list[Bench]
    problems: list[str] = field(default_factory=list)

    def families(self) -> dict[str, list[Bench]]:
        """{family: benches} grouped by the name before the first '/'."""
        out: dict[str, list[Bench]] = {}
        for b in self.benches:
            out.setdefault(b.family, []).append(b)
        return out


# Keys of a Google Benchmark entry that are not user counters.
_BENCH_KEYS = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads",
               "iterations", "real_time", "cpu_time", "time_unit", "aggregate_name",
               "aggregate_unit", "family_index", "per_family_instance_index",
               "error_occurred", "error_message", "label"}


def split_bench_name(name: str):
    """'BM_Poll/epoll/1000' -> ('BM_Poll', 'epoll', 1000, None)."""
    parts = [p for p in name.split("/") if p and not OPTION_PART.match(p)]
    family = parts[0] if parts else name
    rest = parts[1:]
    arg = arg_name = None
    if rest:
        m = _ARG_PART.match(rest[-1])
        if m and m.group(1) != "threads":  # threads:N names a variant, not an x value
            arg_name, arg = m.group(1), int(m.group(2))
            rest = rest[:-1]
    label = "/".join(rest) if rest else family
    return family, label, arg, arg_name


def load_microbench(path: str) -> Microbench:
    """Statistics per benchmark: the mean/median/stddev aggregates when the
    file has them (--benchmark_repetitions), else computed from the entries."""
    raw = load_json(path)
    problems: list[str] = []
    # name -> metric -> values of the iterations; name -> aggregate -> metric -> value
    iterations: dict[str, dict[str, list[float]]] = {}
    aggregates: dict[str, dict[str, dict[str, float]]] = {}
    order: list[str] = []
    for b in raw["benchmarks"]:
        if not isinstance(b, dict) or "name" not in b:
            continue
        name = str(b.get("run_name") or b["name"])
        if b.get("error_occurred"):
            problems.append(f"micro-benchmark {name} failed: {b.get('error_message', '')}")
            continue
        values = _bench_values(b)
        if values is None:
            continue
        if name not in order:
            order.append(name)
        if b.get("run_type") == "aggregate":
            aggregates.setdefault(name, {})[str(b.get("aggregate_name"))] = values
        else:
            for metric, v in values.items():
                iterations.setdefault(name, {}).setdefault(metric, []).append(v)
    benches = []
    for name in order:
        its, aggs = iterations.get(name, {}), aggregates.get(name, {})
        metrics = list(dict.fromkeys(list(its) + list(aggs.get("mean", {}))))
        stats = {m: _bench_stat(its.get(m, []), {a: v[m] for a, v in aggs.items() if m in v})
                 for m in metrics}
        if stats.get("real_time") is None:
            continue
        family, label, arg, arg_name = split_bench_name(name)
        counters = {m: st for m, st in stats.items() if m != "real_time" and st is not None}
        benches.append(Bench(name, family, label, arg, arg_name, stats["real_time"], counters))
    return Microbench(raw.get("context") if isinstance(raw.get("context"), dict) else {}, benches, problems)


def _bench_values(b: dict) -> Optional[dict[str, float]]:
    """{"real_time": ns, counter: value} of one entry; None without a time."""
    ns = ns_of(b)
    if ns is None:
        return None
    if b.get("aggregate_unit") == "percentage":  # the cv aggregate: ratios, not times
        return {}
    values = {"real_time": ns}
    for k, v in b.items():
        if k not in _BENCH_KEYS and number(v) is not None:
            values[k] = number(v)
    return values


def _bench_stat(values: list[float], agg: dict[str, float]) -> Optional[Stat]:
    st = Stat.of(values)
    if "mean" in agg:
        return Stat(agg["mean"], agg.get("median"), agg.get("stddev"),
                    st.min if st else None, st.max if st else None,
                    st.n if st else 0)
    return st
