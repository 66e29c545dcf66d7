"""Session logs made from outside inputs: an imported first-frame mask, or clicks typed on a command line.

* :func:`parse_click`: ``"X,Y"``, ``"X,Y,+"`` or ``"X,Y,-"``, optionally with an object id last
  (``"X,Y,+,2"``, ``"X,Y,2"``; default object 1) -> :class:`~ivos_core.interactions.Click`.
* :func:`video_ref`: the :class:`~ivos_core.interactions.VideoRef` of an mp4 or a frame folder (its
  geometry read from the file), with the ``uri`` relative to a data root when one is given.
* :func:`mask_session`: frames[0] starts from an imported mask (``initial_mask``, COCO RLE), then
  optional clicks, one iteration each.
* :func:`click_session`: frames[0] is the clicks, one iteration each (the replay runs each on the
  previous iteration's mask of the same object, as a user clicking in turn would have seen it).
  The sessions declare the objects their clicks (and mask: object 1) name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pydantic import ValidationError

from ivos_core.interactions import (
    AnnotatedFrame,
    Click,
    InitialMask,
    Interaction,
    Session,
    SessionObject,
    VideoRef,
    now_utc,
)

__all__ = ["parse_click", "video_ref", "mask_session", "click_session"]

_CLICK = re.compile(
    r"^\s*(-?[0-9.]+)\s*,\s*(-?[0-9.]+)\s*(?:,\s*([+-]|pos|neg|positive|negative))?\s*(?:,\s*(-?[0-9.]+))?\s*$"
)


def parse_click(text: str) -> Click:
    """``X,Y[,+|-][,OBJECT]`` (pixels; ``+`` object, the default, ``-`` background; the object id,
    default 1) as a click."""
    m = _CLICK.match(text)
    if not m:
        raise ValueError(f"click {text!r} is not X,Y[,+|-][,OBJECT] (pixels; e.g. 120,80 or 120,80,-,2)")
    sign = (m.group(3) or "+").lower()
    obj = m.group(4) or "1"
    try:
        return Click(x=float(m.group(1)), y=float(m.group(2)), positive=sign in ("+", "pos", "positive"),
                     object_id=int(obj) if obj.isdigit() else obj)
    except ValidationError as exc:
        raise ValueError(f"click {text!r}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None


def _objects(clicks: Sequence[Click], *more: int) -> list[SessionObject]:
    """The objects a session declares: every id its clicks (and ``more``) name."""
    return [SessionObject(id=k) for k in sorted({c.object_id for c in clicks} | set(more))]


def video_ref(video: str | Path, *, root: str | Path | None = None, fps: float | None = None) -> VideoRef:
    """Open ``video`` (mp4 or frame folder) for its size and length; ``uri`` relative to ``root``
    (which must hold it) or else the absolute path."""
    from ivos_core.data.video import open_video

    p = Path(video).resolve()
    src = open_video(p, fps=fps or 24.0)
    try:
        n, w, h = len(src), int(src.width), int(src.height)
        rate = fps or getattr(src, "fps", None) or None
    finally:
        close = getattr(src, "close", None)
        if close:
            close()
    if n == 0:
        raise ValueError(f"{video}: no frames")
    if root is not None:
        try:
            uri = p.relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            raise ValueError(f"{video} is not inside the data root {root}") from None
    else:
        uri = str(p)
    return VideoRef(uri=uri, width=w, height=h, n_frames=n, fps=float(rate) if rate else None,
                    sequence=p.stem if p.is_file() else p.name)


def _iterations(clicks: Sequence[Click], start: int = 0) -> list[Interaction]:
    return [Interaction(index=start + i, inputs=[c]) for i, c in enumerate(clicks)]


def mask_session(
    mask: np.ndarray,
    video: VideoRef,
    *,
    session_id: str,
    user_id: str = "import",
    frame_index: int = 0,
    source: str | None = None,
    clicks: Sequence[Click] = (),
    meta: dict[str, Any] | None = None,
) -> Session:
    """A session whose first frame (``frame_index``) starts from ``mask`` (then ``clicks``)."""
    from ivos_core.interchange.coco import encode_rle

    m = np.asarray(mask, dtype=bool)
    if m.shape != (video.height, video.width):
        raise ValueError(
            f"{source or 'mask'}: mask is {m.shape[1]}x{m.shape[0]} (WxH) but the video is {video.width}x{video.height}"
        )
    rle = encode_rle(m)
    first = AnnotatedFrame(
        frame_index=frame_index, stage="first_frame", iterations=_iterations(clicks),
        initial_mask=InitialMask(size=(video.height, video.width), counts=rle["counts"], source=source),
    )
    return Session(session_id=session_id, user_id=user_id, created_at=now_utc(), video=video, frames=[first],
                   meta=dict(meta or {}), objects=_objects(clicks, 1))


def click_session(
    clicks: Sequence[Click],
    video: VideoRef,
    *,
    session_id: str,
    user_id: str = "cli",
    frame_index: int = 0,
    meta: dict[str, Any] | None = None,
) -> Session:
    """A session of ``clicks`` on frame ``frame_index`` (one iteration per click), declaring the
    objects they name."""
    if not clicks:
        raise ValueError("at least one click is needed (--click X,Y)")
    first = AnnotatedFrame(frame_index=frame_index, stage="first_frame", iterations=_iterations(clicks))
    return Session(session_id=session_id, user_id=user_id, created_at=now_utc(), video=video, frames=[first],
                   meta=dict(meta or {}), objects=_objects(clicks))
