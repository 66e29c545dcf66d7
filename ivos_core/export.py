"""Outputs of a segmentation job: DAVIS PNG masks, RLE, animated stickers with alpha, previews.

* :func:`write_mask_png` / :func:`read_mask_png`: one palette PNG per frame (DAVIS layout and
  palette: index 0 background, 1 the object in dark red), so the DAVIS tools read them.
* :func:`rle_encode` / :func:`rle_decode`: COCO-style uncompressed RLE: ``{"size": [H, W],
  "counts": [...]}`` over the column-major (Fortran-order) flattened mask, counts alternate
  background/foreground runs and start with a (possibly zero) background run.
* :func:`write_sticker`: the object cut out over a transparent background, cropped to the union
  bounding box of all masks, as an animated PNG (RGBA), an animated WebP when Pillow supports it,
  and a GIF (one transparent palette index; GIF alpha is binary).
* :func:`write_overlay_preview`: frames with a coloured mask overlay and contour, as H.264 MP4 or VP9
  WebM (PyAV; browser-playable), else MP4 ``mp4v`` (OpenCV) or GIF; with ``labels=True`` the masks
  are label maps and object k is drawn in palette colour k (:func:`overlay_labels`).

Every file is written atomically: into a temporary file beside the target, then ``os.replace``.
Masks are ``(H, W)`` arrays (non-zero = object); frames are ``(H, W, 3)`` RGB ``uint8``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ivos_core.utils import atomic_path, atomic_write

__all__ = [
    "davis_palette",
    "atomic_path",
    "atomic_write",
    "write_mask_png",
    "read_mask_png",
    "rle_encode",
    "rle_decode",
    "union_bbox",
    "sticker_frames",
    "write_sticker",
    "webp_supported",
    "overlay",
    "overlay_labels",
    "write_overlay_preview",
]


def davis_palette(n: int = 256) -> list[int]:
    """The DAVIS / PASCAL VOC colour map as a flat ``[r, g, b, ...]`` list of ``n`` entries."""
    pal = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


_PALETTE = davis_palette()


def _as_mask(mask: np.ndarray) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {m.shape}")
    return m


def write_mask_png(path: str | Path, mask: np.ndarray, *, object_id: int = 1) -> Path:
    """Write a DAVIS palette PNG: 0 where ``mask`` is zero, ``object_id`` elsewhere.

    An integer label map (several objects) is written as is when ``mask`` is not boolean.
    """
    m = _as_mask(mask)
    if m.dtype == bool:
        idx = np.where(m, np.uint8(object_id), np.uint8(0))
    else:
        if m.min(initial=0) < 0 or m.max(initial=0) > 255:
            raise ValueError("label maps must hold values in 0..255")
        idx = m.astype(np.uint8)
    img = Image.fromarray(idx, mode="P")
    img.putpalette(_PALETTE)
    return atomic_write(path, lambda t: img.save(t, format="PNG", optimize=True))


def read_mask_png(path: str | Path) -> np.ndarray:
    """Read a DAVIS palette PNG as its ``uint8`` label map (0 = background)."""
    with Image.open(path) as im:
        if im.mode == "P":
            return np.array(im, dtype=np.uint8)
        return (np.array(im.convert("L")) > 0).astype(np.uint8)


def rle_encode(mask: np.ndarray) -> dict:
    """COCO-style uncompressed RLE of a binary ``(H, W)`` mask (column-major counts)."""
    m = _as_mask(mask).astype(bool)
    h, w = m.shape
    flat = m.flatten(order="F").astype(np.int8)
    if flat.size == 0:
        return {"size": [h, w], "counts": []}
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0] == 1:
        counts = [0] + counts
    return {"size": [int(h), int(w)], "counts": [int(c) for c in counts]}


def rle_decode(rle: dict) -> np.ndarray:
    """Inverse of :func:`rle_encode`: a boolean ``(H, W)`` mask."""
    h, w = (int(v) for v in rle["size"])
    counts = np.asarray(rle["counts"], dtype=np.int64)
    if counts.sum() != h * w:
        raise ValueError(f"RLE counts sum to {int(counts.sum())}, expected {h}x{w}={h * w}")
    values = np.arange(counts.size) % 2 == 1
    flat = np.repeat(values, counts)
    return flat.reshape((h, w), order="F")


def union_bbox(masks: Sequence[np.ndarray], *, pad: int = 4) -> tuple[int, int, int, int] | None:
    """``(y0, y1, x0, x1)`` (half-open) of the union of ``masks`` plus ``pad``; None if all empty."""
    union = None
    for m in masks:
        b = _as_mask(m).astype(bool)
        union = b if union is None else (union | b)
    if union is None or not union.any():
        return None
    ys, xs = np.nonzero(union)
    h, w = union.shape
    return (
        max(0, int(ys.min()) - pad),
        min(h, int(ys.max()) + 1 + pad),
        max(0, int(xs.min()) - pad),
        min(w, int(xs.max()) + 1 + pad),
    )


def sticker_frames(frames: Sequence[np.ndarray], masks: Sequence[np.ndarray], *, pad: int = 4) -> list[Image.Image]:
    """RGBA frames: the object opaque, everything else alpha 0, cropped to the union bbox."""
    if len(frames) != len(masks):
        raise ValueError(f"{len(frames)} frames but {len(masks)} masks")
    if len(frames) == 0:
        raise ValueError("no frames")
    box = union_bbox(masks, pad=pad)
    if box is None:  # nothing segmented: a 1x1 transparent sticker per frame
        box = (0, 1, 0, 1)
    y0, y1, x0, x1 = box
    out = []
    for f, m in zip(frames, masks):
        f = np.asarray(f)
        if f.ndim != 3 or f.shape[2] != 3 or f.shape[:2] != np.asarray(m).shape:
            raise ValueError(f"frame {f.shape} and mask {np.asarray(m).shape} do not match (H, W, 3) / (H, W)")
        rgba = np.dstack([f.astype(np.uint8), np.where(np.asarray(m).astype(bool), 255, 0).astype(np.uint8)])
        rgba[rgba[..., 3] == 0, :3] = 0
        out.append(Image.fromarray(np.ascontiguousarray(rgba[y0:y1, x0:x1]), mode="RGBA"))
    return out


def webp_supported() -> bool:
    """True when this Pillow can write (animated) WebP."""
    try:
        from PIL import features

        return bool(features.check("webp"))
    except Exception:  # pragma: no cover - very old Pillow
        return False


def _gif_frame(rgba: Image.Image) -> Image.Image:
    """RGBA -> palette image with index 255 transparent (GIF alpha is binary)."""
    arr = np.asarray(rgba)
    rgb = Image.fromarray(np.ascontiguousarray(arr[..., :3]), mode="RGB")
    p = rgb.quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    idx = np.array(p, dtype=np.uint8)
    idx[arr[..., 3] < 128] = 255
    pal = (p.getpalette() or [])[: 255 * 3]
    pal += [0] * (256 * 3 - len(pal))
    out = Image.fromarray(idx, mode="P")
    out.putpalette(pal)
    out.info["transparency"] = 255
    return out


def write_sticker(
    out_stem: str | Path,
    frames: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    *,
    fps: float = 12.0,
    pad: int = 4,
    formats: Sequence[str] = ("apng", "webp", "gif"),
) -> dict[str, Path]:
    """Write the animated sticker as ``<stem>.apng`` / ``.webp`` / ``.gif``; returns the paths.

    WebP is skipped (not an error) when Pillow lacks WebP support.
    """
    stem = Path(out_stem)
    imgs = sticker_frames(frames, masks, pad=pad)
    duration = max(20, int(round(1000.0 / max(fps, 1e-3))))
    paths: dict[str, Path] = {}
    if "apng" in formats:
        p = stem.with_suffix(".apng")

        def _apng(t: Path) -> None:
            imgs[0].save(
                t, format="PNG", save_all=True, append_images=imgs[1:], duration=duration, loop=0,
                disposal=1, blend=0, default_image=False,
            )

        paths["apng"] = atomic_write(p, _apng)
    if "webp" in formats and webp_supported():
        p = stem.with_suffix(".webp")

        def _webp(t: Path) -> None:
            imgs[0].save(
                t, format="WEBP", save_all=True, append_images=imgs[1:], duration=duration, loop=0,
                lossless=True, quality=80, method=4,
            )

        try:
            paths["webp"] = atomic_write(p, _webp)
        except (OSError, ValueError, KeyError):  # Pillow built without animated WebP
            pass
    if "gif" in formats:
        p = stem.with_suffix(".gif")
        gifs = [_gif_frame(im) for im in imgs]

        def _gif(t: Path) -> None:
            gifs[0].save(
                t, format="GIF", save_all=True, append_images=gifs[1:], duration=duration, loop=0,
                disposal=2, transparency=255, optimize=False,
            )

        paths["gif"] = atomic_write(p, _gif)
    return paths


def overlay(frame: np.ndarray, mask: np.ndarray, *, color: tuple[int, int, int] = (255, 40, 40), alpha: float = 0.45) -> np.ndarray:
    """The frame with the mask tinted in ``color`` and its contour drawn; ``(H, W, 3)`` RGB uint8."""
    import cv2

    f = np.asarray(frame).astype(np.float32)
    m = np.asarray(mask).astype(bool)
    out = f.copy()
    out[m] = (1 - alpha) * f[m] + alpha * np.asarray(color, np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    thickness = max(1, round(min(m.shape) / 240))
    cv2.drawContours(out, contours, -1, (255, 255, 255), thickness + 1)
    cv2.drawContours(out, contours, -1, color, thickness)
    return out


def overlay_labels(frame: np.ndarray, labels: np.ndarray, *, alpha: float = 0.45) -> np.ndarray:
    """The frame with every object of a label map tinted in its DAVIS palette colour (index k:
    the colour the palette PNGs show it in), each with its contour."""
    lab = _as_mask(labels)
    out = np.asarray(frame)
    for k in np.unique(lab):
        if k == 0:
            continue
        k = int(k)
        out = overlay(out, lab == k, color=tuple(_PALETTE[3 * k: 3 * k + 3]), alpha=alpha)  # type: ignore[arg-type]
    return np.ascontiguousarray(out, dtype=np.uint8)


def _fit(img: np.ndarray, max_side: int) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    s = max_side / max(h, w)
    if s >= 1:
        return img
    return cv2.resize(img, (max(2, int(w * s)) // 2 * 2, max(2, int(h * s)) // 2 * 2), interpolation=cv2.INTER_AREA)


def _write_mp4(target: Path, imgs: Sequence[np.ndarray], fps: float) -> bool:
    """Encode with OpenCV's ``mp4v``; False (nothing written) when this OpenCV cannot."""
    import cv2

    h, w = imgs[0].shape[:2]
    with atomic_path(target) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
        if not writer.isOpened():
            return False
        for im in imgs:
            writer.write(cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
        writer.release()
        if tmp.stat().st_size == 0:
            return False
    return target.exists()


def write_overlay_preview(
    path: str | Path,
    frames: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    *,
    fps: float = 12.0,
    max_side: int = 480,
    labels: bool = False,
) -> Path:
    """Write the overlay preview (downscaled to ``max_side``); ``labels``: ``masks`` are label maps
    (several objects, each in its palette colour).

    ``.mp4`` is H.264 and ``.webm`` VP9 (browser-playable, :mod:`ivos_core.encode_video`); without
    that encoder ``.mp4`` falls back to OpenCV's ``mp4v``, then to ``.gif``; any other suffix writes
    a GIF. Returns the path actually written.
    """
    from ivos_core.encode_video import VideoEncodeError, write_browser_video

    target = Path(path)
    draw = overlay_labels if labels else overlay
    imgs = [_fit(draw(f, m), max_side) for f, m in zip(frames, masks)]
    if not imgs:
        raise ValueError("no frames")
    if target.suffix.lower() in (".mp4", ".webm"):
        try:
            return write_browser_video(target, imgs, fps=fps)
        except (VideoEncodeError, ImportError):
            pass
    if target.suffix.lower() == ".mp4" and _write_mp4(target, imgs, fps):
        return target
    target = target.with_suffix(".gif")
    duration = max(20, int(round(1000.0 / max(fps, 1e-3))))
    pil = [Image.fromarray(im).quantize(colors=255, method=Image.Quantize.MEDIANCUT) for im in imgs]

    def _gif(t: Path) -> None:
        pil[0].save(t, format="GIF", save_all=True, append_images=pil[1:], duration=duration, loop=0)

    return atomic_write(target, _gif)
