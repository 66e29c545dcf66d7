"""Interactive methods behind one small interface, built by name for the evaluation protocol.

``grabcut`` is OpenCV GrabCut with clicks as seeds; ``ours`` and ``ifcn`` are the deep networks
(signed Gaussian vs. two distance maps) loaded from a checkpoint. Adding a method means adding
one adaptor class here; the protocol loop in :mod:`ivos_core.evaluation` never changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ivos_core.interactions import Click, Stroke

# grabcut: the NoC baseline (clicks as hard seeds, ivos_core.baselines.grabcut.GrabCutClickMethod, default
# mode chosen on COCO_MVal dev); grabcut-rerun / grabcut-continue: its two modes; grabcut-box: the §3.3
# heuristic-box corrector of Table 3 (GrabCutMethod below, also what ivos_core.davis uses).
METHODS = ("grabcut", "grabcut-rerun", "grabcut-continue", "grabcut-box", "grabcut-nobox", "ours", "ifcn")


class GrabCutMethod:
    """OpenCV GrabCut driven by all clicks so far (seeds), re-run from the previous mask.

    With ``use_box`` (default) each run after the first is initialised with the paper's §3.3
    heuristic box (all positive clicks plus the current mask, enlarged by a margin): without a
    box a negative click only removes a small part of a wrongly included region.
    """

    def __init__(self, *, click_radius: int = 5, iterations: int = 5, use_box: bool = True) -> None:
        from ivos_core.baselines.grabcut import GrabCutSegmenter

        self.name = "grabcut-box" if use_box else "grabcut-nobox"
        self.use_box = use_box
        self._seg = GrabCutSegmenter(click_radius=click_radius, iterations=iterations)
        self._image: np.ndarray | None = None

    def set_image(self, image: np.ndarray) -> None:
        self._image = image

    def predict(self, inputs: Sequence[Click | Stroke], prev_mask: np.ndarray | None) -> np.ndarray:
        if self._image is None:
            raise RuntimeError("call set_image(image) before predict()")
        from ivos_core.baselines.grabcut import heuristic_box

        has_prev = prev_mask is not None and bool(np.any(prev_mask))
        if not has_prev:
            return self._seg.predict(self._image, list(inputs))
        if self.use_box:
            box = heuristic_box(list(inputs), prev_mask, shape=prev_mask.shape)
            return self._seg.predict(self._image, list(inputs), prev_mask=prev_mask, box=box)
        return self._seg.predict(self._image, list(inputs), prev_mask=prev_mask)


class DeepMethod:
    """Adaptor from :class:`~ivos_core.interactive.segmenter.InteractiveSegmenter` to the protocol."""

    def __init__(self, segmenter, *, name: str) -> None:
        self.name = name
        self.segmenter = segmenter

    def set_image(self, image: np.ndarray) -> None:
        self.segmenter.set_image(image)

    def predict(self, inputs: Sequence[Click | Stroke], prev_mask: np.ndarray | None) -> np.ndarray:
        return self.segmenter.predict(list(inputs), prev_mask=prev_mask).mask


def _checked_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Extra segmenter options by name; an unknown name is a ValueError that lists the known ones."""
    from ivos_core.interactive.options import MODEL_OPTION_NAMES

    unknown = sorted(set(options or {}) - set(MODEL_OPTION_NAMES))
    if unknown:
        raise ValueError(f"unknown segmenter options {unknown}; known: {', '.join(MODEL_OPTION_NAMES)}")
    return dict(options or {})


