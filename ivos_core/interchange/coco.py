"""COCO RLE (through ``pycocotools``) and COCO / YouTube-VIS JSON of a job, in and out.

* :func:`encode_rle` / :func:`decode_rle`: compressed COCO RLE ``{"size": [H, W], "counts": str}``
  exactly as ``pycocotools.mask.encode`` writes it (counts as text, so it is JSON-able);
  :func:`decode_rle` also reads uncompressed RLE (``counts`` a list) and checks that the counts sum
  to ``H * W``.
* :func:`export_coco`: one COCO *instances* file (``images``: one per frame, ``annotations``: one
  per object and frame where the object is present, ``segmentation`` as compressed RLE, with
  ``area`` and ``bbox`` from pycocotools; ``categories``), readable by ``pycocotools.coco.COCO``.
* :func:`export_ytvis`: the YouTube-VIS layout (``videos`` with ``file_names``; one annotation per
  object with per-frame ``segmentations`` / ``areas`` / ``bboxes``, ``None`` where absent).
* :func:`import_mask`: one mask from a COCO instances file (RLE, uncompressed RLE or polygons) or
  a YouTube-VIS file, for a chosen image / frame and category. Bad records are skipped with the
  reason (``ImportedMask.skipped``); a file that is not COCO at all is an error.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ivos_core.interchange.common import (ImportedMask, InterchangeError, JobOutput, check_mask, frame_names,
                                         read_json_file)
from ivos_core.utils import atomic_write

__all__ = ["encode_rle", "decode_rle", "rle_area", "rle_bbox", "coco_document", "ytvis_document",
           "export_coco", "export_ytvis", "import_mask"]


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """Compressed COCO RLE of a binary ``(H, W)`` mask: ``{"size": [H, W], "counts": "<text>"}``."""
    from pycocotools import mask as mask_utils

    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {m.shape}")
    rle = mask_utils.encode(np.asfortranarray(m.astype(bool).astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def _to_compressed(rle: dict[str, Any], source: str = "<rle>") -> dict[str, Any]:
    from pycocotools import mask as mask_utils

    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise InterchangeError(source, "an RLE must be an object with 'size' [H, W] and 'counts'")
    try:
        h, w = (int(v) for v in rle["size"])
    except (TypeError, ValueError):
        raise InterchangeError(source, f"RLE size must be [H, W], got {rle['size']!r}") from None
    if h <= 0 or w <= 0:
        raise InterchangeError(source, f"RLE size must be positive, got {h}x{w}")
    counts = rle["counts"]
    if isinstance(counts, list):
        try:
            total = sum(int(c) for c in counts)
        except (TypeError, ValueError):
            raise InterchangeError(source, "RLE counts must be integers") from None
        if any(int(c) < 0 for c in counts):
            raise InterchangeError(source, "RLE counts must not be negative")
        if total != h * w:
            raise InterchangeError(source, f"RLE counts sum to {total}, expected {h}x{w}={h * w}")
        return mask_utils.frPyObjects({"size": [h, w], "counts": [int(c) for c in counts]}, h, w)
    if isinstance(counts, str):
        counts = counts.encode("ascii", errors="replace")
    if not isinstance(counts, bytes):
        raise InterchangeError(source, f"RLE counts must be a string or a list, got {type(counts).__name__}")
    return {"size": [h, w], "counts": counts}


def decode_rle(rle: dict[str, Any], *, source: str = "<rle>") -> np.ndarray:
    """A boolean ``(H, W)`` mask from compressed or uncompressed COCO RLE (checked)."""
    from pycocotools import mask as mask_utils

    c = _to_compressed(rle, source)
    h, w = c["size"]
    # checked before pycocotools sees it: its decoder writes runs past the buffer end unchecked
    try:
        counts = _counts_of(c["counts"])
    except ValueError as exc:
        raise InterchangeError(source, f"cannot decode RLE counts: {exc}") from exc
    if any(v < 0 for v in counts):
        raise InterchangeError(source, "RLE counts decode to a negative run length")
    if sum(counts) != h * w:
        raise InterchangeError(source, f"RLE counts sum to {sum(counts)}, expected {h}x{w}={h * w}")
    return mask_utils.decode(c).astype(bool)


def _counts_of(s: bytes) -> list[int]:
    """The run lengths of a compressed counts string (pycocotools' LEB128-like text coding)."""
    out: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            if p >= len(s):
                raise ValueError("truncated RLE string")
            c = s[p] - 48
            if not 0 <= c < 64:
                raise ValueError(f"byte {s[p]!r} at {p} is not an RLE character")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(out) > 2:
            x += out[-2]
        out.append(x)
    return out


def rle_area(rle: dict[str, Any]) -> int:
    from pycocotools import mask as mask_utils

    return int(mask_utils.area(_to_compressed(rle)))


def rle_bbox(rle: dict[str, Any]) -> list[float]:
    """``[x, y, w, h]`` of the mask (COCO convention)."""
    from pycocotools import mask as mask_utils

    return [float(v) for v in mask_utils.toBbox(_to_compressed(rle))]


def _categories(job: JobOutput) -> list[dict[str, Any]]:
    return [{"id": k, "name": job.labels.get(k, f"object_{k}") if k != 1 else job.labels.get(1, "object"),
             "supercategory": "object"} for k in job.object_ids()]


def coco_document(job: JobOutput, *, image_ext: str = ".jpg") -> dict[str, Any]:
    """The COCO instances document of a job (see the module docstring)."""
    names = frame_names(job)
    images, anns = [], []
    for i, (name, lab) in enumerate(zip(names, job.masks)):
        images.append({"id": i + 1, "file_name": f"{job.sequence}/{name}{image_ext}", "width": job.width, "height": job.height,
                       "frame_index": i, "video": job.sequence})
        for k in job.object_ids():
            m = lab == k
            if not m.any():
                continue
            rle = encode_rle(m)
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": k, "segmentation": rle,
                         "area": rle_area(rle), "bbox": rle_bbox(rle), "iscrowd": 0, "track_id": k})
    return {
        "info": {"description": f"ivos job {job.session_id} ({job.model_version})", "version": "1.0",
                 "date_created": datetime.now(timezone.utc).isoformat()},
        "licenses": [],
        "images": images,
        "annotations": anns,
        "categories": _categories(job),
    }


