"""The interactive segmentation facade: ``set_image`` once, ``predict`` per click.

Shaped like SAM 2's image predictor::

    seg = InteractiveSegmenter.from_checkpoint("runs/lite/final")
    seg.set_image(image)                       # (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA uint8
    pred = seg.predict([Click(x=120, y=80)])   # Prediction(prob (H, W) float32, mask (H, W) bool)
    pred = seg.predict(clicks, prev_mask=pred.mask)

``set_image`` converts the image to RGB, resizes it so its longer side is ``input_size`` (the
network's working size; ``None`` keeps the native size), pads it to the network's size divisor
and caches the normalised tensor on the device. ``predict`` scales the inputs' coordinates into
that frame, encodes them (:mod:`ivos_core.encoding`), adds the previous mask channel, runs the
network once and returns the probability and mask at the image's own size. Hard constraints
(paper §2.1.2): pixels the user labelled - a disk of ``click_radius`` px around each click and
each stroke's brush - are clamped to 1 (positive) or 0 (negative), later inputs winning, unless
``hard_constraints=False``. The optional dense CRF (§2.1.3) runs before the clamping.

Any :class:`InteractiveSegmenter` fits the evaluation protocol
(``set_image(image)``, ``predict(inputs, prev_mask) -> mask``) with a thin adaptor
(:class:`ivos_core.methods.DeepMethod`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

import cv2
import numpy as np
import torch
import torch.nn as nn

from ivos_core.interactions import Click, Stroke
from ivos_core.models.interactive import ModelSpec, click_channels, normalize_rgb
from ivos_core.utils import resolve_device, to_rgb_uint8  # the one definitions, re-exported here


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


def scale_inputs(
    inputs: Sequence[Click | Stroke], sx: float, sy: float, height: int, width: int
) -> list[Click | Stroke]:
    """Map inputs from an image frame to a resized one (pixel centres kept aligned), clipped inside."""

    def tx(x: float) -> float:
        return float(min(max((x + 0.5) * sx - 0.5, 0.0), width - 1))

    def ty(y: float) -> float:
        return float(min(max((y + 0.5) * sy - 0.5, 0.0), height - 1))

    out: list[Click | Stroke] = []
    for inp in inputs:
        if isinstance(inp, Click):
            out.append(Click(x=tx(inp.x), y=ty(inp.y), positive=inp.positive))
        elif isinstance(inp, Stroke):
            pts = [(tx(x), ty(y)) for x, y in inp.points()]
            r = max(0.5, float(inp.radius) * (sx + sy) / 2.0)
            out.append(Stroke(points=pts, positive=inp.positive, radius=min(r, 256.0)))
        else:
            raise TypeError(f"expected Click or Stroke inputs, got {type(inp).__name__}")
    return out


def crop_inputs(
    inputs: Sequence[Click | Stroke], x0: int, y0: int, width: int, height: int
) -> list[Click | Stroke]:
    """Inputs in the frame of the crop at (x0, y0) of ``width`` x ``height``; what falls outside is
    dropped (a click clipped to the crop's border would tell the network something false)."""

    def inside(x: float, y: float) -> bool:
        return 0 <= x - x0 <= width - 1 and 0 <= y - y0 <= height - 1

    out: list[Click | Stroke] = []
    for inp in inputs:
        if isinstance(inp, Click):
            if inside(inp.x, inp.y):
                out.append(Click(x=inp.x - x0, y=inp.y - y0, positive=inp.positive))
        else:
            pts = [(x - x0, y - y0) for x, y in inp.points() if inside(x, y)]
            if pts:
                out.append(Stroke(points=pts, positive=inp.positive, radius=inp.radius))
    return out


def constraint_masks(
    inputs: Sequence[Click | Stroke], height: int, width: int, *, click_radius: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """(force_fg, force_bg) bool (H, W): pixels labelled by the inputs, later inputs winning.

    A click labels a disk of ``click_radius`` px (0: the one pixel); a stroke its brush (every
    pixel within ``radius`` of its polyline). Coordinates outside the image are clipped.
    """
    fg = np.zeros((height, width), np.uint8)
    bg = np.zeros((height, width), np.uint8)
    for inp in inputs:
        paint = np.zeros((height, width), np.uint8)
        if isinstance(inp, Click):
            c = (int(round(min(max(inp.x, 0), width - 1))), int(round(min(max(inp.y, 0), height - 1))))
            if click_radius > 0:
                cv2.circle(paint, c, int(click_radius), 1, thickness=-1)
            else:
                paint[c[1], c[0]] = 1
        else:
            pts = np.array([[round(x), round(y)] for x, y in inp.points()], np.int32)
            r = max(0, int(round(inp.radius)))
            if len(pts) > 1:
                cv2.polylines(paint, [pts.reshape(-1, 1, 2)], False, 1, thickness=max(1, 2 * r + 1))
            for x, y in pts:
                cv2.circle(paint, (int(x), int(y)), r, 1, thickness=-1)
        on = paint.astype(bool)
        if inp.positive:
            fg[on], bg[on] = 1, 0
        else:
            bg[on], fg[on] = 1, 0
    return fg.astype(bool), bg.astype(bool)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(logits, -60, 60)))).astype(np.float32)


