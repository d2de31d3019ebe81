"""Tests of plots/: the loader, every chart, the report and compare.py.

Inputs are the checked-in fixture folders in inputs/ (see make_fixtures.py):
quick (3 models x 2 protocols x 3 connection counts x 2 repetitions, .hgrm
files, microbench.json), failed (failed runs, null and missing metrics) and
openloop. Expected numbers below are worked out by hand from the run values
quoted next to them, not by calling the code under test.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import INPUTS, PLOTS_DIR

import charts
import compare
import formatting as fm
import gbench
import report
import results as rs

FIXTURES = ("quick", "failed", "openloop", "service")
SERVICE_WORKLOADS = ("http_app-calls1-delay_us1000", "http_app-calls1-delay_us10000",
                     "http_mix-heavy5", "http_mix-heavy20")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_PNG_BYTES = 100 * 1024

EXPECTED_CHARTS = {
    "quick": {f"{kind}_{wl}.png" for kind in ("throughput", "latency", "memory", "cs", "cpu")
              for wl in ("echo_m64", "http_f1024")} |
             {"spectrum_echo_m64_c1000.png", "spectrum_http_f1024_c1000.png",
              "microbench_BM_Switch.png", "microbench_BM_Create.png",
              "microbench_BM_Readiness.png", "microbench_BM_Memory.png",
              "microbench_other.png"},
    # process:fork failed at 1000 connections, so the spectrum is drawn at
    # 100, the largest count at which all three models succeeded.
    "failed": {f"{kind}_echo_m64.png" for kind in ("throughput", "latency", "memory", "cs",
                                                    "cpu")} | {"spectrum_echo_m64_c100.png"},
    "openloop": {"openloop_http_f1024_c100_open.png"},
    "service": {f"{kind}_{wl}.png" for kind in ("throughput", "latency", "memory", "cs", "cpu",
                                                "fairness")
                for wl in SERVICE_WORKLOADS} |
               {f"spectrum_{wl}_c{1000 if 'app' in wl else 100}.png" for wl in SERVICE_WORKLOADS} |
               {"service_delay_c1000.png", "service_light_p99_c100.png"},
}


# --- every fixture renders every chart and the report --------------------------------

@pytest.mark.parametrize("name", FIXTURES)
def test_report_renders_every_chart(name, rendered):
    folder, res, chart_list, out = rendered(name)
    assert out == folder
    assert {c.filename for c in chart_list} == EXPECTED_CHARTS[name]
    assert not [p for p in res.problems if p.startswith(("chart ", "not drawn"))], \
        res.problems
    for c in chart_list:
        path = os.path.join(folder, c.filename)
        with open(path, "rb") as f:
            assert f.read(8) == PNG_MAGIC, c.filename
        assert 2000 < os.path.getsize(path) < MAX_PNG_BYTES, c.filename
    md = open(os.path.join(folder, "report.md"), encoding="utf-8").read()
    page = open(os.path.join(folder, "report.html"), encoding="utf-8").read()
    linked_md = set(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md))
    linked_html = set(re.findall(r'<img src="([^"]+)"', page))
    assert linked_md == linked_html == EXPECTED_CHARTS[name]
    for heading in ("Findings", "Machine", "Summary: best model per workload", "Failed runs",
                    "Warnings", "How to reproduce"):
        assert f"## {heading}" in md
        assert f"<h2>{heading}</h2>" in page
    command = json.load(open(os.path.join(folder, "results.json")))["context"]["command"]
    assert command in md and command in page
    assert _html_unbalanced(page) == []


def _html_unbalanced(page: str) -> list:
    """Tags left open or closed out of order (void elements aside)."""
    from html.parser import HTMLParser

    class Checker(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack, self.wrong = [], []

        def handle_starttag(self, tag, attrs):
            if tag not in ("meta", "img", "br", "wbr"):
                self.stack.append(tag)

        def handle_endtag(self, tag):
            if self.stack and self.stack[-1] == tag:
                self.stack.pop()
            else:
                self.wrong.append(tag)

    c = Checker()
    c.feed(page)
    return c.stack + c.wrong


def test_report_cli_from_another_directory(fixture_dir, tmp_path):
    folder = fixture_dir("openloop")
    out = tmp_path / "elsewhere"
    proc = subprocess.run([sys.executable, os.path.join(PLOTS_DIR, "report.py"), folder,
                           "--out", str(out)], cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(out)) == ["openloop_http_f1024_c100_open.png", "report.html",
                                       "report.md", "results.csv"]
    assert "report.html" in proc.stdout


def test_client_hosts_listed_per_agent(fixture_dir, tmp_path):
    folder = fixture_dir("openloop")
    path = os.path.join(folder, "results.json")
    data = json.load(open(path, encoding="utf-8"))
    agent = {"host": "root@h1", "connections": 50, "rate_per_s": 500.0, "version": "abc",
             "clock_offset_ms": 0.25, "rtt_ms": 0.5, "start_late_ms": 0.1, "requests": 1000,
             "requests_per_s": 12345.0, "errors_total": 0, "cpu_user_s": 0.1, "cpu_sys_s": 0.2,
             "cpu_utilization": 0.93, "saturated": True, "failure_reason": None}
    data["runs"][0]["agents"] = [agent, dict(agent, host="h2", saturated=False,
                                             cpu_utilization=0.4, failure_reason="gone")]
    json.dump(data, open(path, "w", encoding="utf-8"))
    out = tmp_path / "out"
    assert report.main([folder, "--out", str(out)]) == 0
    md = open(out / "report.md", encoding="utf-8").read()
    section = md.split("## Client hosts", 1)[1]
    run_id = data["runs"][0]["id"]
    assert f"| {run_id} | root@h1 | 50 | 12,345 | 93% | yes | 0 | +0.250 | 0.500 | — |" in section
    assert "| h2 |" in section and "| 40% | no |" in section and "| gone |" in section


def test_report_cli_missing_folder_exits_2(tmp_path):
    assert report.main([str(tmp_path / "nothing")]) == 2


def test_spectrum_at_requested_connections(tmp_path):
    res = rs.load(os.path.join(INPUTS, "quick"))
    [echo, _] = res.workloads("closed")
    style = charts.Style(res.labels())
    chart = charts.spectrum(res, echo, str(tmp_path), style, connections=100)
    assert chart.filename == "spectrum_echo_m64_c100.png"
    assert os.listdir(tmp_path) == [chart.filename]
    # 300 was not measured: the nearest count, 100, is drawn.
    assert charts.choose_spectrum_x(res, echo, 300) == 100
    assert charts.choose_spectrum_x(res, echo) == 1000


# --- the summary table matches the fixture --------------------------------------------

def _row(rows, proto, conns):
    [row] = [r for r in rows if r.workload.proto == proto and r.connections == conns]
    return row


def test_summary_quick_echo_100():
    rows = report.summary_rows(rs.load(os.path.join(INPUTS, "quick")))
    assert len(rows) == 6  # 2 protocols x 3 connection counts
    row = _row(rows, "echo", 100)
    # reactor:epoll 50000 and 54000 req/s -> 52000; thread 30000, 32400 -> 31200;
    # fiber 45000, 48600 -> 46800.
    assert row.best == "reactor:epoll"
    assert row.best_rps == pytest.approx(52000)
    assert row.ratios["reactor:epoll"] == pytest.approx(1.0)
    assert row.ratios["thread:per-conn"] == pytest.approx(31200 / 52000)  # 0.60
    assert row.ratios["fiber:hub"] == pytest.approx(46800 / 52000)        # 0.90
    # p99: reactor 2500.0, 2314.8 -> 2407.4; fiber 2592.6, 2400.5 -> 2496.55;
    # thread 11111.1, 10288.1.
    assert row.best_p99 == "reactor:epoll"
    assert row.best_p99_us == pytest.approx(2407.4)


def test_summary_quick_tie_and_best_p99_differ():
    rows = report.summary_rows(rs.load(os.path.join(INPUTS, "quick")))
    row = _row(rows, "http", 10)
    # thread and reactor both 12000, 12960 -> 12480: a tie goes to the first
    # model in the registry's order (thread before reactor).
    assert row.best == "thread:per-conn"
    assert row.best_rps == pytest.approx(12480)
    assert row.ratios["reactor:epoll"] == pytest.approx(1.0)
    assert row.ratios["fiber:hub"] == pytest.approx((11400 + 12312) / 2 / 12480)  # 0.95
    # p99: reactor 1041.7, 964.5 -> 1003.1; fiber 1023.4, 947.6 -> 985.5.
    assert row.best_p99 == "fiber:hub"
    assert row.best_p99_us == pytest.approx(985.5)


def test_summary_numbers_in_report(rendered):
    folder = rendered("quick")[0]
    md = open(os.path.join(folder, "report.md"), encoding="utf-8").read()
    # reactor:epoll at 100 echo connections: 50000 and 54000 req/s, mean 52000,
    # sample sd 2828.4; t(0.975, 1 df) = 12.706, so the 95% interval is
    # ±12.706 × 2828.4 / √2 = ±25,412 = ±48.9%. Every other model's ratio
    # interval (±69% = √2 × 48.9% on the log scale) includes 1.00×: "≈".
    assert "| 100 | req/s | reactor:epoll | 52,000 | ±48.9% | connections | reactor:epoll | 2.41ms |" \
        in md
    assert "| 10 | req/s | thread:per-conn | 12,480 | ±48.9% | connections | fiber:hub | 986µs |" \
        in md
    # At 1000 echo connections reactor:epoll saturated the load generator (the
    # others did not): the row ranks by CPU per request; thread:per-conn's
    # 0.32× (15600/49400) lies outside its interval; the warnings are
    # footnote markers with their legend below the tables. Models are rows
    # of the second table, connection counts (10, 100, 1k) its columns.
    assert "| 1k | CPU/req | reactor:epoll | 49,400 | ±48.9% | client CPU | reactor:epoll | 25.3ms |" \
        in md
    assert "| thread:per-conn | ≈ | ≈ | 0.32× ±69%¹ |" in md
    assert "| reactor:epoll | **1.00×** | **1.00×** | **1.00×²** |" in md
    assert "| fiber:hub | ≈ | ≈ | ≈ |" in md
    assert "Notes: ¹ errors during run · ² loadgen saturated" in md
    page = open(os.path.join(folder, "report.html"), encoding="utf-8").read()
    assert "<strong>1.00×</strong>" in page and "52,000" in page


def test_summary_notes_when_header_bytes_differ(fixture_dir):
    folder = fixture_dir("quick")
    path = os.path.join(folder, "results.json")
    doc = json.load(open(path))
    # http at 10 connections: thread:per-conn sends 236 B heads, the others
    # 128 B; at 100 connections every model sends 128 B (no note).
    for run in doc["runs"]:
        if run["proto"] == "http" and run["connections"] in (10, 100):
            big = run["connections"] == 10 and run["model"] == "thread"
            run["response_header_bytes_per_request"] = 236.0 if big else 128.0
    json.dump(doc, open(path, "w"))
    report.write_report(folder)
    md = open(os.path.join(folder, "report.md"), encoding="utf-8").read()
    note = re.search(r"([¹²³⁴⁵⁶⁷⁸⁹]) header bytes differ: ([^·\n]*)", md)
    assert note, md
    names = dict(re.findall(r"([a-z]+:[a-z-]+) (\d+) B", note.group(2)))
    assert names == {"thread:per-conn": "236", "reactor:epoll": "128", "fiber:hub": "128"}
    assert f"| 10{note.group(1)} | req/s | thread:per-conn |" in md
    assert md.count("header bytes differ") == 1


def test_summary_failed_fixture():
    rows = report.summary_rows(rs.load(os.path.join(INPUTS, "failed")))
    c10, c100, c1000 = (_row(rows, "echo", c) for c in (10, 100, 1000))
    # c10: reactor 40000, 44000 -> 42000; pool 20000, 22000 -> 21000 (its
    # aggregate is missing: computed from the runs); process 8000, 8800 -> 8400.
    assert c10.best == "reactor:epoll" and c10.best_rps == pytest.approx(42000)
    assert c10.ratios["pool:ready"] == pytest.approx(0.5)
    assert c10.ratios["process:fork"] == pytest.approx(0.2)
    # c100: pool's repetition 1 failed; only repetition 0 (20000) counts.
    assert c100.rps["pool:ready"] == pytest.approx(20000)
    assert c100.ratios["pool:ready"] == pytest.approx(20000 / 42000)
    # c1000: process failed both repetitions.
    assert c1000.state["process:fork"] == "failed"
    assert c1000.ratios["process:fork"] is None
    assert c1000.rps["pool:ready"] == pytest.approx(21000)
    # p99 at 10 connections: reactor 312.5, 284.1 -> 298.3.
    assert c10.best_p99 == "reactor:epoll" and c10.best_p99_us == pytest.approx(298.3)


def test_openloop_rows():
    rows = report.openloop_rows(rs.load(os.path.join(INPUTS, "openloop")))
    by_label = {r.label: r for r in rows}
    # Capacities 12k, 25k, 22k req/s; the p99 passes 3x its 1k/s value at
    # 10k (thread: 5400 vs 490.9 us) and 20k (reactor 4500 vs 468.8; fiber
    # 9900 vs 470.9), not before (thread at 5k: 771.4).
    assert by_label["thread:per-conn"].knee_rate == 10000
    assert by_label["reactor:epoll"].knee_rate == 20000
    assert by_label["fiber:hub"].knee_rate == 20000
    assert by_label["thread:per-conn"].max_achieved == pytest.approx(12000)
    assert by_label["reactor:epoll"].low_p99_us == pytest.approx(468.8)


def test_openloop_uncorrected_latency():
    res = rs.load(os.path.join(INPUTS, "openloop"))
    cell = res.cells[rs.CellKey("thread", "per-conn", "http", 100, None, 1024, "open", 30000.0)]
    # Past capacity the corrected p99 explodes; from actual send times it
    # stays at min(p50, 400 us) x 3 = 1200 us.
    assert cell.stat("uncorrected_p99_us").mean == pytest.approx(1200.0)
    assert cell.stat("p99_us").mean > 1e6


# --- failed runs and missing metrics ------------------------------------------------

def test_failed_runs_appear_in_report(rendered):
    folder = rendered("failed")[0]
    md = open(os.path.join(folder, "report.md"), encoding="utf-8").read()
    page = open(os.path.join(folder, "report.html"), encoding="utf-8").read()
    failed_section = md.split("## Failed runs", 1)[1].split("## Warnings", 1)[0]
    for run_id, reason in (
            ("process-fork_echo_c1000_m64_closed_r0", "server crashed (signal 11, SIGSEGV)"),
            ("process-fork_echo_c1000_m64_closed_r1", "hang: no completed request for 10 s"),
            ("pool-ready_echo_c100_m64_closed_r1", "startup: port not ready after 5 s")):
        assert run_id in failed_section and reason in failed_section
        assert run_id in page and reason in page
    assert "reset=412" in failed_section
    warnings = md.split("## Warnings", 1)[1]
    assert "reactor-epoll_echo_c1000_m64_closed_r0" in warnings and "timeout=7" in warnings
    assert "1 of 2 repetitions succeeded" in warnings
    assert "runs[18] has no model" in warnings
    assert "not run: reactor:uring (io_uring not supported by this kernel)" in warnings
    # reactor 40000, 44000: ±12.706 × 2828.4 / √2 / 42000 = ±60.5%.
    assert "| 1k | req/s | reactor:epoll | 42,000 | ±60.5% |" in md
    assert "| process:fork | 0.20× ±86% | 0.20× ±86% | failed¹ |" in md
    assert "| reactor:epoll | **1.00×** | **1.00×** | **1.00×¹** |" in md


def test_saturated_loadgen_listed(rendered):
    folder = rendered("quick")[0]
    warnings = open(os.path.join(folder, "report.md"), encoding="utf-8").read() \
        .split("## Warnings", 1)[1]
    assert "reactor-epoll_echo_c1000_m64_closed_r0 | loadgen saturated" in warnings
    assert "thread-per-conn_http_c1000_f1024_closed_r1 | errors during run | timeout=3" \
        in warnings


def test_missing_metrics_are_none():
    res = rs.load(os.path.join(INPUTS, "failed"))
    key = lambda model, variant, c: rs.CellKey(model, variant, "echo", c, 64, None,
                                               "closed", None)
    crashed = res.cells[key("process", "fork", 1000)]
    assert crashed.ok_repetitions == 0 and crashed.repetitions == 2
    assert crashed.stat("requests_per_s") is None
    assert crashed.stat("server_voluntary_cs_per_request") is None
    assert crashed.representative_run() is None
    startup = [r for r in res.runs if r.id == "pool-ready_echo_c100_m64_closed_r1"][0]
    assert startup.metric("p99_us") is None and startup.metric("server_pss_peak_kb") is None
    assert startup.errors == {} and startup.hgrm_file is None
    reactor10 = res.cells[key("reactor", "epoll", 10)]
    assert reactor10.stat("p99_9_us") is None
    assert reactor10.stat("server_pss_per_connection_kb") is None
    # The .hgrm named in the run is missing: the spectrum falls back to JSON.
    sp = rs.spectrum(res, reactor10.representative_run())
    assert sp.source == "json" and sp.points[0] == (0.5, 189.4)
    assert dict(sp.points)[0.99] == 284.1
    assert [p for p, _ in sp.points] == [0.5, 0.75, 0.9, 0.99]
    # Flat "server.cpu_us_per_request" keys read like nested ones.
    flat = [r for r in res.runs if r.id == "pool-ready_echo_c1000_m64_closed_r0"][0]
    assert flat.metric("server_cpu_us_per_request") == 18.0
    assert res.ctx("limits.nofile") == 1024
    # Context switches missing in one of reactor@1000's two runs: the other counts.
    reactor1000 = res.cells[key("reactor", "epoll", 1000)]
    assert reactor1000.stat("server_voluntary_cs_per_request").n == 1


def test_loader_tolerates_truncated_json(tmp_path):
    folder = tmp_path / "partial"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({
        "schema_version": 1, "context": {},
        "runs": [{"model": "reactor", "variant": "epoll", "proto": "echo", "connections": 10,
                  "status": "ok", "requests_per_s": 1000, "latency": None}]}))
    res, chart_list, _ = report.write_report(str(folder))
    assert res.machine().startswith("unknown CPU")
    assert {c.filename for c in chart_list} == {"throughput_echo.png"}
    assert len(res.problems) == 5  # "not drawn: latency chart of echo, closed loop ..." etc.
    assert all(p.startswith("not drawn: ") for p in res.problems)
    assert "not drawn: memory chart of echo, closed loop" in " ".join(res.problems)


def test_unknown_schema_version_is_reported(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"schema_version": 2, "runs": []}))
    res = rs.load(str(tmp_path))
    assert any("schema_version 2" in p for p in res.problems)


# --- .hgrm and micro-benchmarks --------------------------------------------------------

def test_hgrm_read_in_milliseconds():
    res = rs.load(os.path.join(INPUTS, "quick"))
    cell = res.cells[rs.CellKey("reactor", "epoll", "echo", 100, 64, None, "closed", None)]
    run = cell.representative_run()
    # The repetition with the median p99 of two (2500.0, 2314.8) is the lower.
    assert run.id == "reactor-epoll_echo_c100_m64_closed_r1"
    sp = rs.spectrum(res, run)
    assert sp.source == "hgrm"
    # The file says 1.543 (ms) at 50%; the run's p50 is 1543.2 us.
    assert dict(sp.points)[0.5] == pytest.approx(1543.0)
    thread = res.cells[rs.CellKey("thread", "per-conn", "echo", 100, 64, None, "closed", None)]
    assert rs.spectrum(res, thread.representative_run()).source == "json"


def test_hgrm_in_microseconds_recognised(tmp_path):
    path = tmp_path / "r.hgrm"
    path.write_text("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"
                    "     100.000 0.000000000000          1           1.00\n"
                    "     250.000 0.500000000000         50           2.00\n"
                    "     900.000 0.990000000000         99         100.00\n"
                    "    1200.000 1.000000000000        100\n"
                    "#[Mean    =      300.000, StdDeviation   =      100.000]\n")
    rows = rs.read_hgrm(str(path))
    assert rows == [(0.0, 100.0), (0.5, 250.0), (0.99, 900.0), (1.0, 1200.0)]
    run = rs.Run({"model": "x", "status": "ok", "latency": {"p50_us": 251.0}})
    assert rs.hgrm_scale_to_us(rows, run) == 1.0
    run_ms = rs.Run({"model": "x", "status": "ok", "latency": {"p50_us": 250000.0}})
    assert rs.hgrm_scale_to_us(rows, run_ms) == 1000.0


def test_microbench_families():
    mb = gbench.load_microbench(os.path.join(INPUTS, "quick", "microbench.json"))
    fam = mb.families()
    assert list(fam) == ["BM_Switch", "BM_Create", "BM_Readiness", "BM_Memory",
                         "BM_FiberSwitch"]
    switch = {b.label: b for b in fam["BM_Switch"]}
    assert list(switch) == ["fiber", "ucontext", "thread_futex/same_cpu",
                            "process_pipe/same_cpu"]
    # fiber: round trips of 24, 25, 26 ns with Google Benchmark aggregates
    # (mean 25, stddev 1); ns_per_switch is half.
    assert switch["fiber"].stat.mean == pytest.approx(25.0)
    assert switch["fiber"].stat.stddev == pytest.approx(1.0)
    assert (switch["fiber"].stat.min, switch["fiber"].stat.max) == (24.0, 26.0)
    assert switch["fiber"].counters["ns_per_switch"].mean == pytest.approx(12.5)
    assert switch["process_pipe/same_cpu"].stat.mean == pytest.approx(5200.0)  # 5.2 us
    create = {b.label: b for b in fam["BM_Create"]}
    assert create["fork_wait"].stat.mean == pytest.approx(120000.0)  # 0.12 ms
    readiness = [(b.label, b.arg, b.arg_name) for b in fam["BM_Readiness"]]
    assert ("epoll/active:1", 1000, "fds") in readiness and len(readiness) == 9
    memory = {b.label: b for b in fam["BM_Memory"]}
    assert memory["process"].counters["page_tables_kb_per_item"].mean == 52.0
    assert any("select/active:1/fds:2000" in p for p in mb.problems)  # error_occurred


def test_microbench_figures_drawn():
    """Each family's chart uses its counter: half a round trip for BM_Switch,
    the wait call for BM_Readiness; real time where a family has none."""
    mb = gbench.load_microbench(os.path.join(INPUTS, "quick", "microbench.json"))
    fam = mb.families()
    assert charts._bench_metric(fam["BM_Switch"]) == "ns_per_switch"
    assert charts._bench_metric(fam["BM_Readiness"]) == "ns_per_wait"
    assert charts._bench_metric(fam["BM_Create"]) == "real_time"


@pytest.mark.parametrize("name, expected", [
    ("BM_Poll/epoll/1000", ("BM_Poll", "epoll", 1000, None)),
    ("BM_Switch/fiber", ("BM_Switch", "fiber", None, None)),
    ("BM_FiberSwitch", ("BM_FiberSwitch", "BM_FiberSwitch", None, None)),
    ("BM_Create/fork/real_time", ("BM_Create", "fork", None, None)),
    ("BM_Poll/epoll/fds:100/min_time:0.500", ("BM_Poll", "epoll", 100, "fds")),
    ("BM_Switch/thread/threads:2", ("BM_Switch", "thread/threads:2", None, None)),
    ("BM_Readiness/epoll/active:1/fds:10/real_time",
     ("BM_Readiness", "epoll/active:1", 10, "fds")),
    ("BM_Memory/thread/64KiB_stack/iterations:1/real_time",
     ("BM_Memory", "thread/64KiB_stack", None, None)),
])
def test_split_bench_name(name, expected):
    assert gbench.split_bench_name(name) == expected


def test_microbench_alone(tmp_path):
    """A bench-only folder (no results.json) still gets its charts."""
    folder = tmp_path / "bench"
    folder.mkdir()
    src = os.path.join(INPUTS, "quick", "microbench.json")
    (folder / "microbench.json").write_text(open(src).read())
    res, chart_list, _ = report.write_report(str(folder))
    assert len(chart_list) == 5
    assert res.machine() == "unknown CPU · not pinned"


# --- chart helpers ------------------------------------------------------------------------

def test_tail_knee():
    assert charts.tail_knee([(1, 100.0), (2, 250.0), (3, 301.0), (4, 900.0)]) == (3, 301.0)
    assert charts.tail_knee([(1, 100.0), (2, 299.0)]) is None
    assert charts.tail_knee([(1, 100.0)]) is None


def test_style_is_stable_across_folders():
    quick = rs.load(os.path.join(INPUTS, "quick"))
    assert quick.labels() == ["thread:per-conn", "reactor:epoll", "fiber:hub"]
    failed = rs.load(os.path.join(INPUTS, "failed"))
    assert failed.labels() == ["process:fork", "pool:ready", "reactor:epoll"]


def test_formatting():
    assert charts.fmt_us(850) == "850µs" and charts.fmt_us(2500) == "2.5ms"
    assert charts.fmt_us(0.5) == "500ns" and charts.fmt_us(1.5e6) == "1.5s"
    assert fm.format_count(10000) == "10k" and fm.format_count(100) == "100"
    assert fm.format_bytes(64) == "64 B" and fm.format_bytes(1024) == "1 KiB"


# --- compare.py ------------------------------------------------------------------------------

def _scaled_copy(src, dest, rps_factor, p99_factor):
    """quick with every throughput x rps_factor and every p99 x p99_factor."""
    import shutil
    shutil.copytree(src, dest)
    path = os.path.join(dest, "results.json")
    d = json.load(open(path))
    for r in d["runs"]:
        r["requests_per_s"] *= rps_factor
        r["latency"]["p99_us"] *= p99_factor
    for a in d["aggregates"]:
        for k in ("mean", "median", "min", "max", "stddev"):
            a["metrics"]["requests_per_s"][k] *= rps_factor
            a["metrics"]["p99_us"][k] *= p99_factor
    json.dump(d, open(path, "w"))
    return dest


def test_compare_ratios(tmp_path):
    a = os.path.join(INPUTS, "quick")
    b = _scaled_copy(a, str(tmp_path / "faster"), 2.0, 0.5)
    rows, chart_list, out = compare.write_compare(a, b)
    assert out == b
    assert len(rows) == 18  # every cell of quick
    for r in rows:
        assert r.ratio["requests_per_s"] == pytest.approx(2.0)
        assert r.ratio["p99_us"] == pytest.approx(0.5)
        assert r.ratio["server_cpu_us_per_request"] == pytest.approx(1.0)
    geo = compare.geomean_by_label(rows)
    assert geo["fiber:hub"]["requests_per_s"] == pytest.approx(2.0)
    assert {c.filename for c in chart_list} == {
        f"compare_{m}_{wl}.png"
        for m in ("requests_per_s", "p99_us", "server_cpu_us_per_request")
        for wl in ("echo_m64", "http_f1024")}
    md = open(os.path.join(b, "compare.md"), encoding="utf-8").read()
    assert "| reactor:epoll @ 100 conns | 52,000 | 104,000 | 2.00× |" in md
    assert os.path.exists(os.path.join(b, "compare.html"))


def test_compare_cli_two_fixtures(tmp_path):
    out = tmp_path / "cmp"
    proc = subprocess.run([sys.executable, os.path.join(PLOTS_DIR, "compare.py"),
                           os.path.join(INPUTS, "quick"), os.path.join(INPUTS, "failed"),
                           "--out", str(out)], cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "3 matching cells" in proc.stdout  # reactor:epoll echo at 10, 100, 1000
    md = (out / "compare.md").read_text(encoding="utf-8")
    # reactor at 100 connections: 52000 in quick, 42000 in failed.
    assert "| reactor:epoll @ 100 conns | 52,000 | 42,000 | 0.81× |" in md
    assert "only in B: process:fork echo, 64 B messages, closed loop, 1k connections" in md
    assert not os.path.exists(os.path.join(INPUTS, "failed", "compare.md"))
