"""Label Studio JSON tasks with brush RLE, out and in; the brush RLE codec itself.

**Brush RLE** (Label Studio's ``"format": "rle"``; its frontend uses the ``rle-pack`` coding of
thi.ng/umbrella, mirrored by ``label_studio_converter.brush``): the mask is an RGBA image
``(H, W, 4)`` flattened row-major (``num = H * W * 4`` values; the mask is the alpha channel,
exporters repeat the value into all four), coded as a big-endian bit stream packed into bytes
(a JSON list of ints 0..255, zero-padded to a whole byte):

* header: ``num`` (32 bits), ``word_size - 1`` (5 bits), four run-length field widths
  ``rle_sizes[i] - 1`` (4 bits each; writers use ``[3, 4, 8, 16]``);
* then chunks until ``num`` values are out: a flag bit (1 = a *run* of one repeated value,
  0 = *literal* values), a 2-bit index ``s`` into ``rle_sizes``, ``length - 1`` in
  ``rle_sizes[s]`` bits, then one word (run) or ``length`` words (literal) of ``word_size`` bits.

:func:`brush_encode` writes runs (singletons grouped into literal chunks); :func:`brush_decode`
reads any word size up to 8 and any field widths, and checks the stream against ``num``.

**Tasks** (:func:`export_labelstudio`): one task per frame, ``{"data": {"image": ...},
"predictions": [{"model_version": ..., "result": [{"type": "brushlabels", "from_name": "tag",
"to_name": "image", "original_width": W, "original_height": H, "image_rotation": 0, "value":
{"format": "rle", "rle": [...], "brushlabels": [label]}}]}]}`` plus ``labeling_config.xml`` for the
project. Import (:func:`import_mask`) reads ``annotations`` (else ``predictions``) results of type
``brushlabels`` (RLE) or ``polygonlabels`` (points in percent of the image size).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ivos_core.interchange.common import (ImportedMask, InterchangeError, JobOutput, check_mask, frame_names,
                                         read_json_file)
from ivos_core.utils import atomic_write

__all__ = ["brush_encode", "brush_decode", "mask_to_brush", "brush_to_mask", "tasks_document",
           "export_labelstudio", "import_mask", "labeling_config"]

RLE_SIZES = (3, 4, 8, 16)


def _bits(value: int, n: int) -> str:
    return format(value, f"0{n}b")


def brush_encode(values: np.ndarray, *, word_size: int = 8, rle_sizes: Sequence[int] = RLE_SIZES) -> list[int]:
    """Brush RLE of a 1-D array of ints in ``0 .. 2**word_size - 1`` (see the module docstring)."""
    a = np.asarray(values).ravel().astype(np.int64)
    if a.size >= 2**32:
        raise ValueError("too many values for brush RLE (32-bit count)")
    if a.size and (a.min() < 0 or a.max() >= 2**word_size):
        raise ValueError(f"values must be in 0..{2**word_size - 1}")
    sizes = list(rle_sizes)
    if len(sizes) != 4 or not all(1 <= s <= 16 for s in sizes) or sorted(sizes) != sizes:
        raise ValueError("rle_sizes must be four increasing widths in 1..16")
    max_len = 2 ** sizes[-1]
    out = [_bits(a.size, 32), _bits(word_size - 1, 5)] + [_bits(s - 1, 4) for s in sizes]

    def head(flag: int, length: int) -> str:
        s = next(i for i, b in enumerate(sizes) if length - 1 < 2**b)
        return str(flag) + _bits(s, 2) + _bits(length - 1, sizes[s])

    if a.size:
        change = np.flatnonzero(np.diff(a)) + 1
        starts = np.concatenate([[0], change])
        lengths = np.diff(np.concatenate([starts, [a.size]]))
        literal: list[int] = []

        def flush() -> None:
            for k in range(0, len(literal), max_len):
                part = literal[k:k + max_len]
                out.append(head(0, len(part)) + "".join(_bits(v, word_size) for v in part))
            literal.clear()

        for st, ln in zip(starts.tolist(), lengths.tolist()):
            v = int(a[st])
            if ln == 1:
                literal.append(v)
                continue
            flush()
            while ln > 0:
                n = min(ln, max_len)
                out.append(head(1, n) + _bits(v, word_size))
                ln -= n
        flush()
    bits = "".join(out)
    bits += "0" * (-len(bits) % 8)
    arr = np.frombuffer(bits.encode("ascii"), dtype=np.uint8) - 48
    return np.packbits(arr).tolist()


class _Reader:
    def __init__(self, data: Sequence[int], src: str) -> None:
        try:
            buf = np.asarray(data, dtype=np.int64)
        except (TypeError, ValueError):
            raise InterchangeError(src, "brush RLE must be a list of integers 0..255") from None
        if buf.ndim != 1 or (buf.size and (buf.min() < 0 or buf.max() > 255)):
            raise InterchangeError(src, "brush RLE must be a flat list of integers 0..255")
        self.bits = np.unpackbits(buf.astype(np.uint8))
        self.pos = 0
        self.src = src

    def read(self, n: int) -> int:
        if self.pos + n > self.bits.size:
            raise InterchangeError(self.src, "brush RLE stream ends early (truncated or not brush RLE)")
        v = 0
        for b in self.bits[self.pos:self.pos + n].tolist():
            v = (v << 1) | b
        self.pos += n
        return v

    def words(self, count: int, size: int) -> np.ndarray:
        if self.pos + count * size > self.bits.size:
            raise InterchangeError(self.src, "brush RLE stream ends early (truncated or not brush RLE)")
        chunk = self.bits[self.pos:self.pos + count * size].reshape(count, size).astype(np.int64)
        self.pos += count * size
        return chunk @ (1 << np.arange(size - 1, -1, -1, dtype=np.int64))


def brush_decode(rle: Sequence[int], *, expected: int | None = None, source: str = "<rle>") -> np.ndarray:
    """The values of a brush RLE (``uint8``); ``expected``: the value count it must hold."""
    r = _Reader(rle, source)
    num = r.read(32)
    word_size = r.read(5) + 1
    sizes = [r.read(4) + 1 for _ in range(4)]
    if expected is not None and num != expected:
        raise InterchangeError(source, f"brush RLE holds {num} values, expected {expected} (width x height x 4)")
    if word_size > 8:
        raise InterchangeError(source, f"brush RLE word size {word_size} > 8 bits is not a mask")
    if num > 2**31:
        raise InterchangeError(source, f"brush RLE claims {num} values")
    out = np.zeros(num, dtype=np.uint8)
    i = 0
    while i < num:
        flag = r.read(1)
        n = r.read(sizes[r.read(2)]) + 1
        if i + n > num:
            raise InterchangeError(source, f"brush RLE chunk at value {i} runs past the {num} values")
        if flag:
            out[i:i + n] = r.read(word_size)
        else:
            out[i:i + n] = r.words(n, word_size)
        i += n
    return out


def mask_to_brush(mask: np.ndarray) -> list[int]:
    """Brush RLE of a binary ``(H, W)`` mask (255 in all four RGBA channels where set)."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {m.shape}")
    return brush_encode(np.repeat(np.where(m.astype(bool), 255, 0).ravel(), 4))


