"""The jobs-at-scale benchmark's pure parts: arguments, a round's figures, ratios and targets,
and the log counting of flows.devstack (no server is started: fast)."""

from __future__ import annotations

import pytest

from benchmarks.bench_prefect_jobs import cores_note, figures, parse_args, summarise
from flows.devstack import log_counts


def test_defaults_are_the_full_benchmark():
    a = parse_args([])
    assert a.backends == ["sqlite", "postgres"] and a.workers == [1, 2, 4] and a.jobs == 20 and a.json is None


def test_lists_are_parsed_deduplicated_and_checked(capsys):
    a = parse_args(["--backends", "postgres, SQLITE,postgres", "--workers", "4,1,2,1", "--jobs", "4"])
    assert a.backends == ["postgres", "sqlite"] and a.workers == [1, 2, 4] and a.jobs == 4
    for bad in (["--backends", "mysql"], ["--backends", ""], ["--workers", "0,1"], ["--workers", "two"], ["--jobs", "0"]):
        with pytest.raises(SystemExit):
            parse_args(bad)
    capsys.readouterr()


def _job(latency, wall, compute, imp, completed=True, **phases):
    return {"latency_s": latency, "wall_s": wall, "compute_s": compute, "import_s": imp, "completed": completed, "phases": phases}


def test_figures_of_a_round():
    jobs = [_job(1.0, 5.0, 4.0, 0.5, engine_start_s=0.1), _job(3.0, 6.0, 4.0, 0.5, engine_start_s=0.3),
            _job(2.0, 7.0, 4.5, 0.5), {"completed": False, "wall_s": None, "phases": {}}]
    f = figures(jobs, t0=100.0, t_end=160.0, n_workers=2, n_jobs=4)
    assert f["completed"] == 3 and f["jobs"] == 4 and f["workers"] == 2
    assert f["overhead_median_s"] == pytest.approx(2.0)  # 1.0, 2.0, 2.5
    assert f["prefect_overhead_median_s"] == pytest.approx(1.5)
    assert f["submit_to_start_median_s"] == 2.0 and f["submit_to_start_max_s"] == 3.0
    assert f["makespan_s"] == 60.0 and f["throughput_jobs_per_min"] == pytest.approx(4.0)
    assert f["service_s_per_job"] == pytest.approx(30.0)
    assert f["overhead_phases_median_s"] == {"engine_start_s": pytest.approx(0.2)}
    with pytest.raises(RuntimeError):
        figures([{"completed": False, "wall_s": None}], t0=0, t_end=1, n_workers=1, n_jobs=1)


def _round(tp, over):
    return {"throughput_jobs_per_min": tp, "overhead_median_s": over}


def test_ratios_and_targets():
    rounds = {"sqlite": {"1": _round(6.0, 0.7), "2": _round(9.0, 0.9), "4": _round(9.0, 2.0)},
              "postgres": {1: _round(6.0, 0.6), 2: _round(11.4, 0.8), 4: _round(12.0, 3.0)}}
    s = summarise(rounds, cores=2)
    sc = s["ratios"]["throughput_vs_1_worker"]
    assert sc["sqlite"] == {"2v1": pytest.approx(1.5), "4v1": pytest.approx(1.5)}
    assert sc["postgres"] == {"2v1": pytest.approx(1.9), "4v1": pytest.approx(2.0)}
    pv = s["ratios"]["postgres_vs_sqlite"]
    assert set(pv) == {"1", "2", "4"} and pv["2"]["throughput_ratio"] == pytest.approx(11.4 / 9.0)
    assert pv["1"]["overhead_median_diff_s"] == pytest.approx(-0.1)
    t = s["targets"]
    assert t["postgres_throughput_2v1"]["met"] is True and t["postgres_throughput_2v1"]["value"] == pytest.approx(1.9)
    # 4 workers on 2 cores is not judged: the worst of 1 and 2 workers
    o = t["postgres_overhead_median_s"]
    assert o["value"] == 0.8 and o["met"] is True and set(o["per_workers"]) == {"1", "2"}
    assert summarise(rounds, cores=4)["targets"]["postgres_overhead_median_s"]["met"] is False
    rounds["postgres"][2] = _round(10.0, 1.2)
    t = summarise(rounds, cores=2)["targets"]
    assert t["postgres_throughput_2v1"]["met"] is False and t["postgres_overhead_median_s"]["met"] is False


def test_targets_unmeasured_when_postgres_is_skipped():
    s = summarise({"sqlite": {"1": _round(6.0, 0.7), "2": _round(9.0, 0.9)}, "postgres": {}}, cores=2)
    assert s["ratios"]["postgres_vs_sqlite"] == {} and "postgres" not in s["ratios"]["throughput_vs_1_worker"]
    assert all(t["met"] is None and t["value"] is None for t in s["targets"].values())


def test_cores_note_says_when_workers_exceed_the_cores():
    assert "[4] workers exceed" in cores_note(2, [1, 2, 4])
    assert "exceed" not in cores_note(8, [1, 2, 4])


def test_log_counts():
    text = "\n".join([
        'INFO:     127.0.0.1:5000 - "POST /api/flow_runs/filter HTTP/1.1" 200 OK',
        'INFO:     127.0.0.1:5000 - "POST /api/task_runs/ HTTP/1.1" 503 Service Unavailable',
        'INFO:     127.0.0.1:5000 - "GET /api/health HTTP/1.1" 503',
        "sqlite3.OperationalError: database is locked",
        "Encountered retryable exception during request",
        "nothing here",
    ])
    assert log_counts(text) == {"responses": 3, "http_503": 2, "database_locked": 1, "retryable_lines": 4}
    assert log_counts("") == {"responses": 0, "http_503": 0, "database_locked": 0, "retryable_lines": 0}