def ytvis_document(job: JobOutput, *, image_ext: str = ".jpg") -> dict[str, Any]:
    """The YouTube-VIS document of a job: one video, one annotation (track) per object."""
    names = [f"{job.sequence}/{n}{image_ext}" for n in frame_names(job)]
    anns = []
    for k in job.object_ids():
        segs, areas, boxes = [], [], []
        for lab in job.masks:
            m = lab == k
            if m.any():
                rle = encode_rle(m)
                segs.append(rle)
                areas.append(rle_area(rle))
                boxes.append(rle_bbox(rle))
            else:
                segs.append(None)
                areas.append(None)
                boxes.append(None)
        anns.append({"id": k, "video_id": 1, "category_id": k, "iscrowd": 0, "height": job.height,
                     "width": job.width, "length": 1, "segmentations": segs, "areas": areas, "bboxes": boxes})
    return {
        "info": {"description": f"ivos job {job.session_id} ({job.model_version})"},
        "licenses": [],
        "videos": [{"id": 1, "name": job.sequence, "width": job.width, "height": job.height,
                    "length": job.n_frames, "file_names": names}],
        "annotations": anns,
        "categories": _categories(job),
    }


def export_coco(job: JobOutput, out: str | Path) -> Path:
    """Write ``<out>`` (a ``.json`` path, or a folder: ``<out>/instances.json``); returns the file."""
    p = Path(out)
    p = p if p.suffix == ".json" else p / "instances.json"
    return atomic_write(p, json.dumps(coco_document(job)))