def brush_to_mask(rle: Sequence[int], height: int, width: int, *, source: str = "<rle>") -> np.ndarray:
    """A boolean ``(H, W)`` mask from brush RLE (alpha channel > 0)."""
    vals = brush_decode(rle, expected=height * width * 4, source=source)
    return vals.reshape(height, width, 4)[..., 3] > 0


def labeling_config(labels: Sequence[str]) -> str:
    inner = "\n".join(f'    <Label value="{lab}"/>' for lab in labels)
    return ('<View>\n  <Image name="image" value="$image" zoom="true"/>\n  <BrushLabels name="tag" toName="image">\n'
            f"{inner}\n  </BrushLabels>\n</View>\n")


def tasks_document(job: JobOutput, *, image_prefix: str = "", image_ext: str = ".jpg") -> list[dict[str, Any]]:
    """One Label Studio task per frame, the job's masks as brush-RLE predictions."""
    tasks = []
    ids = job.object_ids()
    for i, (stem, lab) in enumerate(zip(frame_names(job), job.masks)):
        results = []
        for k in ids:
            m = lab == k
            if not m.any():
                continue
            results.append({
                "id": uuid.uuid5(uuid.NAMESPACE_URL, f"{job.session_id}/{i}/{k}").hex[:10],
                "type": "brushlabels", "from_name": "tag", "to_name": "image",
                "original_width": job.width, "original_height": job.height, "image_rotation": 0,
                "value": {"format": "rle", "rle": mask_to_brush(m),
                          "brushlabels": [job.labels.get(k, "object" if k == 1 else f"object_{k}")]},
            })
        tasks.append({
            "data": {"image": f"{image_prefix}{stem}{image_ext}", "frame_index": i, "video": job.sequence},
            "predictions": [{"model_version": job.model_version, "result": results}],
        })
    return tasks


def export_labelstudio(job: JobOutput, out: str | Path, *, image_prefix: str = "") -> Path:
    """Write ``<out>/tasks.json`` (or ``out`` itself when it ends in ``.json``) and
    ``labeling_config.xml`` beside it; returns the tasks file."""
    p = Path(out)
    p = p if p.suffix == ".json" else p / "tasks.json"
    labels = [job.labels.get(k, "object" if k == 1 else f"object_{k}") for k in job.object_ids()]
    atomic_write(p.with_name("labeling_config.xml"), labeling_config(labels))
    return atomic_write(p, json.dumps(tasks_document(job, image_prefix=image_prefix)))


