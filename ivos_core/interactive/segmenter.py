"""The interactive segmentation facade: ``set_image`` once, ``predict`` per click.

Shaped like SAM 2's image predictor::

    seg = InteractiveSegmenter.from_checkpoint("runs/lite/final")
    seg.set_image(image)                       # (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA uint8
    pred = seg.predict([Click(x=120, y=80)])   # Prediction(prob (H, W) float32, mask (H, W) bool)
    pred = seg.predict(clicks, prev_mask=pred.mask)

``set_image`` converts the image to RGB, resizes it so its longer side is ``input_size`` (the
network's working size; ``None`` keeps the native size), pads it to the network's size divisor
and caches the normalised tensor on the device. ``predict`` scales the inputs' coordinates into
that frame, encodes them (:mod:`ivos_core.interactive.encoding`), adds the previous mask channel, runs the
network once and returns the probability and mask at the image's own size. Hard constraints
(paper §2.1.2): pixels the user labelled - a disk of ``click_radius`` px around each click and
each stroke's brush - are clamped to 1 (positive) or 0 (negative), later inputs winning, unless
``hard_constraints=False``. The optional dense CRF (§2.1.3) runs before the clamping. Every
setting is a field of :class:`ivos_core.interactive.options.SegmenterOptions`; the steps after the
network live in :mod:`ivos_core.interactive.postprocess`.

Any :class:`InteractiveSegmenter` fits the evaluation protocol
(``set_image(image)``, ``predict(inputs, prev_mask) -> mask``) with a thin adaptor
(:class:`ivos_core.interactive.methods.DeepMethod`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch
import torch.nn as nn

from ivos_core.interactions import Click, Stroke
from ivos_core.interactive.geometry import constraint_masks, crop_inputs, scale_inputs, zoom_box
from ivos_core.interactive.options import OPTION_NAMES, SegmenterOptions
from ivos_core.interactive.postprocess import finish, keep_changes_near, keep_outside
from ivos_core.interactive.postprocess import sigmoid as _sigmoid  # noqa: F401  (old private name)
from ivos_core.models.interactive import ModelSpec, click_channels, normalize_rgb
from ivos_core.utils import resolve_device, to_rgb_uint8  # the one definitions, re-exported here

__all__ = [
    "InteractiveSegmenter", "Prediction", "SegmenterOptions", "constraint_masks", "crop_inputs", "scale_inputs",
    "to_rgb_uint8",
]


@dataclass(frozen=True)
class Prediction:
    """One prediction at the image's own size: ``prob`` (H, W) float32 in [0, 1], ``mask`` (H, W) bool."""

    prob: np.ndarray
    mask: np.ndarray


@dataclass
class _ImageState:
    """Per-image cache filled by ``set_image``."""

    image: np.ndarray  # (H, W, 3) uint8 RGB, original size
    height: int
    width: int
    inner_h: int  # resized size inside the network (before padding)
    inner_w: int
    pad_h: int  # padded size (multiple of the size divisor)
    pad_w: int
    rgb: torch.Tensor  # (3, pad_h, pad_w) normalised, on the device
    features: Any = None  # reserved for models with a separate image encoder
    colour_bins: np.ndarray | None = None  # (H, W) joint RGB histogram bin per pixel (colour cue)
    at_size: dict[int, "_ImageState"] = field(default_factory=dict)  # the same image at the tta_sizes


