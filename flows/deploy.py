"""Deployment administration: apply ``deployments/prefect.yaml`` to a Prefect server.

:func:`deploy` creates the two work pools by resource, ``ivos-gpu`` (segment-video, reprocess,
training; its concurrency limit = GPUs) and ``ivos-cpu`` (data preparation, evaluation,
analytics; limit ``cpu_slots``, none by default), the priority queues of each, the
``gpu`` tag limit and the zombie automation (runs without a heartbeat for three intervals are marked
``Crashed``, so :func:`flows.jobs.recover_runs` can requeue them), then runs ``prefect deploy
--name`` for each deployment whose flow (:func:`flow_of`) exists in this checkout.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

from flows.jobs import POOL, PRIORITIES

REPO = Path(__file__).resolve().parents[1]
PREFECT_FILE = REPO / "deployments" / "prefect.yaml"
ZOMBIE_AUTOMATION = "ivos: crash zombie flow runs"
CPU_POOL = "ivos-cpu"


# Prefect 3.x answers HTTP 500 (not its retryable 503) while its database is down (a restart, a
# failover: asyncpg's ConnectionRefusedError is not in the server's retryable list). A client that
# does not retry 500 crashes the run whose state update lands there, or (a worker) leaves the run
# it was submitting stuck in Pending. Workers (``ivos worker``) and every deployment's runs
# (``deployments/prefect.yaml``'s job variables) retry it; 7 retries back off 2, 4, ..., 128 s,
# riding out an outage of about 4 minutes.
OUTAGE_RETRY_ENV: dict[str, str] = {"PREFECT_CLIENT_RETRY_EXTRA_CODES": "500", "PREFECT_CLIENT_MAX_RETRIES": "7"}


def worker_command(pool: str, *, limit: int | None = None, name: str | None = None) -> list[str]:
    """``prefect worker start`` for a process worker on ``pool`` (what ``ivos worker`` execs)."""
    cmd = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"]
    if name:
        cmd += ["--name", name]
    if limit is not None:
        cmd += ["--limit", str(int(limit))]
    return cmd


def worker_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` plus :data:`OUTAGE_RETRY_ENV` where the operator has not set those variables."""
    out = dict(env)
    for key, value in OUTAGE_RETRY_ENV.items():
        out.setdefault(key, value)
    return out


def _prefect(*args: str, check: bool = True, cwd: Path = REPO) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "prefect", *args]
    env = dict(os.environ)
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    env.setdefault("IVOS_REPO", str(REPO))  # prefect.yaml's pull step: workers run from this checkout
    env.setdefault("IVOS_HOME", str(REPO / "outputs"))  # analytics-refresh's absolute paths
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`prefect {' '.join(args)}` failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def deployments_in(prefect_file: Path = PREFECT_FILE) -> list[dict[str, Any]]:
    import yaml

    doc = yaml.safe_load(prefect_file.read_text())
    return list(doc.get("deployments", []))


def flow_of(entrypoint: str) -> Any | None:
    """``flows/x.py:fn`` -> the Prefect flow object ``flows.x.fn``; None when the module or the
    flow is not there (a deployment whose code is not in this checkout is skipped, not fatal)."""
    import importlib

    from prefect import Flow

    path, _, fn = entrypoint.partition(":")
    module = path.removesuffix(".py").replace("/", ".")
    try:
        obj = getattr(importlib.import_module(module), fn, None)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module.startswith(exc.name):  # a dependency missing inside it: a real error
            raise
        return None
    return obj if isinstance(obj, Flow) else None


async def _ensure_pool(client: Any, pool: str, limit: int | None) -> None:
    """A process pool with concurrency ``limit`` (None: no limit) and the priority queues."""
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    limit = None if limit is None else int(limit)
    # the pool's own limit bounds concurrent runs (ivos-gpu: = GPUs) before they start, at no per-task cost
    try:
        wp = await client.read_work_pool(pool)
        if wp.concurrency_limit != limit:
            await client.update_work_pool(pool, WorkPoolUpdate(concurrency_limit=limit))
    except ObjectNotFound:
        await client.create_work_pool(WorkPoolCreate(name=pool, type="process", concurrency_limit=limit))
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


async def _ensure_pool_objects(pool: str, gpu_slots: int, heartbeat_s: int, *,
                               cpu_pool: str | None = None, cpu_slots: int | None = None) -> None:
    from prefect import get_client
    from prefect.exceptions import ObjectAlreadyExists

    async with get_client() as client:
        await _ensure_pool(client, pool, int(gpu_slots))
        if cpu_pool:
            await _ensure_pool(client, cpu_pool, cpu_slots)
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
    cpu_pool: str = CPU_POOL,
    cpu_slots: int | None = None,
    heartbeat_s: int = 60,
    names: Sequence[str] | None = None,
) -> dict[str, list[str]]:
    """Apply ``prefect_file``; returns ``{"deployed": [...], "skipped": ["name (why)", ...]}``."""
    asyncio.run(_ensure_pool_objects(pool, gpu_slots, heartbeat_s, cpu_pool=cpu_pool, cpu_slots=cpu_slots))
    deployed, skipped = [], []
    for d in deployments_in(prefect_file):
        name = d["name"]
        if names and name not in names:
            continue
        if flow_of(d["entrypoint"]) is None:
            skipped.append(f"{name} (entrypoint {d['entrypoint']} not found)")
            continue
        _prefect("--no-prompt", "deploy", "--prefect-file", str(prefect_file), "--name", name)
        deployed.append(name)
    return {"deployed": deployed, "skipped": skipped}
