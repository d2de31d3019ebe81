"""Reference servers (peer:NAME) in the charts and the report: drawn grey
and dashed, named "(reference)", listed after the models; the "models
against references" table's ratios, intervals, '≈' and the marks of what a
peer did not run. Folders are made with test_uncertainty.synthetic, so the
expected ratios follow from how the data was made."""

import json
import os
import re

import pytest

import charts
import references as refs
import report
import results as rs
from test_uncertainty import synthetic

REGISTRY = [{"name": "reactor", "variant": "epoll", "default": True, "peer": False},
            {"name": "reactor", "variant": "poll", "default": False, "peer": False},
            {"name": "pool", "variant": "ready", "default": True, "peer": False},
            {"name": "peer", "variant": "nginx", "default": False, "peer": True},
            {"name": "peer", "variant": "go", "default": False, "peer": True}]


def folder_with_peers(tmp_path, extra_config=None):
    # peer:go and reactor:epoll differ by less than the noise; nginx is
    # twice the reactor's throughput at half its CPU per request.
    path = synthetic(str(tmp_path / "r"), {"peer:nginx": (20000, 10.0, False),
                                           "reactor:epoll": (10000, 20.0, False),
                                           "reactor:poll": (9000, 22.0, False),
                                           "pool:ready": (5000, 40.0, False),
                                           "peer:go": (10050, 20.1, False)},
                     conns=(100, 1000), registry=REGISTRY)
    doc_path = os.path.join(path, "results.json")
    with open(doc_path) as f:
        doc = json.load(f)
    doc["config"]["skipped"] = [{"what": "peer-nginx_echo_c100_m64_closed", "reason": "peer:nginx serves http only"}]
    doc["config"]["peers"] = [{"name": "nginx", "model": "peer:nginx", "version": "nginx version: nginx/1.22.1"}]
    doc["config"].update(extra_config or {})
    with open(doc_path, "w") as f:
        json.dump(doc, f)
    return path


def test_peers_are_listed_after_the_models_and_styled_as_references(tmp_path):
    res = rs.load(folder_with_peers(tmp_path))
    labels = res.labels()
    assert labels[-2:] == ["peer:nginx", "peer:go"]
    assert not any(rs.is_peer(l) for l in labels[:-2])
    style = charts.Style(labels, model_order=res.model_order())
    for peer in ("peer:nginx", "peer:go"):
        assert style.name(peer) == peer + " (reference)"
        assert style.color(peer) in charts.PEER_GREYS
        assert style.linestyle(peer) in charts.PEER_LINESTYLES
    for model in labels[:-2]:
        assert style.name(model) == model
        assert style.color(model) not in charts.PEER_GREYS
    assert style.linestyle("reactor:epoll") == "-"
    # Even with no registry (an old folder), peers sort last.
    assert sorted(["peer:a", "reactor:epoll", "zzz:x"],
                  key=lambda l: rs.label_sort_key(l, {})) == ["reactor:epoll", "zzz:x", "peer:a"]


def test_every_chart_legend_names_peers_as_references(tmp_path):
    folder = folder_with_peers(tmp_path)
    res, chart_list, out = report.write_report(folder)
    assert chart_list
    style = charts.Style(res.labels(), model_order=res.model_order())
    data = charts.throughput_data(res, res.workloads("closed")[0])
    assert list(data.series)[-2:] == ["peer:nginx", "peer:go"]
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    charts._plot_series(ax, data.series, style)
    handles, names = ax.get_legend_handles_labels()
    plt.close(fig)
    assert names[-2:] == ["peer:nginx (reference)", "peer:go (reference)"]
    line = handles[names.index("peer:nginx (reference)")][0]  # the errorbar's data line
    assert line.get_linestyle() == "--" and line.get_color() in charts.PEER_GREYS


