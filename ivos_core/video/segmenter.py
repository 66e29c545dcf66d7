"""The :class:`VideoSegmenter`: open a video, annotate frames through the interactive model,
refine the worst ones; fine-tuning and propagation come from :mod:`ivos_core.video.osvos`, the
worst-frame ranking from :mod:`ivos_core.video.quality`."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from torch import nn

from ivos_core.interactions import Click, Stroke
from ivos_core.interactive.methods import correction_kwargs
from ivos_core.protocols import InteractiveMethod
from ivos_core.utils import resolve_device
from ivos_core.video.osvos import _OSVOS
from ivos_core.video.quality import _Quality
from ivos_core.video.source import _Source
from ivos_core.video.state import (
    FrameAnnotation,
    Iterations,
    PackedMasks,
    RefinementRound,
    Stage,
    VideoSegmenterError,
    VideoState,
    _normalise_iterations,
)
from ivos_core.video_prior import DEFAULT_OSVOS_OPTIONS, OSVOSOptions, resize_to_side

__all__ = ["VideoSegmenter"]


def _pred_mask(pred: Any) -> np.ndarray:
    """A segmenter's output (Prediction, probability or mask array) -> (H, W) bool."""
    m = getattr(pred, "mask", None)
    if m is not None:
        return np.asarray(m, dtype=bool)
    a = np.asarray(pred)
    return a > 0.5 if a.dtype.kind == "f" else a.astype(bool)


