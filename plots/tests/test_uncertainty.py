"""Tests of the statistics (stats.py), the honest ranking (uncertainty.py),
compare.py's significance and exit status, and the report's findings,
compact summary table, time-series charts and results.csv.

Results folders with time series are generated here (synthetic(): each
run's intervals drawn from a seeded normal distribution around a chosen
throughput, server CPU per request and saturation), so the expected verdicts
follow from how the data was made, not from the code under test.
"""

import csv
import json
import math
import os
import random
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from conftest import PLOTS_DIR

import charts
import compare
import report
import results as rs
import stats
import uncertainty as unc

CONTEXT = {"cpu_model": "Test CPU", "cpus_online": 2, "server_cpus": [0], "client_cpus": [1],
           "command": "harness --profile synthetic", "date_utc": "2026-12-02T00:00:00Z"}


# --- synthetic results folders ---------------------------------------------------

def synthetic_run(model, variant, conns, rep, rps, cpu_us, saturated, rng, noise=0.02,
                  intervals=20, step=0.25, warmup=4, spec=None):
    ivs = []
    total = 0
    for k in range(-warmup, intervals):
        rate = rps * (1 + rng.gauss(0, noise)) * (0.5 if k < 0 else 1.0)
        n = int(round(rate * step))
        cpu = cpu_us * (1 + rng.gauss(0, noise))
        ivs.append({"start_s": k * step, "duration_s": step, "warmup": k < 0, "requests": n,
                    "requests_per_s": n / step, "bytes_read": n * 64, "errors": 0, "late": 0,
                    "connections_open": conns, "p50_us": 100.0, "p90_us": 150.0,
                    "p99_us": 300.0 * (1 + rng.gauss(0, noise)), "max_us": 900.0,
                    "server_cpu_pct": 100.0 * cpu * n / 1e6 / step, "load_cpu_pct": 50.0,
                    "server_cpu_us_per_request": cpu, "steal_server_cpus_pct": 0.0,
                    "other_processes_cpu_pct": 1.0})
        if k >= 0:
            total += n
    dur = intervals * step
    window = [i for i in ivs if not i["warmup"]]
    cpu_s = sum(i["server_cpu_us_per_request"] * i["requests"] for i in window) / 1e6
    proto = "http" if spec else "echo"
    return {
        "model": model, "variant": variant, "proto": proto, "connections": conns,
        "msg_size_bytes": None if spec else 64, "file_size_bytes": None, "workload": spec,
        "backend_conns": None, "load": "closed", "rate_per_s": None,
        "id": f"{model}-{variant}_{proto}_c{conns}_closed_r{rep}", "repetition": rep,
        "status": "ok", "failure_reason": None,
        "warnings": ["loadgen saturated"] if saturated else [],
        "duration_s": dur, "requests": total, "requests_per_s": total / dur,
        "latency": {"p50_us": 100.0, "p99_us": 300.0, "p99_9_us": 600.0},
        "errors": {"timeout": 0},
        "server": {"cpu_user_s": cpu_s * 0.3, "cpu_sys_s": cpu_s * 0.7,
                   "cpu_us_per_request": cpu_s * 1e6 / total},
        "loadgen": {"cpu_utilization": 0.95 if saturated else 0.5, "saturated": saturated},
        "noise": {"steal_server_cpus_pct": 0.0, "steal_client_cpus_pct": 0.0,
                  "other_processes_cpu_s": 0.05, "other_processes_cpu_pct": 1.0},
        "timeseries": {"interval_s": step, "intervals": ivs},
    }


def synthetic(folder, models, reps=1, seed=1, conns=(100,), registry=(), spec=None):
    """models: {label: (rps, cpu_us, saturated)}; per connection count the same."""
    rng = random.Random(seed)
    runs = []
    for rep in range(reps):
        for c in conns:
            for label, (rps, cpu_us, sat) in models.items():
                model, variant = label.split(":")
                runs.append(synthetic_run(model, variant, c, rep, rps, cpu_us, sat, rng,
                                          spec=spec))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "results.json"), "w") as f:
        json.dump({"schema_version": 1, "context": CONTEXT,
                   "config": {"profile": "synthetic", "repeat": reps, "duration_s": 5.0,
                              "registry": list(registry)},
                   "runs": runs, "aggregates": []}, f)
    return folder


