"""Training examples for the interactive network: augmentation + simulated user inputs.

:class:`InteractiveTrainSet` draws one example per key ``(step, j)`` (``j`` = position in the
batch) from a list of sample sources - anything with ``len()`` and ``[i] -> Sample`` such as
:class:`~ivos_core.data.bsds.BSDSRegions`, DAVIS training frames, or :class:`SyntheticSource`.
The random generator is seeded with ``(seed, step, j)``, so a resumed run sees exactly the batches
of an uninterrupted one, whatever the worker count.

One example:

1. pick a source uniformly (or by ``weights``) and a sample in it; broken samples
   (:class:`~ivos_core.data.common.SampleError`, unreadable files, empty masks) are skipped and
   counted in ``TrainItem.skipped``;
2. with ``p_composite`` paste the object onto another sample's image (a copy-paste synthetic
   composite: same mask, new background);
3. resize so the longer side is ``input_size`` x U(scale_range), crop ``crop_size`` around a random
   object pixel (padding where the image is smaller; padding has loss weight 0), flip, colour jitter;
4. simulate inputs (§2.1.1): positive/negative clicks (:func:`sample_training_inputs`), with
   ``p_stroke`` a positive stroke instead of the positive clicks (§4.1);
5. stage 2 only: a previous mask - none, a perturbed ground truth (erode/dilate/blur/blobs/shift),
   or the frozen stage-1 model's prediction - and ``N_corr`` correction clicks (or, with
   ``p_stroke``, a correction stroke) in its error regions;
6. encode (:func:`ivos_core.interactive.encoding.encode`) and stack the network input.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import cv2
import numpy as np
import torch
import torch.nn as nn

from ivos_core.data.common import Sample, SampleError
from ivos_core.interactive.encoding import encode
from ivos_core.interactions import Click, Stroke
from ivos_core.models.interactive import ModelSpec, assemble_input, normalize_rgb
from ivos_core.users.samplers import sample_correction_clicks, sample_training_inputs
from ivos_core.users.strokes import sample_correction_stroke
from ivos_core.training.config import TrainConfig

MIN_OBJECT_PIXELS = 24
MAX_ATTEMPTS = 20
_BROKEN = (SampleError, OSError, ValueError, KeyError, IndexError, cv2.error)


class TrainItem(NamedTuple):
    """One example: ``inputs`` (C, S, S) float32, ``target`` (1, S, S) 0/1, ``weight`` (1, S, S)
    (0 on ignore and padding), ``skipped`` = broken samples passed over to get it."""

    inputs: torch.Tensor
    target: torch.Tensor
    weight: torch.Tensor
    skipped: torch.Tensor


class SyntheticSource:
    """``n`` deterministic synthetic samples (textured object on textured background)."""

    def __init__(self, n: int = 1000, height: int = 240, width: int = 320, *, seed: int = 0) -> None:
        self.n, self.height, self.width, self.seed = n, height, width, seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Sample:
        from ivos_core.data.synthetic import synthetic_image

        if not 0 <= i < self.n:
            raise IndexError(i)
        return synthetic_image(np.random.default_rng([self.seed, i]), self.height, self.width, sample_id=f"synthetic/{i}")


class CachedSource:
    """Keep loaded samples in memory, downscaled to ``max_side`` (decode JPEG/.mat once per run)."""

    def __init__(self, source: Sequence[Sample], *, max_side: int = 640) -> None:
        self.source, self.max_side = source, max_side
        self._cache: dict[int, Sample] = {}

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> Sample:
        hit = self._cache.get(i)
        if hit is None:
            s = self.source[i]
            h, w = s.image.shape[:2]
            f = self.max_side / max(h, w)
            if f < 1:
                size = (max(1, round(w * f)), max(1, round(h * f)))
                img = cv2.resize(s.image, size, interpolation=cv2.INTER_AREA)
                mask = cv2.resize(s.mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
                ign = None
                if s.ignore is not None:
                    ign = cv2.resize(s.ignore.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
                s = Sample(s.sample_id, img, mask, ign, s.source, s.meta)
            self._cache[i] = hit = s
        return hit


def heavy_error(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A propagated mask gone wrong (H, W) bool: a large part of the object cut off along a random
    line, or a distractor blob of the object's size added elsewhere - the worst frames a user
    corrects in a video, which :func:`perturb_mask`'s boundary noise never produces."""
    m = mask.astype(bool).copy()
    h, w = m.shape
    ys, xs = np.nonzero(m)
    if len(ys) == 0:
        return m
    if rng.random() < 0.5:  # cut: drop the object's pixels on one side of a line through it
        i = int(rng.integers(len(ys)))
        angle = float(rng.uniform(0, 2 * np.pi))
        yy, xx = np.mgrid[0:h, 0:w]
        side = (xx - xs[i]) * np.cos(angle) + (yy - ys[i]) * np.sin(angle) > 0
        return m & ~side
    ax = (max(3, int((xs.max() - xs.min()) * rng.uniform(0.3, 0.7))), max(3, int((ys.max() - ys.min()) * rng.uniform(0.3, 0.7))))
    centre = (int(rng.integers(w)), int(rng.integers(h)))
    blob = np.zeros((h, w), np.uint8)
    cv2.ellipse(blob, centre, ax, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return m | blob.astype(bool)


def perturb_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible wrong previous mask from the ground truth (H, W) bool -> (H, W) bool.

    One or two of: dilate / erode (3-15 px), coarse re-sampling (blur of a 1/4-1/12 resolution
    prediction), random blobs added or cut near the boundary, a shift of a few pixels.
    """
    m = mask.astype(np.uint8)
    h, w = m.shape
    for _ in range(int(rng.integers(1, 3))):
        op = int(rng.integers(5))
        if op in (0, 1):
            k = int(rng.integers(1, 8)) * 2 + 1
            ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
            m = cv2.dilate(m, ker) if op == 0 else cv2.erode(m, ker)
        elif op == 2:
            f = float(rng.uniform(1 / 12, 1 / 4))
            small = cv2.resize(m.astype(np.float32), (max(2, round(w * f)), max(2, round(h * f))), interpolation=cv2.INTER_AREA)
            m = (cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) > rng.uniform(0.35, 0.65)).astype(np.uint8)
        elif op == 3:
            edge = m ^ cv2.erode(m, np.ones((3, 3), np.uint8))
            ys, xs = np.nonzero(edge)
            for _ in range(int(rng.integers(1, 5))):
                if len(ys) == 0:
                    break
                i = int(rng.integers(len(ys)))
                ax = (int(rng.integers(4, max(5, w // 8))), int(rng.integers(4, max(5, h // 8))))
                cv2.ellipse(m, (int(xs[i]), int(ys[i])), ax, float(rng.uniform(0, 180)), 0, 360, int(rng.integers(2)), -1)
        else:
            dx, dy = (int(v) for v in rng.integers(-8, 9, size=2))
            m = cv2.warpAffine(m, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h), flags=cv2.INTER_NEAREST)
    return m.astype(bool)


def _jitter(img: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Brightness/contrast/saturation/hue jitter of an RGB uint8 image."""
    if amount <= 0:
        return img
    f = img.astype(np.float32)
    grey = f.mean(axis=2, keepdims=True)
    sat = 1 + rng.uniform(-2 * amount, 2 * amount)
    f = grey + (f - grey) * sat
    contrast = 1 + rng.uniform(-amount, amount)
    f = (f - f.mean()) * contrast + f.mean() + rng.uniform(-amount, amount) * 255
    f += rng.uniform(-amount * 40, amount * 40, size=3).astype(np.float32)  # colour cast
    return np.clip(f, 0, 255).astype(np.uint8)


class InteractiveTrainSet(torch.utils.data.Dataset):
    """Examples keyed by ``(step, j)``; see the module docstring. ``stage`` is 1 or 2."""

    def __init__(
        self,
        sources: Sequence[Sequence[Sample]],
        config: TrainConfig,
        spec: ModelSpec,
        *,
        stage: int = 1,
        weights: Sequence[float] | None = None,
        stage1_model: nn.Module | None = None,
    ) -> None:
        if not sources or all(len(s) == 0 for s in sources):
            raise ValueError("InteractiveTrainSet needs at least one non-empty sample source")
        self.sources = list(sources)
        self.config = config
        self.spec = spec
        self.stage = stage
        w = np.array(weights if weights is not None else [1.0] * len(self.sources), np.float64)
        w[[len(s) == 0 for s in self.sources]] = 0
        if w.shape != (len(self.sources),) or w.sum() <= 0:
            raise ValueError(f"weights must give one positive weight per source, got {weights}")
        self.weights = w / w.sum()
        self.stage1_model = stage1_model
        self.skipped = 0  # broken samples passed over in this process

    def __len__(self) -> int:  # keys are (step, j); the sampler decides how many
        return 2**62

    # ---- loading -----------------------------------------------------------------------------
    def _draw(self, rng: np.random.Generator) -> Sample:
        k = int(rng.choice(len(self.sources), p=self.weights))
        src = self.sources[k]
        s = src[int(rng.integers(len(src)))]
        if s.image.ndim != 3 or s.image.shape[2] != 3 or s.mask.shape != s.image.shape[:2]:
            raise ValueError(f"sample {s.sample_id}: image {s.image.shape} / mask {s.mask.shape} do not fit")
        if int(s.mask.sum()) < MIN_OBJECT_PIXELS:
            raise ValueError(f"sample {s.sample_id}: object has < {MIN_OBJECT_PIXELS} pixels")
        return s

    def _composite(self, s: Sample, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        img, mask, ign = s.image, s.mask, s.ignore
        if rng.random() >= self.config.p_composite:
            return img, mask, ign
        bg = self._draw(rng).image
        h, w = mask.shape
        bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)
        alpha = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0)[..., None]
        out = (img.astype(np.float32) * alpha + bg.astype(np.float32) * (1 - alpha)).astype(np.uint8)
        return out, mask, None

    def _crop(
        self, img: np.ndarray, mask: np.ndarray, ign: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cfg = self.config
        S = cfg.crop_size
        h, w = mask.shape
        f = cfg.input_size * rng.uniform(*cfg.scale_range) / max(h, w)
        nh, nw = max(8, round(h * f)), max(8, round(w * f))
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
        mask = cv2.resize(mask.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST).astype(bool)
        valid = np.ones((nh, nw), bool)
        if ign is not None:
            valid &= ~cv2.resize(ign.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST).astype(bool)
        ys, xs = np.nonzero(mask)
        if len(ys) < MIN_OBJECT_PIXELS:
            raise ValueError("object vanished after resizing")
        i = int(rng.integers(len(ys)))
        cy = int(ys[i]) + int(rng.integers(-S // 4, S // 4 + 1))
        cx = int(xs[i]) + int(rng.integers(-S // 4, S // 4 + 1))
        y0 = min(max(cy - S // 2, 0), max(nh - S, 0))
        x0 = min(max(cx - S // 2, 0), max(nw - S, 0))
        ci = np.empty((S, S, 3), np.uint8)
        ci[:] = np.array([124, 116, 104], np.uint8)  # padding: the mean colour (normalises to ~0)
        cm = np.zeros((S, S), bool)
        cv_ = np.zeros((S, S), bool)
        sub = (slice(y0, y0 + S), slice(x0, x0 + S))
        ph, pw = img[sub].shape[:2]
        ci[:ph, :pw], cm[:ph, :pw], cv_[:ph, :pw] = img[sub], mask[sub], valid[sub]
        if int(cm.sum()) < MIN_OBJECT_PIXELS:
            raise ValueError("object not in the crop")
        if rng.random() < cfg.p_flip:
            ci, cm, cv_ = ci[:, ::-1], cm[:, ::-1], cv_[:, ::-1]
        ci = _jitter(np.ascontiguousarray(ci), rng, cfg.colour_jitter)
        return ci, np.ascontiguousarray(cm), np.ascontiguousarray(cv_)

    # ---- inputs ------------------------------------------------------------------------------
    def _initial_inputs(self, gt: np.ndarray, rng: np.random.Generator) -> list[Click | Stroke]:
        clicks: list[Click | Stroke] = list(sample_training_inputs(gt, rng))
        if rng.random() < self.config.p_stroke:
            stroke = sample_correction_stroke(gt, np.zeros_like(gt), rng)
            if stroke is not None:
                clicks = [c for c in clicks if not c.positive] + [stroke]
        if not any(c.positive for c in clicks):
            raise ValueError("no positive input could be sampled")
        return clicks

    def _encode(self, inputs: Sequence[Click | Stroke], S: int) -> np.ndarray:
        return encode(inputs, S, S, self.spec.encoding, **self.config.encoding_kw)

    def _stage1_prediction(self, rgb: torch.Tensor, inputs: Sequence[Click | Stroke], S: int) -> np.ndarray:
        assert self.stage1_model is not None
        x = assemble_input(rgb, self._encode(inputs, S), None, self.spec)[None]
        with torch.inference_mode():
            return (self.stage1_model(x)[0, 0] > 0).numpy()

    def _corrections(self, gt: np.ndarray, prev: np.ndarray, valid: np.ndarray, rng: np.random.Generator) -> list[Click | Stroke]:
        ignore = ~valid
        if rng.random() < self.config.p_stroke:
            st = sample_correction_stroke(gt, prev, rng, ignore=ignore)
            return [st] if st is not None else []
        n = int(rng.choice(self.config.n_corr_choices))
        return list(sample_correction_clicks(gt, prev, n, rng, ignore=ignore))

    # ---- one example -------------------------------------------------------------------------
    def example(self, step: int, j: int) -> TrainItem:
        """The example at batch position ``j`` of ``step`` (deterministic)."""
        S = self.config.crop_size
        skipped = 0
        last: Exception | None = None
        for attempt in range(MAX_ATTEMPTS):
            rng = np.random.default_rng([self.config.seed, step, j, attempt])
            try:
                s = self._draw(rng)
                img, mask, ign = self._composite(s, rng)
                ci, gt, valid = self._crop(img, mask, ign, rng)
                inputs = self._initial_inputs(gt, rng)
            except _BROKEN as exc:
                skipped += 1
                last = exc
                continue
            break
        else:
            raise RuntimeError(f"no usable training sample in {MAX_ATTEMPTS} attempts (last error: {last})")
        self.skipped += skipped
        rgb = normalize_rgb(ci)
        prev: np.ndarray | None = None
        if self.stage == 2 and self.spec.use_mask:
            mode = int(rng.choice(3, p=np.asarray(self.config.stage2_mix) / sum(self.config.stage2_mix)))
            if mode == 2 and self.stage1_model is None:
                mode = 1
            propagated = mode == 1 and self.config.p_corrections_only > 0 and rng.random() < self.config.p_corrections_only
            if propagated:
                prev = perturb_mask(heavy_error(gt, rng), rng)
                fixes = self._corrections(gt, prev, valid, rng)
                inputs = fixes if fixes else inputs + fixes
            elif mode == 1:
                prev = perturb_mask(gt, rng)
            elif mode == 2:
                prev = self._stage1_prediction(rgb, inputs, S)
            if prev is not None and not propagated:
                inputs = inputs + self._corrections(gt, prev, valid, rng)
        elif self.stage == 2:  # no mask channel: corrections against the stage-1 prediction only
            if self.stage1_model is not None and rng.random() < 0.5:
                pred = self._stage1_prediction(rgb, inputs, S)
                inputs = inputs + self._corrections(gt, pred, valid, rng)
        x = assemble_input(rgb, self._encode(inputs, S), None if prev is None else prev.astype(np.float32), self.spec)
        return TrainItem(
            inputs=x,
            target=torch.from_numpy(gt.astype(np.float32))[None],
            weight=torch.from_numpy(valid.astype(np.float32))[None],
            skipped=torch.tensor(skipped),
        )

    def __getitem__(self, key: tuple[int, int]) -> TrainItem:
        step, j = key
        return self.example(int(step), int(j))


class StepBatchSampler(torch.utils.data.Sampler):
    """Yields ``[(step, 0), ..., (step, B-1)]`` for ``step`` in ``[start, stop)``."""

    def __init__(self, start: int, stop: int, batch_size: int) -> None:
        self.start, self.stop, self.batch_size = start, stop, batch_size

    def __iter__(self):
        for step in range(self.start, self.stop):
            yield [(step, j) for j in range(self.batch_size)]

    def __len__(self) -> int:
        return max(0, self.stop - self.start)
