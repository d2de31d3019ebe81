"""Writes the checked-in fixture results folders under plots/tests/inputs/.

The fixtures are small, made-up results folders in the harness's format
(results/README.md, schema_version 1), with round numbers so that the tests
can state the expected summary by hand. Run it only to change the fixtures
(and then update the hand-computed numbers in test_plots.py):

    /usr/bin/python3 plots/tests/make_fixtures.py

  quick/     3 models x 2 protocols x 3 connection counts x 2 repetitions,
             .hgrm files for some runs, a microbench.json
  failed/    failed runs, null and missing metrics, a cell without aggregate,
             a run without a model, dotted (flat) keys
  openloop/  open-loop cells: 3 models x 5 offered rates at 100 connections
  service/   /app cells with one backend call (1 ms and 10 ms) at 1000 connections
             for 4 models (one per app_wait kind, and pool:conn's worker pool),
             and two light/heavy mixes at 100 connections with results classes
"""

import json
import math
import os
import shutil
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))
INPUTS = os.path.join(HERE, "inputs")

CONTEXT = {
    "date_utc": "2026-11-23T03:15:00Z",
    "host": "bench-fixture",
    "kernel": "6.1.0-13-amd64",
    "os": "Debian GNU/Linux 12 (bookworm)",
    "cpu_model": "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz",
    "cpus_online": 2,
    "server_cpus": [0],
    "client_cpus": [1],
    "limits": {"nofile": 20000, "ephemeral_port_first": 32768,
               "ephemeral_port_last": 60999, "somaxconn": 4096, "pid_max": 4194304},
    "build": {"compiler": "GNU 12.2.0", "flags": "-O3 -DNDEBUG", "build_type": "Release",
              "sanitize": ""},
    "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
    "command": "build/harness/harness --profile quick --out results/20261123T031500Z",
    "calibration": {"syscall_ns": 95.0, "loopback_rtt_same_cpu_us": 11.5,
                    "loopback_rtt_cross_cpu_us": 18.2, "thread_switch_ns": 1900.0,
                    "fiber_switch_ns": 12.0},
}

LATENCY_KEYS = ("mean_us", "stdev_us", "min_us", "p50_us", "p75_us", "p90_us", "p99_us",
                "p99_9_us", "p99_99_us", "max_us")
AGG_PATHS = {
    "requests_per_s": ("requests_per_s",), "mb_per_s": ("mb_per_s",),
    "p50_us": ("latency", "p50_us"), "p99_us": ("latency", "p99_us"),
    "p99_9_us": ("latency", "p99_9_us"),
    "server_cpu_us_per_request": ("server", "cpu_us_per_request"),
    "server_cs_per_request": ("server", "cs_per_request"),
    "server_pss_per_connection_kb": ("server", "pss_per_connection_kb"),
    "server_pss_peak_kb": ("server", "pss_peak_kb"),
}
CELL_KEYS = ("model", "variant", "proto", "connections", "msg_size_bytes", "file_size_bytes",
             "load", "rate_per_s")


def latency(p50, tail):
    """Percentiles from a median and a tail factor (p99 = p50 * tail)."""
    r = lambda v: round(v, 1)
    return {"mean_us": r(p50 * 1.1), "stdev_us": r(p50 * 0.4), "min_us": r(p50 * 0.2),
            "p50_us": r(p50), "p75_us": r(p50 * 1.15),
            "p90_us": r(p50 * (1.15 + (tail - 1.15) / 2)),
            "p99_us": r(p50 * tail), "p99_9_us": r(p50 * tail * 1.5),
            "p99_99_us": r(p50 * tail * 2.5), "max_us": r(p50 * tail * 4)}