def build_method(
    name: str,
    *,
    checkpoint: str | Path | None = None,
    crf: bool = False,
    zoom_in: bool = False,
    flip: bool = False,
    colour: float = 0.0,
    keep_clicked: bool = False,
    grabcut_band: float | None = None,
    local_radius: float | None = None,
    input_size: int | None = None,
    grabcut_max_side: int | None = None,
    click_focus: float | None = None,
    zoom_from: int | None = None,
    crf_weight: float | None = None,
    options: Mapping[str, Any] | None = None,
    device: str = "auto",
):
    """Build an evaluation method by name (``grabcut``, ``ours`` or ``ifcn``); ``crf`` and
    ``zoom_in`` / ``flip`` / ``colour`` (the colour cue's weight) / ``keep_clicked`` (see
    :class:`~ivos_core.interactive.segmenter.InteractiveSegmenter`) and ``grabcut_band`` (GrabCut boundary
    refinement, :mod:`ivos_core.interactive.grabcut_refine`), ``local_radius`` (local corrections),
    ``click_focus`` (from the 2nd click only changes connected to the newest click stand), ``zoom_from``
    (the click count from which ``zoom_in`` applies; None: 2), ``crf_weight`` (the CRF's appearance
    weight; None: the default 4), ``options`` (any further :class:`SegmenterOptions` fields, e.g.
    ``{"grabcut_iterations": 5}``: a dev selection can vary a setting without a flag of its own) and ``input_size`` (the network's working size, None: the checkpoint's) apply to the networks."""
    if name in ("grabcut", "grabcut-rerun", "grabcut-continue"):
        from ivos_core.baselines.grabcut import DEFAULT_NOC_MODE, GrabCutClickMethod

        return GrabCutClickMethod(DEFAULT_NOC_MODE if name == "grabcut" else name.split("-", 1)[1])
    if name == "grabcut-box":
        return GrabCutMethod()
    if name == "grabcut-nobox":
        return GrabCutMethod(use_box=False)
    if name in ("ours", "ifcn"):
        if checkpoint is None and name == "ifcn":
            raise ValueError(
                "method 'ifcn' needs --checkpoint PATH (a distance-map model trained with "
                "`ivos train interactive --encoding distance --no-mask`)"
            )
        if checkpoint is None:  # the shipped model (its dev-chosen settings are the caller's to pass)
            from ivos_core.shipped import shipped_model

            checkpoint = shipped_model().interactive
        from ivos_core.interactive.segmenter import InteractiveSegmenter

        seg = InteractiveSegmenter.from_checkpoint(
            checkpoint, crf=crf, zoom_in=zoom_in, flip_tta=flip, colour_weight=colour,
            keep_clicked=keep_clicked, grabcut_band=grabcut_band, local_radius=local_radius, device=device,
            **({} if click_focus is None else {"click_focus": float(click_focus)}),
            **({} if zoom_from is None else {"zoom_from": int(zoom_from)}),
            **({} if crf_weight is None else {"crf_weight": float(crf_weight)}),
            **_checked_options(options),
            **({} if input_size is None else {"input_size": int(input_size)}),
            **({} if grabcut_max_side is None else {"grabcut_max_side": int(grabcut_max_side)}),
        )
        expected = "distance" if name == "ifcn" else "gaussian"
        if getattr(seg, "encoding", expected) != expected:
            raise ValueError(
                f"checkpoint {checkpoint} was trained with {seg.encoding!r} click encoding but "
                f"method {name!r} expects {expected!r}; pass the matching checkpoint"
            )
        suffix = (f"+in{int(input_size)}" if input_size is not None else "")
        suffix += (f"+zoom{int(zoom_from)}" if zoom_in and zoom_from not in (None, 2) else "+zoom" if zoom_in else "") + ("+flip" if flip else "")
        suffix += (f"+colour{colour:g}" if colour > 0 else "") + ("+cc" if keep_clicked else "")
        suffix += ("+crf" + (f"{crf_weight:g}" if crf_weight not in (None, 4.0) else "")) if crf else ""
        suffix += f"+grabcut{grabcut_band:g}" if grabcut_band is not None else ""
        suffix += f"@{int(grabcut_max_side)}" if grabcut_band is not None and grabcut_max_side is not None else ""
        suffix += f"+focus{click_focus:g}" if click_focus is not None else ""
        suffix += "".join(f"+{k}={v}" for k, v in sorted((options or {}).items()))
        return DeepMethod(seg, name=name + suffix)
    raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")


def correction_kwargs(method: object) -> dict[str, bool]:
    """What a correction of a propagated mask passes to ``method.predict``: no clicked-component
    filter (the mask's unclicked parts are the object) and a local change where the method is set
    up for one; nothing for methods without those options."""
    kw: dict[str, bool] = {}
    if getattr(method, "keep_clicked", False):
        kw["keep_clicked"] = False
    if getattr(method, "local_radius", None) is not None:
        kw["local"] = True
    return kw
