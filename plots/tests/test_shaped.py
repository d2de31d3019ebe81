"""Tests of the data the charts draw (charts.*_data), apart from the drawing.

Each chart function of charts.py first shapes its figures (which series,
which points, which bars, where the knee is) and then draws them; these
tests check the shaped figures against the fixture JSON in inputs/, read
here directly with json (not through results.py), so a change in the
shaping shows up as a number, not as a different picture. Also: metric
names and model order come from the JSON (aggregates[].metrics,
config.registry), and bench_json.py reads Google Benchmark JSON through
plots/gbench.py.
"""

import json
import math
import os
import shutil
import subprocess
import sys

import pytest

from conftest import INPUTS, PLOTS_DIR

import charts
import formatting as fm
import gbench
import results as rs
import service as sv


def raw(name):
    with open(os.path.join(INPUTS, name, "results.json"), encoding="utf-8") as f:
        return json.load(f)


def label(obj):
    return f"{obj['model']}:{obj['variant']}"


def workload(res, proto):
    return next(wl for wl in res.workloads() if wl.proto == proto)


def means(series):
    return {l: [(x, s.mean) for x, s in pts] for l, pts in series.items()}


def aggregate_means(doc, metric, proto):
    """{label: [(connections, mean)]} straight from aggregates[]."""
    out = {}
    for a in doc["aggregates"]:
        m = a["metrics"][metric]["mean"]
        if a["proto"] == proto and a["load"] == "closed" and m is not None:
            out.setdefault(label(a), []).append((a["connections"], m))
    return {l: sorted(pts) for l, pts in out.items()}


# --- throughput ----------------------------------------------------------------------

@pytest.mark.parametrize("proto", ["echo", "http"])
def test_throughput_points_are_the_aggregate_means(proto):
    res = rs.load(os.path.join(INPUTS, "quick"))
    data = charts.throughput_data(res, workload(res, proto))
    assert means(data.series) == aggregate_means(raw("quick"), "requests_per_s", proto)
    assert data.xs == [10, 100, 1000]
    assert data.failed == []
    # Legend order: the model order (thread before reactor before fiber).
    assert list(data.series) == ["thread:per-conn", "reactor:epoll", "fiber:hub"]


def test_throughput_marks_cells_whose_every_repetition_failed():
    doc = raw("failed")
    res = rs.load(os.path.join(INPUTS, "failed"))
    data = charts.throughput_data(res, workload(res, "echo"))
    cells = {}
    for r in doc["runs"]:
        if r.get("model") and r.get("proto") == "echo":  # the fixture holds a broken entry too
            cells.setdefault((label(r), r["connections"]), []).append(r["status"] == "ok")
    expected = sorted(k for k, oks in cells.items() if not any(oks))
    assert sorted(data.failed) == expected == [("process:fork", 1000)]
    assert 1000 not in dict(data.series["process:fork"])


# --- latency -------------------------------------------------------------------------

def test_latency_panels_are_p50_p99_p999():
    res = rs.load(os.path.join(INPUTS, "quick"))
    data = charts.latency_data(res, workload(res, "echo"))
    assert [title for title, _ in data.panels] == ["p50", "p99", "p99.9"]
    doc = raw("quick")
    for (title, series), metric in zip(data.panels, ("p50_us", "p99_us", "p99_9_us")):
        assert means(series) == aggregate_means(doc, metric, "echo"), title
    assert sorted(data.values) == sorted(m for _, series in data.panels
                                         for pts in means(series).values() for _, m in pts)


# --- spectrum ------------------------------------------------------------------------

def test_spectrum_uses_hgrm_files_and_falls_back_to_json_percentiles():
    res = rs.load(os.path.join(INPUTS, "quick"))
    data = charts.spectrum_data(res, workload(res, "echo"))
    assert data.x == 1000
    runs_dir = os.path.join(INPUTS, "quick", "runs")
    with_hgrm = {f.split("_", 1)[0] for f in os.listdir(runs_dir) if "_echo_c1000_" in f}
    for line in data.lines:
        assert line.from_json == (line.label.replace(":", "-") not in with_hgrm), line.label
        # x is 1 / (1 - percentile): increasing, from 1 (p0) up.
        xs = [x for x, _ in line.points]
        assert xs == sorted(xs) and xs[0] >= 1
    assert data.fallback == ["thread:per-conn"]
    # From JSON: exactly the run's percentiles below 100%, e.g. p99 at x = 100.
    json_line = data.lines[0]
    run = next(r for r in raw("quick")["runs"] if label(r) == "thread:per-conn" and
               r["proto"] == "echo" and r["connections"] == 1000)
    p99_x = [v for x, v in json_line.points if math.isclose(x, 100)]
    assert p99_x and p99_x[0] in {r2["latency"]["p99_us"] for r2 in raw("quick")["runs"]
                                  if r2["id"].startswith(run["id"].rsplit("_r", 1)[0])}
    assert data.max_x == max(x for l in data.lines for x, _ in l.points)