def export_ytvis(job: JobOutput, out: str | Path) -> Path:
    p = Path(out)
    p = p if p.suffix == ".json" else p / "ytvis.json"
    return atomic_write(p, json.dumps(ytvis_document(job)))


# ----------------------------------------------------------------------------------- import
def _segm_to_mask(seg: Any, h: int, w: int, where: str) -> np.ndarray:
    from pycocotools import mask as mask_utils

    if isinstance(seg, list):  # polygons [[x1, y1, x2, y2, ...], ...]
        polys = []
        for p in seg:
            if not isinstance(p, list) or len(p) < 6 or len(p) % 2:
                raise InterchangeError(where, "a polygon needs an even number (>= 6) of coordinates")
            try:
                polys.append([float(v) for v in p])
            except (TypeError, ValueError):
                raise InterchangeError(where, "polygon coordinates must be numbers") from None
        if not polys:
            raise InterchangeError(where, "empty polygon list")
        return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, h, w))).astype(bool)
    if isinstance(seg, dict):
        m = decode_rle(seg, source=where)
        if m.shape != (h, w):
            raise InterchangeError(where, f"RLE size {m.shape[0]}x{m.shape[1]} (HxW) differs from the image's {h}x{w}")
        return m
    raise InterchangeError(where, f"segmentation must be polygons or RLE, got {type(seg).__name__}")


def _category_ids(doc: dict[str, Any], label: str | None, src: str) -> tuple[set[int] | None, str | None]:
    cats = doc.get("categories") or []
    by_name = {str(c.get("name")): int(c["id"]) for c in cats if isinstance(c, dict) and "id" in c}
    if label is None:
        return None, None
    if label not in by_name:
        raise InterchangeError(src, f"unknown label {label!r}; the file's categories are {sorted(by_name) or 'none'}")
    return {by_name[label]}, label


def import_mask(
    path: str | Path,
    *,
    frame: str | int | None = None,
    label: str | None = None,
    size: tuple[int, int] | None = None,
) -> ImportedMask:
    """The union of the annotations of ``label`` (all categories when None) on one image.

    ``frame``: an image ``file_name`` (or its stem) or a 0-based position among the images sorted by
    id (default: the first image holding an annotation). ``size``: expected ``(H, W)``.
    """
    src = str(path)
    doc = read_json_file(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("annotations"), list):
        raise InterchangeError(src, "not a COCO / YouTube-VIS file (no 'annotations' list)")
    if isinstance(doc.get("videos"), list):
        return _import_ytvis(doc, src, frame=frame, label=label, size=size)
    if not isinstance(doc.get("images"), list):
        raise InterchangeError(src, "not a COCO file (no 'images' list)")
    cat_ids, _ = _category_ids(doc, label, src)
    images = sorted((im for im in doc["images"] if isinstance(im, dict) and "id" in im), key=lambda im: im["id"])
    if not images:
        raise InterchangeError(src, "no images")
    by_id = {im["id"]: im for im in images}
    skipped: list[str] = []
    per_image: dict[Any, list[dict]] = {}
    for k, a in enumerate(doc["annotations"]):
        if not isinstance(a, dict) or "image_id" not in a or "segmentation" not in a:
            skipped.append(f"annotations[{k}]: no image_id / segmentation")
            continue
        if a["image_id"] not in by_id:
            skipped.append(f"annotations[{k}]: unknown image_id {a['image_id']!r}")
            continue
        if cat_ids is not None and a.get("category_id") not in cat_ids:
            continue
        per_image.setdefault(a["image_id"], []).append({**a, "_k": k})
    if frame is None:
        chosen = next((im for im in images if im["id"] in per_image), None)
        if chosen is None:
            raise InterchangeError(src, f"no usable annotation{' of ' + repr(label) if label else ''}"
                                        + (f" ({'; '.join(skipped[:5])})" if skipped else ""))
    elif isinstance(frame, int) or str(frame).isdigit():
        i = int(frame)
        if not 0 <= i < len(images):
            raise InterchangeError(src, f"frame {i} is out of range: the file has {len(images)} images")
        chosen = images[i]
    else:
        hits = [im for im in images if str(im.get("file_name")) == frame or Path(str(im.get("file_name"))).stem == frame]
        if not hits:
            raise InterchangeError(src, f"no image named {frame!r}")
        chosen = hits[0]
    try:
        h, w = int(chosen["height"]), int(chosen["width"])
    except (KeyError, TypeError, ValueError):
        raise InterchangeError(src, f"image {chosen.get('id')!r} has no valid width/height") from None
    mask = np.zeros((h, w), bool)
    used = 0
    for a in per_image.get(chosen["id"], []):
        where = f"{src} annotations[{a['_k']}]"
        try:
            mask |= _segm_to_mask(a["segmentation"], h, w, where)
            used += 1
        except InterchangeError as exc:
            skipped.append(f"annotations[{a['_k']}]: {exc.reason}")
    if not used:
        raise InterchangeError(src, f"image {chosen.get('file_name')!r} has no usable annotation"
                                    + (f" ({'; '.join(skipped[:5])})" if skipped else ""))
    return ImportedMask(mask=check_mask(mask, src, size), source=f"{src}#image={chosen['id']}", label=label,
                        frame_name=Path(str(chosen.get("file_name", ""))).stem or None,
                        frame_index=images.index(chosen), skipped=skipped)