def run_entry(cell, rep, rps, lat, cpu_us, vol_cs, invol_cs, pss_idle, pss_per_conn,
              resp_bytes, util=0.5, warnings=(), errors=None, hgrm=False, duration=2.0):
    requests = int(rps * duration)
    vol, invol = int(round(vol_cs * requests)), int(round(invol_cs * requests))
    cpu_s = cpu_us * requests / 1e6
    rid = "{}-{}_{}_c{}_{}_{}_r{}".format(
        cell["model"], cell["variant"], cell["proto"], cell["connections"],
        f"m{cell['msg_size_bytes']}" if cell["msg_size_bytes"] else f"f{cell['file_size_bytes']}",
        cell["load"] if cell["load"] == "closed" else f"open{int(cell['rate_per_s'])}", rep)
    errs = {k: 0 for k in ("connect", "read", "write", "timeout", "reset", "status",
                           "mismatch", "late")}
    errs.update(errors or {})
    return dict(cell, **{
        "id": rid, "repetition": rep, "status": "ok", "failure_reason": None,
        "warnings": list(warnings), "duration_s": duration, "requests": requests,
        "requests_per_s": float(rps), "mb_per_s": round(rps * resp_bytes / 1e6, 3),
        "latency": lat, "latency_uncorrected": None, "errors": errs,
        "server": {"cpu_user_s": round(cpu_s * 0.4, 4), "cpu_sys_s": round(cpu_s * 0.6, 4),
                   "cpu_us_per_request": cpu_us, "voluntary_cs": vol, "involuntary_cs": invol,
                   "cs_per_request": round((vol + invol) / requests, 5),
                   "pss_idle_kb": pss_idle,
                   "pss_peak_kb": int(pss_idle + pss_per_conn * cell["connections"]),
                   "pss_per_connection_kb": float(pss_per_conn),
                   "threads_peak": 1, "processes_peak": 1},
        "loadgen": {"cpu_user_s": 0.3, "cpu_sys_s": 0.7, "cpu_utilization": util,
                    "saturated": util >= 0.9},
        "hgrm_file": f"runs/{rid}.hgrm" if hgrm else None,
    })


def get_path(obj, path):
    for p in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(p)
    return obj


def aggregates(runs):
    cells = {}
    for r in runs:
        cells.setdefault(tuple(r.get(k) for k in CELL_KEYS), []).append(r)
    out = []
    for key, rs in cells.items():
        ok = [r for r in rs if r["status"] == "ok"]
        metrics = {}
        for name, path in AGG_PATHS.items():
            vals = [v for v in (get_path(r, path) for r in ok) if v is not None]
            if not vals:
                metrics[name] = {"mean": None, "median": None, "stddev": None,
                                 "min": None, "max": None}
                continue
            metrics[name] = {"mean": statistics.fmean(vals), "median": statistics.median(vals),
                             "stddev": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                             "min": min(vals), "max": max(vals)}
        out.append(dict(zip(CELL_KEYS, key), repetitions=len(rs), ok_repetitions=len(ok),
                        metrics=metrics))
    return out


def hgrm_text(lat):
    """An HdrHistogram percentile distribution through the run's percentiles,
    values in milliseconds as the load generator writes them."""
    known = [(0.0, lat["min_us"]), (0.5, lat["p50_us"]), (0.75, lat["p75_us"]),
             (0.9, lat["p90_us"]), (0.99, lat["p99_us"]), (0.999, lat["p99_9_us"]),
             (0.9999, lat["p99_99_us"])]
    total = 100000
    lines = [f"{'Value':>12} {'Percentile':>14} {'TotalCount':>10} {'1/(1-Percentile)':>14}", ""]
    level = 0.0
    while level <= 0.9999:
        for (p0, v0), (p1, v1) in zip(known, known[1:]):
            if p0 <= level <= p1:
                x0, x1 = 1 / (1 - p0), 1 / (1 - p1)
                t = (math.log(1 / (1 - level)) - math.log(x0)) / (math.log(x1) - math.log(x0))
                value = v0 * (v1 / v0) ** t
                break
        lines.append(f"{value / 1000:12.3f} {level:2.12f} {int(level * total):10d} "
                     f"{1 / (1 - level):14.2f}")
        halvings = math.floor(math.log2(1 / (1 - level)))
        level += 1 / (5 * 2 ** (halvings + 1))
    lines.append(f"{lat['max_us'] / 1000:12.3f} {1.0:2.12f} {total:10d}")
    lines.append(f"#[Mean    = {lat['mean_us'] / 1000:12.3f}, StdDeviation   = "
                 f"{lat['stdev_us'] / 1000:12.3f}]")
    lines.append(f"#[Max     = {lat['max_us'] / 1000:12.3f}, Total count    = {total:12d}]")
    lines.append(f"#[Buckets = {27:12d}, SubBuckets     = {2048:12d}]")
    return "\n".join(lines) + "\n"