def test_spectrum_moves_to_where_most_models_succeeded():
    res = rs.load(os.path.join(INPUTS, "failed"))
    assert charts.spectrum_data(res, workload(res, "echo")).x == 100
    assert charts.spectrum_data(res, workload(res, "echo"), connections=10).x == 10


# --- memory --------------------------------------------------------------------------

def test_memory_bars_and_peaks():
    doc = raw("quick")
    res = rs.load(os.path.join(INPUTS, "quick"))
    data = charts.memory_data(res, workload(res, "http"))
    per_conn = aggregate_means(doc, "server_pss_per_connection_kb", "http")
    assert data.bar_x == 1000  # every model has it there, and it is the largest
    assert [(l, s.mean) for l, s in data.bars] == [(l, dict(pts)[1000])
                                                   for l, pts in per_conn.items()]
    peak = aggregate_means(doc, "server_pss_peak_kb", "http")
    assert means(data.peak_mib) == {l: [(x, v / 1024) for x, v in pts]
                                    for l, pts in peak.items()}


# --- context switches ----------------------------------------------------------------

def test_context_switch_bars_split_voluntary_and_involuntary():
    doc = raw("quick")
    res = rs.load(os.path.join(INPUTS, "quick"))
    data = charts.context_switches_data(res, workload(res, "echo"))
    assert data.labels == ["thread:per-conn", "reactor:epoll", "fiber:hub"]
    assert not data.unsplit
    assert len(data.bars) == 9
    for pos, lab, vol, invol in data.bars:
        group = round(pos)  # bars sit around their connection count's index
        conns = data.xs[group]
        runs = [r for r in doc["runs"] if label(r) == lab and r["proto"] == "echo" and
                r["connections"] == conns and r["status"] == "ok"]
        want_vol = sum(r["server"]["voluntary_cs"] / r["requests"] for r in runs) / len(runs)
        want_inv = sum(r["server"]["involuntary_cs"] / r["requests"] for r in runs) / len(runs)
        assert vol == pytest.approx(want_vol) and invol == pytest.approx(want_inv)
        assert abs(pos - group) < 0.4
    assert data.tops == [v + i for _, _, v, i in data.bars]


# --- open loop -----------------------------------------------------------------------

def test_openloop_knee_is_the_first_rate_past_three_times_the_low_load_p99():
    doc = raw("openloop")
    res = rs.load(os.path.join(INPUTS, "openloop"))
    data = charts.openloop_data(res, res.workloads("open")[0])
    p99 = {}
    for a in doc["aggregates"]:
        p99.setdefault(label(a), []).append((a["rate_per_s"], a["metrics"]["p99_us"]["mean"]))
    expected = {}
    for lab, pts in p99.items():
        pts.sort()
        over = [(x, v) for x, v in pts[1:] if v > charts.KNEE_FACTOR * pts[0][1]]
        if over:
            expected[lab] = over[0]
    assert data.knees == expected
    assert data.knees["thread:per-conn"] == (10000.0, 5400.0)
    assert data.xs == sorted({a["rate_per_s"] for a in doc["aggregates"]})
    assert set(data.uncorrected) == set(p99)


# --- micro-benchmarks ----------------------------------------------------------------

def test_microbench_plan_and_memory_stacks():
    mb = gbench.load_microbench(os.path.join(INPUTS, "quick", "microbench.json"))
    plan = charts.microbench_plan(mb)
    assert [(kind, family) for kind, family, _ in plan] == [
        ("bars", "BM_Switch"), ("bars", "BM_Create"), ("lines", "BM_Readiness"),
        ("memory", "BM_Memory"), ("names", "other")]
    memory = next(b for kind, _, b in plan if kind == "memory")
    labels, stacks, totals = charts.bench_memory_data(memory)
    assert list(stacks) == [c for c, _, _, _ in charts.BENCH_MEMORY_COUNTERS]
    for i, b in enumerate(memory):
        assert totals[i] == pytest.approx(sum(st.mean for name, st in b.counters.items()
                                              if name in stacks))
    lines = next(b for kind, _, b in plan if kind == "lines")
    metric, series = charts.bench_lines_data(lines)
    for pts in series.values():
        assert [x for x, _ in pts] == sorted(x for x, _ in pts)


