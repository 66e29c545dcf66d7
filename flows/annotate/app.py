"""The annotation web app: a thin FastAPI layer over :mod:`ivos_core.annotation`.

``create_app(AnnotateConfig(...))`` returns the ASGI app; ``ivos annotate`` serves it with
uvicorn. Every ``/api`` answer is JSON; errors are ``{"detail": message}`` with 4xx for bad input
(422 validation, 400 unsafe path, 404 unknown, 409 wrong moment, 413 too large, 401/403 access)
and 500 for a model crash (the app keeps serving).

Safety: with a token every request except the static assets needs it (``X-IVOS-Token`` header,
the ``ivos_token`` cookie set when the page is opened with ``?token=``, or a ``token`` query
parameter); without one the app only answers requests addressed to a loopback host name (no DNS
rebinding), and state-changing requests from another origin are refused.
"""

from __future__ import annotations

import hmac
import io
import json
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal
from urllib.parse import parse_qs, urlsplit

import numpy as np
from fastapi import FastAPI, HTTPException, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from ivos_core.annotation import (
    AnnotationError,
    SessionExistsError,
    Workspace,
    check_session_id,
    list_videos,
    new_session_id,
    save_new_session,
    thumbnail,
)
from ivos_core.annotation.store import SESSION_ID_PATTERN
from ivos_core.annotation.workspace import ModelFailure, SharedMethod
from ivos_core.interactions import UserInput, now_utc
from ivos_core.paths import UnsafePathError, VideoNotFoundError, resolve_video_ref

STATIC = Path(__file__).parent / "static"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
SID = PathParam(..., pattern=SESSION_ID_PATTERN, max_length=128)


@dataclass
class AnnotateConfig:
    """What the app needs. ``method``: the interactive method (``set_image``/``predict``);
    ``video_segmenter``: a factory of :class:`~ivos_core.video.VideoSegmenter`; ``jobs``: a
    :class:`flows.annotate.jobs.JobRunner` (None: submitting is off)."""

    roots: list[Path]
    sessions_dir: Path
    method: Any
    video_segmenter: Callable[[], Any]
    jobs: Any = None
    token: str | None = None
    user_id: str = "annotator"
    model_name: str = "model"
    finetune_steps: int | None = None
    max_body_bytes: int = 1 << 20
    max_open_sessions: int = 16
    extra_meta: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------- request bodies
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenBody(_Body):
    uri: str = Field(min_length=1, max_length=4096)
    user_id: str | None = Field(default=None, min_length=1, max_length=200)
    session_id: str | None = Field(default=None, pattern=SESSION_ID_PATTERN, max_length=128)


class FrameBody(_Body):
    frame_index: int = Field(ge=0, strict=True)


class InteractBody(_Body):
    frame_index: int = Field(ge=0, strict=True)
    inputs: list[UserInput] = Field(min_length=1, max_length=64)


class PropagateBody(_Body):
    steps: int | None = Field(default=None, ge=0, le=100_000)


class SubmitBody(_Body):
    priority: Literal["high", "normal", "low"] = "normal"


# ------------------------------------------------------------------------------- helpers
def mask_rle(mask: np.ndarray | None) -> dict[str, Any] | None:
    """Row-major run lengths of a bool mask, starting with a run of 0s: what the page decodes."""
    if mask is None:
        return None
    flat = np.asarray(mask, dtype=bool).reshape(-1)
    h, w = mask.shape
    if flat.size == 0:
        return {"size": [h, w], "counts": []}
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate([[0], change, [flat.size]])).tolist()
    if flat[0]:
        counts = [0] + counts
    return {"size": [int(h), int(w)], "counts": counts, "area": int(flat.sum())}


def _jpeg(frame: np.ndarray, quality: int = 90) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise HTTPException(500, "JPEG encoding failed")
    return buf.tobytes()


