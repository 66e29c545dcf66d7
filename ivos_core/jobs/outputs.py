"""A job's outputs, written once and atomically.

:func:`write_outputs` fills ``<out>/<model_version>/<session_id>/``: ``masks/%05d.png`` (DAVIS-2017
palette PNGs: index 0 background, k object k), ``masks_rle.json`` (all objects together),
``sticker.apng`` (+ ``sticker.webp`` when Pillow has WebP), ``sticker.gif`` - with several objects
one sticker per object instead, ``sticker_obj<k>.apng`` / ``.webp`` / ``.gif`` - ``overlay.mp4``
(or ``.gif``; objects in their palette colours), ``results.json`` (the :class:`JobRecord`) and a
``DONE`` marker. The whole folder is assembled in ``<out>/<model_version>/.tmp-<session_id>-<uuid>``
and renamed into place, so a reader sees all of it or nothing; a job whose ``DONE`` exists does
no work.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import numpy as np

from ivos_core.jobs.replay import ReplayResult
from ivos_core.utils import safe_name

__all__ = ["DONE", "RESULTS", "output_dir", "is_done", "write_outputs"]

DONE = "DONE"
RESULTS = "results.json"


def output_dir(out: str | Path, session_id: str, model_version: str) -> Path:
    """``<out>/<model_version>/<session_id>`` (names made filesystem-safe)."""
    return Path(out) / safe_name(model_version) / safe_name(session_id)


def is_done(out: str | Path, session_id: str, model_version: str) -> bool:
    d = output_dir(out, session_id, model_version)
    return (d / DONE).is_file() and (d / RESULTS).is_file()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale_tmp(parent: Path, session_id: str, *, max_age_s: float = 3600.0) -> list[Path]:
    """Remove ``.tmp-<session>-*`` folders left by killed jobs (dead owner pid on this host, or
    older than ``max_age_s`` elsewhere)."""
    removed = []
    host = socket.gethostname()
    for d in parent.glob(f".tmp-{safe_name(session_id)}-*"):
        try:
            owner = json.loads((d / ".owner").read_text())
        except (OSError, ValueError):
            owner = {}
        dead = owner.get("host") == host and not _pid_alive(int(owner.get("pid", 0)) or 1 << 22)
        old = time.time() - d.stat().st_mtime > max_age_s
        if dead or old:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def _write_files(result: ReplayResult, tmp: Path, frames: Iterable[np.ndarray] | None) -> None:
    """Masks, RLE, stickers, preview and ``results.json`` into ``tmp`` (``write_s`` timed)."""
    from ivos_core.data.video import open_video
    from ivos_core.export import rle_encode, write_mask_png, write_overlay_preview, write_sticker

    t0 = time.perf_counter()
    frames = list(frames if frames is not None else open_video(result.video_path, fps=result.fps))
    (tmp / "masks").mkdir()
    for i, lab in enumerate(result.label_maps()):
        write_mask_png(tmp / "masks" / f"{i:05d}.png", lab)
    (tmp / "masks_rle.json").write_text(json.dumps([rle_encode(m) for m in result.masks]))
    files = {"masks": "masks/", "rle": "masks_rle.json"}
    if result.labels is None:
        stickers = write_sticker(tmp / "sticker", frames, result.masks, fps=result.fps)
        files.update({f"sticker_{k}": p.name for k, p in stickers.items()})
    else:  # several objects: one sticker each, the object id in the name
        for obj in result.object_ids:
            stickers = write_sticker(tmp / f"sticker_obj{obj}", frames, result.object_masks(obj), fps=result.fps)
            files.update({f"sticker_obj{obj}_{k}": p.name for k, p in stickers.items()})
    masks = result.masks if result.labels is None else result.labels
    preview = write_overlay_preview(tmp / "overlay.mp4", frames, masks, fps=result.fps, labels=result.labels is not None)
    files["overlay"] = preview.name
    timings = {**result.record.timings, "write_s": round(time.perf_counter() - t0, 4)}
    (tmp / RESULTS).write_text(result.record.model_copy(update={"files": files, "timings": timings}).to_json())


def _move_into_place(tmp: Path, final: Path, result: ReplayResult, out: str | Path) -> None:
    try:
        os.rename(tmp, final)
    except OSError:
        if is_done(out, result.session_id, result.model_version):
            shutil.rmtree(tmp, ignore_errors=True)  # another run finished first: keep its output
        elif final.exists():  # an incomplete folder from an older layout: replace it
            shutil.rmtree(final)
            os.rename(tmp, final)
        else:
            raise


def write_outputs(result: ReplayResult, out: str | Path, *, frames: Iterable[np.ndarray] | None = None) -> Path:
    """Write the job's folder atomically; returns it. A finished folder is left untouched."""
    final = output_dir(out, result.session_id, result.model_version)
    if is_done(out, result.session_id, result.model_version):
        return final
    parent = final.parent
    parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_tmp(parent, result.session_id)
    tmp = parent / f".tmp-{safe_name(result.session_id)}-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    (tmp / ".owner").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    try:
        _write_files(result, tmp, frames)
        (tmp / ".owner").unlink()
        (tmp / DONE).write_text(datetime.now(timezone.utc).isoformat() + "\n")
        _move_into_place(tmp, final, result, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
