"""OSVOS settings in one place, and the previous-frame prior (MaskTrack-style, no retraining).

:class:`OSVOSOptions` is the ONE frozen record of how OSVOS adapts to a video and propagates:
fine-tuning steps, learning rate, crop, working resolution and the temporal prior. The DAVIS
evaluation (:class:`ivos_core.davis.DavisEvalConfig`), ``ivos eval davis`` and
:class:`ivos_core.video.VideoSegmenter` (hence the replay jobs) read their defaults from
:data:`DEFAULT_OSVOS_OPTIONS`; switching a default there switches it everywhere. A shipped
model's ``model.json`` ``osvos_options`` dict is read with :meth:`OSVOSOptions.from_dict`.

The temporal prior (:class:`FlowPrior`): OSVOS segments every frame independently; MaskTrack
feeds the previous frame's mask to the network. Without retraining the parent, the propagated
mask of frame t-1 is moved to frame t along dense optical flow (forward splatting) (OpenCV DIS or Farneback on a
downscaled grey frame), dilated, softened and added to the network's logits::

    logit_t' = logit_t + w * s_t,   s_t = b * inside_t - outside_t  in [-1, 1]

(``b = prior_inside``) with ``inside_t`` = the blurred warped mask of frame t-1 above its edge (1 deep inside, 0 at the
edge) and ``outside_t`` = 1 beyond a band of ``prior_dilation`` around it: pixels far from where
the object was are pushed to background, pixels inside it towards foreground, and in the band
the network alone decides (a symmetric ``w * (2 * dilated - 1)`` grows the mask by the dilation
every frame: measured on synthetic clips, it drifts). When the warped mask is (nearly) empty
- the object was lost or left the frame - the prior is off for that frame (the network alone
decides, so the object can be found again). ``prior_weight = 0`` is the paper's plain OSVOS.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

import cv2
import numpy as np

__all__ = ["DEFAULT_OSVOS_OPTIONS", "FlowPrior", "OSVOSOptions", "PAPER_OSVOS_OPTIONS", "resize_to_side"]

FlowMethod = Literal["dis", "farneback"]


#: fields added after records were hashed from :meth:`OSVOSOptions.to_dict`, with their neutral value
_LATER_FIELDS: dict[str, Any] = {"finetune_aug": 1.0, "crf_weight": 0.0, "online_steps": 0, "online_every": 8}


@dataclass(frozen=True)
class OSVOSOptions:
    """How OSVOS adapts to one video and propagates (frozen; ``replace()`` to vary).

    ``finetune_steps``: one-shot fine-tuning steps (paper: 500). ``finetune_lr``: Adam learning
    rate (None: :func:`ivos_core.video.finetune.default_lr`). ``finetune_crop``: square crop side
    of the fine-tuning windows in working pixels (None: the whole frame).
    ``max_side``: working resolution - frames whose longer side exceeds it are downscaled for
    fine-tuning and inference, probabilities are upscaled back (None: full resolution).
    ``prior_weight``: weight ``w`` of the previous-frame prior on the logits (0: off, the paper's
    OSVOS). ``prior_inside``: scale of the foreground boost inside the warped mask (0: the prior
    only suppresses what lies beyond the band around it). ``prior_dilation``: dilation radius of the warped mask as a fraction of the working
    frame's diagonal. ``flow``: ``dis`` or ``farneback``; ``flow_max_side``: the longer side the
    flow is computed at. ``prior_min_area``: the prior is skipped when the warped mask covers
    less than this fraction of the frame (object lost). ``flip_tta``: propagate with the mean
    logits of each frame and its mirror image (test-time augmentation; the fit is unchanged, the
    network runs twice per frame, a small share of the cost next to fine-tuning).
    ``freeze_bn``: fine-tune with the parent's BatchNorm statistics frozen (eval-mode BatchNorm)
    instead of re-estimating them from batches of one crop of the annotated frame - with one
    frame the running statistics drift towards that frame's crops. ``mask_threshold``: the
    probability above which a propagated pixel is object (0.5: the logits' sign).
    ``finetune_aug``: strength of the fine-tuning augmentation
    (:meth:`ivos_core.video.finetune.FinetuneConfig.scaled`; 1 = the default ranges, 0 = flips only).
    ``crf_weight``: weight of the appearance (bilateral) kernel of a dense CRF that snaps each
    propagated frame's boundary to image edges (0: off; the network predicts at 1/8 resolution,
    so its boundaries are blurred). The CRF sees the probability re-centred at
    ``mask_threshold`` (a pixel at the threshold is a coin flip to it), and the mask it returns is
    what the prior carries to the next frame (:func:`ivos_core.video.osvos.crf_refine_frame`).
    ``online_steps`` / ``online_every``: online adaptation (OnAVOS, Voigtlaender & Leibe 2017, in
    its simplest form): every ``online_every`` propagated frames the network propagating the video
    trains ``online_steps`` more steps on the latest frame's own confident mask (its eroded mask as
    object, beyond the prior's band as background, the uncertain boundary ignored) mixed with the
    annotated frames, so it follows the object's appearance as it changes (0 steps: off, the
    paper's OSVOS). It works on a copy: the fitted network itself is unchanged
    (:mod:`ivos_core.video.online`).
    """

    finetune_steps: int = 500
    finetune_lr: float | None = None
    finetune_crop: int | None = None
    max_side: int | None = None
    prior_weight: float = 0.0
    prior_inside: float = 1.0
    prior_dilation: float = 0.03
    flow: FlowMethod = "dis"
    flow_max_side: int = 160
    prior_min_area: float = 1e-4
    flip_tta: bool = False
    freeze_bn: bool = False
    mask_threshold: float = 0.5
    finetune_aug: float = 1.0
    crf_weight: float = 0.0
    online_steps: int = 0
    online_every: int = 8

    def __post_init__(self) -> None:
        if not 0 <= float(self.finetune_aug) <= 4:
            raise ValueError(f"OSVOSOptions.finetune_aug must be in [0, 4], got {self.finetune_aug}")
        if int(self.finetune_steps) < 0:
            raise ValueError(f"OSVOSOptions.finetune_steps must be >= 0, got {self.finetune_steps}")
        if self.finetune_lr is not None and not float(self.finetune_lr) > 0:
            raise ValueError(f"OSVOSOptions.finetune_lr must be > 0, got {self.finetune_lr}")
        if self.finetune_crop is not None and int(self.finetune_crop) < 32:
            raise ValueError(f"OSVOSOptions.finetune_crop must be >= 32 pixels, got {self.finetune_crop}")
        if self.max_side is not None and int(self.max_side) < 32:
            raise ValueError(f"OSVOSOptions.max_side must be >= 32 pixels, got {self.max_side}")
        if not (math.isfinite(self.prior_weight) and self.prior_weight >= 0):
            raise ValueError(f"OSVOSOptions.prior_weight must be >= 0, got {self.prior_weight}")
        if not 0 <= self.prior_inside <= 1:
            raise ValueError(f"OSVOSOptions.prior_inside must be in [0, 1], got {self.prior_inside}")
        if not 0 <= self.prior_dilation <= 0.5:
            raise ValueError(f"OSVOSOptions.prior_dilation must be in [0, 0.5], got {self.prior_dilation}")
        if self.flow not in ("dis", "farneback"):
            raise ValueError(f"OSVOSOptions.flow must be 'dis' or 'farneback', got {self.flow!r}")
        if int(self.flow_max_side) < 16:
            raise ValueError(f"OSVOSOptions.flow_max_side must be >= 16, got {self.flow_max_side}")
        if not 0 < self.mask_threshold < 1:
            raise ValueError(f"OSVOSOptions.mask_threshold must be in (0, 1), got {self.mask_threshold}")
        if not (math.isfinite(self.crf_weight) and 0 <= self.crf_weight <= 50):
            raise ValueError(f"OSVOSOptions.crf_weight must be in [0, 50], got {self.crf_weight}")
        if int(self.online_steps) < 0 or int(self.online_every) < 1:
            raise ValueError(f"OSVOSOptions.online_steps must be >= 0 and online_every >= 1, got "
                             f"{self.online_steps} and {self.online_every}")
        if not 0 <= self.prior_min_area < 1:
            raise ValueError(f"OSVOSOptions.prior_min_area must be in [0, 1), got {self.prior_min_area}")

    @property
    def uses_prior(self) -> bool:
        return self.prior_weight > 0

    def finetune_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`ivos_core.video.finetune.finetune` these options set."""
        kw: dict[str, Any] = {}
        if self.finetune_lr is not None:
            kw["lr"] = float(self.finetune_lr)
        if self.finetune_crop is not None:
            kw["crop"] = (int(self.finetune_crop), int(self.finetune_crop))
        if self.freeze_bn:
            kw["freeze_bn"] = True
        if float(self.finetune_aug) != 1.0:
            from ivos_core.video.finetune import FinetuneConfig

            kw["augment"] = FinetuneConfig.scaled(self.finetune_aug)
        return kw

    def to_dict(self) -> dict[str, Any]:
        """All fields, except those added later while at the value they had before they existed
        (:data:`_LATER_FIELDS`), so the records, caches and model versions hashed from this dict
        stay what they were."""
        d = asdict(self)
        for key, default in _LATER_FIELDS.items():
            if d.get(key) == default:
                d.pop(key)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, *, base: "OSVOSOptions | None" = None) -> "OSVOSOptions":
        """Options from a plain dict (e.g. ``model.json`` ``osvos_options``); missing keys come
        from ``base`` (default :data:`DEFAULT_OSVOS_OPTIONS`); unknown keys raise ValueError.
        A complete dict (every field but those of :data:`_LATER_FIELDS`: what :meth:`to_dict`
        writes, or wrote before they existed) lacks a later field only at its neutral value."""
        d = dict(d or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown OSVOS options {unknown}; allowed: {', '.join(sorted(names))}")
        if names - set(_LATER_FIELDS) <= set(d):
            d = {**_LATER_FIELDS, **d}
        return replace(base if base is not None else DEFAULT_OSVOS_OPTIONS, **d)

    def label(self) -> str:
        """A short name for tables: ``steps100-lr0.001-side320-prior2``."""
        parts = [f"steps{self.finetune_steps}"]
        if self.finetune_lr is not None:
            parts.append(f"lr{self.finetune_lr:g}")
        if self.finetune_crop is not None:
            parts.append(f"crop{self.finetune_crop}")
        if self.max_side is not None:
            parts.append(f"side{self.max_side}")
        if self.freeze_bn:
            parts.append("bnfrozen")
        if float(self.finetune_aug) != 1.0:
            parts.append(f"aug{self.finetune_aug:g}")
        if self.uses_prior:
            parts.append(f"prior{self.prior_weight:g}" + (f"in{self.prior_inside:g}" if self.prior_inside != 1 else "")
                         + (f"dil{self.prior_dilation:g}" if self.prior_dilation != 0.03 else ""))
        else:
            parts.append("noprior")
        if self.flip_tta:
            parts.append("flip")
        if self.mask_threshold != 0.5:
            parts.append(f"thr{self.mask_threshold:g}")
        if self.uses_prior and self.flow_max_side != 160:
            parts.append(f"flow{self.flow_max_side}")
        if self.crf_weight > 0:
            parts.append(f"crf{self.crf_weight:g}")
        if self.online_steps > 0:
            parts.append(f"online{self.online_steps}every{self.online_every}")
        return "-".join(parts)


#: The paper's OSVOS: 500 fine-tuning steps on the full frame, no temporal cue.
PAPER_OSVOS_OPTIONS = OSVOSOptions()
#: The defaults every entry point reads (evaluation, CLI, VideoSegmenter, jobs): the configuration
#: chosen on the video DEVELOPMENT sequences hockey, lucia, surf. First (docs/results/dev/
#: video-selection-v2.json, 36 candidates): 1600 steps at lr 5e-3 with the suppressing prior, mean J
#: 0.847 (0.776 for the earlier 200-step choice). Then, with the warm-restarted parent and frames
#: loaded at 480 px (docs/results/dev/video-selection-osvos-side*.json): OSVOS working at 480 px
#: (the parent learned objects at 0.5-1.0 of 480p; 320 px is 0.375) lifts mean J from 0.854 to
#: 0.867, but costs 104 s per 50-frame 854x480 clip; fine-tuning on 320 px crops of the 480 px
#: frames for 1200 steps keeps it within the 60 s budget (53.7 s on the loaded build machine,
#: docs/results/bench/video-pipeline-side*-2026-12-01.json) at mean J 0.860 - the best measured
#: within budget. Round 4 (docs/results/dev/video-selection-osvos-flip.json): propagating with
#: mirror-averaged logits (flip_tta) raised mean J to 0.865 (higher on all three sequences) for
#: about 1 s more per clip. Round 5 (docs/results/dev/video-selection-osvos-threshold.json, seeds 0
#: and 1): the class-balanced loss leaves the fine-tuned network's probabilities high around the
#: object, and a mask threshold of 0.8 instead of 0.5 lifted mean J from 0.868 to 0.881 (0.7-0.85
#: all within 0.002 of it; frozen BatchNorm statistics lost 0.026 and a wider prior band was noise:
#: video-selection-osvos-bn-dilation.json). Round 7 (docs/results/dev/video-selection-folds.json): the
#: three dev sequences plus two folds of five training sequences, each scored with a parent trained
#: without its fold (13 sequences, seeds 0 and 1; 30 propagation variants of one fit): the prior's
#: band 0.06 instead of 0.03 had the highest mean J (0.7485 vs 0.7423; paired over sequences +0.006
#: [-0.003, +0.017], 6 higher / 6 lower: within noise, chosen by the declared rule), and the threshold
#: 0.8 and prior 10:0 held. Round 8 (docs/results/dev/video-selection-folds-aug.json, same sequences,
#: seeds and rule): fine-tuning augmentation at half the default ranges, 0.7535 against 0.7485 (+0.005
#: [-0.018, +0.029], 7 higher / 6 lower: noise, chosen by the rule); twice the ranges lost (0.731).
#: Round 9 (docs/results/dev/video-selection-folds-crf.json, same sequences, seeds and rule): a dense
#: CRF on each propagated frame at appearance weight 2 had the highest mean J, 0.7616 against 0.7535
#: (+0.008 [-0.008, +0.024]; weight 4 0.7595, 8 0.7323), but scored by J&F, DAVIS's own measure
#: (docs/results/dev/video-selection-folds-crf-jf.json, stage 7), every weight loses: F falls by
#: 0.04-0.05 (J&F 0.7811 without, 0.7628 at weight 2). So no CRF (crf_weight 0). Rounds 10-11
#: (docs/results/dev/video-selection-folds-online*.json, same 13 sequences, rule mean J&F): online
#: adaptation, 25 steps every 8 propagated frames, J&F 0.803 against 0.783 at seed 0 (+0.020 [+0.004,
#: +0.040], 9 higher / 4 lower) and +0.018 [+0.001, +0.037] over seeds 0 and 1; 25 every 4 and 50 every
#: 8 scored about as well but cost more than the 60 s budget allows
#: (docs/results/bench/video-pipeline-online-2026-12-0*.json).
#: The paper's OSVOS stays available as PAPER_OSVOS_OPTIONS.
DEFAULT_OSVOS_OPTIONS = OSVOSOptions(
    finetune_steps=1200, finetune_lr=5e-3, finetune_crop=320, max_side=480, prior_weight=10.0, prior_inside=0.0,
    prior_dilation=0.06, flip_tta=True, mask_threshold=0.8, finetune_aug=0.5, online_steps=25, online_every=8,
)


def resize_to_side(image: np.ndarray, max_side: int | None, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """``image`` downscaled so its longer side is at most ``max_side`` (unchanged if None/smaller)."""
    if max_side is None or max(image.shape[:2]) <= max_side:
        return image
    s = max_side / max(image.shape[:2])
    size = (max(1, round(image.shape[1] * s)), max(1, round(image.shape[0] * s)))
    return cv2.resize(image, size, interpolation=interpolation)


class FlowPrior:
    """The previous-frame prior of one propagation pass (stateful: frames must come in order).

    ``apply(frame, logits) -> logits'`` for a propagated frame; ``observe(frame, mask)`` for a
    frame whose mask is known (an annotation), which restarts the chain. Frames are (H, W, 3)
    uint8 RGB, logits (H, W) float32, all at the same (working) size.
    """

    def __init__(self, options: OSVOSOptions) -> None:
        self.options = options
        self._grey: np.ndarray | None = None  # previous frame, grey, at flow size
        self._mask: np.ndarray | None = None  # previous mask, float32, at flow size
        self._dis = None
        self.skipped = 0  # frames where the prior was off (no previous mask / object lost)

    def reset(self) -> None:
        self._grey, self._mask = None, None

    def _small(self, frame: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        return resize_to_side(grey, self.options.flow_max_side)

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Dense flow (h, w, 2) from grey ``a`` to grey ``b``: ``a(x) ~ b(x + flow(x))``."""
        if self.options.flow == "dis":
            if self._dis is None:
                self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
            return self._dis.calc(a, b, None)
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)

    def _splat(self, cur: np.ndarray) -> np.ndarray:
        """The previous mask moved to ``cur`` along the forward flow (prev -> cur), at flow size.

        Forward splatting, not backward warping: a backward warp copies the mask onto any pixel
        of the new frame that LOOKS like the object (a look-alike entering the scene), which is
        exactly what the prior must suppress. Splatted pixels are closed with a 3x3 kernel.
        """
        assert self._grey is not None and self._mask is not None
        flow = self._flow(self._grey, cur)
        h, w = cur.shape
        ys, xs = np.nonzero(self._mask > 0.5)
        out = np.zeros((h, w), np.uint8)
        if len(ys):
            tx = np.rint(xs + flow[ys, xs, 0]).astype(np.int64)
            ty = np.rint(ys + flow[ys, xs, 1]).astype(np.int64)
            ok = (tx >= 0) & (tx < w) & (ty >= 0) & (ty < h)
            out[ty[ok], tx[ok]] = 1
            out = cv2.morphologyEx(out, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
        return out.astype(np.float32)

    def warped_prior(self, frame: np.ndarray) -> np.ndarray | None:
        """The prior (H, W) float32 in [-1, 1] for ``frame``, or None when off.

        +1 deep inside the moved mask (falling to 0 at its edge), 0 in the ring up to
        ``prior_dilation`` beyond the edge (the network decides there), -1 further out. The
        boost stops at the edge so the mask cannot grow by the dilation from frame to frame.
        """
        if self._grey is None or self._mask is None:
            return None
        cur = self._small(frame)
        if cur.shape != self._grey.shape:
            return None
        warped = self._splat(cur)
        H, W = frame.shape[:2]
        soft = cv2.resize(warped, (W, H), interpolation=cv2.INTER_LINEAR)
        big = soft > 0.5
        if big.mean() < max(self.options.prior_min_area, 1.0 / big.size):
            return None
        r = max(1, round(self.options.prior_dilation * math.hypot(H, W)))
        sigma = max(0.5, r / 2)
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        band = cv2.GaussianBlur(cv2.dilate(big.astype(np.float32), k), (0, 0), sigmaX=sigma)
        inside = np.clip(2.0 * cv2.GaussianBlur(big.astype(np.float32), (0, 0), sigmaX=sigma) - 1.0, 0.0, 1.0)
        outside = np.clip(1.0 - 2.0 * band, 0.0, 1.0)
        return (self.options.prior_inside * inside - outside).astype(np.float32)

    def observe(self, frame: np.ndarray, mask: np.ndarray) -> None:
        """Frame ``frame``'s mask is ``mask`` (H, W) bool: the next frame's prior warps it."""
        self._grey = self._small(frame)
        h, w = self._grey.shape
        self._mask = cv2.resize(np.asarray(mask, np.float32), (w, h), interpolation=cv2.INTER_AREA)

    def apply(self, frame: np.ndarray, logits: np.ndarray, threshold: float = 0.5, *, observe: bool = True) -> np.ndarray:
        """``logits + w * (2 s - 1)`` (``logits`` unchanged when the prior is off), then
        :meth:`observe` of the resulting mask (probability above ``threshold``) unless ``observe``
        is False (the caller refines the mask first and observes that)."""
        out = logits
        if self.options.uses_prior:
            s = self.warped_prior(frame)
            if s is None:
                self.skipped += 1
            else:
                out = (logits + self.options.prior_weight * s).astype(np.float32)
        if observe:
            self.observe(frame, out > math.log(threshold / (1.0 - threshold)))
        return out
