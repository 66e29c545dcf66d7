"""Queued jobs on Prefect work pools: submit, status, results, recovery, deploy.

* :func:`submit_sessions` validates each session log first; a malformed one is refused with its
  validation error and nothing is enqueued for it; the valid ones become runs of the
  ``segment-video/segment-video`` deployment on the priority's work queue (``high``/``normal``/
  ``low`` of the ``ivos-gpu`` pool; lower priority number = served first), tagged
  ``ivos``, ``session:<id>``, ``model:<name>``, ``priority:<p>``.
* :func:`job_status` reads flow runs from the API (by the ``session:<id>`` tag).
* :func:`job_results` reads ``results.json`` from the outputs.
* :func:`recover_runs` is the retry of jobs whose worker died. Prefect 3.9 does not retry a run
  whose process was killed: flow ``retries`` only cover exceptions raised in the run's own
  process; a SIGKILLed run stays ``Running`` until something marks it ``Crashed`` (the
  heartbeat automation that ``ivos deploy`` creates, as Prefect documents for "zombie" runs, or
  this function for runs whose process on this host is gone). Crashed runs are then put back
  into ``Scheduled`` (``AwaitingRetry``), keeping their id, parameters and queue, so any worker
  picks them up again; ``max_attempts`` bounds it. The job's outputs are assembled in a temp
  folder and renamed into place, so the re-run writes them once and nothing partial is visible.
* :func:`deploy` applies ``deployments/prefect.yaml``: pool, queues with priorities, the ``gpu``
  concurrency limit, the zombie automation, then ``prefect deploy --name`` for each deployment
  whose entrypoint module exists.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[1]
PREFECT_FILE = REPO / "deployments" / "prefect.yaml"
POOL = "ivos-gpu"
PRIORITIES: dict[str, int] = {"high": 1, "normal": 5, "low": 10}
DEPLOYMENT = "segment-video/segment-video"
ZOMBIE_AUTOMATION = "ivos: crash zombie flow runs"


@dataclass
class Submitted:
    path: str
    ok: bool
    session_id: str | None = None
    flow_run_id: str | None = None
    error: str | None = None


def _queue(priority: str) -> str:
    if priority not in PRIORITIES:
        raise ValueError(f"unknown priority {priority!r}; choose one of {', '.join(PRIORITIES)}")
    return priority


def submit_sessions(
    paths: Sequence[str | Path],
    *,
    priority: str = "normal",
    model: str = "lite",
    parameters: dict[str, Any] | None = None,
    deployment: str = DEPLOYMENT,
) -> list[Submitted]:
    """Validate then enqueue each session; returns one :class:`Submitted` per path."""
    from prefect.deployments import run_deployment

    from ivos_core.interactions import SessionValidationError, load_session

    queue = _queue(priority)
    out: list[Submitted] = []
    for p in paths:
        try:
            s = load_session(p)
        except SessionValidationError as exc:
            out.append(Submitted(str(p), False, error=str(exc)))
            continue
        params = {"session_path": str(Path(p).resolve()), "model": model, **(parameters or {})}
        run = run_deployment(
            deployment,
            parameters=params,
            timeout=0,
            work_queue_name=queue,
            tags=["ivos", f"session:{s.session_id}", f"model:{model}", f"priority:{priority}"],
            flow_run_name=f"{s.session_id}-{model}",
            as_subflow=False,
        )
        out.append(Submitted(str(p), True, session_id=s.session_id, flow_run_id=str(run.id)))
    return out


async def _read_runs(session_id: str | None, limit: int) -> list[Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.client.schemas.sorting import FlowRunSort

    tags = ["ivos"] + ([f"session:{session_id}"] if session_id else [])
    async with get_client() as client:
        return await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=tags)),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=limit,
        )


def _tag(run: Any, prefix: str) -> str | None:
    return next((t.split(":", 1)[1] for t in run.tags if t.startswith(prefix + ":")), None)


def job_status(session_id: str | None = None, *, limit: int = 200) -> list[dict[str, Any]]:
    """Flow runs of submitted jobs (newest first): id, session, model, priority, state, message."""
    runs = asyncio.run(_read_runs(session_id, limit))
    rows = []
    for r in runs:
        rows.append(
            {
                "flow_run_id": str(r.id),
                "name": r.name,
                "session_id": _tag(r, "session"),
                "model": _tag(r, "model"),
                "priority": _tag(r, "priority"),
                "state": r.state.name if r.state else None,
                "state_type": r.state.type.value if r.state else None,
                "run_count": r.run_count,
                "message": (r.state.message or "") if r.state else "",
                "start_time": r.start_time.isoformat() if r.start_time else None,
                "end_time": r.end_time.isoformat() if r.end_time else None,
                "expected_start_time": r.expected_start_time.isoformat() if r.expected_start_time else None,
            }
        )
    return rows


def job_results(session_id: str, out: str | Path | None = None, *, model_version: str | None = None) -> list[dict[str, Any]]:
    """``results.json`` of every finished job of ``session_id`` under ``out`` (one per version)."""
    from flows.segment_video import default_out
    from ivos_core.utils import safe_name

    base = Path(out or default_out())
    found = []
    for res in sorted(base.glob(f"*/{safe_name(session_id)}/results.json")):
        d = res.parent
        if model_version and d.parent.name != model_version:
            continue
        if not (d / "DONE").is_file():
            continue
        rec = json.loads(res.read_text())
        rec["output_dir"] = str(d)
        found.append(rec)
    return found


def _local_pid_dead(infra_pid: str | None) -> bool:
    """True when ``infrastructure_pid`` names a process on this host that no longer exists."""
    if not infra_pid:
        return False
    host, _, pid = str(infra_pid).rpartition(":")
    if host and host not in (socket.gethostname(), "localhost", "127.0.0.1"):
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


async def _recover(max_attempts: int, deployment_name: str) -> list[dict[str, Any]]:
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed, Scheduled

    done = []
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.CRASHED, StateType.PENDING]))
            ),
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment_name])),
            limit=200,
        )
        for r in runs:
            st = r.state.type if r.state else None
            if st in (StateType.RUNNING, StateType.PENDING):
                if not _local_pid_dead(r.infrastructure_pid):
                    continue
                await client.set_flow_run_state(r.id, Crashed(message="process gone (worker or host died); marked by ivos jobs recover"), force=True)
                st = StateType.CRASHED
            if st != StateType.CRASHED:
                continue
            if r.run_count >= max_attempts:
                done.append({"flow_run_id": str(r.id), "name": r.name, "action": f"left Crashed after {r.run_count} attempts"})
                continue
            await client.set_flow_run_state(r.id, Scheduled(name="AwaitingRetry", message="retry after crash (ivos jobs recover)"), force=True)
            done.append({"flow_run_id": str(r.id), "name": r.name, "action": "rescheduled"})
    return done


def recover_runs(*, max_attempts: int = 3, deployment_name: str = "segment-video") -> list[dict[str, Any]]:
    """Mark dead runs Crashed and put Crashed runs back in the queue (see module docstring)."""
    return asyncio.run(_recover(max_attempts, deployment_name))


# ------------------------------------------------------------------------------------ deploy
def _prefect(*args: str, check: bool = True, cwd: Path = REPO) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "prefect", *args]
    env = dict(os.environ)
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    env.setdefault("IVOS_REPO", str(REPO))  # prefect.yaml's pull step: workers run from this checkout
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`prefect {' '.join(args)}` failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def deployments_in(prefect_file: Path = PREFECT_FILE) -> list[dict[str, Any]]:
    import yaml

    doc = yaml.safe_load(prefect_file.read_text())
    return list(doc.get("deployments", []))


def entrypoint_exists(entrypoint: str, root: Path = REPO) -> bool:
    """``flows/x.py:fn`` -> the module file exists and defines ``fn`` (text check, no import)."""
    path, _, fn = entrypoint.partition(":")
    f = root / path
    if not f.is_file():
        return False
    return f"def {fn}(" in f.read_text(encoding="utf-8")


async def _ensure_pool_objects(pool: str, gpu_slots: int, heartbeat_s: int) -> None:
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate, WorkQueueCreate, WorkQueueUpdate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    async with get_client() as client:
        # the pool's own limit bounds concurrent runs (= GPUs) before they start, at no per-task cost
        try:
            wp = await client.read_work_pool(pool)
            if wp.concurrency_limit != int(gpu_slots):
                await client.update_work_pool(pool, WorkPoolUpdate(concurrency_limit=int(gpu_slots)))
        except ObjectNotFound:
            await client.create_work_pool(WorkPoolCreate(name=pool, type="process", concurrency_limit=int(gpu_slots)))
        existing = {q.name: q for q in await client.read_work_queues(work_pool_name=pool)}
        for name, prio in PRIORITIES.items():
            if name in existing:
                await client.update_work_queue(existing[name].id, priority=prio)
            else:
                try:
                    await client.create_work_queue(name=name, work_pool_name=pool, priority=prio)
                except ObjectAlreadyExists:
                    pass
        # the pool's "default" queue gets the lowest priority so named queues win
        if "default" in existing:
            await client.update_work_queue(existing["default"].id, priority=max(PRIORITIES.values()) + 5)
        try:
            await client.create_concurrency_limit(tag="gpu", concurrency_limit=int(gpu_slots))
        except ObjectAlreadyExists:
            pass
    await _ensure_zombie_automation(heartbeat_s)


async def _ensure_zombie_automation(heartbeat_s: int) -> None:
    """Prefect's documented zombie detector: no heartbeat for ~3 intervals -> Crashed."""
    from datetime import timedelta

    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    try:
        existing = await Automation.aread(name=ZOMBIE_AUTOMATION)
    except Exception:  # noqa: BLE001 - not found
        existing = None
    if existing:
        return
    await Automation(
        name=ZOMBIE_AUTOMATION,
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            },
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=3 * heartbeat_s),
        ),
        actions=[ChangeFlowRunState(state=StateType.CRASHED, message=f"no heartbeat for {3 * heartbeat_s} s: marked Crashed")],
    ).acreate()


def deploy(
    *,
    prefect_file: Path = PREFECT_FILE,
    pool: str = POOL,
    gpu_slots: int = 1,
    heartbeat_s: int = 60,
    names: Sequence[str] | None = None,
) -> dict[str, list[str]]:
    """Apply ``prefect_file``; returns ``{"deployed": [...], "skipped": ["name (why)", ...]}``."""
    asyncio.run(_ensure_pool_objects(pool, gpu_slots, heartbeat_s))
    deployed, skipped = [], []
    for d in deployments_in(prefect_file):
        name = d["name"]
        if names and name not in names:
            continue
        if not entrypoint_exists(d["entrypoint"]):
            skipped.append(f"{name} (entrypoint {d['entrypoint']} not found)")
            continue
        _prefect("--no-prompt", "deploy", "--prefect-file", str(prefect_file), "--name", name)
        deployed.append(name)
    return {"deployed": deployed, "skipped": skipped}
