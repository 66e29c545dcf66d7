"""OSVOS in the video room: one-shot fine-tuning of a copy of the parent network on the annotated
frames (:meth:`fit`) and propagation through the video (:meth:`propagate`), as a mixin of
:class:`~ivos_core.video.VideoSegmenter` (it reads the segmenter's ``state``, ``options``,
``parent``, ``device``, ``seed``, ``batch_size``, ``finetune_kwargs``, ``frame``/``mask`` and
``_work``). The training loop itself is :func:`ivos_core.video.finetune.finetune`."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from ivos_core.video.finetune import TrainProgressFn, finetune
from ivos_core.video.state import FrameResult, PropagationStats, VideoSegmenterError
from ivos_core.video_prior import FlowPrior

__all__ = ["crf_refine_frame"]  # and the methods of VideoSegmenter


def _band_confidence(prob: np.ndarray, mask: np.ndarray, radius: int) -> float:
    """Mean ``|2p - 1|`` over the band of ``radius`` px around the mask boundary (whole frame if none)."""
    if mask.any() and not mask.all():
        m = mask.astype(np.uint8)
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        band = cv2.dilate(m, k).astype(bool) & ~cv2.erode(m, k).astype(bool)
        vals = prob[band]
    else:
        vals = prob.reshape(-1)
    return float(np.mean(np.abs(2.0 * vals - 1.0))) if vals.size else 1.0


def crf_refine_frame(frame: np.ndarray, prob: np.ndarray, threshold: float, weight: float) -> np.ndarray:
    """Dense-CRF refinement of one propagated frame's probability (``OSVOSOptions.crf_weight``).

    The mask is ``prob > threshold``, not ``> 0.5`` (the shipped threshold is 0.8: the parent
    over-segments), so the CRF's unary is the probability re-centred at the threshold - the
    logits shifted by ``logit(threshold)`` - and the result is shifted back: a pixel the CRF
    leaves at 0.5 stays exactly at the threshold. The CRF
    solves only the uncertain band around the boundary (:func:`ivos_core.interactive.crf.refine`,
    fast mode), so confident pixels far from it keep their probability and a frame costs a
    bounded crop whatever its size.
    """
    from ivos_core.interactive.crf import CRFParams, refine

    shift = math.log(threshold / (1.0 - threshold))
    centred = _shift_logits(prob, -shift)
    return _shift_logits(refine(frame, centred, CRFParams(bilateral_compat=float(weight))), shift)


def _shift_logits(prob: np.ndarray, shift: float) -> np.ndarray:
    """``sigmoid(logit(prob) + shift)`` as float32 (probabilities clipped away from 0 and 1)."""
    p = np.clip(prob.astype(np.float64), 1e-6, 1.0 - 1e-6)
    return (1.0 / (1.0 + np.exp(-(np.log(p / (1.0 - p)) + shift)))).astype(np.float32)


class _OSVOS:
    """Fine-tuning and propagation (methods of :class:`~ivos_core.video.VideoSegmenter`)."""

    def _new_model(self) -> nn.Module:
        if self.parent is not None:
            return copy.deepcopy(self.parent)
        from ivos_core.models.osvos import build_osvos

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return build_osvos("lite")

    def fit(
        self, steps: int | None = None, *, from_parent: bool = True, progress: TrainProgressFn | None = None
    ) -> nn.Module:
        """One-shot fine-tuning on all annotated frames (a copy of the parent; returns it).

        ``steps``: default ``finetune_steps``. ``from_parent=False`` continues from the current
        fine-tuned network (cheaper for progressive refinement; OSVOS restarts from the parent).
        """
        st = self.state
        if not st.annotations:
            raise VideoSegmenterError(st.name, "nothing to fit on: annotate() or set_mask() a frame first")
        idx = st.annotated_frames
        if not any(st.annotations[j].mask.any() for j in idx):
            raise VideoSegmenterError(st.name, f"every annotated mask is empty (frames {idx})", idx[0])
        model = st.model if (not from_parent and st.model is not None) else self._new_model()
        n = self.finetune_steps if steps is None else int(steps)
        kwargs = {"seed": self.seed + st.propagations, **self.options.finetune_kwargs(), **self.finetune_kwargs}
        work_masks = [
            self._work(st.annotations[j].mask.astype(np.float32)) > 0.5 for j in idx
        ]
        finetune(
            model,
            [self._work(st.annotations[j].frame) for j in idx],
            work_masks,
            steps=n,
            device=self.device,
            progress=progress,
            **kwargs,
        )
        st.model = model.eval()
        st.fitted_on = tuple(idx)
        return model

    # ---- propagation ----------------------------------------------------------------------------

    def _infer(self, frames: list[np.ndarray], model: nn.Module | None = None) -> np.ndarray:
        """(B, h, w) float32 logits for a list of (h, w, 3) uint8 frames (working size), by
        ``model`` (default: the fitted network)."""
        model = self.state.model if model is None else model
        assert model is not None
        x = torch.from_numpy(np.stack(frames)).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        with torch.inference_mode():
            if self.options.flip_tta:  # the mirror image's logits, mirrored back, averaged in
                x = torch.cat([x, x.flip(-1)])
            if self.device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    logits = model(x)
            else:
                logits = model(x)
            logits = logits.float()[:, 0]
            if self.options.flip_tta:
                n = len(frames)
                logits = 0.5 * (logits[:n] + logits[n:].flip(-1))
            return logits.cpu().numpy()

    def propagate(
        self, *, start: int = 0, stop: int | None = None, batch_size: int | None = None
    ) -> Iterator[FrameResult]:
        """Segment frames ``start..stop-1`` with the fine-tuned network, ``batch_size`` at a time.

        A generator of :class:`FrameResult` in frame order; each frame's mask and confidence are
        stored as it is yielded (a consumer that stops early leaves the rest as they were).
        Annotated frames keep their annotation (``prob`` = the mask, confidence 1). With
        ``options.prior_weight > 0`` each frame's logits get the previous frame's mask, warped by
        optical flow, as a prior (:class:`~ivos_core.video_prior.FlowPrior`; the chain starts at
        frame ``start - 1``'s mask when it has one, and restarts at every annotated frame).
        Network and prior run at the working resolution (``options.max_side``); probabilities
        are upscaled to the frame size. With ``options.online_steps > 0`` a copy of the network
        keeps adapting to the frames it segments (:class:`~ivos_core.video.online.OnlineAdapter`).
        """
        st = self.state
        if st.model is None:
            raise VideoSegmenterError(st.name, "no fine-tuned network: call fit() before propagate()")
        stop = st.n_frames if stop is None else stop
        if not 0 <= start <= stop <= st.n_frames:
            raise VideoSegmenterError(st.name, f"propagation range {start}..{stop} is outside frames 0..{st.n_frames}")
        bs = self.batch_size if batch_size is None else int(batch_size)
        radius = max(2, round(0.01 * math.hypot(st.height, st.width)))
        st.propagations += 1
        thr = float(self.options.mask_threshold)
        thr_logit = math.log(thr / (1.0 - thr))  # the mask threshold on the logits
        prior = FlowPrior(self.options) if self.options.uses_prior else None
        if prior is not None and start > 0 and (start - 1 in st.annotations or st.masks.has(start - 1)):
            prior.observe(self._work(self.frame(start - 1)), self._work(self.mask(start - 1).astype(np.float32)) > 0.5)
        online = self._online_adapter()
        net = st.model if online is None else online.model
        pending: list[tuple[int, np.ndarray]] = []

        def flush() -> list[FrameResult]:
            frame_of = dict(pending)
            work = {i: self._work(f) for i, f in pending}
            todo = [i for i, _ in pending if i not in st.annotations]
            logits = dict(zip(todo, self._infer([work[i] for i in todo], net))) if todo else {}
            out = []
            for i, _ in pending:
                ann = st.annotations.get(i)
                if ann is not None:
                    prob, conf, annotated = ann.mask.astype(np.float32), 1.0, True
                    if prior is not None:
                        prior.observe(work[i], self._work(prob) > 0.5)
                else:
                    crf = self.options.crf_weight > 0  # with the CRF, the prior observes the refined mask below
                    lg = logits[i] if prior is None else prior.apply(work[i], logits[i], threshold=thr, observe=not crf)
                    if online is not None:
                        online.observe(work[i], lg > thr_logit)
                    prob = 1.0 / (1.0 + np.exp(-np.clip(lg, -30.0, 30.0)))
                    if prob.shape != (st.height, st.width):
                        prob = cv2.resize(prob, (st.width, st.height), interpolation=cv2.INTER_LINEAR)
                    prob = prob.astype(np.float32, copy=False)
                    if crf:
                        prob = crf_refine_frame(frame_of[i], prob, thr, self.options.crf_weight)
                        if prior is not None:
                            prior.observe(work[i], self._work(prob) > thr)
                    conf, annotated = _band_confidence(prob, prob > thr, radius), False
                mask = prob > (0.5 if annotated else thr)
                st.masks[i] = mask
                st.confidence[i] = conf
                out.append(FrameResult(i, prob, mask, conf, annotated))
            pending.clear()
            return out

        for i, f in self._source.iterate(start, stop):  # type: ignore[union-attr]
            pending.append((i, f))
            if sum(1 for j, _ in pending if j not in st.annotations) >= bs:
                yield from flush()
        if pending:
            yield from flush()

    def _online_adapter(self) -> Any:
        """An :class:`~ivos_core.video.online.OnlineAdapter` on a copy of the fitted network, or
        None when ``options.online_steps`` is 0."""
        if self.options.online_steps <= 0:
            return None
        from ivos_core.video.online import OnlineAdapter

        st = self.state
        anchors = [(self._work(st.annotations[j].frame), self._work(st.annotations[j].mask.astype(np.float32)) > 0.5)
                   for j in st.fitted_on if j in st.annotations]
        kwargs = {**self.options.finetune_kwargs(), **self.finetune_kwargs}
        return OnlineAdapter(st.model, self.options, anchors, kwargs, device=self.device,
                             seed=self.seed + st.propagations)

    def propagate_all(self, **kwargs: Any) -> PropagationStats:
        """Run :meth:`propagate` to the end, discarding the per-frame results (masks are stored)."""
        t0 = time.perf_counter()
        n = sum(1 for _ in self.propagate(**kwargs))
        return PropagationStats(n_frames=n, seconds=time.perf_counter() - t0)
