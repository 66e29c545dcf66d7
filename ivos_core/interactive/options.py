"""Every inference setting of the interactive segmenter in one frozen record.

One place for the settings means one place for their checks, and one list of what a model
version's ``model.json`` (``interactive_options``) may set: the fields themselves, not a list kept
by hand beside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, Mapping

__all__ = ["MODEL_OPTION_NAMES", "OPTION_NAMES", "SegmenterOptions"]


@dataclass(frozen=True)
class SegmenterOptions:
    """How :class:`ivos_core.interactive.segmenter.InteractiveSegmenter` turns logits into a mask.

    input_size: longer side of the image inside the network (None: the model's default, e.g.
        384 for ``lite``; native size for ``paper``).
    crf / crf_mode: refine the probability with a dense CRF (``fast``: uncertain band only).
    crf_weight: the CRF's appearance (bilateral) kernel weight (``CRFParams.bilateral_compat``;
        4 = DeepLab's kernels at a lower weight); chosen on COCO_MVal dev, never on a test set.
    hard_constraints: clamp user-labelled pixels (False: the network's output as is).
    threshold: probability at or above which a pixel is in the mask.
    click_radius: radius in image pixels of the clamped disk around each click.
    encoding_kw: options of :func:`ivos_core.interactive.encoding.encode`, as in training.
    amp / channels_last: bf16 autocast and channels-last memory (None: on CUDA only; on the idle
        2-core build CPU ``lite`` predicts at 854x480 in 38 ms contiguous vs 47 ms channels-last).
    zoom_in / zoom_expand / zoom_min_size: from the second input on, run the network on a crop
        around the current object (grown by ``zoom_expand``, at least ``zoom_min_size`` px a side),
        so a small network sees the boundary at a higher resolution (RITM/f-BRS zoom-in).
    zoom_from: the input count from which the zoom-in applies (2: RITM's; later, the crop is
        drawn around a mask that several clicks have already shaped, not the first click's guess).
    flip_tta: average the logits of the image and its mirror image (twice the compute).
    tta_sizes: further working sizes (longer side, px) whose logits are averaged with those at
        ``input_size`` (multi-scale test-time augmentation: a small network sees fine boundaries
        larger and the whole object smaller; each size costs one more forward, with ``flip_tta``
        two). Empty: one size.
    colour_weight: weight of the per-image colour model's log-odds added to the logit before the
        CRF (0 = off); chosen per checkpoint on a development set.
    keep_clicked: keep only the mask's connected components that hold a positive click.
    grabcut_band / grabcut_iterations: refine the boundary with GrabCut in a band of this fraction
        of the image diagonal (None = off), after the CRF, before the clamping.
    grabcut_max_side: run that GrabCut on the object's crop downscaled to this longer side (None =
        full resolution): a speed setting for the annotation app (the certain pixels stay exact).
    local_radius: when a call corrects an existing mask (``predict(..., local=True)``: a propagated
        video mask), the new mask may differ from it only within this fraction of the image
        diagonal around the inputs (None = anywhere): one click fixes a region and cannot undo the
        rest of a mostly right mask (FocalClick's local refinement, in its simplest form).
    click_focus: from the second input on (a ``prev_mask`` given, not a ``local`` call), the new
        mask keeps only the changes that are connected to the newest input: connected regions of
        (new XOR previous mask) that reach within this fraction of the diagonal of it; every
        other change reverts to the previous mask (None = off). One click then fixes the error
        it was placed on, whatever its size, and cannot undo a distant part already right.
    """

    input_size: int | None = None
    crf: bool = False
    crf_mode: Literal["fast", "full"] = "fast"
    crf_weight: float = 4.0
    hard_constraints: bool = True
    threshold: float = 0.5
    click_radius: int = 3
    encoding_kw: Mapping[str, float] = field(default_factory=dict)
    amp: bool | None = None
    channels_last: bool | None = None
    zoom_in: bool = False
    zoom_expand: float = 1.4
    zoom_min_size: int = 100
    zoom_from: int = 2
    flip_tta: bool = False
    tta_sizes: tuple[int, ...] = ()
    colour_weight: float = 0.0
    keep_clicked: bool = False
    grabcut_band: float | None = None
    grabcut_iterations: int = 3
    grabcut_max_side: int | None = None
    local_radius: float | None = None
    click_focus: float | None = None

    def __post_init__(self) -> None:
        if self.crf_mode not in ("fast", "full"):
            raise ValueError(f"crf_mode must be 'fast' or 'full', got {self.crf_mode!r}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must lie in (0, 1), got {self.threshold}")
        if self.input_size is not None and self.input_size < 32:
            raise ValueError(f"input_size must be >= 32 pixels (or None), got {self.input_size}")
        if not (0 <= self.crf_weight <= 50 and math.isfinite(self.crf_weight)):
            raise ValueError(f"crf_weight must be in [0, 50], got {self.crf_weight}")
        if self.zoom_from < 2:
            raise ValueError(f"zoom_from must be >= 2 (the first input has no object to zoom on), got {self.zoom_from}")
        if self.zoom_expand < 1.0:
            raise ValueError(f"zoom_expand must be >= 1, got {self.zoom_expand}")
        if not (self.colour_weight >= 0 and math.isfinite(self.colour_weight)):
            raise ValueError(f"colour_weight must be a finite number >= 0, got {self.colour_weight}")
        band = self.grabcut_band
        if band is not None and not (band > 0 and math.isfinite(band)):
            raise ValueError(f"grabcut_band must be a positive fraction of the diagonal or None, got {band}")
        if self.local_radius is not None and not (self.local_radius > 0 and math.isfinite(self.local_radius)):
            raise ValueError(f"local_radius must be a positive fraction of the diagonal or None, got {self.local_radius}")
        if self.click_focus is not None and not (self.click_focus > 0 and math.isfinite(self.click_focus)):
            raise ValueError(f"click_focus must be a positive fraction of the diagonal or None, got {self.click_focus}")
        if self.grabcut_max_side is not None and self.grabcut_max_side < 16:
            raise ValueError(f"grabcut_max_side must be >= 16 pixels or None, got {self.grabcut_max_side}")
        if self.grabcut_iterations < 1:
            raise ValueError(f"grabcut_iterations must be >= 1, got {self.grabcut_iterations}")
        sizes = (self.tta_sizes,) if isinstance(self.tta_sizes, (int, float)) else tuple(self.tta_sizes or ())
        if any(int(v) != v or v < 32 for v in sizes):
            raise ValueError(f"tta_sizes must be whole pixel sizes >= 32, got {self.tta_sizes!r}")
        object.__setattr__(self, "tta_sizes", tuple(int(v) for v in sizes))
        object.__setattr__(self, "encoding_kw", dict(self.encoding_kw))
        object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "click_radius", int(self.click_radius))
        object.__setattr__(self, "colour_weight", float(self.colour_weight))
        object.__setattr__(self, "grabcut_band", None if band is None else float(band))

    def with_(self, **changes: Any) -> "SegmenterOptions":
        """A copy with ``changes`` (checked like the constructor's; unknown names say which exist)."""
        unknown = set(changes) - set(OPTION_NAMES)
        if unknown:
            raise TypeError(f"unknown segmenter options {sorted(unknown)}; known: {', '.join(OPTION_NAMES)}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: (dict(v) if isinstance(v := getattr(self, f.name), Mapping) else v) for f in fields(self)}
        d["tta_sizes"] = list(self.tta_sizes)
        return d


OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(SegmenterOptions))
#: what a model version's ``interactive_options`` may set: every option but the device-speed ones
MODEL_OPTION_NAMES: tuple[str, ...] = tuple(n for n in OPTION_NAMES if n not in ("amp", "channels_last"))
