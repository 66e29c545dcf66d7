"""Prefect flow ``segment-video``: replay one logged session into masks, stickers and a results record.

Thin on purpose: the compute is :func:`ivos_core.jobs.replay_session` +
:func:`ivos_core.jobs.write_outputs`. Tasks pass paths and small dicts, never arrays or tensors.

* ``validate-session`` (no retries: a bad log stays bad) and ``check-video`` (the reference
  resolves inside the roots; a missing video fails the run with a message naming the uri and the
  roots, before any GPU slot is taken);
* a finished job (``DONE`` in ``<out>/<model_version>/<session_id>/``) is skipped: no work;
* ``replay-session`` (``retries=2`` for transient errors, never for deterministic ones; its
  result - the output folder path - persists to local result storage). Outputs are assembled in a
  temporary folder and renamed into place, so a job killed half-way leaves nothing visible and its
  retry writes the whole folder once.

GPU slots: a job holds its GPU through its worker (one worker per GPU, ``--limit 1``) and the
``ivos-gpu`` pool's concurrency limit (= GPUs, set by ``ivos deploy --gpu-slots``), both enforced
before the run starts. The task deliberately carries no ``gpu`` tag: the tag limit's per-task
check cost 1.9 s per job on the SQLite-backed server (a 503 from ``SQLITE_BUSY_SNAPSHOT`` and the
client's retry; overhead per job 2.56 s with the tag, 0.65 s without, ``benchmarks/
bench_prefect_jobs.py``). Long GPU tasks (training) keep the tag, where 2 s do not matter.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from flows.progress import FlowProgress, artifact_key
from ivos_core.shipped import DEFAULT_MODEL

DETERMINISTIC = ("SessionValidationError", "UnsafePathError", "VideoNotFoundError", "JobError", "CheckpointError", "VideoError")


def default_out() -> str:
    home = os.environ.get("IVOS_HOME")
    return str(Path(home) / "jobs") if home else "outputs/jobs"


def _retry_transient(task, task_run, state) -> bool:
    """Retry only errors that may go away (CUDA OOM, I/O hiccups), not bad inputs."""
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - we classify it
        return type(exc).__name__ not in DETERMINISTIC
    return False


@task(name="validate-session")
def validate_session(session_path: str) -> dict[str, Any]:
    """Validate the log; returns its id, video uri and frame count (raises SessionValidationError)."""
    from ivos_core.interactions import load_session

    s = load_session(session_path)
    return {"session_id": s.session_id, "uri": s.video.uri, "n_frames": s.video.n_frames, "user_id": s.user_id}


@task(name="check-video")
def check_video(uri: str, video_roots: list[str] | None) -> str:
    """Resolve the video reference inside the roots (UnsafePathError / VideoNotFoundError)."""
    from ivos_core.paths import resolve_video_ref

    return str(resolve_video_ref(uri, video_roots))


@task(name="replay-session", retries=2, retry_delay_seconds=5, retry_condition_fn=_retry_transient, persist_result=True)
def replay_task(session_path: str, model: dict[str, Any], out: str, video_roots: list[str] | None, device: str,
                stamps: dict[str, float] | None = None) -> str:
    """Replay and write the outputs; returns the output folder (a path, not the masks).

    ``stamps`` (the flow's one-off import time ``import_s`` and wall-clock stamps of the flow body's
    start and of the check tasks' end) go into the results' timings with this task's start, so benchmarks can split a run's time
    into Prefect's start, the work before the replay, the replay, and Prefect's finish.
    """
    task_started_at = time.time()
    from ivos_core.interactions import load_session
    from ivos_core.jobs import ModelVersion, replay_session, write_outputs

    spec = ModelVersion.from_dict(model)
    session = load_session(session_path)
    progress = FlowProgress(artifact_key("segment", session.session_id), f"segment-video {session.session_id}", min_interval=1.0)
    result = replay_session(session, video_roots=video_roots, spec=spec, device=device, progress=progress)
    stamps = {**(stamps or {}), "task_started_at": task_started_at}
    result.record.timings.update({k: round(v, 4) for k, v in stamps.items()})
    return str(write_outputs(result, out))


@flow(name="segment-video", log_prints=True)
def segment_video_flow(
    session_path: str,
    model: str = DEFAULT_MODEL,
    out: str | None = None,
    video_roots: list[str] | None = None,
    models_dir: str | None = None,
    interactive_checkpoint: str | None = None,
    interactive: str | None = None,
    osvos_checkpoint: str | None = None,
    finetune_steps: int | None = None,
    refine_steps: int | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Replay one session log with model ``model``; outputs in ``<out>/<model_version>/<session_id>/``.

    ``model`` names a folder ``<models_dir>/<model>/`` (``interactive.safetensors``,
    ``osvos_parent.safetensors``, ``model.json``); the other arguments override it (e.g. tiny
    ``finetune_steps`` in CI, ``interactive="grabcut"`` for the classical baseline).
    """
    flow_started_at = time.time()
    t_import = time.perf_counter()
    from ivos_core.jobs import (  # torch, OpenCV: the job's start-up cost
        is_done,
        output_dir,
        resolve_model,
    )

    import_s = time.perf_counter() - t_import
    out = out or default_out()
    meta = validate_session(session_path)
    check_video(meta["uri"], video_roots)
    checks_done_at = time.time()
    spec = resolve_model(
        model,
        models_dir=models_dir,
        interactive_checkpoint=interactive_checkpoint,
        interactive=interactive,
        osvos_checkpoint=osvos_checkpoint,
        finetune_steps=finetune_steps,
        refine_steps=refine_steps,
    )
    version = spec.version
    target = output_dir(out, meta["session_id"], version)
    if is_done(out, meta["session_id"], version):
        print(f"session {meta['session_id']} already done for {version}: {target} (nothing to do)")
        return {"session_id": meta["session_id"], "model_version": version, "out": str(target), "status": "skipped"}
    stamps = {"import_s": import_s, "flow_started_at": flow_started_at, "checks_done_at": checks_done_at}
    path = replay_task(session_path, spec.to_dict(), out, video_roots, device, stamps)
    create_markdown_artifact(
        f"**{meta['session_id']}** with `{version}`\n\noutputs: `{path}` (masks/, sticker.apng, sticker.gif, overlay, results.json)",
        key=artifact_key("job", meta["session_id"]),
        description="segment-video outputs",
    )
    return {"session_id": meta["session_id"], "model_version": version, "out": path, "status": "done"}