def test_ratio_table_has_every_default_model_against_every_peer_with_intervals(tmp_path):
    res = rs.load(folder_with_peers(tmp_path))
    rows = refs.rows(res)
    # Default models only (reactor:poll is not one), each against both peers,
    # at both connection counts.
    assert {(r.model, r.peer) for r in rows} == {(m, p) for m in ("reactor:epoll", "pool:ready")
                                                for p in ("peer:nginx", "peer:go")}
    assert len(rows) == 8
    by = {(r.model, r.peer, r.connections): r for r in rows}
    r = by[("reactor:epoll", "peer:nginx", 100)]
    thr, cpu = r.ratios["requests_per_s"], r.ratios["server_cpu_us_per_request"]
    assert thr.ratio == pytest.approx(0.5, rel=0.03) and thr.low < thr.ratio < thr.high < 1
    assert cpu.ratio == pytest.approx(2.0, rel=0.03) and 1 < cpu.low
    assert not thr.includes_one and thr.text().startswith("0.5") and "(" in thr.text()
    assert r.reps == (1, 1)
    # Within noise: '≈' with the interval around 1.
    near = by[("reactor:epoll", "peer:go", 1000)].ratios["requests_per_s"]
    assert near.includes_one and near.text().startswith("≈ ")


def test_report_has_the_reference_table_versions_and_what_peers_lack(tmp_path):
    folder = folder_with_peers(tmp_path)
    report.write_report(folder)
    text = open(os.path.join(folder, "report.md")).read()
    section = text[text.index("## Models against references"):]
    section = section[:section.index("\n## ", 5)]
    assert "| model | against | connections | throughput | CPU/req | reps |" in section
    assert "| reactor:epoll | peer:nginx (reference) | 100 |" in section
    assert "reactor:poll" not in section
    assert "server_counters" in section                  # what a peer lacks
    assert "peer:nginx: nginx version: nginx/1.22.1" in section
    assert "peer:nginx serves http only (1 cell)" in section


def test_a_failed_or_missing_peer_cell_is_marked(tmp_path):
    folder = folder_with_peers(tmp_path)
    doc_path = os.path.join(folder, "results.json")
    with open(doc_path) as f:
        doc = json.load(f)
    for run in doc["runs"]:
        if run["model"] == "peer" and run["variant"] == "go" and run["connections"] == 100:
            run["status"], run["failure_reason"] = "failed", "crash: server exited with status 1"
    doc["runs"] = [r for r in doc["runs"]
                   if not (r["variant"] == "nginx" and r["connections"] == 1000)]
    with open(doc_path, "w") as f:
        json.dump(doc, f)
    rows = {(r.model, r.peer, r.connections): r for r in refs.rows(rs.load(folder))}
    assert rows[("reactor:epoll", "peer:go", 100)].ratios["requests_per_s"].text() == "failed"
    assert rows[("reactor:epoll", "peer:nginx", 1000)].ratios["requests_per_s"].text() == "—"


def test_no_peers_no_reference_section(tmp_path):
    folder = synthetic(str(tmp_path / "r"), {"reactor:epoll": (10000, 20.0, False)})
    report.write_report(folder)
    assert "Models against references" not in open(os.path.join(folder, "report.md")).read()


def test_summary_and_findings_name_peers_as_references(tmp_path):
    folder = folder_with_peers(tmp_path)
    report.write_report(folder)
    text = open(os.path.join(folder, "report.md")).read()
    summary = text[:text.index("## Models against references")]
    # nginx is the fastest at every count, but the best of a row is a model
    # (reactor:epoll), and the findings compare it with the runner-up model;
    # nginx's row of the versus table names it as a reference, 2× the best.
    assert "reactor:epoll serves 1.1" in summary and "× reactor:poll" in summary
    assert "| 100 | req/s | reactor:epoll |" in summary
    assert re.search(r"\| peer:nginx \(reference\) \| 2\.0\d× ±\d%", summary)
    assert "| peer:go (reference) |" in summary
    assert "peer:nginx |" not in summary.replace("peer:nginx (reference) |", "")