def dump_one_per_line(doc):
    """JSON with one line per run and per aggregate: small, yet diffable."""
    out = []
    for i, (k, v) in enumerate(doc.items()):
        sep = "," if i + 1 < len(doc) else ""
        if isinstance(v, list) and v:
            items = ",\n  ".join(json.dumps(x) for x in v)
            out.append(f" {json.dumps(k)}: [\n  {items}\n ]{sep}")
        else:
            out.append(f" {json.dumps(k)}: {json.dumps(v)}{sep}")
    return "{\n" + "\n".join(out) + "\n}\n"


def write_folder(name, doc, hgrm_runs=(), extra_files=None):
    folder = os.path.join(INPUTS, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.join(folder, "runs") if hgrm_runs else folder, exist_ok=True)
    with open(os.path.join(folder, "results.json"), "w") as f:
        f.write(dump_one_per_line(doc))
    for r in hgrm_runs:
        with open(os.path.join(folder, r["hgrm_file"]), "w") as f:
            f.write(hgrm_text(r["latency"]))
    for fname, content in (extra_files or {}).items():
        with open(os.path.join(folder, fname), "w") as f:
            json.dump(content, f, indent=1)
            f.write("\n")


def cell(model, variant, proto, conns, load="closed", rate=None):
    return {"model": model, "variant": variant, "proto": proto, "connections": conns,
            "msg_size_bytes": 64 if proto == "echo" else None,
            "file_size_bytes": 1024 if proto == "http" else None,
            "load": load, "rate_per_s": rate}


# quick: throughput(model, proto, c, rep) = BASE * SCALE[c] * (1.08 if rep else 1)
QUICK_MODELS = {
    #  label: (model, variant, base echo, base http, scale by connections,
    #          p99/p50, cpu us/req echo, vol cs/req, invol cs/req, pss idle, pss/conn)
    "thread:per-conn": ("thread", "per-conn", 30000, 15000, {10: 0.8, 100: 1.0, 1000: 0.5},
                        4.0, 25.0, 2.0, 0.3, 2100, 80.0),
    "reactor:epoll": ("reactor", "epoll", 50000, 20000, {10: 0.6, 100: 1.0, 1000: 0.95},
                      1.5, 10.0, 0.02, 0.005, 2000, 2.0),
    "fiber:hub": ("fiber", "hub", 45000, 19000, {10: 0.6, 100: 1.0, 1000: 0.9},
                  1.4, 12.0, 0.03, 0.01, 2200, 16.0),
}


def quick():
    runs, hgrm_runs = [], []
    for proto in ("echo", "http"):
        for conns in (10, 100, 1000):
            for label, m in QUICK_MODELS.items():
                model, variant, b_echo, b_http, scale, tail, cpu, vcs, ics, idle, per = m
                for rep in (0, 1):
                    rps = (b_echo if proto == "echo" else b_http) * scale[conns]
                    rps = round(rps * (1.08 if rep else 1.0))
                    p50 = conns / rps * 1e6 / 1.2
                    c = cell(model, variant, proto, conns)
                    saturated = model == "reactor" and proto == "echo" and conns == 1000
                    errors = {"timeout": 3} if label == "thread:per-conn" and conns == 1000 \
                        and rep == 1 else None
                    warnings = (["loadgen saturated"] if saturated else []) + \
                        (["errors during run"] if errors else [])
                    r = run_entry(c, rep, rps, latency(p50, tail),
                                  cpu * (2 if proto == "http" else 1) + rep, vcs, ics, idle,
                                  per, 64 if proto == "echo" else 1024 + 150,
                                  util=0.95 if saturated else 0.5, warnings=warnings,
                                  errors=errors, hgrm=model != "thread" and rep == 1)
                    r["server"]["threads_peak"] = conns + 1 if model == "thread" else 1
                    runs.append(r)
                    if r["hgrm_file"]:
                        hgrm_runs.append(r)
    cells = sorted({(r["model"], r["variant"], r["proto"], r["connections"]) for r in runs})
    doc = {"schema_version": 1, "context": CONTEXT,
           "config": {"profile": "quick",
                      "description": "quick: default variants, echo and http, 10/100/1000 "
                                     "connections, closed loop",
                      "duration_s": 2.0, "warmup_s": 0.5, "repeat": 2, "skipped": [],
                      "loadgen_threads": 1,
                      "cells": [cell(*c) for c in cells]},
           "runs": runs, "aggregates": aggregates(runs)}
    write_folder("quick", doc, hgrm_runs, {"microbench.json": microbench()})


