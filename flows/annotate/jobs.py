"""Jobs submitted from the annotation app: a Prefect ``segment-video`` run when a Prefect server
and the deployment are there (the path of ``ivos jobs submit``), else a local replay in a thread.

The local runner is :func:`ivos_core.jobs.replay_session` + :func:`ivos_core.jobs.write_outputs`
(the job's own compute), one job at a time; its outputs land where the Prefect job would put them
(``<out>/<model_version>/<session_id>/``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

__all__ = ["JobInfo", "JobRunner", "prefect_deployment_available"]


def prefect_deployment_available(deployment: str | None = None, timeout: float = 5.0) -> bool:
    """True when ``PREFECT_API_URL`` points at a server that has the ``segment-video`` deployment."""
    try:
        from prefect.settings import PREFECT_API_URL

        if not (os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()):
            return False
        from prefect import get_client

        from flows.jobs import DEPLOYMENT

        async def check() -> bool:
            async with get_client() as client:
                await client.read_deployment_by_name(deployment or DEPLOYMENT)
                return True

        return bool(asyncio.run(asyncio.wait_for(check(), timeout)))
    except Exception:  # no server, no deployment, no Prefect settings: run locally
        return False


@dataclass
class JobInfo:
    job_id: str
    session_id: str
    user_id: str
    session_path: str
    mode: str  # "prefect" | "local"
    state: str = "queued"
    message: str = ""
    done: int = 0
    total: int = 0
    flow_run_id: str | None = None
    output_dir: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    submitted_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class JobRunner:
    """Submit saved sessions and follow them. ``mode``: ``auto`` | ``prefect`` | ``local``."""

    def __init__(
        self,
        *,
        spec: Any,
        out: str | Path,
        roots: Sequence[str | Path],
        mode: str = "auto",
        device: str = "cpu",
        prefect_parameters: dict[str, Any] | None = None,
    ) -> None:
        if mode not in ("auto", "prefect", "local"):
            raise ValueError(f"submit mode must be auto, prefect or local, got {mode!r}")
        self.spec = spec
        self.out = Path(out)
        self.roots = [str(Path(r).resolve()) for r in roots]
        self.device = device
        self._mode = mode
        self.prefect_parameters = dict(prefect_parameters or {})
        self.jobs: dict[str, JobInfo] = {}
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()  # one local job at a time

    @property
    def mode(self) -> str:
        if self._mode == "auto":
            self._mode = "prefect" if prefect_deployment_available() else "local"
        return self._mode

    def submit(self, session_path: str | Path, *, session_id: str, user_id: str, priority: str = "normal") -> JobInfo:
        job = JobInfo(job_id=secrets.token_hex(6), session_id=session_id, user_id=user_id,
                      session_path=str(session_path), mode=self.mode)
        with self._lock:
            self.jobs[job.job_id] = job
        if job.mode == "prefect":
            from flows.jobs import submit_sessions

            params = {"video_roots": self.roots, "out": str(self.out.resolve()), **self.prefect_parameters}
            res = submit_sessions([session_path], priority=priority, model=self.spec.name, parameters=params)[0]
            if not res.ok:
                job.state, job.message = "failed", str(res.error)
            else:
                job.flow_run_id, job.state = res.flow_run_id, "scheduled"
        else:
            threading.Thread(target=self._run_local, args=(job,), name=f"job-{job.job_id}", daemon=True).start()
        return job

    def _run_local(self, job: JobInfo) -> None:
        from ivos_core.interactions import load_session
        from ivos_core.jobs import replay_session, write_outputs

        with self._run_lock:
            job.state = "running"
            try:
                session = load_session(job.session_path)

                def progress(done: int, total: int, label: str) -> None:
                    job.done, job.total, job.message = done, total, label

                result = replay_session(session, video_roots=self.roots, spec=self.spec, device=self.device, progress=progress)
                folder = write_outputs(result, self.out)
                self._attach(job, folder)
                job.state, job.message = "completed", "done"
            except Exception as exc:  # noqa: BLE001 - shown on the jobs page
                job.state, job.message = "failed", f"{type(exc).__name__}: {exc}"

    def _attach(self, job: JobInfo, folder: Path) -> None:
        import json

        job.output_dir = str(folder)
        try:
            rec = json.loads((folder / "results.json").read_text())
            job.files = {k: str(v) for k, v in (rec.get("files") or {}).items() if k != "masks"}
        except (OSError, ValueError):
            job.files = {}

    def refresh(self, job: JobInfo) -> JobInfo:
        """Prefect jobs: read the run's state and, when finished, its outputs."""
        if job.mode != "prefect" or job.state in ("completed", "failed") and job.output_dir:
            return job
        try:
            from flows.jobs import job_results, job_status

            rows = [r for r in job_status(job.session_id) if r.get("flow_run_id") == job.flow_run_id]
            if rows:
                job.state = str(rows[0].get("state") or job.state).lower()
                job.message = str(rows[0].get("message") or "")
            recs = job_results(job.session_id, self.out)
            if recs:
                self._attach(job, Path(recs[0]["output_dir"]))
                job.state = "completed"
        except Exception as exc:  # noqa: BLE001 - the server may be gone; show it
            job.message = f"cannot read the job's state: {exc}"
        return job

    def list(self, user_id: str | None = None) -> list[JobInfo]:
        with self._lock:
            jobs = sorted(self.jobs.values(), key=lambda j: -j.submitted_at)
        return [self.refresh(j) for j in jobs if user_id is None or j.user_id == user_id]

    def get(self, job_id: str) -> JobInfo | None:
        return self.jobs.get(job_id)