def _import_ytvis(doc: dict, src: str, *, frame: str | int | None, label: str | None,
                  size: tuple[int, int] | None) -> ImportedMask:
    cat_ids, _ = _category_ids(doc, label, src)
    videos = [v for v in doc["videos"] if isinstance(v, dict) and "id" in v]
    if not videos:
        raise InterchangeError(src, "no videos")
    vid = videos[0]
    try:
        h, w = int(vid["height"]), int(vid["width"])
    except (KeyError, TypeError, ValueError):
        raise InterchangeError(src, "video has no valid width/height") from None
    names = [Path(str(n)).stem for n in vid.get("file_names") or []]
    skipped: list[str] = []
    tracks = []
    for k, a in enumerate(doc["annotations"]):
        if not isinstance(a, dict) or not isinstance(a.get("segmentations"), list):
            skipped.append(f"annotations[{k}]: no segmentations list")
            continue
        if a.get("video_id") != vid["id"] or (cat_ids is not None and a.get("category_id") not in cat_ids):
            continue
        tracks.append((k, a))
    if not tracks:
        raise InterchangeError(src, f"no usable track{' of ' + repr(label) if label else ''}")
    if frame is None:
        idx = min((next((i for i, s in enumerate(a["segmentations"]) if s), 10**9) for _, a in tracks))
        if idx == 10**9:
            raise InterchangeError(src, "every track is empty")
    elif isinstance(frame, int) or str(frame).isdigit():
        idx = int(frame)
    else:
        if frame not in names:
            raise InterchangeError(src, f"no frame named {frame!r}")
        idx = names.index(frame)
    mask = np.zeros((h, w), bool)
    for k, a in tracks:
        segs = a["segmentations"]
        if idx < len(segs) and segs[idx]:
            try:
                mask |= _segm_to_mask(segs[idx], h, w, f"{src} annotations[{k}].segmentations[{idx}]")
            except InterchangeError as exc:
                skipped.append(f"annotations[{k}]: {exc.reason}")
    return ImportedMask(mask=check_mask(mask, src, size), source=f"{src}#video={vid['id']}&frame={idx}", label=label,
                        frame_name=names[idx] if idx < len(names) else None, frame_index=idx, skipped=skipped)
