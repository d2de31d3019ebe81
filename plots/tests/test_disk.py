"""The disk-workload figures (plots/disk.py) on a small made-up results
folder written here: Flash's series by data-set ratio, the comparisons the
report states, the open-loop rows at a share of capacity, and the chart and
report drawn from it (and no per-workload charts for disk workloads)."""

import json
import os

import pytest

import charts
import disk as dk
import report
import results as rs

LIMIT = 128 << 20
# requests/s by (label, ratio): the shape Flash reported, in round numbers.
RPS = {
    "pool:ready": {0.25: 20000, 4: 12000},
    "reactor:epoll": {0.25: 24000, 4: 5000},
    "reactor:offload": {0.25: 23000, 4: 11000},
    "fiber:hub": {0.25: 18000, 4: 4000},
    "fiber:offload": {0.25: 17500, 4: 9000},
}
SHARE_P99 = {"reactor:epoll": 90000.0, "reactor:offload": 20000.0}


def cell_keys(label, spec, load="closed", rate=None, share=None):
    model, variant = label.split(":")
    return {"model": model, "variant": variant, "proto": "http", "connections": 100,
            "msg_size_bytes": None, "file_size_bytes": None, "workload": spec,
            "backend_conns": None, "server_memory_bytes": LIMIT, "load": load,
            "rate_per_s": rate, "rate_of_capacity": share}


def a_run(label, spec, ratio, rps, p99, load="closed", rate=None, share=None):
    keys = cell_keys(label, spec, load, rate, share)
    requests = int(rps * 5)
    read = (0 if ratio < 1 else 6000.0) * requests
    return dict(keys, id=f"{label}-{spec}-{load}", repetition=0, status="ok", failure_reason=None,
                warnings=[], duration_s=5.0, requests=requests, requests_per_s=float(rps),
                mb_per_s=rps * 16384 / 1e6,
                latency={"mean_us": p99 / 3, "p50_us": p99 / 4, "p99_us": p99, "p99_9_us": p99 * 2},
                server={"cpu_us_per_request": 40.0},
                disk={"dataset": "n1-s16384", "dataset_files": int(ratio * LIMIT / 16384),
                      "dataset_bytes": int(ratio * LIMIT), "zipf_alpha": 0.8,
                      "mean_file_bytes": 16384.0, "dataset_to_memory_ratio": ratio,
                      "read_bytes": int(read), "read_bytes_per_request": read / requests,
                      "page_cache_hit_ratio": 1 - min(1.0, read / requests / 16384)},
                memory_cgroup={"cgroup_version": 1, "limit_bytes": LIMIT},
                loadgen={"saturated": False})


@pytest.fixture
def disk_res(tmp_path):
    runs, cells = [], []
    for label, by_ratio in RPS.items():
        for ratio, rps in by_ratio.items():
            spec = f"disk:total={ratio:g}x&size=16KiB&zipf=0.8"
            runs.append(a_run(label, spec, ratio, rps, 2e6 / rps))
            cells.append(cell_keys(label, spec))
    spec4 = "disk:total=4x&size=16KiB&zipf=0.8"
    for label, p99 in SHARE_P99.items():
        rate = 0.8 * RPS[label][4]
        runs.append(a_run(label, spec4, 4, rate, p99, "open", rate, 0.8))
        cells.append(cell_keys(label, spec4, "open", None, 0.8))
    doc = {"schema_version": 1,
           "context": {"server_cpus": [0], "client_cpus": [1]},
           "config": {"profile": "disk", "repeat": 1, "duration_s": 5, "cells": cells, "skipped": []},
           "runs": runs, "aggregates": []}
    folder = tmp_path / "disk"
    os.makedirs(folder)
    with open(folder / "results.json", "w") as f:
        json.dump(doc, f)
    return str(folder)


def test_flash_series_by_ratio(disk_res):
    data = dk.flash_data(rs.load(disk_res))
    assert len(data) == 1
    d = data[0]
    assert (d.family, d.connections, d.memory_limit_bytes, d.relative) == \
        ("size=16KiB&zipf=0.8", 100, LIMIT, True)
    assert d.xs == [0.25, 4]
    assert list(d.series) == [l for l in rs.load(disk_res).labels() if l in RPS]
    p = d.at("reactor:epoll", 4)
    assert (p.rps.mean, p.read_per_request.mean) == (5000, 6000.0)
    assert p.hit_ratio.mean == pytest.approx(1 - 6000 / 16384)
    assert d.at("reactor:epoll", 0.25).hit_ratio.mean == 1.0
    assert "Zipf(0.8)" in dk.describe(d) and "128 MiB" in dk.describe(d)


def test_flash_ratios_compare_offload_with_its_loop_and_the_best_blocking_model(disk_res):
    ratios = {(r.x, r.what): r.ratio for r in dk.flash_ratios(dk.flash_data(rs.load(disk_res))[0])}
    assert ratios[(4, "reactor:offload / reactor:epoll")] == pytest.approx(11000 / 5000)
    assert ratios[(4, "reactor:offload / pool:ready (best blocking)")] == pytest.approx(11000 / 12000)
    assert ratios[(4, "fiber:offload / fiber:hub")] == pytest.approx(9000 / 4000)
    assert ratios[(0.25, "reactor:offload / reactor:epoll")] == pytest.approx(23000 / 24000)
    assert not any("uring" in what for _, what in ratios)  # not in this folder


def test_share_rows_keep_each_models_own_rate(disk_res):
    rows = dk.share_rows(rs.load(disk_res))
    assert [(r.label, r.share, r.offered_rps, r.p99_us.mean) for r in rows] == [
        ("reactor:epoll", 0.8, 4000.0, 90000.0), ("reactor:offload", 0.8, 8800.0, 20000.0)]


def test_disk_chart_and_report_replace_per_workload_charts(disk_res):
    res = rs.load(disk_res)
    drawn = charts.render_all(res, disk_res)
    names = [c.filename for c in drawn]
    assert names == ["disk_size16KiB_zipf0.8_c100_mem134217728.png"]
    assert os.path.getsize(os.path.join(disk_res, names[0])) > 10_000
    assert not any("not drawn" in p for p in res.problems), res.problems
    blocks = report.build_blocks(res, drawn)
    headings = [b.text for b in blocks if isinstance(b, report.doc.Heading)]
    assert "Disk-bound files" in headings
    tables = [b for b in blocks if isinstance(b, report.doc.Table)]
    flash = next(t for t in tables if t.caption and t.caption.endswith("requests/s") and "16KiB" in t.caption)
    assert [row[0] for row in flash.rows] == ["0.25×", "4×"]
    assert flash.rows[1][-1] == "63%"  # the best model's hit ratio at 4x