class VideoSegmenter(_OSVOS, _Quality):
    """Annotate frames, fine-tune OSVOS on them, propagate, find and refine the worst frames.

    ``osvos_model``: the parent network (never modified: :meth:`fit` fine-tunes a copy); None
    builds an untrained ``lite`` network (OSVOS from scratch: works for simple videos only).
    ``interactive``: an :class:`~ivos_core.protocols.InteractiveMethod` (``set_image``,
    ``predict(inputs, prev_mask)``; a result with ``.mask``, as the
    :class:`~ivos_core.interactive.segmenter.InteractiveSegmenter` facade returns, is accepted too) for
    :meth:`annotate` and :meth:`refine`.
    ``options``: :class:`~ivos_core.video_prior.OSVOSOptions` - fine-tuning steps, learning rate,
    crop, working resolution and the previous-frame prior (default
    :data:`~ivos_core.video_prior.DEFAULT_OSVOS_OPTIONS`; ``prior_weight=0`` is the paper's OSVOS).
    ``finetune_steps``: overrides ``options.finetune_steps`` (paper: 500). ``batch_size``: frames per
    forward pass in :meth:`propagate`. ``cumulative_inputs``: each interactive iteration gets all
    inputs given on the frame so far (True, as the evaluation protocol does) or only its own.
    ``mask_dir``: keep the packed masks in a memory-mapped file there instead of RAM.
    ``temporal_weight``: weight of temporal consistency (vs. boundary confidence) in the
    worst-frame proxy of :meth:`frame_scores`.
    ``finetune_kwargs``: passed to :func:`ivos_core.video.finetune.finetune` (``lr``, ``crop``,
    ``batch_size``, ``augment``...); they win over ``options``.
    """

    def __init__(
        self,
        osvos_model: nn.Module | None = None,
        *,
        interactive: InteractiveMethod | None = None,
        device: str = "auto",
        options: OSVOSOptions | None = None,
        finetune_steps: int | None = None,
        batch_size: int = 4,
        cumulative_inputs: bool = True,
        mask_dir: str | Path | None = None,
        seed: int = 0,
        temporal_weight: float = 0.25,
        finetune_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if not 0.0 <= temporal_weight <= 1.0:
            raise ValueError(f"temporal_weight must be in [0, 1], got {temporal_weight}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if finetune_steps is not None and finetune_steps < 0:
            raise ValueError(f"finetune_steps must be >= 0, got {finetune_steps}")
        opts = options if options is not None else DEFAULT_OSVOS_OPTIONS
        if not isinstance(opts, OSVOSOptions):
            raise TypeError(f"options must be an OSVOSOptions, got {type(opts).__name__}")
        if finetune_steps is not None:
            opts = replace(opts, finetune_steps=int(finetune_steps))
        self.options = opts
        self.parent = osvos_model
        self.interactive = interactive
        self.device = resolve_device(device)
        self.batch_size = int(batch_size)
        self.cumulative_inputs = cumulative_inputs
        self.mask_dir = Path(mask_dir) if mask_dir is not None else None
        self.seed = int(seed)
        self.temporal_weight = float(temporal_weight)
        self.finetune_kwargs = dict(finetune_kwargs or {})
        self._source: _Source | None = None
        self._state: VideoState | None = None
        self._image_index: int | None = None

    @property
    def finetune_steps(self) -> int:
        """Default steps of :meth:`fit` (``options.finetune_steps``)."""
        return self.options.finetune_steps

    @finetune_steps.setter
    def finetune_steps(self, steps: int) -> None:
        self.options = replace(self.options, finetune_steps=int(steps))

    def _work(self, image: np.ndarray, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
        """``image`` at the working resolution (``options.max_side``)."""
        return resize_to_side(image, self.options.max_side, interpolation)

    # ---- opening ----------------------------------------------------------------------------

    def open(self, source: Any, *, name: str | None = None, fps: float = 24.0) -> VideoState:
        """Open a video and reset the state.

        ``source``: a frame folder (e.g. ``DAVIS/JPEGImages/480p/<seq>``) or a video file path,
        a (T, H, W, 3) uint8 RGB array, an open reader (:func:`ivos_core.data.video.open_video`)
        or a sequence with ``frame(i)`` and ``len()`` (:class:`ivos_core.data.davis.DavisSequence`).
        ``name`` labels errors (default: the path or sequence name).
        """
        self.close()
        src = _Source(source, name=name, fps=fps)
        mask_path = None
        if self.mask_dir is not None:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(src.name).name) or "video"
            mask_path = Path(tempfile.mkstemp(prefix=f"{safe}-", suffix=".masks.npy", dir=self._mkdir())[1])
        self._source = src
        self._state = VideoState(
            name=src.name,
            n_frames=src.n_frames,
            height=src.height,
            width=src.width,
            fps=src.fps,
            masks=PackedMasks(src.n_frames, src.height, src.width, path=mask_path),
            confidence=np.full(src.n_frames, np.nan, np.float32),
        )
        self._image_index = None
        return self._state

    def _mkdir(self) -> Path:
        assert self.mask_dir is not None
        self.mask_dir.mkdir(parents=True, exist_ok=True)
        return self.mask_dir

    def close(self) -> None:
        """Release the video source (the state is dropped)."""
        if self._source is not None:
            self._source.close()
        self._source = None
        self._state = None

    def __enter__(self) -> "VideoSegmenter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def state(self) -> VideoState:
        if self._state is None:
            raise RuntimeError("no video is open: call VideoSegmenter.open(source) first")
        return self._state

    def _check_index(self, i: int) -> int:
        st = self.state
        if not isinstance(i, (int, np.integer)) or not 0 <= int(i) < st.n_frames:
            raise VideoSegmenterError(
                st.name, f"frame index {i} is outside the video (frames 0..{st.n_frames - 1})", int(i) if isinstance(i, (int, np.integer)) else None
            )
        return int(i)

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` (H, W, 3) uint8 RGB (read from the source; annotated frames from memory)."""
        i = self._check_index(i)
        ann = self.state.annotations.get(i)
        return ann.frame if ann is not None else self._source.read(i)  # type: ignore[union-attr]

    def mask(self, i: int) -> np.ndarray:
        """Current mask of frame ``i`` (H, W) bool: its annotation, else its propagated mask."""
        i = self._check_index(i)
        st = self.state
        if i in st.annotations:
            return st.annotations[i].mask.copy()
        if not st.masks.has(i):
            raise VideoSegmenterError(st.name, "no mask yet: annotate it or propagate() first", i)
        return st.masks[i]

    # ---- annotation ---------------------------------------------------------------------------

    def _check_mask(self, i: int, mask: np.ndarray) -> np.ndarray:
        st = self.state
        m = np.asarray(mask)
        if m.shape != (st.height, st.width):
            raise VideoSegmenterError(st.name, f"mask has shape {m.shape}, the video's frames are {(st.height, st.width)}", i)
        return m.astype(bool)

    def _store_annotation(
        self, i: int, frame: np.ndarray, mask: np.ndarray, stage: Stage | None, iterations: list, allow_empty: bool
    ) -> np.ndarray:
        st = self.state
        others = [a for j, a in st.annotations.items() if j != i and a.mask.any()]
        if not mask.any() and not others and not allow_empty:
            raise VideoSegmenterError(
                st.name,
                "the annotation mask is empty and no other annotated frame shows the object; "
                "OSVOS needs a non-empty first-frame mask (pass allow_empty=True for frames where the object is absent)",
                i,
            )
        if stage is None:
            stage = "first_frame" if not st.annotations or set(st.annotations) == {i} else "refinement"
        st.annotations[i] = FrameAnnotation(index=i, frame=frame, mask=mask.copy(), stage=stage, iterations=iterations)
        st.masks[i] = mask
        st.confidence[i] = 1.0
        return mask.copy()

    def _run_interactive(
        self, i: int, iterations: list[list[Click | Stroke]], prev_mask: np.ndarray | None, *, correction: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """``correction``: the inputs fix a propagated mask, whose parts were never clicked, so a
        segmenter's clicked-component filter (``keep_clicked``) must not delete them."""
        st = self.state
        if self.interactive is None:
            raise RuntimeError("this VideoSegmenter has no interactive segmenter: pass interactive=... or use set_mask()")
        if not iterations:
            raise VideoSegmenterError(st.name, "no interactions given", i)
        for it in iterations:
            for inp in it:
                for x, y in inp.points():
                    if not (0 <= x <= st.width - 1 and 0 <= y <= st.height - 1):
                        raise VideoSegmenterError(
                            st.name, f"input point ({x}, {y}) is outside the {st.width}x{st.height} frame", i
                        )
        frame = self.frame(i)
        if self._image_index != i:
            self.interactive.set_image(frame)
            self._image_index = i
        mask = None if prev_mask is None else self._check_mask(i, prev_mask)
        so_far: list[Click | Stroke] = []
        for it in iterations:
            so_far.extend(it)
            inputs = list(so_far) if self.cumulative_inputs else list(it)
            kw = correction_kwargs(self.interactive) if correction else {}
            pred = self.interactive.predict(inputs, prev_mask=mask, **kw)
            mask = _pred_mask(pred)
            if mask.shape != (st.height, st.width):
                raise VideoSegmenterError(st.name, f"the interactive segmenter returned a {mask.shape} mask", i)
        assert mask is not None
        return frame, mask

    def annotate(
        self,
        frame_index: int,
        interactions: Iterations,
        prev_mask: np.ndarray | None = None,
        *,
        stage: Stage | None = None,
        allow_empty: bool = False,
    ) -> np.ndarray:
        """Segment frame ``frame_index`` with the interactive model and add it to the training set.

        ``interactions``: one :class:`Interaction` per iteration (or a flat list of clicks and
        strokes = one iteration). Iteration k runs on iteration k-1's mask (the first on
        ``prev_mask``, default none). Returns the final mask (H, W) bool.
        """
        i = self._check_index(frame_index)
        iterations = _normalise_iterations(interactions)
        frame, mask = self._run_interactive(i, iterations, prev_mask, correction=stage == "refinement")
        return self._store_annotation(i, frame, mask, stage, iterations, allow_empty)

    def set_mask(self, frame_index: int, mask: np.ndarray, *, allow_empty: bool = False) -> np.ndarray:
        """Use ``mask`` (H, W) as frame ``frame_index``'s annotation (e.g. ground truth for OSVOS)."""
        i = self._check_index(frame_index)
        m = self._check_mask(i, mask)
        return self._store_annotation(i, self.frame(i), m, "given", [], allow_empty)

    def remove_annotation(self, frame_index: int) -> None:
        """Drop frame ``frame_index`` from the training set (its stored mask stays until re-propagation)."""
        self.state.annotations.pop(self._check_index(frame_index), None)

    # ---- refinement ---------------------------------------------------------------------------------

    def refine(
        self,
        frame_index: int,
        inputs: Iterations,
        prev_mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """Correct frame ``frame_index`` with the interactive model, starting from its propagated
        mask (or ``prev_mask``); the result becomes an annotated (refinement) frame.

        Returns the refined mask (H, W) bool. Call :meth:`fit` and :meth:`propagate` (or
        :meth:`progressive_refine`) to spread the correction through the video.
        """
        i = self._check_index(frame_index)
        st = self.state
        if prev_mask is None:
            if i in st.annotations:
                prev_mask = st.annotations[i].mask
            elif st.masks.has(i):
                prev_mask = st.masks[i]
            else:
                raise VideoSegmenterError(st.name, "no propagated mask to refine: propagate() first or pass prev_mask", i)
        iterations = _normalise_iterations(inputs)
        frame, mask = self._run_interactive(i, iterations, prev_mask, correction=True)
        return self._store_annotation(i, frame, mask, "refinement", iterations, allow_empty=True)

    def progressive_refine(
        self,
        user: Callable[[int, np.ndarray, np.ndarray], Iterations] | Mapping[int, Iterations],
        *,
        rounds: int = 1,
        frames_per_round: int = 1,
        gt: Any = None,
        steps: int | None = None,
        from_parent: bool = True,
    ) -> list[RefinementRound]:
        """Progressive refinement (paper §2.3): correct the worst frames, fine-tune again, re-propagate.

        ``user``: either a mapping ``frame index -> interactions`` (one round on those frames) or
        a callable ``user(frame_index, frame, current_mask) -> interactions`` (e.g. a robot user
        clicking on the error regions) consulted for the ``frames_per_round`` worst frames of each
        of ``rounds`` rounds (worst by ``gt`` when given, else by the proxy). Each round: refine
        those frames, :meth:`fit` on all annotated frames, :meth:`propagate_all`.
        """
        st = self.state
        if st.model is None:
            raise VideoSegmenterError(st.name, "fit() and propagate() before progressive refinement")
        self._require_propagated()
        out: list[RefinementRound] = []
        mean = (lambda: float(np.nanmean(self.frame_ious(gt)))) if gt is not None else (lambda: None)
        if isinstance(user, Mapping):
            plan: list[list[int] | None] = [sorted(user)]
        else:
            plan = [None] * rounds
        for r, frames in enumerate(plan):
            before = mean()
            if frames is None:
                frames = self.worst_frames(frames_per_round, gt)
            for i in frames:
                inputs = user[i] if isinstance(user, Mapping) else user(i, self.frame(i), self.mask(i))
                if not _normalise_iterations(inputs):
                    continue
                self.refine(i, inputs)
            self.fit(steps, from_parent=from_parent)
            self.propagate_all()
            out.append(RefinementRound(r, tuple(frames), before, mean()))
        return out
