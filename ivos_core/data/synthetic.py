"""Seeded synthetic images and videos with exact ground truth (tests, demos, smoke training).

An image is a textured object (ellipse, star-polygon or smooth blob; a colour field plus stripes
plus noise) on a textured background drawn from a different hue range, so colour separates
object and background but not trivially (texture and noise overlap in brightness). A video moves
one or more such objects smoothly (translation, scale change, a little rotation) over a slowly
panning background, with an optional occluder bar sweeping across in front of them.

Everything is a function of the ``numpy.random.Generator`` passed in (or the ``seed``), so the
same seed gives byte-identical arrays and files on one machine.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ivos_core.data.common import Sample


# --- textures and shapes ---------------------------------------------------------------------
def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """(h, w) float32 in [0, 1]: uniform noise on a coarse grid, bicubically upsampled."""
    gh, gw = max(2, cells), max(2, int(round(cells * w / max(h, 1))))
    grid = rng.random((gh, gw)).astype(np.float32)
    up = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(up, 0.0, 1.0)


def _palette(rng: np.random.Generator, hue: float, n: int = 3) -> np.ndarray:
    """(n, 3) float32 RGB colours in [0, 255] with hues within +-0.06 of ``hue``."""
    cols = []
    for _ in range(n):
        hh = (hue + rng.uniform(-0.06, 0.06)) % 1.0
        s = rng.uniform(0.45, 0.95)
        v = rng.uniform(0.35, 0.95)
        cols.append(colorsys.hsv_to_rgb(hh, s, v))
    return np.asarray(cols, dtype=np.float32) * 255.0


def textured_field(rng: np.random.Generator, height: int, width: int, hue: float) -> np.ndarray:
    """(H, W, 3) uint8 texture: a smooth mix of a 3-colour palette, stripes and pixel noise."""
    pal = _palette(rng, hue, 3)
    a = _smooth_noise(rng, height, width, int(rng.integers(3, 8)))[..., None]
    b = _smooth_noise(rng, height, width, int(rng.integers(2, 5)))[..., None]
    img = pal[0] * (1 - a) + pal[1] * a
    img = img * (1 - 0.5 * b) + pal[2] * (0.5 * b)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    period = rng.uniform(6, 24)
    stripes = np.sin((xx * np.cos(theta) + yy * np.sin(theta)) * (2 * np.pi / period))
    img = img * (1 + rng.uniform(0.05, 0.2) * stripes[..., None])
    img = img + rng.normal(0, rng.uniform(4, 12), size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def shape_mask(rng: np.random.Generator, height: int, width: int, fill: float = 0.5) -> np.ndarray:
    """(H, W) bool random object (ellipse, star polygon or blob) centred near the middle.

    ``fill``: object extent as a fraction of the smaller side (roughly its diameter).
    """
    kind = rng.choice(["ellipse", "polygon", "blob"])
    cy = height / 2 + rng.uniform(-0.1, 0.1) * height
    cx = width / 2 + rng.uniform(-0.1, 0.1) * width
    r = fill * min(height, width) / 2
    canvas = np.zeros((height, width), np.uint8)
    if kind == "ellipse":
        axes = (int(r * rng.uniform(0.6, 1.0)), int(r * rng.uniform(0.6, 1.0)))
        cv2.ellipse(canvas, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    elif kind == "polygon":
        n = int(rng.integers(6, 13))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = r * rng.uniform(0.6, 1.0, n)
        pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).astype(np.int32)
        cv2.fillPoly(canvas, [pts], 1)
    else:
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        d = np.sqrt(((yy - cy) / r) ** 2 + ((xx - cx) / r) ** 2)
        wobble = _smooth_noise(rng, height, width, 4) - 0.5
        canvas[(d + 0.8 * wobble) < 0.85] = 1
    if not canvas.any():  # degenerate draw: fall back to a disc
        cv2.circle(canvas, (int(cx), int(cy)), max(2, int(r / 2)), 1, -1)
    return canvas.astype(bool)


def _two_hues(rng: np.random.Generator) -> tuple[float, float]:
    bg = float(rng.random())
    return bg, float((bg + rng.uniform(0.3, 0.7)) % 1.0)


def _composite(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Blend with a 1-pixel soft edge so boundaries look like photographs, not stencils."""
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0.7)[..., None]
    return (fg * alpha + bg * (1 - alpha)).round().astype(np.uint8)