def _polygon_mask(value: dict, h: int, w: int, where: str) -> np.ndarray:
    import cv2

    pts = value.get("points")
    if not isinstance(pts, list) or len(pts) < 3:
        raise InterchangeError(where, "a polygon needs at least 3 points")
    try:
        xy = np.array([[float(x) * w / 100.0, float(y) * h / 100.0] for x, y in pts])
    except (TypeError, ValueError):
        raise InterchangeError(where, "polygon points must be [x%, y%] pairs") from None
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [np.round(xy - 0.5).astype(np.int32)], 1)
    return m.astype(bool)


def _result_mask(res: Any, where: str, label: str | None) -> tuple[np.ndarray, tuple[int, int], list[str]] | None:
    if not isinstance(res, dict):
        raise InterchangeError(where, "a result must be an object")
    kind = str(res.get("type", "")).lower()
    if kind not in ("brushlabels", "polygonlabels"):
        return None
    value = res.get("value")
    if not isinstance(value, dict):
        raise InterchangeError(where, "no 'value' object")
    labels = value.get(kind) or []
    if label is not None and label not in labels:
        return None
    try:
        h, w = int(res["original_height"]), int(res["original_width"])
    except (KeyError, TypeError, ValueError):
        raise InterchangeError(where, "no original_width / original_height") from None
    if h <= 0 or w <= 0:
        raise InterchangeError(where, f"bad original size {w}x{h}")
    if kind == "polygonlabels":
        return _polygon_mask(value, h, w, where), (h, w), list(labels)
    rle = value.get("rle", res.get("rle"))
    if value.get("format", "rle") != "rle" or rle is None:
        raise InterchangeError(where, f"brush format {value.get('format')!r} is not 'rle' (or no rle)")
    return brush_to_mask(rle, h, w, source=where), (h, w), list(labels)


def import_mask(path: str | Path, *, frame: str | int | None = None, label: str | None = None,
                size: tuple[int, int] | None = None) -> ImportedMask:
    """The union of the brush / polygon results of ``label`` (any when None) on one task.

    ``frame``: the task's position in the file, or its image name / stem (default: the first task
    with a usable result). Broken results are skipped with the reason; a label no result has is an
    error listing the labels that are there.
    """
    src = str(path)
    doc = read_json_file(path)
    tasks = doc if isinstance(doc, list) else [doc]
    if not tasks or not all(isinstance(t, dict) and isinstance(t.get("data"), dict) for t in tasks):
        raise InterchangeError(src, "not Label Studio tasks (expected a list of objects with 'data')")

    def task_name(t: dict) -> str:
        img = t["data"].get("image")
        return Path(str(img).split("?")[-1].split("=")[-1]).stem if img else ""

    order = list(range(len(tasks)))
    if frame is not None:
        if isinstance(frame, int) or str(frame).isdigit():
            if not 0 <= int(frame) < len(tasks):
                raise InterchangeError(src, f"frame {frame} is out of range: {len(tasks)} tasks")
            order = [int(frame)]
        else:
            order = [i for i, t in enumerate(tasks) if task_name(t) == Path(str(frame)).stem]
            if not order:
                raise InterchangeError(src, f"no task with image {frame!r}")
    skipped: list[str] = []
    seen_labels: set[str] = set()
    for ti in order:
        t = tasks[ti]
        groups = t.get("annotations") or t.get("predictions") or []
        key = "annotations" if t.get("annotations") else "predictions"
        mask = None
        for gi, g in enumerate(groups if isinstance(groups, list) else []):
            results = g.get("result") if isinstance(g, dict) else None
            if not isinstance(results, list):
                skipped.append(f"tasks[{ti}].{key}[{gi}]: no result list")
                continue
            for ri, res in enumerate(results):
                where = f"{src} tasks[{ti}].{key}[{gi}].result[{ri}]"
                try:
                    if isinstance(res, dict) and isinstance(res.get("value"), dict):
                        seen_labels.update(str(v) for v in (res["value"].get("brushlabels") or res["value"].get("polygonlabels") or []))
                    got = _result_mask(res, where, label)
                except InterchangeError as exc:
                    skipped.append(f"tasks[{ti}].{key}[{gi}].result[{ri}]: {exc.reason}")
                    continue
                if got is None:
                    continue
                m, _, _ = got
                if mask is not None and mask.shape != m.shape:
                    skipped.append(f"tasks[{ti}].{key}[{gi}].result[{ri}]: size differs from the task's other results")
                    continue
                mask = m if mask is None else (mask | m)
            if mask is not None:
                break  # one annotation (the first usable) per task
        if mask is not None:
            return ImportedMask(mask=check_mask(mask, src, size), source=f"{src}#task={ti}", label=label,
                                frame_name=task_name(t) or None, frame_index=t["data"].get("frame_index", ti)
                                if isinstance(t["data"].get("frame_index"), int) else ti, skipped=skipped)
    if label is not None and label not in seen_labels:
        raise InterchangeError(src, f"unknown label {label!r}; the results are labelled {sorted(seen_labels) or 'nothing'}")
    raise InterchangeError(src, "no usable brush or polygon result" + (f" ({'; '.join(skipped[:5])})" if skipped else ""))
