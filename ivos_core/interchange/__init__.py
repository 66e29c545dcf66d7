"""Interchange with the tools annotators already use: DAVIS, COCO / YouTube-VIS, CVAT, Label Studio.

* :func:`export_job`: a finished job folder -> one format's layout in a new folder, written
  beside it and renamed into place (a reader sees all of it or nothing);
* :func:`import_mask`: one mask (object / label, frame) from a format's file(s), checked against
  the video's size; the session log it seeds comes from :mod:`ivos_core.interchange.sessions`.

Formats (one module each): ``davis`` (:mod:`.davis`), ``coco`` (:mod:`.coco`: ``instances.json`` and
``ytvis.json``), ``cvat`` (:mod:`.cvat`: Segmentation mask 1.1), ``labelstudio``
(:mod:`.labelstudio`: JSON tasks with brush RLE).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from ivos_core.interchange.common import ImportedMask, InterchangeError, JobOutput, frame_names, read_job

__all__ = ["FORMATS", "export_job", "import_mask", "read_job", "frame_names", "InterchangeError", "ImportedMask", "JobOutput"]

FORMATS = ("davis", "coco", "cvat", "labelstudio")


def _write(fmt: str, job: JobOutput, root: Path, *, frames: bool, image_prefix: str) -> None:
    if fmt == "davis":
        from ivos_core.interchange.davis import export_davis

        export_davis(job, root, frames=frames)
        return
    if fmt == "coco":
        from ivos_core.interchange.coco import export_coco, export_ytvis

        export_coco(job, root / "instances.json")
        export_ytvis(job, root / "ytvis.json")
    elif fmt == "cvat":
        from ivos_core.interchange.cvat import export_cvat

        export_cvat(job, root)
    elif fmt == "labelstudio":
        from ivos_core.interchange.labelstudio import export_labelstudio

        export_labelstudio(job, root / "tasks.json", image_prefix=image_prefix)
    else:
        raise InterchangeError(fmt, f"unknown format; choose one of {', '.join(FORMATS)}")
    if frames:
        from PIL import Image

        from ivos_core.utils import atomic_write

        sub = root / "images" / job.sequence if fmt == "coco" else root / "images"  # COCO names are <video>/<frame>
        for stem, f in zip(frame_names(job), job.frames()):
            atomic_write(sub / f"{stem}.jpg", lambda t, f=f: Image.fromarray(f).save(t, format="JPEG", quality=95))


def export_job(job_dir: str | Path, out: str | Path, fmt: str, *, frames: bool = False, image_prefix: str = "",
               overwrite: bool = False) -> Path:
    """Export the job folder ``job_dir`` as ``fmt`` into the folder ``out``; returns ``out``.

    ``frames``: also write the video's frames as JPEGs (DAVIS ``JPEGImages/``, COCO
    ``images/<video>/``, else ``images/``).
    ``out`` must not exist or be empty unless ``overwrite``; nothing is left half-written.
    """
    if fmt not in FORMATS:
        raise InterchangeError(fmt, f"unknown format; choose one of {', '.join(FORMATS)}")
    job = read_job(job_dir)
    final = Path(out)
    if final.exists() and not final.is_dir():
        raise InterchangeError(final, "exists and is not a folder")
    if final.is_dir() and any(final.iterdir()) and not overwrite:
        raise InterchangeError(final, "exists and is not empty (choose a new folder, or overwrite)")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:10]}"
    tmp.mkdir()
    try:
        _write(fmt, job, tmp, frames=frames, image_prefix=image_prefix)
        old = None
        if final.exists():
            old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:10]}"
            os.rename(final, old)
        os.rename(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def import_mask(fmt: str, path: str | Path, *, frame: str | int | None = None, label: str | None = None,
                size: tuple[int, int] | None = None) -> ImportedMask:
    """One mask from ``path`` in format ``fmt`` (``size``: the video's ``(H, W)``, checked)."""
    if fmt == "davis":
        from ivos_core.interchange.davis import import_mask as imp
    elif fmt == "coco":
        from ivos_core.interchange.coco import import_mask as imp
    elif fmt == "cvat":
        from ivos_core.interchange.cvat import import_mask as imp
    elif fmt == "labelstudio":
        from ivos_core.interchange.labelstudio import import_mask as imp
    else:
        raise InterchangeError(fmt, f"unknown format; choose one of {', '.join(FORMATS)}")
    return imp(path, frame=frame, label=label, size=size)