class _Guard:
    """ASGI middleware: body size limit, token, loopback host, same-origin for changes."""

    def __init__(self, app: Any, *, token: str | None, max_body: int) -> None:
        self.app, self.token, self.max_body = app, token, max_body

    async def _deny(self, send: Any, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def _token_ok(self, scope: dict, headers: dict[str, str]) -> bool:
        given = headers.get("x-ivos-token")
        if given is None:
            for part in headers.get("cookie", "").split(";"):
                k, _, v = part.strip().partition("=")
                if k == "ivos_token":
                    given = v
        if given is None:
            given = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token") or [None])[0]
        return given is not None and hmac.compare_digest(given.encode(), str(self.token).encode())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path = scope.get("path", "")
        host = headers.get("host", "")
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if self.token is None and hostname not in LOOPBACK_HOSTS and hostname != "testserver":
            return await self._deny(send, 403, f"host {host!r} refused: without a token this app only answers on a loopback address")
        if self.token is not None and not path.startswith("/static/") and not self._token_ok(scope, headers):
            return await self._deny(send, 401, "missing or wrong token: open the page with ?token=<token> or send X-IVOS-Token")
        if scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            origin = headers.get("origin")
            if origin and origin != "null" and urlsplit(origin).netloc != host:
                return await self._deny(send, 403, f"cross-origin request from {origin!r} refused")
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_body:
                return await self._deny(send, 413, f"request body of {length} bytes is too large (limit {self.max_body})")
            return await self.app(scope, receive, send)
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_body:
                    raise HTTPException(413, f"request body is too large (limit {self.max_body} bytes)")
            return msg

        return await self.app(scope, limited, send)


# ------------------------------------------------------------------------------- the app
def create_app(config: AnnotateConfig) -> FastAPI:
    app = FastAPI(title="ivos annotate", docs_url=None, redoc_url=None, openapi_url=None)
    shared = SharedMethod(config.method, name=config.model_name)
    sessions: dict[str, Workspace] = {}
    meta: dict[str, dict[str, Any]] = {}  # session id -> {user_id, saved: [(version, path, id)]}
    lock = threading.Lock()
    catalog: dict[str, Any] = {"at": 0.0, "videos": []}

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # the message and where, without echoing the input (it may be huge, or NaN: not JSON)
        errs = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                for e in exc.errors()][:20]
        text = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errs) or "invalid request"
        return JSONResponse({"detail": text, "errors": errs}, status_code=422)

    @app.exception_handler(AnnotationError)
    async def _annotation_error(_: Request, exc: AnnotationError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409 if exc.conflict else 422)

    @app.exception_handler(UnsafePathError)
    async def _unsafe(_: Request, exc: UnsafePathError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(VideoNotFoundError)
    async def _missing(_: Request, exc: VideoNotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(ModelFailure)
    async def _model(_: Request, exc: ModelFailure) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=500)

    @app.exception_handler(SessionExistsError)
    async def _exists(_: Request, exc: SessionExistsError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    def ws_of(sid: str) -> Workspace:
        ws = sessions.get(sid)
        if ws is None:
            raise HTTPException(404, f"no open session {sid!r}; open a video first (POST /api/sessions)")
        return ws

    def resolve(uri: str) -> Path:
        if not config.roots:
            raise UnsafePathError("no video roots are configured; start with --roots DIR")
        return resolve_video_ref(uri, config.roots)

    # ---- page ----------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    def index(token: str | None = None) -> Response:
        resp = HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))
        if config.token is not None and token is not None:
            resp.set_cookie("ivos_token", token, httponly=True, samesite="strict")
        return resp

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        return {"user_id": config.user_id, "model": config.model_name, "roots": [str(r) for r in config.roots],
                "finetune_steps": config.finetune_steps, "submit": None if config.jobs is None else config.jobs._mode,
                "sessions_dir": str(config.sessions_dir)}

    # ---- videos --------------------------------------------------------------------------------
    @app.get("/api/videos")
    def videos(refresh: bool = False) -> dict[str, Any]:
        if refresh or time.time() - catalog["at"] > 60:
            catalog["videos"] = [v.to_dict() for v in list_videos(config.roots)]
            catalog["at"] = time.time()
        return {"videos": catalog["videos"]}

    @app.get("/api/videos/thumbnail")
    def video_thumbnail(uri: str = Query(..., min_length=1, max_length=4096), width: int = Query(160, ge=16, le=640)) -> Response:
        from ivos_core.data.video import VideoError, open_video

        path = resolve(uri)
        try:
            src = open_video(path)
            frame = src.read(0)
        except (VideoError, OSError, IndexError) as exc:
            raise HTTPException(422, f"cannot read the first frame of {uri!r}: {getattr(exc, 'reason', exc)}") from exc
        return Response(thumbnail(frame, width), media_type="image/jpeg", headers={"cache-control": "max-age=300"})

    # ---- sessions ------------------------------------------------------------------------------
    def describe(sid: str, ws: Workspace) -> dict[str, Any]:
        rec = ws.record
        return {
            "session_id": sid,
            "user_id": meta[sid]["user_id"],
            "video": ws.video_ref().model_dump(exclude_none=True),
            "first_frame": rec.first_frame,
            "frames": [{"frame_index": i, "stage": rec.frames[i].stage, "iterations": len(rec.frames[i].iterations)}
                       for i in rec.order],
            "n_iterations": rec.n_iterations(),
            "propagated": sorted(ws.propagated),
            "round": ws.round,
            "stale": ws.stale,
            "progress": dict(ws.progress),
            "saved": [s["path"] for s in meta[sid]["saved"]],
        }

    @app.post("/api/sessions", status_code=201)
    def open_session(body: OpenBody) -> dict[str, Any]:
        path = resolve(body.uri)
        user = body.user_id or config.user_id
        sid = body.session_id or new_session_id(user, now_utc())
        check_session_id(sid)
        if sid in sessions or (config.sessions_dir / f"{sid}.json").exists():
            raise HTTPException(409, f"session id {sid!r} is already in use; choose another")
        entry = next((v for v in catalog["videos"] if v["uri"] == body.uri), None) or {}
        with lock:
            if len(sessions) >= config.max_open_sessions:
                oldest = next(iter(sessions))
                sessions.pop(oldest).close()
            ws = Workspace(path, body.uri, method=shared, video_segmenter=config.video_segmenter,
                           dataset=entry.get("dataset"), sequence=entry.get("sequence"))
            sessions[sid] = ws
            meta[sid] = {"user_id": user, "saved": []}
        return describe(sid, ws)

    @app.get("/api/sessions/{sid}")
    def get_session(sid: str = SID) -> dict[str, Any]:
        return describe(sid, ws_of(sid))

    @app.get("/api/sessions/{sid}/frames/{i}.jpg")
    def frame_jpeg(sid: str = SID, i: int = PathParam(..., ge=0)) -> Response:
        ws = ws_of(sid)
        return Response(_jpeg(ws.frame(i)), media_type="image/jpeg", headers={"cache-control": "max-age=3600"})

    @app.get("/api/sessions/{sid}/thumbs/{i}.jpg")
    def frame_thumb(sid: str = SID, i: int = PathParam(..., ge=0), width: int = Query(128, ge=16, le=640)) -> Response:
        ws = ws_of(sid)
        return Response(thumbnail(ws.frame(i), width, mask=ws.mask(i)), media_type="image/jpeg",
                        headers={"cache-control": "no-store"})

    def mask_answer(ws: Workspace, i: int, mask: np.ndarray | None, **extra: Any) -> dict[str, Any]:
        fw = ws.record.frames.get(i)
        return {"frame_index": i, "mask": mask_rle(mask), "iterations": len(fw.iterations) if fw else 0,
                "stage": fw.stage if fw else None, "n_iterations": ws.record.n_iterations(), "stale": ws.stale, **extra}

    @app.post("/api/sessions/{sid}/select")
    def select(body: FrameBody, sid: str = SID) -> dict[str, Any]:
        ws = ws_of(sid)
        ws.select(body.frame_index)
        return mask_answer(ws, body.frame_index, ws.mask(body.frame_index))

    @app.post("/api/sessions/{sid}/interact")
    def interact(body: InteractBody, sid: str = SID) -> dict[str, Any]:
        ws = ws_of(sid)
        t0 = time.perf_counter()
        mask = ws.interact(body.frame_index, body.inputs)
        return mask_answer(ws, body.frame_index, mask, model_ms=round(1000 * (time.perf_counter() - t0), 1))

    @app.post("/api/sessions/{sid}/undo")
    def undo(body: FrameBody, sid: str = SID) -> dict[str, Any]:
        ws = ws_of(sid)
        return mask_answer(ws, body.frame_index, ws.undo(body.frame_index))

    @app.post("/api/sessions/{sid}/reset")
    def reset(body: FrameBody, sid: str = SID) -> dict[str, Any]:
        ws = ws_of(sid)
        return mask_answer(ws, body.frame_index, ws.reset(body.frame_index))

    # ---- propagation ---------------------------------------------------------------------------
    @app.post("/api/sessions/{sid}/propagate", status_code=202)
    def propagate(body: PropagateBody | None = None, sid: str = SID) -> dict[str, Any]:
        ws = ws_of(sid)
        steps = body.steps if body is not None and body.steps is not None else config.finetune_steps
        ws.start_propagation(steps)
        return dict(ws.progress)

    @app.get("/api/sessions/{sid}/progress")
    def progress(sid: str = SID) -> dict[str, Any]:
        ws = ws_of(sid)
        return {**ws.progress, "propagated": len(ws.propagated), "stale": ws.stale}

    @app.get("/api/sessions/{sid}/events")
    def events(sid: str = SID) -> StreamingResponse:
        ws = ws_of(sid)

        def stream():
            last = None
            deadline = time.time() + 3600
            yield "retry: 1000\n\n"
            while time.time() < deadline:
                cur = dict(ws.progress)
                if cur != last:
                    yield f"data: {json.dumps(cur)}\n\n"
                    last = cur
                if cur.get("state") in ("done", "failed", "idle") and not ws.busy:
                    yield "event: end\ndata: {}\n\n"
                    return
                time.sleep(0.2)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-store"})

    @app.get("/api/sessions/{sid}/worst")
    def worst(sid: str = SID, k: int = Query(3, ge=1, le=50)) -> dict[str, Any]:
        return {"frames": ws_of(sid).worst_frames(k)}

    # ---- save / submit -------------------------------------------------------------------------
    def save_current(sid: str, ws: Workspace) -> dict[str, Any]:
        saved = meta[sid]["saved"]
        if saved and saved[-1]["version"] == ws.record.version:
            return saved[-1]
        out_id = sid if not saved else f"{sid}-r{len(saved) + 1}"
        session = ws.to_session(session_id=out_id, user_id=meta[sid]["user_id"],
                                meta={"model": config.model_name, "propagation_rounds": ws.round, **config.extra_meta})
        path = save_new_session(session, config.sessions_dir)
        rec = {"version": ws.record.version, "path": str(path), "session_id": out_id}
        saved.append(rec)
        return rec

    @app.post("/api/sessions/{sid}/save")
    def save(sid: str = SID) -> dict[str, Any]:
        ws = ws_of(sid)
        with ws.lock:
            rec = save_current(sid, ws)
        return {"path": rec["path"], "session_id": rec["session_id"]}

    @app.post("/api/sessions/{sid}/submit", status_code=202)
    def submit(body: SubmitBody | None = None, sid: str = SID) -> dict[str, Any]:
        ws = ws_of(sid)
        if config.jobs is None:
            raise HTTPException(409, "submitting is switched off in this app")
        with ws.lock:
            rec = save_current(sid, ws)
        job = config.jobs.submit(rec["path"], session_id=rec["session_id"], user_id=meta[sid]["user_id"],
                                 priority=(body or SubmitBody()).priority)
        return job.to_dict()

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
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
                for p in sorted((folder / "masks").glob("*.png")):
                    zf.write(p, f"{job.session_id}/{p.name}")
            return Response(buf.getvalue(), media_type="application/zip",
                            headers={"content-disposition": f'attachment; filename="{job.session_id}-masks.zip"'})
        if name not in job.files.values():
            raise HTTPException(404, f"job {job_id} has no file {name!r} (files: {sorted(job.files.values())})")
        path = (folder / name).resolve()
        if path.parent != folder or not path.is_file():
            raise HTTPException(404, f"job {job_id} has no file {name!r}")
        return FileResponse(path)

    app.add_middleware(_Guard, token=config.token, max_body=config.max_body_bytes)
    app.state.sessions = sessions
    app.state.meta = meta
    return app