def microbench():
    """Google Benchmark JSON shaped like bench/run_bench.sh's (bench/README.md):
    options in the names (/real_time, /iterations:1), figures in counters."""
    def it(name, t, unit="ns", iters=1000000, **counters):
        return dict({"name": name, "run_name": name, "run_type": "iteration",
                     "repetitions": 1, "repetition_index": 0, "threads": 1,
                     "iterations": iters, "real_time": t, "cpu_time": t, "time_unit": unit},
                    **counters)

    def agg(name, agg_name, t, unit="ns", **counters):
        return dict({"name": f"{name}_{agg_name}", "run_name": name, "run_type": "aggregate",
                     "repetitions": 3, "threads": 1, "aggregate_name": agg_name,
                     "aggregate_unit": "time", "iterations": 3, "real_time": t,
                     "cpu_time": t, "time_unit": unit}, **counters)

    benches = []
    # A round trip is two switches: ns_per_switch = real_time / 2.
    for name, times in (("BM_Switch/fiber/real_time", (24.0, 25.0, 26.0)),
                        ("BM_Switch/ucontext/real_time", (300.0, 310.0, 320.0))):
        benches += [dict(it(name, t, ns_per_switch=t / 2), repetitions=3, repetition_index=i)
                    for i, t in enumerate(times)]
        for agg_name, fn in (("mean", statistics.fmean), ("median", statistics.median),
                             ("stddev", statistics.stdev)):
            benches.append(agg(name, agg_name, fn(times), ns_per_switch=fn(times) / 2))
        cv = agg(name, "cv", 0.04, ns_per_switch=0.04)
        benches.append(dict(cv, aggregate_unit="percentage"))
    benches += [it("BM_Switch/thread_futex/same_cpu/real_time", 3800.0, ns_per_switch=1900.0),
                it("BM_Switch/process_pipe/same_cpu/real_time", 5.2, "us", ns_per_switch=2600.0),
                it("BM_Create/fiber/pooled_stack/real_time", 0.35, "us"),
                it("BM_Create/pthread/default_stack/real_time", 9.5, "us"),
                it("BM_Create/fork_wait/real_time", 0.12, "ms", iters=5000)]
    for poller, per_fd in (("select", 2.0), ("poll", 1.5), ("epoll", 0.0)):
        for fds in (10, 100, 1000):
            benches.append(it(f"BM_Readiness/{poller}/active:1/fds:{fds}/real_time",
                              0.5 + per_fd * fds / 1000, "us",
                              ns_per_wait=300.0 + per_fd * fds, ready_per_wait=1.0))
    for item, pss, pte, kstack in (("fiber", 4.0, 0.1, 0.0), ("thread/64KiB_stack", 5.0, 0.1, 16.0),
                                   ("process", 32.0, 52.0, 16.0)):
        benches.append(it(f"BM_Memory/{item}/iterations:1/real_time", 40.0, "ms", iters=1,
                          items=1000.0, pss_kb_per_item=pss, page_tables_kb_per_item=pte,
                          kernel_stack_kb_per_item=kstack))
    benches.append(it("BM_FiberSwitch", 11.8))
    benches.append({"name": "BM_Readiness/select/active:1/fds:2000/real_time",
                    "run_name": "BM_Readiness/select/active:1/fds:2000/real_time",
                    "run_type": "iteration", "error_occurred": True,
                    "error_message": "fd 2000 >= FD_SETSIZE", "iterations": 0,
                    "real_time": 0, "cpu_time": 0, "time_unit": "ns"})
    return {"context": {"date": "2026-11-23T03:40:00+00:00", "host_name": "bench-fixture",
                        "executable": "bench/run_bench.sh", "num_cpus": 2,
                        "mhz_per_cpu": 2400, "cpu_scaling_enabled": False,
                        "caches": [], "load_avg": [0.5, 0.4, 0.3],
                        "library_build_type": "debug", "bench_build_type": "Release"},
            "benchmarks": benches}


