"""The annotation app's page, static assets, app info and video catalogue routes.

These need no open session; they are what the page loads before the user picks a video.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from flows.annotate.state import AppState
from ivos_core.annotation import list_videos, thumbnail

STATIC = Path(__file__).parent / "static"
CATALOG_TTL_S = 60


def register_page_routes(app: FastAPI, st: AppState) -> None:
    """``/`` (sets the token cookie), ``/static``, ``/api/info``, ``/api/videos[/thumbnail]``."""
    config = st.config

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

    @app.get("/api/videos")
    def videos(refresh: bool = False) -> dict[str, Any]:
        if refresh or time.time() - st.catalog["at"] > CATALOG_TTL_S:
            st.catalog["videos"] = [v.to_dict() for v in list_videos(config.roots)]
            st.catalog["at"] = time.time()
        return {"videos": st.catalog["videos"]}

    @app.get("/api/videos/thumbnail")
    def video_thumbnail(uri: str = Query(..., min_length=1, max_length=4096), width: int = Query(160, ge=16, le=640)) -> Response:
        from ivos_core.data.video import VideoError, open_video

        path = st.resolve(uri)
        try:
            src = open_video(path)
            frame = src.read(0)
        except (VideoError, OSError, IndexError) as exc:
            raise HTTPException(422, f"cannot read the first frame of {uri!r}: {getattr(exc, 'reason', exc)}") from exc
        return Response(thumbnail(frame, width), media_type="image/jpeg", headers={"cache-control": "max-age=300"})