class InteractiveSegmenter:
    """Interactive segmentation of one image at a time with a trained network.

    Args:
        model: an interactive network (``forward(x (B, C, H, W)) -> logits (B, 1, H, W)``).
        options: the inference settings (:class:`SegmenterOptions`; default: all defaults).
        encoding: click encoding the model was trained with (``gaussian`` / ``distance``);
            defaults to ``model.spec.encoding``.
        use_mask: whether the model takes the previous-mask channel; defaults to the model's spec.
        device: ``"auto"`` (cuda if available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        **option_overrides: single :class:`SegmenterOptions` fields over ``options``
            (``InteractiveSegmenter(model, crf=True)``); unknown names are an error.

    The options read as attributes too (``seg.crf``, ``seg.click_radius``); ``seg.input_size``,
    ``seg.amp`` and ``seg.channels_last`` are the values resolved for this model and device.
    """

    def __init__(
        self,
        model: nn.Module,
        options: SegmenterOptions | None = None,
        *,
        encoding: str | None = None,
        use_mask: bool | None = None,
        device: str | torch.device = "auto",
        **option_overrides: Any,
    ) -> None:
        self.options = (options or SegmenterOptions()).with_(**option_overrides)
        spec: ModelSpec | None = getattr(model, "spec", None)
        self.encoding = encoding or (spec.encoding if spec else "gaussian")
        click_channels(self.encoding)
        self.use_mask = bool(use_mask if use_mask is not None else (spec.use_mask if spec else True))
        if spec is not None and (spec.encoding != self.encoding or spec.use_mask != self.use_mask):
            raise ValueError(
                f"model expects encoding={spec.encoding!r}, use_mask={spec.use_mask}; got "
                f"encoding={self.encoding!r}, use_mask={self.use_mask}"
            )
        self.device = resolve_device(device)
        opts = self.options
        self.input_size = opts.input_size if opts.input_size is not None else getattr(model, "default_input_size", None)
        self.size_divisor = int(getattr(model, "size_divisor", 32))
        cuda = self.device.type == "cuda"
        self.amp = cuda if opts.amp is None else (bool(opts.amp) and cuda)
        self.channels_last = cuda if opts.channels_last is None else bool(opts.channels_last)
        self.model = model.eval().to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self._state: _ImageState | None = None
        self.checkpoint_config: dict[str, Any] | None = None

    def __getattr__(self, name: str) -> Any:  # the options read as attributes (seg.crf, seg.threshold...)
        if name in OPTION_NAMES and "options" in self.__dict__:
            return getattr(self.__dict__["options"], name)
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    @classmethod
    def from_checkpoint(cls, path: str | Path, **kw: Any) -> "InteractiveSegmenter":
        """Build from a checkpoint written by :func:`ivos_core.checkpoints.save_checkpoint`.

        The checkpoint's encoding, mask use, encoder options and input size are used unless
        overridden in ``kw``.
        """
        from ivos_core.checkpoints import load_model

        model, doc = load_model(path, expected_kind="interactive")
        cfg = doc.get("config", {}) or {}
        kw.setdefault("encoding", doc.get("encoding"))
        kw.setdefault("use_mask", doc.get("use_mask"))
        given: SegmenterOptions = kw.get("options") or SegmenterOptions()
        trained = {"encoding_kw": dict(cfg.get("encoding_kw") or {}), "input_size": cfg.get("input_size")}
        for name, value in trained.items():  # as trained, unless the caller chose otherwise
            if value and name not in kw and getattr(given, name) == getattr(SegmenterOptions(), name):
                kw[name] = int(value) if name == "input_size" else value
        seg = cls(model, **kw)
        seg.checkpoint_config = doc
        return seg

    # ---- per image ------------------------------------------------------------------------
    def set_image(self, image: np.ndarray) -> None:
        """Convert, resize, pad and normalise ``image`` once; later ``predict`` calls reuse it."""
        self._state = self._make_state(to_rgb_uint8(image))

    def _make_state(self, rgb: np.ndarray, size: int | None = None) -> _ImageState:
        h, w = rgb.shape[:2]
        size = self.input_size if size is None else size
        if size is None:
            ih, iw = h, w
            small = rgb
        else:
            s = size / max(h, w)
            ih, iw = max(1, round(h * s)), max(1, round(w * s))
            interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
            small = cv2.resize(rgb, (iw, ih), interpolation=interp) if (ih, iw) != (h, w) else rgb
        d = self.size_divisor
        ph, pw = -(-ih // d) * d, -(-iw // d) * d
        t = torch.zeros((3, ph, pw), dtype=torch.float32)
        t[:, :ih, :iw] = normalize_rgb(np.ascontiguousarray(small))
        return _ImageState(
            image=rgb, height=h, width=w, inner_h=ih, inner_w=iw, pad_h=ph, pad_w=pw, rgb=t.to(self.device)
        )

    def reset_image(self) -> None:
        self._state = None

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(H, W) of the current image, or None before ``set_image``."""
        return None if self._state is None else (self._state.height, self._state.width)

    # ---- per click ------------------------------------------------------------------------
    def _network_input(
        self, st: _ImageState, inputs: Sequence[Click | Stroke], prev_mask: np.ndarray | None
    ) -> torch.Tensor:
        from ivos_core.interactive.encoding import encode

        scaled = scale_inputs(inputs, st.inner_w / st.width, st.inner_h / st.height, st.inner_h, st.inner_w)
        enc = encode(scaled, st.inner_h, st.inner_w, self.encoding, **self.encoding_kw)
        parts = [st.rgb]
        if self.use_mask:
            m = torch.zeros((1, st.pad_h, st.pad_w), dtype=torch.float32)
            if prev_mask is not None:
                pm = np.asarray(prev_mask)
                if pm.shape[:2] != (st.height, st.width) or pm.ndim != 2:
                    raise ValueError(
                        f"prev_mask must have the image's shape {(st.height, st.width)}, got {pm.shape}"
                    )
                pm = pm.astype(np.float32)
                if (st.inner_h, st.inner_w) != (st.height, st.width):
                    pm = cv2.resize(pm, (st.inner_w, st.inner_h), interpolation=cv2.INTER_LINEAR)
                m[0, : st.inner_h, : st.inner_w] = torch.from_numpy(np.clip(pm, 0, 1))
            parts.append(m.to(self.device))
        c = torch.zeros((enc.shape[0], st.pad_h, st.pad_w), dtype=torch.float32)
        if self.encoding == "distance":  # padding is "far from every click"
            from ivos_core.interactive.encoding import DEFAULT_TRUNCATE

            c.fill_(float(self.encoding_kw.get("truncate", DEFAULT_TRUNCATE)))
        c[:, : st.inner_h, : st.inner_w] = torch.from_numpy(enc)
        parts.append(c.to(self.device))
        return torch.cat(parts, 0)[None]

    def predict_logits(self, inputs: Sequence[Click | Stroke], prev_mask: np.ndarray | None = None) -> np.ndarray:
        """The network's raw logits at the image's size, (H, W) float32 (no CRF, no clamping)."""
        st = self._require_image()
        box = self.zoom_box(inputs, prev_mask) if self.zoom_in else None
        if box is None:
            return self._forward(st, inputs, prev_mask)
        y0, y1, x0, x1 = box
        crop = self._make_state(np.ascontiguousarray(st.image[y0:y1, x0:x1]))
        inside = crop_inputs(inputs, x0, y0, x1 - x0, y1 - y0)
        pm = None if prev_mask is None else np.asarray(prev_mask)[y0:y1, x0:x1]
        full = np.full((st.height, st.width), -30.0, np.float32)
        full[y0:y1, x0:x1] = self._forward(crop, inside, pm)
        return full

    def zoom_box(
        self, inputs: Sequence[Click | Stroke], prev_mask: np.ndarray | None
    ) -> tuple[int, int, int, int] | None:
        """The zoom-in crop (y0, y1, x0, x1) for this call, or None for the whole image
        (:func:`ivos_core.interactive.geometry.zoom_box`)."""
        st = self._require_image()
        return zoom_box(inputs, prev_mask, st.height, st.width, expand=self.zoom_expand, min_size=self.zoom_min_size,
                        min_inputs=self.zoom_from)

    def _forward(self, st: _ImageState, inputs: Sequence[Click | Stroke], prev_mask: np.ndarray | None) -> np.ndarray:
        """Logits at the image's size: the working size's, averaged with each of ``tta_sizes``."""
        lg = self._forward_at(st, inputs, prev_mask)
        for size in self.tta_sizes:
            if size not in st.at_size:
                st.at_size[size] = self._make_state(st.image, size)
            lg = lg + self._forward_at(st.at_size[size], inputs, prev_mask)
        return lg / (1 + len(self.tta_sizes)) if self.tta_sizes else lg

    def _forward_at(self, st: _ImageState, inputs: Sequence[Click | Stroke], prev_mask: np.ndarray | None) -> np.ndarray:
        x = self._network_input(st, inputs, prev_mask)
        if self.flip_tta:  # mirror the content only; the padding stays on the right
            mirrored = x.clone()
            mirrored[..., : st.inner_h, : st.inner_w] = x[..., : st.inner_h, : st.inner_w].flip(-1)
            x = torch.cat([x, mirrored], 0)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else contextlib.nullcontext()
        with torch.inference_mode(), amp:
            logits = self.model(x)
        inner = logits[:, 0, : st.inner_h, : st.inner_w].float()
        if self.flip_tta:
            inner = (inner[0] + inner[1].flip(-1))[None] / 2.0
        lg = inner[0].cpu().numpy()
        if lg.shape != (st.height, st.width):
            lg = cv2.resize(lg, (st.width, st.height), interpolation=cv2.INTER_LINEAR)
        return lg

    def predict(
        self,
        inputs: Sequence[Click | Stroke],
        prev_mask: np.ndarray | None = None,
        *,
        hard_constraints: bool | None = None,
        crf: bool | None = None,
        keep_clicked: bool | None = None,
        local: bool = False,
    ) -> Prediction:
        """Segment the current image from ``inputs`` (all clicks/strokes so far, in order).

        ``prev_mask``: the previous mask (H, W) bool/float at the image's size, or None (the first
        iteration). Coordinates outside the image are clipped to its border. Returns a
        :class:`Prediction` at the image's own size. ``hard_constraints``/``crf``/``keep_clicked``
        override the constructor's choice for this call (a correction of a propagated mask passes
        ``keep_clicked=False``: parts of that mask were never clicked but are the object).
        ``local``: this call corrects ``prev_mask``; with the ``local_radius`` option set, only the
        neighbourhood of the inputs may change. Otherwise, with ``click_focus`` set and a
        ``prev_mask``, only the changes connected to the newest input stand.
        """
        st = self._require_image()
        inputs = list(inputs)
        for inp in inputs:
            if not isinstance(inp, (Click, Stroke)):
                raise TypeError(f"expected Click or Stroke inputs, got {type(inp).__name__}")
        lg = self.predict_logits(inputs, prev_mask)

        def colour_bins() -> np.ndarray:  # once per image
            if st.colour_bins is None:
                from ivos_core.interactive.colour import colour_index

                st.colour_bins = colour_index(st.image)
            return st.colour_bins

        prob, mask = finish(
            lg, inputs, st.image, self.options, colour_bins,
            hard=self.hard_constraints if hard_constraints is None else hard_constraints,
            crf=self.crf if crf is None else crf,
            keep_clicked=self.keep_clicked if keep_clicked is None else keep_clicked,
        )
        if local and self.local_radius is not None and prev_mask is not None and inputs:
            prob, mask = keep_outside(prob, mask, prev_mask, inputs, self.local_radius)
        elif not local and self.click_focus is not None and prev_mask is not None and len(inputs) >= 2:
            prob, mask = keep_changes_near(prob, mask, prev_mask, inputs[-1], self.click_focus)
        return Prediction(prob=prob, mask=mask)

    def _require_image(self) -> _ImageState:
        if self._state is None:
            raise RuntimeError("call set_image(image) before predict()")
        return self._state