def failed():
    runs = []
    models = {"process": ("fork", 8000, 6.0, 60.0, 2.0, 0.5, 1500, 300.0),
              "pool": ("ready", 20000, 2.5, 18.0, 0.6, 0.1, 1800, 1.5),
              "reactor": ("epoll", 40000, 1.5, 10.0, 0.02, 0.005, 2000, 2.0)}
    for conns in (10, 100, 1000):
        for model, (variant, base, tail, cpu, vcs, ics, idle, per) in models.items():
            for rep in (0, 1):
                rps = round(base * (1.1 if rep else 1.0))
                r = run_entry(cell(model, variant, "echo", conns), rep, rps,
                              latency(conns / rps * 1e6 / 1.2, tail), cpu, vcs, ics,
                              idle, per, 64)
                runs.append(r)
    by_id = {r["id"]: r for r in runs}
    # process:fork at 1000 connections: both repetitions failed, nothing measured.
    for rep, reason in ((0, "server crashed (signal 11, SIGSEGV)"),
                        (1, "hang: no completed request for 10 s")):
        r = by_id[f"process-fork_echo_c1000_m64_closed_r{rep}"]
        r.update(status="failed", failure_reason=reason, requests=None, requests_per_s=None,
                 mb_per_s=None, latency=None, hgrm_file=None,
                 warnings=["errors during run"], errors=dict(r["errors"], reset=412))
        r["server"] = {k: None for k in r["server"]}
        r["server"]["pss_idle_kb"] = 1500
    # pool:ready at 100 connections, repetition 1: did not start; most keys absent.
    r = by_id["pool-ready_echo_c100_m64_closed_r1"]
    for k in ("latency", "server", "loadgen", "errors", "mb_per_s", "requests", "hgrm_file"):
        r.pop(k)
    r.update(status="failed", failure_reason="startup: port not ready after 5 s",
             requests_per_s=None, duration_s=None)
    # reactor at 10 connections: some metrics could not be measured.
    for rep in (0, 1):
        r = by_id[f"reactor-epoll_echo_c10_m64_closed_r{rep}"]
        r["latency"]["p99_9_us"] = None
        r["latency"]["p99_99_us"] = None
        r["server"].update(pss_idle_kb=None, pss_peak_kb=None, pss_per_connection_kb=None)
        r["hgrm_file"] = f"runs/{r['id']}.hgrm"  # points at a file that is not there
    # reactor at 1000 connections: context switches not measured, errors seen.
    r = by_id["reactor-epoll_echo_c1000_m64_closed_r0"]
    r["server"].update(voluntary_cs=None, involuntary_cs=None, cs_per_request=None)
    r["errors"]["timeout"] = 7
    r["warnings"] = ["errors during run"]
    # Some keys flat with dots, as results/README.md's tables spell them.
    r = by_id["pool-ready_echo_c1000_m64_closed_r0"]
    server = r.pop("server")
    for k, v in server.items():
        r[f"server.{k}"] = v
    aggs = aggregates(runs)
    # The harness was killed before writing pool:ready at 10 connections' aggregate.
    aggs = [a for a in aggs if not (a["model"] == "pool" and a["connections"] == 10)]
    runs.append({"id": "broken", "status": "failed", "failure_reason": "no model"})
    context = {k: v for k, v in CONTEXT.items() if k not in ("cpu_model", "calibration",
                                                              "limits")}
    context["limits.nofile"] = 1024
    context["command"] = "build/harness/harness --models process,pool,reactor --protos echo"
    doc = {"schema_version": 1, "context": context,
           "config": {"profile": "quick", "description": "", "duration_s": 2.0, "repeat": 2,
                      "skipped": [{"what": "reactor:uring",
                                   "reason": "io_uring not supported by this kernel"},
                                  {"what": "reactor:select c1000",
                                   "reason": "above max_connections 1000"}]},
           "runs": runs, "aggregates": aggs}
    write_folder("failed", doc)


