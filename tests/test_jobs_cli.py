"""`ivos jobs ...` without a Prefect server, and the deployments file's pools and limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner


@pytest.fixture
def no_prefect_api(monkeypatch, tmp_path):
    """PREFECT_API_URL unset in the environment and in Prefect's (already imported) settings context,
    which another test's harness may have set for the whole session."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect_home"))
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        yield


def _session(path: Path) -> Path:
    from ivos_core.interactions import save_session
    from ivos_core.jobs import robot_session

    gt = np.zeros((32, 48), dtype=bool)
    gt[8:24, 12:36] = True
    s = robot_session([gt, gt, gt], uri="davis/JPEGImages/480p/synth", session_id="cli-s1", clicks_first=1)
    return save_session(s, path)


def _assert_help_paragraph(res) -> None:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "ObjectNotFound" not in res.output
    for needed in ("prefect server start", "ivos deploy", "ivos segment", "PREFECT_API_URL"):
        assert needed in res.output, res.output


def test_submit_without_a_prefect_server_exits_2_with_what_to_run(no_prefect_api, tmp_path):
    from flows.cli import app

    res = CliRunner().invoke(app, ["jobs", "submit", str(tmp_path / "s.json")])
    _assert_help_paragraph(res)
    assert "not set" in res.output
    assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit)


@pytest.mark.parametrize("cmd", [["jobs", "status"], ["jobs", "recover"], ["deploy"]])
def test_other_jobs_commands_without_a_prefect_server_exit_2(no_prefect_api, cmd):
    from flows.cli import app

    _assert_help_paragraph(CliRunner().invoke(app, cmd))


def test_submit_to_a_server_without_the_deployment_exits_2(monkeypatch, tmp_path):
    """A server is configured but `ivos deploy` never ran: run_deployment raises ObjectNotFound."""
    import prefect.deployments
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.cli import app

    def missing(*a, **k):
        raise ObjectNotFound(http_exc=None)

    monkeypatch.setattr(prefect.deployments, "run_deployment", missing)
    path = _session(tmp_path / "s.json")
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        res = CliRunner().invoke(app, ["jobs", "submit", str(path)])
    _assert_help_paragraph(res)
    assert "no deployment 'segment-video/segment-video'" in res.output


# ---- deployments/prefect.yaml: pools by resource, analytics-refresh ---------------------------

REPO = Path(__file__).resolve().parents[1]
GPU = {"segment-video", "reprocess-sessions", "train-interactive", "train-osvos-parent"}
CPU = {"prepare-data", "eval-interactive", "eval-davis", "analytics-refresh"}


def _deployments() -> dict[str, dict]:
    """The deployments as `prefect deploy` sees them: `{{ $VAR }}` filled from the environment."""
    import os

    from prefect.utilities.templating import apply_values

    from flows.deploy import deployments_in

    return {d["name"]: apply_values(d, os.environ, remove_notset=False) for d in deployments_in(REPO / "deployments" / "prefect.yaml")}


def test_deployments_sit_on_the_pool_of_their_resource():
    deps = _deployments()
    assert set(deps) == GPU | CPU
    for name in GPU:
        assert deps[name]["work_pool"]["name"] == "ivos-gpu", name
    for name in CPU:
        assert deps[name]["work_pool"]["name"] == "ivos-cpu", name
    assert deps["segment-video"]["work_pool"]["work_queue_name"] == "normal"


def test_analytics_refresh_has_concurrency_1_and_absolute_paths_under_ivos_home(monkeypatch):
    from prefect.cli.deploy._models import DeploymentConfig

    monkeypatch.setenv("IVOS_HOME", "/srv/ivos")
    d = _deployments()["analytics-refresh"]
    cfg = DeploymentConfig.model_validate(d)  # the Prefect 3 schema `prefect deploy` reads
    assert cfg.concurrency_limit.limit == 1 and cfg.concurrency_limit.collision_strategy == "CANCEL_NEW"
    p = d["parameters"]
    assert p["db"] == "/srv/ivos/analytics/ivos.duckdb"
    assert p["sessions"] == ["/srv/ivos/sessions"] and p["job_results"] == ["/srv/ivos/jobs"]
    assert all(Path(x).is_absolute() for x in [p["db"], p["report_out"], *p["eval_results"]])
    assert d["schedules"] and d["schedules"][0]["cron"]
    # every parameter is one of the flow's
    import inspect

    from flows.analytics_refresh import analytics_refresh_flow

    assert set(p) <= set(inspect.signature(analytics_refresh_flow.fn).parameters)


