"""DAVIS-2017 layout out and in.

Export (:func:`export_davis`)::

    OUT/Annotations/480p/<sequence>/00000.png ...   palette PNGs, 0 = background, k = object k
    OUT/ImageSets/2017/val.txt                      the sequence name
    OUT/JPEGImages/480p/<sequence>/00000.jpg ...    only with ``frames=True`` (needs the video)

Import (:func:`import_mask`): a DAVIS palette PNG (or a folder of them: the first, or ``frame``),
object ``label`` = its index (``"1"``, or ``"object_2"``...; default: every object).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ivos_core.interchange.common import ImportedMask, InterchangeError, JobOutput, check_mask

__all__ = ["export_davis", "import_mask"]


def export_davis(job: JobOutput, out: str | Path, *, resolution: str = "480p", frames: bool = False) -> Path:
    """Write the DAVIS layout under ``out``; returns the annotations folder of the sequence."""
    from PIL import Image

    from ivos_core.export import write_mask_png
    from ivos_core.utils import atomic_write

    root = Path(out)
    seq = job.sequence
    ann = root / "Annotations" / resolution / seq
    for i, lab in enumerate(job.masks):
        write_mask_png(ann / f"{i:05d}.png", lab.astype(np.uint8))
    atomic_write(root / "ImageSets" / "2017" / "val.txt", seq + "\n")
    if frames:
        img = root / "JPEGImages" / resolution / seq
        for i, f in enumerate(job.frames()):
            atomic_write(img / f"{i:05d}.jpg", lambda t, f=f: Image.fromarray(f).save(t, format="JPEG", quality=95))
    return ann


def _object_id(label: str | None, src: str) -> int | None:
    if label is None:
        return None
    text = label.removeprefix("object_").removeprefix("object")
    if text == "":
        return 1
    if not text.isdigit() or not 0 < int(text) < 255:
        raise InterchangeError(src, f"unknown label {label!r}: DAVIS labels are object indices 1..254 ('1', 'object_2')")
    return int(text)


def import_mask(path: str | Path, *, frame: str | int | None = None, label: str | None = None,
                size: tuple[int, int] | None = None) -> ImportedMask:
    """The mask of object ``label`` (all objects when None) in a DAVIS annotation PNG."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    idx = None
    if p.is_dir():
        pngs = sorted(p.glob("*.png"))
        if not pngs:
            raise InterchangeError(p, "no PNG annotations in this folder")
        if frame is None:
            idx = 0
        elif isinstance(frame, int) or str(frame).isdigit():
            idx = int(frame)
            if not 0 <= idx < len(pngs):
                raise InterchangeError(p, f"frame {idx} is out of range: {len(pngs)} annotations")
        else:
            hits = [q for q in pngs if q.stem == Path(str(frame)).stem]
            if not hits:
                raise InterchangeError(p, f"no annotation named {frame!r}")
            idx = pngs.index(hits[0])
        p = pngs[idx]
    try:
        with Image.open(p) as im:
            if im.mode == "P":
                lab = np.array(im, dtype=np.uint8)
            elif im.mode in ("L", "1", "I;16", "I"):
                lab = np.array(im)
            else:
                raise InterchangeError(p, f"not a DAVIS annotation: a {im.mode} image (expected a palette or grey PNG)")
    except FileNotFoundError:
        raise InterchangeError(p, "no such file") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InterchangeError(p, f"not a readable image: {exc}") from exc
    if set(np.unique(lab).tolist()) <= {0, 255}:  # DAVIS-2016 grey masks
        lab = (lab > 0).astype(np.uint8)
    obj = _object_id(label, str(p))
    present = sorted(int(v) for v in np.unique(lab) if v not in (0, 255))
    if obj is not None and obj not in present:
        raise InterchangeError(p, f"unknown label {label!r}: the objects in this annotation are {present or 'none'}")
    mask = (lab == obj) if obj is not None else ((lab > 0) & (lab != 255))
    if not mask.any():
        raise InterchangeError(p, "the annotation is empty")
    return ImportedMask(mask=check_mask(mask, p, size), source=str(p), label=label, frame_name=p.stem,
                        frame_index=idx)