# --- names and order from the JSON -----------------------------------------------------

def test_aggregate_metric_names_come_from_the_json():
    res = rs.load(os.path.join(INPUTS, "quick"))
    assert res.aggregate_metrics() == list(raw("quick")["aggregates"][0]["metrics"])


def test_model_order_comes_from_the_registry(tmp_path):
    folder = tmp_path / "quick"
    shutil.copytree(os.path.join(INPUTS, "quick"), folder)
    doc = raw("quick")
    assert rs.load(str(folder)).model_order() == rs.FALLBACK_MODEL_ORDER  # no registry
    doc["config"]["registry"] = [
        {"name": n, "variant": v, "default": True, "summary": "", "supported": True,
         "why_not": None} for n, v in (("fiber", "hub"), ("reactor", "epoll"),
                                       ("thread", "per-conn"))]
    (folder / "results.json").write_text(json.dumps(doc))
    res = rs.load(str(folder))
    assert res.model_order() == ("fiber", "reactor", "thread")
    assert res.labels() == ["fiber:hub", "reactor:epoll", "thread:per-conn"]
    style = charts.Style(res.labels(), model_order=res.model_order())
    assert style.color("fiber:hub") == charts.MODEL_PALETTE[0]


# --- formatting ----------------------------------------------------------------------

def test_one_formatting_module():
    assert fm.format_bytes(1536) == "1.5 KiB"
    assert fm.format_count(10000) == "10k"
    assert fm.fmt_us(2500) == "2.5ms" and fm.fmt_ns(850) == "850ns"
    assert fm.fmt_rps(None) == fm.fmt_ratio(None) == "—"
    assert fm.fmt_rps(12345.6) == "12,346" and fm.fmt_ratio(0.5) == "0.50×"
    assert fm.fmt_figure(1870.3) == "1,870"
    # charts and report use these, not copies of their own.
    assert charts.fmt_us is fm.fmt_us


