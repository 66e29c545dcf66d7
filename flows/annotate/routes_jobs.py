"""The annotation app's save/submit routes and the job listing and file downloads.

Saving and submitting share :meth:`AppState.save_current`, so a submit never saves a version twice.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Path as PathParam, Query
from fastapi.responses import FileResponse, Response

from flows.annotate.bodies import SID, SubmitBody
from flows.annotate.state import AppState


def masks_zip(job: Any, folder: Path) -> Response:
    """The job's ``masks/*.png`` as one uncompressed zip (PNGs do not compress further)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for p in sorted((folder / "masks").glob("*.png")):
            zf.write(p, f"{job.session_id}/{p.name}")
    return Response(buf.getvalue(), media_type="application/zip",
                    headers={"content-disposition": f'attachment; filename="{job.session_id}-masks.zip"'})


def register_save_routes(app: FastAPI, st: AppState) -> None:
    """``POST /api/sessions/{sid}/save`` and ``/submit`` (409 when submitting is off)."""
    config = st.config

    @app.post("/api/sessions/{sid}/save")
    def save(sid: str = SID) -> dict[str, Any]:
        ws = st.ws_of(sid)
        with ws.lock:
            rec = st.save_current(sid, ws)
        return {"path": rec["path"], "session_id": rec["session_id"]}

    @app.post("/api/sessions/{sid}/submit", status_code=202)
    def submit(body: SubmitBody | None = None, sid: str = SID) -> dict[str, Any]:
        ws = st.ws_of(sid)
        if config.jobs is None:
            raise HTTPException(409, "submitting is switched off in this app")
        with ws.lock:
            rec = st.save_current(sid, ws)
        job = config.jobs.submit(rec["path"], session_id=rec["session_id"], user_id=st.meta[sid]["user_id"],
                                 priority=(body or SubmitBody()).priority)
        return job.to_dict()


def register_job_routes(app: FastAPI, st: AppState) -> None:
    """``GET /api/jobs`` and ``/api/jobs/{id}/files/{name}`` (only files the job listed)."""
    config = st.config

    @app.get("/api/jobs")
    def jobs(user_id: str | None = Query(None, max_length=200)) -> dict[str, Any]:
        if config.jobs is None:
            return {"jobs": []}
        return {"jobs": [j.to_dict() for j in config.jobs.list(user_id)]}

    @app.get("/api/jobs/{job_id}/files/{name}")
    def job_file(job_id: str = PathParam(..., pattern=r"^[0-9a-f]{1,32}$"),
                 name: str = PathParam(..., pattern=r"^[A-Za-z0-9_.-]{1,64}$")) -> Response:
        job = config.jobs.get(job_id) if config.jobs is not None else None
        if job is None or not job.output_dir:
            raise HTTPException(404, f"no finished job {job_id!r}")
        folder = Path(job.output_dir).resolve()
        if name == "masks.zip":
            return masks_zip(job, folder)
        if name not in job.files.values():
            raise HTTPException(404, f"job {job_id} has no file {name!r} (files: {sorted(job.files.values())})")
        path = (folder / name).resolve()
        if path.parent != folder or not path.is_file():
            raise HTTPException(404, f"job {job_id} has no file {name!r}")
        return FileResponse(path)