# --- statistics -------------------------------------------------------------------

def test_t_quantiles_match_tables():
    # Student's t table, two-sided 95%.
    for df, t in ((1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (30, 2.042)):
        assert stats.t_quantile(0.975, df) == pytest.approx(t, abs=1e-3)


def test_batch_means_coverage_near_95_percent():
    """iid and mildly autocorrelated series of known mean: the interval
    holds the true mean in close to 95% of 1,000 seeds."""
    for phi, n in ((0.0, 20), (0.3, 80)):
        rng = random.Random(42)
        hits = trials = 0
        for _ in range(1000):
            x, prev = [], 0.0
            for _ in range(n + 50):
                prev = phi * prev + rng.gauss(0, 1)
                x.append(1000.0 + 10 * prev)
            iv = stats.batch_means_interval(x[50:])
            trials += 1
            hits += iv.low <= 1000.0 <= iv.high
        assert 0.92 <= hits / trials <= 0.975, (phi, hits / trials)


def test_batch_means_interval_needs_five_values():
    assert stats.batch_means_interval([1.0, 2.0, 3.0, 4.0]) is None
    iv = stats.batch_means_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert iv.mean == pytest.approx(3.0) and iv.n == 5


def test_mann_whitney_exact_and_approximate():
    # 3 vs 3, completely separated: 2 of the 20 arrangements are as extreme.
    assert stats.mann_whitney([1, 2, 3], [4, 5, 6]) == pytest.approx(0.1)
    assert stats.mann_whitney([1, 2, 3, 4], [5, 6, 7, 8]) == pytest.approx(2 / 70)
    # Identical samples (all ties): nothing to see.
    assert stats.mann_whitney([5, 5, 5, 5], [5, 5, 5, 5]) == pytest.approx(1.0)
    # Large separated samples: the normal approximation gives a tiny p.
    assert stats.mann_whitney(list(range(30)), [v + 100 for v in range(30)]) < 1e-6
    # Interleaved: not significant.
    assert stats.mann_whitney(list(range(0, 40, 2)), list(range(1, 41, 2))) > 0.5


def test_ratio_interval_widens_with_both_halves():
    a = stats.Interval(120.0, 6.0, 10, "batch means")   # ±5%
    b = stats.Interval(100.0, 5.0, 10, "batch means")   # ±5%
    low, r, high = stats.ratio_interval(a, b)
    assert r == pytest.approx(1.2)
    assert math.log(high / r) == pytest.approx(math.hypot(0.05, 0.05))
    assert low < r < high


# --- ranking --------------------------------------------------------------------

def test_ranking_by_throughput_when_the_client_is_not_saturated(tmp_path):
    res = rs.load(synthetic(str(tmp_path / "r"), {"pool:ready": (10000, 20.0, False),
                                                  "reactor:epoll": (14000, 12.0, False)}))
    [row] = unc.ranked_rows(res)
    assert row.basis == "throughput" and row.best == "reactor:epoll"
    v = row.versus["pool:ready"]
    assert v.verdict == "lower" and v.ratio == pytest.approx(10 / 14, rel=0.02)
    assert v.low < v.ratio < v.high < 1.0
    # ±2% noise per 250 ms interval over 20 intervals: a tight interval.
    assert v.rel_half < 0.03
    assert row.bound == "connections"


def test_saturated_client_ranks_by_cpu_per_request(tmp_path):
    # Both saturate the client at the same throughput; reactor needs 15% less CPU.
    res = rs.load(synthetic(str(tmp_path / "r"), {"fiber:hub": (50000, 11.5, True),
                                                  "reactor:epoll": (50000, 10.0, True)}))
    [row] = unc.ranked_rows(res)
    assert row.basis == "CPU per request"
    assert row.best == "reactor:epoll"
    v = row.versus["fiber:hub"]
    assert v.basis == "CPU per request" and v.verdict == "higher"
    assert v.ratio == pytest.approx(1.15, rel=0.02)
    assert row.bound == "client CPU"
    text = " ".join(unc.findings([row]))
    assert "load generator was the limit" in text and "ranked by server CPU per request" in text


def test_saturated_client_with_equal_cpu_is_a_tie(tmp_path):
    res = rs.load(synthetic(str(tmp_path / "r"), {"fiber:hub": (50000, 10.0, True),
                                                  "reactor:epoll": (50000, 10.0, True)},
                            seed=3))
    [row] = unc.ranked_rows(res)
    assert row.basis == "CPU per request"
    other = [v for l, v in row.versus.items() if l != row.best][0]
    assert other.verdict == "tie"
    assert "a tie" in unc.findings([row])[0]


def test_difference_within_noise_is_not_ranked(tmp_path):
    res = rs.load(synthetic(str(tmp_path / "r"), {"pool:ready": (10000, 20.0, False),
                                                  "reactor:epoll": (10000, 20.0, False)},
                            seed=5))
    [row] = unc.ranked_rows(res)
    other = [v for l, v in row.versus.items() if l != row.best][0]
    assert other.verdict == "≈"
    assert "within noise" in unc.findings([row])[0]


def test_unsaturated_best_is_bound_by_its_workers_or_connections(tmp_path):
    # pool:ready's requests hold one of 4 workers (1 server CPU) through
    # their backend call: at 1000 connections the pool is the limit, at 2
    # the connections are; echo requests never hold a worker.
    registry = [{"name": "pool", "variant": "ready", "app_wait": "worker"},
                {"name": "reactor", "variant": "epoll", "app_wait": "loop"}]
    models = {"pool:ready": (20000, 20.0, False), "reactor:epoll": (10000, 12.0, False)}
    res = rs.load(synthetic(str(tmp_path / "app"), models, conns=(2, 1000), registry=registry,
                            spec="app:calls=1&delay_us=1000"))
    bound = {row.connections: row.bound for row in unc.ranked_rows(res)}
    assert bound == {2: "connections", 1000: "workers"}
    res = rs.load(synthetic(str(tmp_path / "echo"), models, conns=(1000,), registry=registry))
    assert [row.bound for row in unc.ranked_rows(res)] == ["connections"]


def test_cell_interval_over_repetitions(tmp_path):
    res = rs.load(synthetic(str(tmp_path / "r"), {"reactor:epoll": (10000, 10.0, False)},
                            reps=3))
    [cell] = res.cells.values()
    iv = unc.cell_interval(cell)
    assert iv.method == "repetitions" and iv.n == 3
    vals = [r.metric("requests_per_s") for r in cell.ok_runs]
    sd = (sum((v - sum(vals) / 3) ** 2 for v in vals) / 2) ** 0.5
    assert iv.half_width == pytest.approx(4.303 * sd / math.sqrt(3), rel=1e-3)


# --- compare.py -------------------------------------------------------------------

MODELS = {"pool:ready": (10000, 20.0, False), "reactor:epoll": (14000, 12.0, False)}


def test_compare_same_data_is_not_significant_anywhere(tmp_path):
    a = synthetic(str(tmp_path / "a"), MODELS, seed=7)
    b = synthetic(str(tmp_path / "b"), MODELS, seed=7)
    rows, _, _ = compare.write_compare(a, b, charts_too=False)
    assert rows
    for r in rows:
        for m, d in r.deltas.items():
            assert not d.significant, (r.key, m, d.p)
            assert compare._change(d) == "~"
    assert compare.main([a, b, "--no-charts", "--fail-on", "requests_per_s"]) == 0


def test_compare_flags_a_20_percent_drop(tmp_path, capsys):
    a = synthetic(str(tmp_path / "a"), MODELS, seed=7)
    slower = {k: (rps * 0.8, cpu, sat) for k, (rps, cpu, sat) in MODELS.items()}
    b = synthetic(str(tmp_path / "b"), slower, seed=8)
    rows, _, _ = compare.write_compare(a, b, charts_too=False)
    for r in rows:
        d = r.deltas["requests_per_s"]
        assert d.method == "batch means" and d.p < 0.05 and d.worse
        assert d.change == pytest.approx(-0.2, abs=0.02)
    code = compare.main([a, b, "--no-charts", "--fail-on", "requests_per_s"])
    out = capsys.readouterr()
    assert code == 1
    assert "regressed:" in out.err and re.search(r"-(19|20)\.\d%", out.out)
    assert "geomean" in out.out
    # Not asked to gate on throughput: exit 0 even though it dropped.
    assert compare.main([a, b, "--no-charts", "--fail-on", "p99_us"]) == 0
    assert compare.main([a, b, "--no-charts", "--fail-on", "bogus"]) == 2


def test_compare_uses_repetitions_from_four_each(tmp_path):
    a = synthetic(str(tmp_path / "a"), MODELS, reps=4, seed=11)
    b = synthetic(str(tmp_path / "b"), {k: (rps * 1.2, c, s) for k, (rps, c, s) in
                                        MODELS.items()}, reps=4, seed=12)
    rows, _, _ = compare.write_compare(a, b, charts_too=False)
    d = rows[0].deltas["requests_per_s"]
    assert d.method == "repetitions" and d.n == (4, 4)
    assert d.p == pytest.approx(2 / 70) and d.significant and not d.worse


# --- the report ----------------------------------------------------------------------

class _Tables(HTMLParser):
    """The <td> texts of every table, and whether tags balance."""

    def __init__(self):
        super().__init__()
        self.tables, self.stack, self.wrong, self._cell = [], [], [], None

    def handle_starttag(self, tag, attrs):
        if tag not in ("meta", "img", "br", "wbr"):
            self.stack.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "td":
            self._cell = ""

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.wrong.append(tag)
        if tag == "td":
            self.tables[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


# A summary cell holds a number, a ratio with its interval, a short verdict
# or a model name, plus footnote markers: never a sentence.
SUMMARY_CELL = re.compile(r"^(—|≈|tie|failed|not run|req/s|CPU/req|[a-z]+:[a-z-]+|"
                          r"server CPU|client CPU|noise|connections|workers|errors|"
                          r"[\d,.]+[kM]?|±[\d.<]+%|(CPU )?[\d.]+×( ±[\d<]+%)?|[\d.]+(µs|ms|s))"
                          r"[⁰¹²³⁴⁵⁶⁷⁸⁹]*$")


def test_report_leads_with_findings_and_keeps_prose_out_of_tables(tmp_path):
    folder = synthetic(str(tmp_path / "r"), {"pool:ready": (10000, 20.0, False),
                                             "reactor:epoll": (14000, 12.0, True),
                                             "fiber:hub": (14000, 12.1, True)},
                       conns=(10, 1000))
    res, chart_list, _ = report.write_report(folder)
    md = open(os.path.join(folder, "report.md"), encoding="utf-8").read()
    heads = re.findall(r"^## (.+)$", md, re.M)
    assert heads[0] == "Findings" and heads[1] == "Summary: best model per workload"
    assert heads.index("Over time") < heads.index("Machine")
    findings = md.split("## Findings", 1)[1].split("##", 1)[0]
    assert "At 10 connections" in findings and "±" in findings
    assert {c.filename for c in chart_list} >= {"timeseries_echo_m64_c10.png",
                                                "timeseries_echo_m64_c1000.png"}
    page = open(os.path.join(folder, "report.html"), encoding="utf-8").read()
    p = _Tables()
    p.feed(page)
    assert p.stack == [] and p.wrong == []
    assert "white-space: nowrap" in page   # numeric cells (every model's) stay on one line
    summary = p.tables[0] + p.tables[1]   # the best per row, each model against it
    assert p.tables[0] and p.tables[1], "no summary tables"
    for text in summary:
        assert SUMMARY_CELL.match(text.strip()), repr(text)
    # The saturated models' warning is a footnote marker with its legend.
    assert "¹" in "".join(summary) and "¹ loadgen saturated" in page


def test_results_csv_has_one_row_per_run(tmp_path):
    folder = synthetic(str(tmp_path / "r"), MODELS, reps=2)
    report.write_report(folder)
    with open(os.path.join(folder, "results.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    doc = json.load(open(os.path.join(folder, "results.json")))
    assert [r["id"] for r in rows] == [r["id"] for r in doc["runs"]]
    for row, run in zip(rows, doc["runs"]):
        assert float(row["requests_per_s"]) == pytest.approx(run["requests_per_s"], rel=1e-5)
        low, high = float(row["requests_per_s_ci95_low"]), float(row["requests_per_s_ci95_high"])
        assert low < run["requests_per_s"] < high


def test_time_series_window_sums_to_run_totals(tmp_path):
    folder = synthetic(str(tmp_path / "r"), MODELS)
    for run in rs.load(folder).runs:
        assert sum(i["requests"] for i in run.intervals()) == run.raw["requests"]
        assert len(run.intervals(warmup=True)) - len(run.intervals()) == 4


def test_compare_draws_each_cells_time_series_for_models_on_both_sides(tmp_path):
    a = synthetic(str(tmp_path / "a"), MODELS, conns=(10, 1000))
    only_b = dict(MODELS, **{"fiber:hub": (9000, 15.0, False)})
    b = synthetic(str(tmp_path / "b"), only_b, conns=(10, 1000), seed=2)
    ra, rb = rs.load(a), rs.load(b)
    [wl] = rb.workloads("closed")
    pair = charts.compare_timeseries_data(ra, rb, wl, 1000)
    # fiber:hub has no A side: it is left out of both.
    assert [ln.label for ln in pair[0].lines] == [ln.label for ln in pair[1].lines] \
        == ["pool:ready", "reactor:epoll"]
    assert pair[0].warmup_s == pair[1].warmup_s == 1.0  # 4 warm-up intervals of 0.25 s
    line = pair[1].lines[1]
    run = rb.cell(wl, "reactor:epoll", 1000).representative_run("requests_per_s")
    assert line.rps == [i["requests_per_s"] for i in run.raw["timeseries"]["intervals"]]
    _, chart_list, _ = compare.write_compare(a, b)
    names = {c.filename for c in chart_list}
    assert {"compare_timeseries_echo_m64_c10.png", "compare_timeseries_echo_m64_c1000.png"} <= names
    for n in names:
        assert os.path.getsize(os.path.join(b, n)) > 0
    md = open(os.path.join(b, "compare.md"), encoding="utf-8").read()
    assert "Over time, A vs B — " in md


def test_runs_without_a_time_series_are_shown_but_not_ranked(tmp_path):
    """Results written before runs kept a time series: each cell's figure is
    its one run's, with no interval, so nothing is ranked against it."""
    folder = synthetic(str(tmp_path / "old"), {"pool:ready": (10000, 20.0, False),
                                               "reactor:epoll": (14000, 12.0, False),
                                               "fiber:hub": (13000, 11.0, True)},
                       conns=(100,))
    path = os.path.join(folder, "results.json")
    d = json.load(open(path))
    for r in d["runs"]:
        del r["timeseries"]
    json.dump(d, open(path, "w"))
    res = rs.load(folder)
    [row] = unc.ranked_rows(res)
    assert row.best == "reactor:epoll" and row.basis == "throughput"
    assert row.best_rps.method == unc.NO_INTERVAL
    assert row.best_rps.mean == pytest.approx(res.cell(row.workload, "reactor:epoll", 100)
                                              .ok_runs[0].metric("requests_per_s"))
    assert {l: v.verdict for l, v in row.versus.items()} == {
        "pool:ready": "≈", "reactor:epoll": "best", "fiber:hub": "≈"}
    [sentence] = unc.findings([row])
    assert "in one run without a time series: no interval, not ranked" in sentence
    report.write_report(folder)
    md = open(os.path.join(folder, "report.md"), encoding="utf-8").read()
    assert re.search(r"\| 100 \| req/s \| reactor:epoll \| [\d,]+ \| none \|", md)


# --- the report as a browser lays it out --------------------------------------------

def test_layout_rule_flags_wrapped_summary_and_numeric_cells_and_a_wide_page():
    import layout_check
    table = {"caption": "echo: each model against the best", "rows": 3, "width_px": 900,
             "header": ["connections", "ranked by", "best", "bound by"],
             "wrapped": [{"row": 1, "column": 3, "lines": 2, "numeric": False,
                          "text": "client CPU"}]}
    prose = {"caption": "", "rows": 2, "width_px": 900, "header": ["run", "why"],
             "wrapped": [{"row": 1, "column": 1, "lines": 3, "numeric": False, "text": "long"}]}
    ok = {"page_width_px": 1280, "window_width_px": 1280, "tables": [prose]}
    assert layout_check.problems(ok) == []
    bad = {"page_width_px": 1330, "window_width_px": 1280, "tables": [table, prose]}
    assert layout_check.problems(bad) == [
        "page is 1330 px wide in a 1280 px window",
        "echo: each model against the best: row 1, column bound by: 2 lines ('client CPU')"]
    prose["wrapped"][0]["numeric"] = True
    assert len(layout_check.problems(ok)) == 1


def test_report_summary_holds_one_line_per_cell_in_chromium_at_1280px(tmp_path):
    """Ten models and every warning kind in the summary: in a real browser
    at 1280 px no summary cell wraps and the page does not scroll sideways."""
    import layout_check
    browser = layout_check.find_browser()
    if browser is None:
        pytest.skip("no Chromium (apt-get install chromium): the layout is checked on the "
                    "HTML only (test_report_leads_with_findings_and_keeps_prose_out_of_tables)")
    models = {f"{m}:{v}": (10000 + 500 * i, 20.0 - i, i % 3 == 0) for i, (m, v) in enumerate(
        [("process", "fork"), ("process", "prefork"), ("thread", "per-conn"), ("pool", "conn"),
         ("pool", "ready"), ("reactor", "epoll"), ("reactor", "offload"), ("reactor", "uring"),
         ("fiber", "hub"), ("fiber", "offload")])}
    folder = synthetic(str(tmp_path / "wide"), models, conns=(10, 1000))
    report.write_report(folder)
    try:
        layout = layout_check.measure(os.path.join(folder, "report.html"), 1280, browser)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        # Installed but unable to run here (no display libraries, sandbox):
        # the machine forbids the check, which is not the report's failure.
        pytest.skip(f"Chromium did not lay the page out: {e}")
    summaries = [t for t in layout["tables"] if t["compact"]]
    assert [t["rows"] for t in summaries] == [3, 11]   # header + 2 counts; header + 10 models
    assert layout_check.problems(layout) == []
    assert layout_check.main([folder]) == 0


def test_bound_by_noise_when_only_steal_and_neighbours_fill_the_server_cpu(tmp_path):
    # 40,000 requests/s at 20 µs each: 80% of the one server CPU (of 2 online).
    folder = synthetic(str(tmp_path / "n"), {"reactor:epoll": (40000, 20.0, False)})
    path = os.path.join(folder, "results.json")

    def bound_with(steal_pct, other_pct):
        d = json.load(open(path))
        d["runs"][0]["noise"].update(steal_server_cpus_pct=steal_pct,
                                     other_processes_cpu_pct=other_pct)
        json.dump(d, open(path, "w"))
        [row] = unc.ranked_rows(rs.load(folder))
        return row.bound

    # 80% + 1% steal + 4% of a CPU spread over 2 = 83%: the connections.
    assert bound_with(1.0, 4.0) == "connections"
    # 80% + 8% steal + 10% of a CPU over 2 = 93%: the neighbours were the limit.
    assert bound_with(8.0, 10.0) == "noise"


def test_the_best_of_a_row_is_a_model_and_a_faster_peer_is_measured_against_it(tmp_path):
    res = rs.load(synthetic(str(tmp_path / "p"), {"reactor:epoll": (10000, 12.0, False),
                                                  "pool:ready": (8000, 15.0, False),
                                                  "peer:nginx": (20000, 8.0, False)}))
    [row] = unc.ranked_rows(res)
    assert row.best == "reactor:epoll"
    assert row.versus["peer:nginx"].verdict == "higher"
    assert row.versus["peer:nginx"].ratio == pytest.approx(2.0, rel=0.05)
    # Only peers measured: the fastest of them is the row's best.
    res = rs.load(synthetic(str(tmp_path / "q"), {"peer:nginx": (20000, 8.0, False),
                                                  "peer:go": (15000, 9.0, False)}))
    assert unc.ranked_rows(res)[0].best == "peer:nginx"
