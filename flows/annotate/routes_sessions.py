"""The annotation app's session routes: open a video, read its frames, and edit one frame.

Opening evicts the oldest session past ``max_open_sessions``; every edit answers with
:func:`flows.annotate.state.mask_answer` so the page updates one frame from one shape.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, HTTPException, Path as PathParam, Query
from fastapi.responses import Response

from flows.annotate.bodies import SID, FrameBody, InteractBody, OpenBody
from flows.annotate.state import AppState, jpeg, mask_answer
from ivos_core.annotation import Workspace, check_session_id, new_session_id, thumbnail
from ivos_core.interactions import now_utc


def register_session_routes(app: FastAPI, st: AppState) -> None:
    """``POST /api/sessions``, ``GET /api/sessions/{sid}`` and its frame/thumbnail images."""
    config = st.config

    @app.post("/api/sessions", status_code=201)
    def open_session(body: OpenBody) -> dict[str, Any]:
        path = st.resolve(body.uri)
        user = body.user_id or config.user_id
        sid = body.session_id or new_session_id(user, now_utc())
        check_session_id(sid)
        if sid in st.sessions or (config.sessions_dir / f"{sid}.json").exists():
            raise HTTPException(409, f"session id {sid!r} is already in use; choose another")
        entry = next((v for v in st.catalog["videos"] if v["uri"] == body.uri), None) or {}
        with st.lock:
            if len(st.sessions) >= config.max_open_sessions:
                oldest = next(iter(st.sessions))
                st.sessions.pop(oldest).close()
            ws = Workspace(path, body.uri, method=st.shared, video_segmenter=config.video_segmenter,
                           dataset=entry.get("dataset"), sequence=entry.get("sequence"))
            st.sessions[sid] = ws
            st.meta[sid] = {"user_id": user, "saved": []}
        return st.describe(sid, ws)

    @app.get("/api/sessions/{sid}")
    def get_session(sid: str = SID) -> dict[str, Any]:
        return st.describe(sid, st.ws_of(sid))

    @app.get("/api/sessions/{sid}/frames/{i}.jpg")
    def frame_jpeg(sid: str = SID, i: int = PathParam(..., ge=0)) -> Response:
        ws = st.ws_of(sid)
        return Response(jpeg(ws.frame(i)), media_type="image/jpeg", headers={"cache-control": "max-age=3600"})

    @app.get("/api/sessions/{sid}/thumbs/{i}.jpg")
    def frame_thumb(sid: str = SID, i: int = PathParam(..., ge=0), width: int = Query(128, ge=16, le=640)) -> Response:
        ws = st.ws_of(sid)
        return Response(thumbnail(ws.frame(i), width, mask=ws.mask(i)), media_type="image/jpeg",
                        headers={"cache-control": "no-store"})


def register_edit_routes(app: FastAPI, st: AppState) -> None:
    """``select``, ``interact``, ``undo`` and ``reset`` of one frame of an open session."""

    @app.post("/api/sessions/{sid}/select")
    def select(body: FrameBody, sid: str = SID) -> dict[str, Any]:
        ws = st.ws_of(sid)
        ws.select(body.frame_index)
        return mask_answer(ws, body.frame_index, ws.mask(body.frame_index))

    @app.post("/api/sessions/{sid}/interact")
    def interact(body: InteractBody, sid: str = SID) -> dict[str, Any]:
        ws = st.ws_of(sid)
        t0 = time.perf_counter()
        mask = ws.interact(body.frame_index, body.inputs)
        return mask_answer(ws, body.frame_index, mask, model_ms=round(1000 * (time.perf_counter() - t0), 1))

    @app.post("/api/sessions/{sid}/undo")
    def undo(body: FrameBody, sid: str = SID) -> dict[str, Any]:
        ws = st.ws_of(sid)
        return mask_answer(ws, body.frame_index, ws.undo(body.frame_index))

    @app.post("/api/sessions/{sid}/reset")
    def reset(body: FrameBody, sid: str = SID) -> dict[str, Any]:
        ws = st.ws_of(sid)
        return mask_answer(ws, body.frame_index, ws.reset(body.frame_index))