def openloop():
    runs = []
    models = {"thread": ("per-conn", 12000), "reactor": ("epoll", 25000),
              "fiber": ("hub", 22000)}
    for rate in (1000, 5000, 10000, 20000, 30000):
        for model, (variant, capacity) in models.items():
            rho = rate / capacity
            achieved = min(rate, capacity)
            # Queueing: the median grows like 1/(1-rho); past capacity the
            # backlog grows for the whole window.
            p50 = 150.0 / (1 - rho) if rho < 0.95 else 150.0 * 20 * rho ** 8
            tail = 3.0 if rho < 0.7 else 6.0
            c = cell(model, variant, "http", 100, "open", float(rate))
            r = run_entry(c, 0, achieved, latency(p50, tail), 20.0, 0.5, 0.05, 2000, 10.0,
                          1174)
            r["latency_uncorrected"] = latency(min(p50, 400.0), min(tail, 3.0))
            if rho >= 1:
                r["warnings"] = ["offered rate not reached"]
                r["errors"]["late"] = int((rate - achieved) * 2)
            runs.append(r)
    ctx = dict(CONTEXT, command="build/harness/harness --protos http --load open "
                                "--rates 1k,5k,10k,20k,30k --connections 100 --repeat 1")
    doc = {"schema_version": 1, "context": ctx,
           "config": {"profile": "open.json", "duration_s": 2.0, "warmup_s": 0.5,
                      "repeat": 1, "loadgen_threads": 1, "cells": []},
           "runs": runs, "aggregates": aggregates(runs)}
    write_folder("openloop", doc)


# service: (model, variant, app_wait, cpu us/req, {delay_us: (req/s, saturated)}, jain)
SERVICE_MODELS = (
    ("reactor", "epoll", "connection", 50.0, {1000: (19500, True), 10000: (19000, False)}, 0.99),
    ("thread", "per-conn", "connection", 100.0, {1000: (9800, False), 10000: (9000, False)}, 0.98),
    ("pool", "conn", "worker", 80.0, {1000: (3900, False), 10000: (390, False)}, 0.004),
    ("reactor", "uring", "loop", 40.0, {1000: (990, False), 10000: (99, False)}, 0.97),
)
# mixes: heavy share -> {label: light p99 us}
SERVICE_MIXES = {"heavy5": (5, {"reactor:epoll": 40000.0, "thread:per-conn": 3000.0}),
                 "heavy20": (20, {"reactor:epoll": 80000.0, "thread:per-conn": 6000.0})}
SERVICE_CELL_KEYS = CELL_KEYS + ("workload", "backend_conns")


def service_cell(model, variant, conns, workload):
    return dict(cell(model, variant, "http", conns), file_size_bytes=None, workload=workload,
                backend_conns=None)