def test_persisted_results_go_to_shared_storage_under_ivos_home(monkeypatch):
    monkeypatch.setenv("IVOS_HOME", "/srv/ivos")
    for name, d in _deployments().items():
        env = d["work_pool"]["job_variables"]["env"]
        assert env["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] == "/srv/ivos/prefect-results", name
    from prefect.settings import Settings

    monkeypatch.setenv("PREFECT_RESULTS_LOCAL_STORAGE_PATH", "/srv/ivos/prefect-results")  # as a worker's job gets it
    assert str(Settings().results.local_storage_path) == "/srv/ivos/prefect-results"


def test_runs_and_workers_retry_the_500s_of_a_database_outage(monkeypatch):
    """Prefect's server answers 500 while its PostgreSQL is down (tests/test_scaleout_postgres.py
    measures it): every deployment's runs and every ``ivos worker`` retry it, with enough backoff."""
    from prefect.settings import Settings

    from flows.deploy import OUTAGE_RETRY_ENV

    for name, d in _deployments().items():
        env = d["work_pool"]["job_variables"]["env"]
        assert {k: env.get(k) for k in OUTAGE_RETRY_ENV} == OUTAGE_RETRY_ENV, name
    for key, value in OUTAGE_RETRY_ENV.items():
        monkeypatch.setenv(key, value)
    client = Settings().client
    assert 500 in client.retry_extra_codes
    assert sum(2 ** k for k in range(1, client.max_retries + 1)) >= 240  # the backoff covers a ~4-minute outage


def test_ivos_worker_execs_a_prefect_process_worker_with_the_retry_settings(monkeypatch):
    import os
    import sys

    from flows.cli import app

    seen = {}
    monkeypatch.setattr(os, "execve", lambda path, argv, env: seen.update(path=path, argv=argv, env=env))
    monkeypatch.setenv("PREFECT_CLIENT_MAX_RETRIES", "12")  # the operator's own setting wins
    monkeypatch.delenv("PREFECT_CLIENT_RETRY_EXTRA_CODES", raising=False)
    res = CliRunner().invoke(app, ["worker", "--pool", "ivos-cpu", "--limit", "2", "--name", "w1"])
    assert res.exit_code == 0, res.output
    assert seen["path"] == sys.executable
    assert seen["argv"][1:] == ["-m", "prefect", "worker", "start", "--pool", "ivos-cpu", "--type", "process",
                                "--name", "w1", "--limit", "2"]
    assert seen["env"]["PREFECT_CLIENT_RETRY_EXTRA_CODES"] == "500"
    assert seen["env"]["PREFECT_CLIENT_MAX_RETRIES"] == "12"


def test_ivos_deploy_fills_ivos_home_when_unset(monkeypatch):
    import subprocess

    import flows.deploy as deploy_mod

    seen = {}

    def fake_run(cmd, cwd, env, **k):
        seen.update(env)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.delenv("IVOS_HOME", raising=False)
    monkeypatch.setattr(deploy_mod.subprocess, "run", fake_run)
    deploy_mod._prefect("version")
    assert seen["IVOS_HOME"] == str(REPO / "outputs")


def test_analytics_refresh_skips_folders_that_do_not_exist_yet(tmp_path):
    from flows.analytics_refresh import load_logs

    db = tmp_path / "analytics" / "ivos.duckdb"
    out = load_logs.fn(str(db), [str(tmp_path / "sessions")], [str(tmp_path / "jobs")], [])
    assert out == {} and db.exists()


def test_recover_counts_an_unreaped_zombie_as_dead():
    """A flow-run process whose worker was killed exits but may stay unreaped: `kill(pid, 0)`
    still succeeds on it, so `ivos jobs recover` must read its state instead."""
    import os
    import socket
    import subprocess
    import sys
    import time

    from flows.jobs import _local_pid_dead

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 20
    while time.time() < deadline and "Z" not in open(f"/proc/{child.pid}/stat").read().rpartition(")")[2][:3]:
        time.sleep(0.05)
    try:
        assert _local_pid_dead(f"{socket.gethostname()}:{child.pid}")  # exited, not yet waited for
        assert not _local_pid_dead(f"{socket.gethostname()}:{os.getpid()}")  # this process runs
    finally:
        child.wait()
    assert _local_pid_dead(f"{socket.gethostname()}:{child.pid}")  # reaped: gone


# ---- scripts: --json, exit codes, choices in --help (issue 16 item 6) ---------------------------

def _fake_server(monkeypatch):
    """A configured (unreachable) server whose run_deployment hands out flow-run ids."""
    import uuid
    from types import SimpleNamespace

    import prefect.deployments

    calls = []

    def run_deployment(name, **kw):
        run_id = uuid.uuid4()
        calls.append({"name": name, "id": str(run_id), **kw})
        return SimpleNamespace(id=run_id)

    monkeypatch.setattr(prefect.deployments, "run_deployment", run_deployment)
    return calls


def test_submit_json_lists_flow_runs_and_refused_with_reasons(monkeypatch, tmp_path):
    import json

    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.cli import app

    calls = _fake_server(monkeypatch)
    good = _session(tmp_path / "good.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": "1.0", "session_id": "b"')
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        ok = CliRunner().invoke(app, ["jobs", "submit", str(good), "--priority", "high", "--json"])
        mixed = CliRunner().invoke(app, ["jobs", "submit", str(good), str(bad), "--json"])
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.stdout)
    assert set(doc) >= {"submitted", "refused", "n_submitted", "n_refused", "priority", "model"}
    assert doc["n_submitted"] == 1 and doc["refused"] == [] and doc["priority"] == "high"
    (sub,) = doc["submitted"]
    assert sub == {"path": str(good), "session_id": "cli-s1", "flow_run_id": calls[0]["id"]}
    assert calls[0]["work_queue_name"] == "high"
    assert "queued" in ok.stderr  # the human lines went to stderr

    assert mixed.exit_code == 2, mixed.output  # a refused session: non-zero (2, bad input), the valid one still queued
    doc = json.loads(mixed.stdout)
    assert doc["n_submitted"] == 1 and doc["n_refused"] == 1
    assert doc["refused"][0]["path"] == str(bad) and doc["refused"][0]["reason"]
    assert len(calls) == 2


def test_submit_json_without_a_server_prints_nothing_on_stdout(no_prefect_api, tmp_path):
    from flows.cli import app

    res = CliRunner().invoke(app, ["jobs", "submit", str(tmp_path / "s.json"), "--json"])
    assert res.exit_code == 2 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and "PREFECT_API_URL" in res.stderr


def test_submit_rejects_an_unknown_priority_with_the_choices(tmp_path):
    from flows.cli import app

    res = CliRunner().invoke(app, ["jobs", "submit", str(tmp_path / "s.json"), "--priority", "urgent"])
    assert res.exit_code == 2 and "urgent" in res.output and "high" in res.output


def test_priority_choices_are_the_work_queues():
    from flows.cli_jobs import Priority
    from flows.jobs import PRIORITIES

    assert [p.value for p in Priority] == list(PRIORITIES)


@pytest.mark.parametrize("cmd,choices", [
    (["jobs", "submit"], ["high|normal|low", "deep|grabcut"]),
    (["reprocess"], ["threads|processes|dask", "deep|grabcut"]),
    (["export"], ["davis|coco|cvat|labelstudio"]),
    (["import"], ["davis|coco|cvat|labelstudio"]),
])
def test_help_lists_choices_json_and_exit_codes(cmd, choices):
    from flows.cli import app

    res = CliRunner().invoke(app, [*cmd, "--help"], env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    for c in choices:
        assert c in res.stdout, (c, res.stdout)
    if cmd[0] in ("jobs", "reprocess"):
        assert "--json" in res.stdout and "Exit codes" in res.stdout


def _results_tree(out: Path, sid: str = "s1") -> None:
    import json

    d = out / "gc-abc" / sid
    d.mkdir(parents=True)
    (d / "results.json").write_text(json.dumps({"session_id": sid, "model_version": "gc-abc", "summary": {"n_frames": 3},
                                                "timings": {}, "files": ["masks"]}))
    (d / "DONE").write_text("")


def test_results_json_and_exit_1_when_none(tmp_path):
    import json

    from flows.cli import app

    _results_tree(tmp_path)
    res = CliRunner().invoke(app, ["jobs", "results", "s1", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["session_id"] == "s1" and doc["n_results"] == 1
    assert doc["results"][0]["model_version"] == "gc-abc" and doc["results"][0]["output_dir"].endswith("gc-abc/s1")
    none = CliRunner().invoke(app, ["jobs", "results", "nope", "--out", str(tmp_path), "--json"])
    assert none.exit_code == 1
    assert json.loads(none.stdout)["results"] == [] and "no finished outputs" in none.stderr


def _fake_reprocess(monkeypatch, n_failed: int) -> list[dict]:
    import flows.reprocess

    seen = []

    def fake(**kw):
        seen.append(kw)
        rows = [{"session": "a.json", "session_id": "a", "status": "done", "out": "x"}]
        rows += [{"session": "b.json", "session_id": None, "status": "failed", "reason": "bad log"}] * n_failed
        return {"model_version": "m-1", "compare_to": None, "n_sessions": len(rows), "n_done": 1, "n_skipped": 0,
                "n_failed": n_failed, "sessions": rows, "report": "r.json"}

    monkeypatch.setattr(flows.reprocess, "reprocess_flow", fake)
    return seen


@pytest.mark.parametrize("n_failed,code", [(0, 0), (1, 1)])
def test_reprocess_json_and_exit_1_when_a_session_failed(monkeypatch, n_failed, code):
    import json

    from flows.cli import app

    seen = _fake_reprocess(monkeypatch, n_failed)
    res = CliRunner().invoke(app, ["reprocess", "--sessions", "x/*.json", "--model", "m", "--task-runner", "threads",
                                   "--interactive", "grabcut", "--json"])
    assert res.exit_code == code, res.output
    doc = json.loads(res.stdout)
    assert set(doc) >= {"model_version", "n_done", "n_skipped", "n_failed", "sessions", "report"}
    assert doc["n_failed"] == n_failed
    assert seen[0]["task_runner"] == "threads" and seen[0]["interactive"] == "grabcut"  # plain strings reach the flow
    assert "done" in res.stderr


def test_submit_without_json_keeps_the_human_lines_on_stdout(monkeypatch, tmp_path):
    """What tests/test_jobs_integration.py and scripts read: queued/refused lines on stdout, exit 2."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.cli import app

    _fake_server(monkeypatch)
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        res = CliRunner().invoke(app, ["jobs", "submit", str(_session(tmp_path / "good.json")), str(bad)])
    assert res.exit_code == 2
    assert "queued" in res.stdout and "refused" in res.stdout