def test_bench_json_reads_through_plots_gbench():
    script = os.path.join(os.path.dirname(PLOTS_DIR), "bench", "bench_json.py")
    code = (f"import runpy, sys; sys.argv = ['bench_json.py']; "
            f"g = runpy.run_path({script!r}, run_name='not_main'); "
            f"import gbench; print(g['load'] is gbench.load_json, g['short_name'] is gbench.short_name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd="/", check=True)
    assert out.stdout.split() == ["True", "True"]


# --- service workloads ------------------------------------------------------------------

def service_res():
    return rs.load(os.path.join(INPUTS, "service"))


def test_service_ceilings_and_bounds():
    rows = {(r.workload.spec, r.label): r for r in sv.service_rows(service_res())}
    assert len(rows) == 8   # 2 delays x 4 models; the mixes make no calls
    d10 = "app:calls=1&delay_us=10000"
    # connection model: 1000 waiting / 10 ms = 100k/s, but 50 µs of CPU on 1 CPU: 20k/s.
    r = rows[(d10, "reactor:epoll")]
    assert r.ceiling.concurrency == 1000
    assert r.ceiling.concurrency_rps == pytest.approx(100_000)
    assert r.ceiling.cpu_rps == pytest.approx(20_000)
    assert r.ceiling.rps == pytest.approx(20_000)
    assert (r.bound, round(r.fraction, 3)) == ("CPU", 0.95)
    # worker pool: 4 x 1 server CPU = 4 waiting / 10 ms = 400/s.
    r = rows[(d10, "pool:conn")]
    assert (r.ceiling.concurrency, r.ceiling.rps) == (4, pytest.approx(400))
    assert (r.bound, round(r.fraction, 3)) == ("concurrency", 0.975)
    # the loop blocks on each call: 1 / 10 ms.
    r = rows[(d10, "reactor:uring")]
    assert (r.ceiling.concurrency, r.ceiling.rps, r.bound) == (1, pytest.approx(100), "concurrency")
    # the load generator saturated: the client bound it, whatever the ceilings say.
    r = rows[("app:calls=1&delay_us=1000", "reactor:epoll")]
    assert (r.saturated, r.bound) == (True, "client")


def test_service_bound_is_neither_far_below_both_ceilings(tmp_path):
    doc = raw("service")
    for r in doc["runs"] + doc["aggregates"]:
        if r["model"] == "thread" and r.get("workload") == "app:calls=1&delay_us=10000":
            if "requests_per_s" in r:
                r["requests_per_s"] = 3000.0
            else:
                r["metrics"]["requests_per_s"].update(mean=3000.0, median=3000.0, min=3000.0,
                                                      max=3000.0)
    os.makedirs(tmp_path / "s")
    with open(tmp_path / "s" / "results.json", "w") as f:
        json.dump(doc, f)
    rows = {(r.workload.spec, r.label): r for r in sv.service_rows(rs.load(str(tmp_path / "s")))}
    r = rows[("app:calls=1&delay_us=10000", "thread:per-conn")]
    assert (r.bound, round(r.fraction, 2)) == ("neither", 0.3)


def test_service_thread_concurrency_capped_by_backend_conns():
    res = service_res()
    assert sv.concurrency_of(res, "thread:per-conn", 10_000, None) == 1024
    assert sv.concurrency_of(res, "thread:per-conn", 10_000, 256) == 256
    assert sv.concurrency_of(res, "reactor:epoll", 10_000, 256) == 10_000   # pipelines
    assert sv.concurrency_of(res, "pool:conn", 2, None) == 2                 # fewer connections
    assert sv.concurrency_of(res, "nosuch:model", 10, None) is None


def test_delay_data_series_and_ceilings():
    data = sv.delay_data(service_res())
    assert len(data) == 1
    d = data[0]
    assert (d.connections, d.fixed) == (1000, "calls=1")
    assert means(d.series)["pool:conn"] == [(1000, 3900.0), (10000, 390.0)]
    assert [(x, round(c)) for x, c in d.ceilings["pool:conn"]] == [(1000, 4000), (10000, 400)]
    assert [(x, round(c)) for x, c in d.ceilings["thread:per-conn"]] == [(1000, 10000), (10000, 10000)]
    assert list(d.series) == ["reactor:epoll", "reactor:uring", "thread:per-conn", "pool:conn"]


def test_mix_light_p99_vs_heavy_share():
    data = sv.mix_data(service_res())
    assert len(data) == 1 and data[0].connections == 100
    assert means(data[0].series) == {"reactor:epoll": [(5.0, 40000.0), (20.0, 80000.0)],
                                     "thread:per-conn": [(5.0, 3000.0), (20.0, 6000.0)]}
    assert data[0].points["reactor:epoll"][0].light_path == "/app?cpu_us=0"


def test_light_class_is_the_smaller_cpu_us():
    classes = [{"path": "/app?cpu_us=20000", "weight": 1}, {"path": "/app?cpu_us=5", "weight": 3}]
    light, share = sv.light_and_share(classes)
    assert (light["path"], share) == ("/app?cpu_us=5", 25.0)
    assert sv.light_and_share(None) is None
    assert sv.light_and_share([{"path": "/app?cpu_us=1", "weight": 1}]) is None


def test_fairness_series_are_the_jain_index():
    res = service_res()
    wl = next(w for w in res.workloads() if w.spec == "app:calls=1&delay_us=10000")
    data = charts.fairness_data(res, wl)
    assert means(data.series) == {"reactor:epoll": [(1000, 0.99)], "reactor:uring": [(1000, 0.97)],
                                  "thread:per-conn": [(1000, 0.98)], "pool:conn": [(1000, 0.004)]}
    # Older folders have no fairness: no chart, no error.
    quick = rs.load(os.path.join(INPUTS, "quick"))
    assert charts.fairness_data(quick, workload(quick, "echo")) is None


def test_app_workloads_are_their_own_workloads():
    res = service_res()
    specs = [w.spec for w in res.workloads()]
    assert specs == ["app:calls=1&delay_us=1000", "app:calls=1&delay_us=10000",
                     "mix:heavy20", "mix:heavy5"]
    wl = res.workloads()[0]
    assert wl.app == {"cpu_us": 0, "calls": 1, "delay_us": 1000, "bytes": 0}
    assert wl.slug() == "http_app-calls1-delay_us1000"
    assert rs.app_params("/app?cpu_us=x") is None
