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