class InteractiveSegmenter:
    """Interactive segmentation of one image at a time with a trained network.

    Args:
        model: an interactive network (``forward(x (B, C, H, W)) -> logits (B, 1, H, W)``).
        encoding: click encoding the model was trained with (``gaussian`` / ``distance``);
            defaults to ``model.spec.encoding``.
        use_mask: whether the model takes the previous-mask channel; defaults to the model's spec.
        device: ``"auto"`` (cuda if available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        input_size: longer side of the image inside the network (None: the model's default,
            e.g. 384 for ``lite``; native size for ``paper``).
        crf: refine the probability with a dense CRF (:func:`ivos_core.crf.refine`).
        crf_mode: ``"fast"`` (uncertain band only) or ``"full"``.
        hard_constraints: clamp user-labelled pixels (False: soft mode, the network's output as is).
        threshold: probability at or above which a pixel is in the mask.
        click_radius: radius in image pixels of the clamped disk around each click.
        encoding_kw: options for :func:`ivos_core.encoding.encode` (e.g. ``sigma``), as in training.
        amp: bf16 autocast (CUDA only; None = on for CUDA).
        channels_last: channels-last memory format (None = on CUDA only: on the idle 2-core
            build CPU ``lite`` predicts at 854x480 in 38 ms contiguous vs 47 ms channels-last,
            ``python -m benchmarks.run --only interactive``).
        zoom_in: from the second input on, run the network on a crop around the current object
            (the previous mask and the positive inputs, grown by ``zoom_expand``, at least
            ``zoom_min_size`` px a side) resized to ``input_size``: a small network sees the
            object's boundary at a higher resolution (the zoom-in of RITM/f-BRS). Outside the
            crop the probability is (numerically) 0.
        flip_tta: average the logits of the image and its mirror image (one batch of two; about
            twice the compute per click): a standard test-time augmentation that smooths the
            boundary noise of a small network.
        colour_weight: weight of the per-image colour model's log-odds added to the network's
            logit before the CRF (:mod:`ivos_core.colour`; 0 = off). Choose it per checkpoint
            on a development set (``scripts/select_colour_weight.sh``: 0.5 and 2 for the README's
            two models); it matters most for weak networks.
        keep_clicked: keep only the mask's connected components that hold a positive click
            (drops far-away patches that the colour cue or the network switched on).
        grabcut_band: refine the mask's boundary with GrabCut (:mod:`ivos_core.grabcut_refine`)
            in a band of this fraction of the image diagonal (None = off; >= 1: everything
            probable); after the CRF, before the clamping.
        grabcut_iterations: GrabCut iterations of that refinement.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        encoding: str | None = None,
        use_mask: bool | None = None,
        device: str | torch.device = "auto",
        input_size: int | None = None,
        crf: bool = False,
        crf_mode: Literal["fast", "full"] = "fast",
        hard_constraints: bool = True,
        threshold: float = 0.5,
        click_radius: int = 3,
        encoding_kw: dict[str, float] | None = None,
        amp: bool | None = None,
        channels_last: bool | None = None,
        zoom_in: bool = False,
        zoom_expand: float = 1.4,
        zoom_min_size: int = 100,
        flip_tta: bool = False,
        colour_weight: float = 0.0,
        keep_clicked: bool = False,
        grabcut_band: float | None = None,
        grabcut_iterations: int = 3,
    ) -> None:
        spec: ModelSpec | None = getattr(model, "spec", None)
        self.encoding = encoding or (spec.encoding if spec else "gaussian")
        click_channels(self.encoding)
        self.use_mask = bool(use_mask if use_mask is not None else (spec.use_mask if spec else True))
        if spec is not None and (spec.encoding != self.encoding or spec.use_mask != self.use_mask):
            raise ValueError(
                f"model expects encoding={spec.encoding!r}, use_mask={spec.use_mask}; got "
                f"encoding={self.encoding!r}, use_mask={self.use_mask}"
            )
        if crf_mode not in ("fast", "full"):
            raise ValueError(f"crf_mode must be 'fast' or 'full', got {crf_mode!r}")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
        if input_size is not None and input_size < 32:
            raise ValueError(f"input_size must be >= 32 pixels (or None), got {input_size}")
        self.device = resolve_device(device)
        self.input_size = input_size if input_size is not None else getattr(model, "default_input_size", None)
        self.size_divisor = int(getattr(model, "size_divisor", 32))
        self.crf = crf
        self.crf_mode = crf_mode
        self.hard_constraints = hard_constraints
        self.threshold = float(threshold)
        self.click_radius = int(click_radius)
        self.encoding_kw = dict(encoding_kw or {})
        cuda = self.device.type == "cuda"
        self.amp = cuda if amp is None else (bool(amp) and cuda)
        self.channels_last = cuda if channels_last is None else bool(channels_last)
        self.model = model.eval().to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        if zoom_expand < 1.0:
            raise ValueError(f"zoom_expand must be >= 1, got {zoom_expand}")
        self.zoom_in = bool(zoom_in)
        self.zoom_expand = float(zoom_expand)
        self.zoom_min_size = int(zoom_min_size)
        self.flip_tta = bool(flip_tta)
        if not (colour_weight >= 0 and np.isfinite(colour_weight)):
            raise ValueError(f"colour_weight must be a finite number >= 0, got {colour_weight}")
        self.colour_weight = float(colour_weight)
        self.keep_clicked = bool(keep_clicked)
        if grabcut_band is not None and not (0 < grabcut_band and np.isfinite(grabcut_band)):
            raise ValueError(f"grabcut_band must be a positive fraction of the diagonal or None, got {grabcut_band}")
        if grabcut_iterations < 1:
            raise ValueError(f"grabcut_iterations must be >= 1, got {grabcut_iterations}")
        self.grabcut_band = None if grabcut_band is None else float(grabcut_band)
        self.grabcut_iterations = int(grabcut_iterations)
        self._state: _ImageState | None = None
        self.checkpoint_config: dict[str, Any] | None = None

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
        if "encoding_kw" in cfg and cfg["encoding_kw"]:
            kw.setdefault("encoding_kw", dict(cfg["encoding_kw"]))
        if cfg.get("input_size"):
            kw.setdefault("input_size", int(cfg["input_size"]))
        seg = cls(model, **kw)
        seg.checkpoint_config = doc
        return seg

    # ---- per image ------------------------------------------------------------------------
    def set_image(self, image: np.ndarray) -> None:
        """Convert, resize, pad and normalise ``image`` once; later ``predict`` calls reuse it."""
        self._state = self._make_state(to_rgb_uint8(image))

    def _make_state(self, rgb: np.ndarray) -> _ImageState:
        h, w = rgb.shape[:2]
        if self.input_size is None:
            ih, iw = h, w
            small = rgb
        else:
            s = self.input_size / max(h, w)
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
        from ivos_core.encoding import encode

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
            from ivos_core.encoding import DEFAULT_TRUNCATE

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
        """The zoom-in crop (y0, y1, x0, x1) for this call, or None for the whole image.

        None on the first input (no object yet), when the previous mask is empty, or when the
        crop would cover most of the image anyway (no resolution to gain).
        """
        st = self._require_image()
        if prev_mask is None or len(inputs) < 2:
            return None
        pm = np.asarray(prev_mask) > 0.5
        if pm.shape != (st.height, st.width) or not pm.any():
            return None
        ys, xs = np.nonzero(pm)
        px = [float(xs.min()), float(xs.max())]
        py = [float(ys.min()), float(ys.max())]
        for inp in inputs:
            if inp.positive:
                for x, y in inp.points():
                    px.append(x)
                    py.append(y)
        cx, cy = (min(px) + max(px)) / 2.0, (min(py) + max(py)) / 2.0
        bw = max(self.zoom_min_size, (max(px) - min(px) + 1) * self.zoom_expand)
        bh = max(self.zoom_min_size, (max(py) - min(py) + 1) * self.zoom_expand)
        x0, x1 = int(max(0, np.floor(cx - bw / 2))), int(min(st.width, np.ceil(cx + bw / 2)))
        y0, y1 = int(max(0, np.floor(cy - bh / 2))), int(min(st.height, np.ceil(cy + bh / 2)))
        if (x1 - x0) * (y1 - y0) >= 0.8 * st.width * st.height or x1 - x0 < 2 or y1 - y0 < 2:
            return None
        return y0, y1, x0, x1

    def _forward(self, st: _ImageState, inputs: Sequence[Click | Stroke], prev_mask: np.ndarray | None) -> np.ndarray:
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
    ) -> Prediction:
        """Segment the current image from ``inputs`` (all clicks/strokes so far, in order).

        ``prev_mask``: the previous mask (H, W) bool/float at the image's size, or None (the first
        iteration). Coordinates outside the image are clipped to its border. Returns a
        :class:`Prediction` at the image's own size. ``hard_constraints``/``crf``/``keep_clicked``
        override the constructor's choice for this call (a correction of a propagated mask passes
        ``keep_clicked=False``: parts of that mask were never clicked but are the object).
        """
        st = self._require_image()
        inputs = list(inputs)
        for inp in inputs:
            if not isinstance(inp, (Click, Stroke)):
                raise TypeError(f"expected Click or Stroke inputs, got {type(inp).__name__}")
        lg = self.predict_logits(inputs, prev_mask)
        prob = _sigmoid(lg)
        hard = self.hard_constraints if hard_constraints is None else hard_constraints
        fg = bg = None
        if hard or self.colour_weight > 0 or self.grabcut_band is not None:
            fg, bg = constraint_masks(inputs, st.height, st.width, click_radius=self.click_radius)
        if self.colour_weight > 0:
            from ivos_core.colour import colour_index, colour_log_odds

            if st.colour_bins is None:  # once per image
                st.colour_bins = colour_index(st.image)
            seeds = prob.copy()  # the user's labels are the surest colour samples
            seeds[fg], seeds[bg] = 1.0, 0.0
            prob = _sigmoid(lg + self.colour_weight * colour_log_odds(st.colour_bins, seeds))
        if self.crf if crf is None else crf:
            from ivos_core.crf import refine

            prob = refine(st.image, prob, mode=self.crf_mode).astype(np.float32)
        if self.grabcut_band is not None:
            from ivos_core.grabcut_refine import grabcut_refine

            before = prob >= self.threshold
            after = grabcut_refine(
                st.image, before, fg, bg, band=self.grabcut_band, iterations=self.grabcut_iterations
            )
            flipped = before != after
            prob[flipped] = after[flipped].astype(np.float32)
        if hard:
            prob[fg] = 1.0
            prob[bg] = 0.0
        mask = prob >= self.threshold
        if self.keep_clicked if keep_clicked is None else keep_clicked:
            from ivos_core.colour import keep_clicked_components

            points = [p for inp in inputs if inp.positive for p in inp.points()]
            kept = keep_clicked_components(mask, points)
            prob[mask & ~kept] = 0.0
            mask = kept
        return Prediction(prob=prob, mask=mask)

    def _require_image(self) -> _ImageState:
        if self._state is None:
            raise RuntimeError("call set_image(image) before predict()")
        return self._state
