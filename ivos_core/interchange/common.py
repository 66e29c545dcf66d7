"""What every interchange format shares: the error type, a job folder as data, frame names, masks.

A *job folder* is what :func:`ivos_core.replay.write_outputs` leaves: ``masks/%05d.png`` (DAVIS
palette, 0 = background, k = object k), ``results.json`` (session id, model version, video path
and geometry) and a ``DONE`` marker. :func:`read_job` reads it without running anything.

Frame names (file stems shared by every export so CVAT / Label Studio / COCO records match the
images of a task made from the same video): the source image stems when the video is a frame
folder that still exists, else ``frame_%06d`` (CVAT's own naming of video frames).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["InterchangeError", "JobOutput", "read_job", "frame_names", "ImportedMask", "check_mask", "read_json_file"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class InterchangeError(ValueError):
    """A file is not what its format says, or does not fit the video; the message names the file."""

    def __init__(self, source: str | Path, reason: str) -> None:
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{source}: {reason}")


@dataclass
class JobOutput:
    """A finished job folder: label maps per frame (``uint8``, 0 = background) and its metadata."""

    folder: Path
    session_id: str
    model_version: str
    width: int
    height: int
    masks: list[np.ndarray]
    video_path: Path | None = None
    video_uri: str | None = None
    fps: float | None = None
    labels: dict[int, str] = field(default_factory=lambda: {1: "object"})
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.masks)

    @property
    def sequence(self) -> str:
        """A name for the video (DAVIS sequence folder, YouTube-VIS video name)."""
        if self.video_path is not None:
            return self.video_path.stem if self.video_path.suffix else self.video_path.name
        return self.session_id

    def object_ids(self) -> list[int]:
        ids: set[int] = set()
        for m in self.masks:
            ids.update(int(v) for v in np.unique(m) if v != 0)
        return sorted(ids) or [1]

    def frames(self) -> list[np.ndarray]:
        """The video's RGB frames (for exports that ship images); raises when the video is gone."""
        from ivos_core.data.video import open_video

        if self.video_path is None or not self.video_path.exists():
            raise InterchangeError(self.folder, f"the job's video {self.video_path} is not readable here")
        return list(open_video(self.video_path, fps=self.fps or 24.0))


def read_job(folder: str | Path) -> JobOutput:
    """Read a job output folder (``masks/`` + ``results.json``); :class:`InterchangeError` if broken."""
    from ivos_core.export import read_mask_png

    d = Path(folder)
    if not d.is_dir():
        raise InterchangeError(d, "not a folder (expected a job output folder with masks/ and results.json)")
    res = d / "results.json"
    try:
        rec = json.loads(res.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InterchangeError(d, "no results.json: not a finished job folder (see `ivos jobs results`)") from None
    except (OSError, ValueError) as exc:
        raise InterchangeError(res, f"unreadable results record: {exc}") from exc
    if not isinstance(rec, dict):
        raise InterchangeError(res, "expected a JSON object")
    pngs = sorted((d / "masks").glob("*.png"))
    if not pngs:
        raise InterchangeError(d / "masks", "no mask PNGs")
    masks = []
    for p in pngs:
        try:
            masks.append(read_mask_png(p))
        except OSError as exc:
            raise InterchangeError(p, f"unreadable mask: {exc}") from exc
    h, w = masks[0].shape
    for p, m in zip(pngs, masks):
        if m.shape != (h, w):
            raise InterchangeError(p, f"mask is {m.shape[1]}x{m.shape[0]}, the first is {w}x{h}")
    video = rec.get("video") or {}
    vp = Path(video["path"]) if video.get("path") else None
    labels = {1: "object"}  # the session's object names (results.json "objects") label the exports
    for o in rec.get("objects") or []:
        if isinstance(o, dict) and isinstance(o.get("object_id"), int) and isinstance(o.get("name"), str) and o["name"]:
            labels[o["object_id"]] = o["name"]
    return JobOutput(
        folder=d,
        session_id=str(rec.get("session_id") or d.name),
        model_version=str(rec.get("model_version") or d.parent.name),
        width=int(w),
        height=int(h),
        masks=masks,
        video_path=vp,
        video_uri=video.get("uri"),
        labels=labels,
        record=rec,
    )


def frame_names(job: JobOutput) -> list[str]:
    """File stems, one per frame (see the module docstring)."""
    vp = job.video_path
    if vp is not None and vp.is_dir():
        stems = sorted(p.stem for p in vp.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(stems) >= job.n_frames and len(set(stems[: job.n_frames])) == job.n_frames:
            return stems[: job.n_frames]
    return [f"frame_{i:06d}" for i in range(job.n_frames)]


@dataclass
class ImportedMask:
    """One mask read from an interchange file, ready to seed a session's first frame."""

    mask: np.ndarray  # (H, W) bool
    source: str  # file (+ record) it came from
    label: str | None = None
    frame_name: str | None = None
    frame_index: int | None = None
    skipped: list[str] = field(default_factory=list)  # records left out, with the reason


def read_json_file(path: str | Path) -> Any:
    """The parsed JSON document at ``path``; :class:`InterchangeError` when it cannot be read or
    is not JSON (the importers' one way in)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InterchangeError(path, f"cannot read: {exc}") from exc
    except ValueError as exc:
        raise InterchangeError(path, f"not valid JSON: {exc}") from exc


def check_mask(mask: np.ndarray, source: str | Path, size: tuple[int, int] | None) -> np.ndarray:
    """``mask`` as ``(H, W)`` bool; :class:`InterchangeError` when it is not ``size`` = ``(H, W)``."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise InterchangeError(source, f"mask must be 2-D, got shape {m.shape}")
    if size is not None and tuple(m.shape) != tuple(size):
        raise InterchangeError(
            source, f"mask is {m.shape[1]}x{m.shape[0]} (WxH) but the video is {size[1]}x{size[0]}"
        )
    return m.astype(bool)