# --- images ----------------------------------------------------------------------------------
def synthetic_image(
    rng: np.random.Generator,
    height: int = 240,
    width: int = 320,
    *,
    sample_id: str = "synthetic",
    distractors: int = 0,
) -> Sample:
    """One textured object on a textured background: image (H, W, 3) uint8, mask (H, W) bool.

    ``distractors`` > 0 adds that many look-alikes (same colours and texture, other shapes) that
    are NOT the object: a scene where a global colour model (GrabCut) takes every look-alike for
    the object until each gets a negative click, while a click-local model does not. With 0 the
    output is exactly what it always was for a given generator state.
    """
    bg_hue, fg_hue = _two_hues(rng)
    bg = textured_field(rng, height, width, bg_hue)
    fg = textured_field(rng, height, width, fg_hue)
    fill = float(rng.uniform(0.35, 0.75)) if distractors <= 0 else float(rng.uniform(0.3, 0.42))
    mask = shape_mask(rng, height, width, fill=fill)
    image = _composite(fg, bg, mask)
    if distractors > 0:
        image = _add_distractors(rng, image, mask, fg_hue, distractors)
    return Sample(
        sample_id=sample_id,
        image=image,
        mask=mask,
        ignore=None,
        source="",
        meta={"dataset": "synthetic", "bg_hue": bg_hue, "fg_hue": fg_hue},
    )