def service_run(c, rps, cpu_us, saturated, jain, classes=None):
    r = run_entry(c, 0, rps, latency(c["connections"] / rps * 1e6, 2.0), cpu_us, 1.0, 0.1,
                  2000, 10.0, 300, util=0.95 if saturated else 0.5,
                  warnings=["loadgen saturated"] if saturated else [])
    slug = c["workload"].replace(":", "-").replace("&", "-").replace("=", "")
    r["id"] = f"{c['model']}-{c['variant']}_http_c{c['connections']}_{slug}_closed_r0"
    calls = 0 if c["workload"].startswith("mix:") else r["requests"] + 100
    r["server_counters"] = {"app_requests": r["requests"] + 100, "backend_calls": calls,
                            "backend_errors_connect": 0, "backend_errors_io": 0,
                            "backend_errors_reply": 0, "backend_unconfigured": 0,
                            "backend_wait_us": 0}
    r["backend"] = ({"requests": calls, "replies": calls, "errors": 0, "cpu_s": 0.2}
                    if calls else {"requests": None, "replies": None, "errors": None,
                                   "cpu_s": None})
    n = c["connections"]
    mean = r["requests"] / n
    r["fairness"] = {"connections": n, "jain_index": jain,
                     "min_requests_per_conn": 0 if jain < 0.5 else int(mean * 0.9),
                     "max_requests_per_conn": int(mean * (1 / jain if jain >= 0.5 else n)),
                     "mean_requests_per_conn": mean}
    r["classes"] = classes
    return r


def service():
    runs = []
    for delay in (1000, 10000):
        wl = f"app:calls=1&delay_us={delay}"
        for model, variant, _, cpu_us, by_delay, jain in SERVICE_MODELS:
            rps, saturated = by_delay[delay]
            runs.append(service_run(service_cell(model, variant, 1000, wl), rps, cpu_us,
                                    saturated, jain))
    mixes = {}
    for name, (share, p99s) in SERVICE_MIXES.items():
        light, heavy = "/app?cpu_us=0", "/app?cpu_us=20000"
        mixes[name] = [{"path": light, "weight": 100 - share}, {"path": heavy, "weight": share}]
        for label, p99 in p99s.items():
            model, variant = label.split(":")
            rps = 1e6 / (20000 * share / 100) * 0.9

            def cls(path, weight, p99_us, count):
                lat = {"count": count, "min_us": 10.0, "mean_us": p99_us / 4,
                       "stdev_us": p99_us / 8, "max_us": p99_us * 2, "p50_us": p99_us / 5,
                       "p75_us": p99_us / 3, "p90_us": p99_us / 2, "p99_us": p99_us,
                       "p99_9_us": p99_us * 1.5, "p99_99_us": p99_us * 1.8}
                return {"path": path, "weight": weight, "requests": count,
                        "latency": {"corrected": lat, "uncorrected": lat}}
            total = int(rps * 2)
            classes = [cls(light, 100 - share, p99, total * (100 - share) // 100),
                       cls(heavy, share, 50000.0, total * share // 100)]
            runs.append(service_run(service_cell(model, variant, 100, f"mix:{name}"),
                                    round(rps), 20000 * share / 100, False, 0.95, classes))
    aggs = []
    for r in runs:
        a = {k: r[k] for k in SERVICE_CELL_KEYS}
        metrics = {}
        for name, path in dict(AGG_PATHS, jain_index=("fairness", "jain_index")).items():
            v = get_path(r, path)
            metrics[name] = {"mean": v, "median": v, "stddev": 0.0, "min": v, "max": v}
        aggs.append(dict(a, repetitions=1, ok_repetitions=1, metrics=metrics))
    registry = [{"name": m, "variant": v, "default": True, "summary": "", "supported": True,
                 "why_not": None, "app_wait": w} for m, v, w, *_ in SERVICE_MODELS]
    ctx = dict(CONTEXT, backend_cpus=[1],
               command="build/harness/harness --profile service --connections 1000")
    doc = {"schema_version": 1, "context": ctx,
           "config": {"profile": "service", "description": "service fixture",
                      "duration_s": 2.0, "warmup_s": 0.5, "repeat": 1, "skipped": [],
                      "loadgen_threads": 1, "mixes": mixes, "registry": registry,
                      "cells": [{k: r[k] for k in SERVICE_CELL_KEYS} for r in runs]},
           "runs": runs, "aggregates": aggs}
    write_folder("service", doc)


if __name__ == "__main__":
    quick()
    failed()
    openloop()
    service()
