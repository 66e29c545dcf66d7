"""Queued jobs on Prefect work pools: submit, status, results, recovery.

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
Deployment administration (pool, queues, limits, ``prefect deploy``) lives in :mod:`flows.deploy`.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ivos_core.shipped import DEFAULT_MODEL

POOL = "ivos-gpu"
PRIORITIES: dict[str, int] = {"high": 1, "normal": 5, "low": 10}
DEPLOYMENT = "segment-video/segment-video"

NO_SERVER_HELP = (
    "Queued jobs need a Prefect server with the ivos deployments: start one with `prefect server start` "
    "(or point PREFECT_API_URL at an existing one, e.g. `export PREFECT_API_URL=http://127.0.0.1:4200/api`), "
    "run `ivos deploy` once, and start a worker with `ivos worker --pool ivos-gpu`. "
    "To segment a session on this machine without a server, run `ivos segment` "
    "(or the segment-video flow, flows/segment_video.py, directly)."
)


class PrefectNotConfigured(RuntimeError):
    """No Prefect API configured, not reachable, or the deployment is not there; the message says what to do."""


def require_api() -> str:
    """The configured Prefect API URL; :class:`PrefectNotConfigured` when there is none.

    Without ``PREFECT_API_URL`` (environment or Prefect profile) the Prefect client would start a
    temporary server that holds no deployment, so a submission could only fail."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        raise PrefectNotConfigured(f"No Prefect server is configured (PREFECT_API_URL is not set). {NO_SERVER_HELP}")
    return str(url)


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
    model: str = DEFAULT_MODEL,
    parameters: dict[str, Any] | None = None,
    deployment: str = DEPLOYMENT,
) -> list[Submitted]:
    """Validate then enqueue each session; returns one :class:`Submitted` per path."""
    import httpx
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    from ivos_core.interactions import SessionValidationError, load_session

    queue = _queue(priority)
    url = require_api()
    out: list[Submitted] = []
    for p in paths:
        try:
            s = load_session(p)
        except SessionValidationError as exc:
            out.append(Submitted(str(p), False, error=str(exc)))
            continue
        params = {"session_path": str(Path(p).resolve()), "model": model, **(parameters or {})}
        try:
            run = run_deployment(
                deployment,
                parameters=params,
                timeout=0,
                work_queue_name=queue,
                tags=["ivos", f"session:{s.session_id}", f"model:{model}", f"priority:{priority}"],
                flow_run_name=f"{s.session_id}-{model}",
                as_subflow=False,
            )
        except ObjectNotFound as exc:
            raise PrefectNotConfigured(
                f"The Prefect server at {url} has no deployment {deployment!r}. {NO_SERVER_HELP}"
            ) from exc
        except httpx.TransportError as exc:
            raise PrefectNotConfigured(f"Cannot reach the Prefect server at {url} ({exc}). {NO_SERVER_HELP}") from exc
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
    """True when ``infrastructure_pid`` names a process on this host that no longer runs: gone, or
    a zombie (exited but not yet reaped - what a flow-run process becomes when its worker is killed
    and nobody waits for it; ``kill(pid, 0)`` still succeeds on it)."""
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
    return _is_zombie(int(pid))


def _is_zombie(pid: int) -> bool:
    """Linux: the state letter of ``/proc/<pid>/stat`` is ``Z``; elsewhere False."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


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