def _add_distractors(
    rng: np.random.Generator, image: np.ndarray, mask: np.ndarray, hue: float, n: int
) -> np.ndarray:
    """Paste ``n`` look-alike shapes of ``hue`` away from ``mask`` (a gap of a few pixels)."""
    h, w = mask.shape
    taken = cv2.dilate(mask.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    out = image.copy()
    for _ in range(n):
        shape = shape_mask(rng, h, w, fill=float(rng.uniform(0.2, 0.32)))
        ys, xs = np.nonzero(shape)
        if len(ys) == 0:
            continue
        for _attempt in range(12):  # a free spot; the look-alike may be clipped by the border
            dy = int(rng.integers(-h // 2, h // 2 + 1))
            dx = int(rng.integers(-w // 2, w // 2 + 1))
            moved = cv2.warpAffine(shape.astype(np.uint8), np.float32([[1, 0, dx], [0, 1, dy]]), (w, h),
                                   flags=cv2.INTER_NEAREST).astype(bool)
            if moved.sum() > 0.5 * len(ys) and not (moved & taken).any():
                tex = textured_field(rng, h, w, hue)
                out = _composite(tex, out, moved)
                taken |= cv2.dilate(moved.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
                break
    return out


# --- video -----------------------------------------------------------------------------------
@dataclass
class SyntheticVideo:
    """``frames`` (T, H, W, 3) uint8 RGB; ``labels`` (T, H, W) uint8 (0 bg, k = object k).

    Unpacks as ``frames, masks = synthetic_video(...)`` where ``masks`` is object 1's
    (T, H, W) bool mask (visible part: the occluder cuts it).
    """

    frames: np.ndarray
    labels: np.ndarray

    @property
    def masks(self) -> np.ndarray:
        return self.labels == 1

    def object_masks(self, obj_id: int) -> np.ndarray:
        return self.labels == obj_id

    def __iter__(self) -> Iterator[np.ndarray]:
        yield self.frames
        yield self.masks

    def __len__(self) -> int:
        return int(self.frames.shape[0])


def synthetic_video(
    rng: np.random.Generator,
    n_frames: int = 20,
    height: int = 240,
    width: int = 320,
    n_objects: int = 1,
    occluder: bool = True,
) -> SyntheticVideo:
    """Objects moving smoothly (translation, +-25 % scale, small rotation) over a panning
    textured background, optionally crossed by an occluder bar sweeping left to right.

    Later objects are drawn in front of earlier ones; the occluder is in front of all.
    """
    if n_frames < 1 or n_objects < 1:
        raise ValueError("need n_frames >= 1 and n_objects >= 1")
    T, H, W = n_frames, height, width
    bg_hue, fg_hue = _two_hues(rng)
    pad = int(0.1 * max(H, W))
    canvas = textured_field(rng, H + 2 * pad, W + 2 * pad, bg_hue)
    pan = rng.uniform(-1, 1, 2) * pad * 0.9  # total camera shift over the clip

    sprites = []
    for k in range(n_objects):
        side = int(min(H, W) * rng.uniform(0.45, 0.7) / np.sqrt(n_objects))
        hue = (fg_hue + 0.15 * k) % 1.0
        tex = textured_field(rng, side, side, hue)
        m = shape_mask(rng, side, side, fill=0.8)
        # objects start in their own vertical band of the frame, so they overlap only in passing
        band = (k + rng.uniform(0.35, 0.65)) / n_objects
        c0 = np.array([(0.2 + 0.6 * band) * W, rng.uniform(0.35, 0.65) * H])
        amp = np.array([rng.uniform(0.15, 0.3) * W, rng.uniform(0.05, 0.15) * H])
        freq = rng.uniform(0.3, 0.8, 2)
        phase = rng.uniform(0, 2 * np.pi, 3)
        sprites.append((tex, m, side, c0, amp, freq, phase))

    occ = None
    if occluder:
        bw = max(4, int(0.12 * W))
        occ = (textured_field(rng, H, bw, (bg_hue + 0.5 * (fg_hue - bg_hue)) % 1.0), bw)

    frames = np.empty((T, H, W, 3), np.uint8)
    labels = np.zeros((T, H, W), np.uint8)
    for t in range(T):
        u = t / max(T - 1, 1)  # 0 -> 1 over the clip
        dx, dy = pan * u
        x0, y0 = int(round(pad + dx)), int(round(pad + dy))
        img = canvas[y0 : y0 + H, x0 : x0 + W].astype(np.float32)
        lab = np.zeros((H, W), np.uint8)
        for k, (tex, m, side, c0, amp, freq, phase) in enumerate(sprites, start=1):
            ang = 2 * np.pi * t / _MOTION_PERIOD  # speed per frame does not depend on T
            cx, cy = c0 + amp * np.sin(ang * freq + phase[:2])
            scale = 1.0 + 0.25 * np.sin(ang * 0.7 + phase[2])
            rot = 15.0 * np.sin(ang * 0.5 + phase[0])
            M = cv2.getRotationMatrix2D((side / 2, side / 2), rot, scale)
            M[:, 2] += (cx - side / 2, cy - side / 2)
            warped = cv2.warpAffine(tex, M, (W, H), flags=cv2.INTER_LINEAR)
            alpha = cv2.warpAffine(m.astype(np.float32), M, (W, H), flags=cv2.INTER_LINEAR)
            soft = cv2.GaussianBlur(alpha, (3, 3), 0.7)[..., None]
            img = warped * soft + img * (1 - soft)
            lab[alpha >= 0.5] = k
        if occ is not None:
            otex, bw = occ
            ox = int(round(-bw + (W + bw) * u))
            a, b = max(ox, 0), min(ox + bw, W)
            if b > a:
                img[:, a:b] = otex[:, a - ox : b - ox]
                lab[:, a:b] = 0
        frames[t] = np.clip(img.round(), 0, 255).astype(np.uint8)
        labels[t] = lab
    return SyntheticVideo(frames=frames, labels=labels)


_MOTION_PERIOD = 48.0  # frames per unit of the sinusoidal motion (2 s at DAVIS' 24 fps)


# --- writers ---------------------------------------------------------------------------------
def write_synthetic_images(
    out_dir: str | Path, n: int = 10, seed: int = 0, height: int = 240, width: int = 320, *, distractors: int = 0
) -> Path:
    """Write ``n`` images in the Berkeley layout: ``images/%04d.jpg`` + ``masks/%04d.png`` (0/255).

    Image ``i`` depends only on ``(seed, i)``, so a larger ``n`` extends a smaller set.
    ``distractors``: look-alikes per image (see :func:`synthetic_image`).
    """
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        s = synthetic_image(np.random.default_rng([seed, i]), height, width, sample_id=f"{i:04d}", distractors=distractors)
        Image.fromarray(s.image).save(out / "images" / f"{i:04d}.jpg", quality=95)
        Image.fromarray(s.mask.astype(np.uint8) * 255).save(out / "masks" / f"{i:04d}.png")
    return out


def _update_list(path: Path, name: str, lines: list[str]) -> None:
    """Replace ``name``'s lines in a DAVIS list file (create it if absent), keep the others."""
    old = path.read_text().splitlines() if path.is_file() else []
    marker = f"/{name}/"
    keep = [ln for ln in old if ln.strip() and marker not in ln and ln.strip() != name]
    path.write_text("".join(f"{ln}\n" for ln in keep + lines))


def write_synthetic_video(
    out_dir: str | Path,
    name: str = "synthetic",
    n_frames: int = 20,
    seed: int = 0,
    height: int = 480,
    width: int = 854,
    *,
    n_objects: int = 1,
    occluder: bool = True,
    as_davis: bool = True,
    year: int = 2016,
    split: str = "val",
    mp4: bool = False,
    fps: float = 24.0,
) -> Path:
    """Write a synthetic video; returns ``out_dir``.

    ``as_davis``: DAVIS layout ``JPEGImages/480p/<name>/%05d.jpg``,
    ``Annotations/480p/<name>/%05d.png`` and list files. ``year=2016``: grey 0/255 masks of
    object 1 and ``ImageSets/480p/{train,val,trainval}.txt`` lines; ``year=2017``: palette PNGs
    of all object ids and ``ImageSets/2017/<split>.txt``. Otherwise ``<name>/frames/%05d.jpg``
    and ``<name>/masks/%05d.png``. ``mp4``: also ``<out_dir>/<name>.mp4`` (mp4v, lossy).
    """
    from ivos_core.data.video import write_video

    out = Path(out_dir)
    vid = synthetic_video(np.random.default_rng(seed), n_frames, height, width, n_objects, occluder)
    if as_davis:
        fdir = out / "JPEGImages" / "480p" / name
        adir = out / "Annotations" / "480p" / name
    else:
        fdir, adir = out / name / "frames", out / name / "masks"
    fdir.mkdir(parents=True, exist_ok=True)
    adir.mkdir(parents=True, exist_ok=True)
    from ivos_core.export import davis_palette

    palette = davis_palette(256)
    for t in range(n_frames):
        Image.fromarray(vid.frames[t]).save(fdir / f"{t:05d}.jpg", quality=95)
        if as_davis and year == 2017:
            im = Image.fromarray(vid.labels[t])  # L; putpalette turns it into P
            im.putpalette(palette)
            im.save(adir / f"{t:05d}.png")
        else:
            Image.fromarray(vid.masks[t].astype(np.uint8) * 255).save(adir / f"{t:05d}.png")
    if as_davis:
        if year == 2017:
            sets = out / "ImageSets" / "2017"
            sets.mkdir(parents=True, exist_ok=True)
            _update_list(sets / f"{split}.txt", name, [name])
        else:
            sets = out / "ImageSets" / "480p"
            sets.mkdir(parents=True, exist_ok=True)
            lines = [
                f"/JPEGImages/480p/{name}/{t:05d}.jpg /Annotations/480p/{name}/{t:05d}.png"
                for t in range(n_frames)
            ]
            _update_list(sets / f"{split}.txt", name, lines)
            for other in ("train", "val"):
                (sets / f"{other}.txt").touch()
            _update_list(sets / "trainval.txt", name, lines)
    if mp4:
        write_video(out / f"{name}.mp4", vid.frames, fps=fps)
    return out
