"""What a person did, as it happened: annotated frames, iterations, real timestamps, undo.

An :class:`AnnotationRecord` is the state behind the annotation screen and the source of the
session log (:meth:`AnnotationRecord.to_session`, ``source="recorded"``). It holds no model: the
workspace runs the model and hands each iteration's inputs and resulting mask here.

Rules (they keep the log replayable by the ``segment-video`` job):

* the first frame that receives an input is the session's ``first_frame``; other frames can only
  be annotated after a propagation gave them a mask, and become ``refinement`` frames whose first
  iteration starts from that propagated mask;
* one request = one iteration (one or more inputs); iteration k of a frame ran on the inputs of
  iterations 0..k (cumulative, as the replay does) and the mask of iteration k-1;
* timestamps: an input's ``t`` is the seconds since the session started when it reached the
  app; an iteration's ``duration_s`` runs from the moment the frame was ready for it (the
  previous iteration's result, or the frame being shown) to its own result, so it holds the
  person's thinking time and the model's time, as the person lived it;
* undo drops the frame's last iteration (a refinement frame left with none is dropped, and shows
  its propagated mask again); reset drops all of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Sequence

import numpy as np

from ivos_core.interactions import (
    AnnotatedFrame,
    Click,
    Interaction,
    Session,
    Stroke,
    VideoRef,
    now_utc,
)

__all__ = ["AnnotationError", "AnnotationRecord", "FrameWork", "IterationWork", "pack_mask", "unpack_mask"]

MAX_INPUTS_PER_ITERATION = 64
MAX_ITERATIONS_PER_FRAME = 1000
MAX_STROKE_POINTS = 4096


class AnnotationError(ValueError):
    """An input or action the record refuses; the message says why (the app answers 4xx)."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict  # True: valid request, wrong moment (HTTP 409); False: bad input (422)


def pack_mask(mask: np.ndarray) -> tuple[bytes, tuple[int, int]]:
    m = np.asarray(mask, dtype=bool)
    return np.packbits(m.reshape(-1)).tobytes(), (int(m.shape[0]), int(m.shape[1]))


def unpack_mask(packed: tuple[bytes, tuple[int, int]]) -> np.ndarray:
    bits, (h, w) = packed
    return np.unpackbits(np.frombuffer(bits, np.uint8), count=h * w).reshape(h, w).astype(bool)


@dataclass
class IterationWork:
    inputs: list[Click | Stroke]
    duration_s: float
    mask: tuple[bytes, tuple[int, int]]  # packed bits: 51 KB per 854x480 mask


@dataclass
class FrameWork:
    """One annotated frame: its stage, the mask it started from and its iterations."""

    frame_index: int
    stage: str  # "first_frame" | "refinement"
    start_mask: tuple[bytes, tuple[int, int]] | None
    from_round: int  # the propagation round whose mask it started from (0: none)
    iterations: list[IterationWork] = field(default_factory=list)

    def inputs_so_far(self) -> list[Click | Stroke]:
        return [inp for it in self.iterations for inp in it.inputs]

    def mask(self) -> np.ndarray | None:
        if self.iterations:
            return unpack_mask(self.iterations[-1].mask)
        return None if self.start_mask is None else unpack_mask(self.start_mask)


class AnnotationRecord:
    """The recorded work on one video of ``width`` x ``height`` and ``n_frames`` frames."""

    def __init__(
        self,
        width: int,
        height: int,
        n_frames: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        created_at: datetime | None = None,
    ) -> None:
        self.width, self.height, self.n_frames = int(width), int(height), int(n_frames)
        self._clock = clock
        self._t0 = clock()
        self.created_at = created_at or now_utc()
        self.frames: dict[int, FrameWork] = {}
        self.order: list[int] = []  # frames in the order they were first annotated
        self._ready: dict[int, float] = {}
        self.version = 0  # bumped by every change (saves and propagations compare it)

    # ---- time ------------------------------------------------------------------------------
    def now(self) -> float:
        """Seconds since the session started."""
        return max(0.0, self._clock() - self._t0)

    def mark_ready(self, frame_index: int, at: float | None = None) -> None:
        """The frame is on screen, ready for an input (starts its next iteration's clock)."""
        self.check_index(frame_index)
        self._ready[frame_index] = self.now() if at is None else at

    # ---- checks ----------------------------------------------------------------------------
    def check_index(self, i: Any) -> int:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= int(i) < self.n_frames:
            raise AnnotationError(f"frame index {i!r} is outside the video (frames 0..{self.n_frames - 1})")
        return int(i)

    def check_inputs(self, inputs: Sequence[Click | Stroke]) -> None:
        """Every point inside the frame, sizes bounded; :class:`AnnotationError` otherwise."""
        if not inputs:
            raise AnnotationError("an iteration needs at least one input (a click or a stroke)")
        if len(inputs) > MAX_INPUTS_PER_ITERATION:
            raise AnnotationError(f"{len(inputs)} inputs in one iteration; at most {MAX_INPUTS_PER_ITERATION}")
        w, h = self.width, self.height
        for k, inp in enumerate(inputs):
            if not isinstance(inp, (Click, Stroke)):
                raise AnnotationError(f"inputs[{k}] is a {type(inp).__name__}, expected a click or a stroke")
            pts = inp.points()
            if isinstance(inp, Stroke) and len(pts) > MAX_STROKE_POINTS:
                raise AnnotationError(f"inputs[{k}]: a stroke of {len(pts)} points; at most {MAX_STROKE_POINTS}")
            for x, y in pts:
                if not (0 <= x <= w - 1 and 0 <= y <= h - 1):
                    raise AnnotationError(
                        f"inputs[{k}] point ({x}, {y}) is outside the {w}x{h} frame "
                        f"(0 <= x <= {w - 1}, 0 <= y <= {h - 1})"
                    )

    # ---- state -----------------------------------------------------------------------------
    @property
    def first_frame(self) -> int | None:
        return self.order[0] if self.order else None

    def annotated(self) -> list[int]:
        """Frames with at least one iteration, in annotation order."""
        return [i for i in self.order if self.frames[i].iterations]

    def mask(self, frame_index: int) -> np.ndarray | None:
        fw = self.frames.get(frame_index)
        return None if fw is None else fw.mask()

    def n_iterations(self) -> int:
        return sum(len(f.iterations) for f in self.frames.values())

    def plan(self, frame_index: int, propagated: np.ndarray | None, round_: int) -> tuple[list[Click | Stroke], np.ndarray | None]:
        """Inputs so far and the previous mask for the next iteration on ``frame_index``.

        ``propagated``: the frame's propagated mask (None before any propagation). Raises
        :class:`AnnotationError` (conflict) for a second frame before a propagation.
        """
        i = self.check_index(frame_index)
        fw = self.frames.get(i)
        if fw is not None:
            if len(fw.iterations) >= MAX_ITERATIONS_PER_FRAME:
                raise AnnotationError(f"frame {i} has {MAX_ITERATIONS_PER_FRAME} iterations; reset it first", conflict=True)
            return fw.inputs_so_far(), fw.mask()
        if self.first_frame is not None and propagated is None:
            raise AnnotationError(
                f"frame {self.first_frame} is the first frame; propagate it before refining frame {i}", conflict=True
            )
        return [], propagated

    def add_iteration(
        self,
        frame_index: int,
        inputs: Sequence[Click | Stroke],
        mask: np.ndarray,
        *,
        given_at: float,
        propagated: np.ndarray | None = None,
        round_: int = 0,
    ) -> IterationWork:
        """Record one iteration: ``inputs`` (new ones, arrived ``given_at`` s after the start) and
        the mask the model returned for them."""
        i = self.check_index(frame_index)
        self.check_inputs(inputs)
        m = np.asarray(mask, dtype=bool)
        if m.shape != (self.height, self.width):
            raise AnnotationError(f"mask of shape {m.shape}, expected {(self.height, self.width)}")
        fw = self.frames.get(i)
        if fw is None:
            stage = "first_frame" if self.first_frame is None else "refinement"
            start = None if stage == "first_frame" or propagated is None else pack_mask(propagated)
            fw = FrameWork(i, stage, start, round_ if stage == "refinement" else 0)
            self.frames[i] = fw
            self.order.append(i)
        stamped = [inp.model_copy(update={"t": round(given_at, 3)}) for inp in inputs]
        done = self.now()
        ready = self._ready.get(i, given_at)
        it = IterationWork(stamped, round(max(0.0, done - min(ready, given_at)), 3), pack_mask(m))
        fw.iterations.append(it)
        self._ready[i] = done
        self.version += 1
        return it

    def undo(self, frame_index: int) -> np.ndarray | None:
        """Drop the frame's last iteration; returns the mask now shown (None: no mask of its own)."""
        i = self.check_index(frame_index)
        fw = self.frames.get(i)
        if fw is None or not fw.iterations:
            raise AnnotationError(f"nothing to undo on frame {i}", conflict=True)
        fw.iterations.pop()
        self._drop_if_empty(fw)
        self._ready[i] = self.now()
        self.version += 1
        return self.mask(i)

    def reset(self, frame_index: int) -> np.ndarray | None:
        """Drop all of the frame's iterations."""
        i = self.check_index(frame_index)
        fw = self.frames.get(i)
        if fw is None:
            return None
        fw.iterations.clear()
        self._drop_if_empty(fw)
        self._ready[i] = self.now()
        self.version += 1
        return self.mask(i)

    def _drop_if_empty(self, fw: FrameWork) -> None:
        if fw.iterations:
            return
        # a refinement frame goes back to its propagated mask; the first frame goes only when it is
        # the only frame (otherwise the log would lose its first frame: saving then says so)
        if fw.stage == "refinement" or len(self.order) == 1:
            del self.frames[fw.frame_index]
            self.order.remove(fw.frame_index)

    # ---- the log ---------------------------------------------------------------------------
    def to_session(self, *, session_id: str, user_id: str, video: VideoRef, meta: dict[str, Any] | None = None) -> Session:
        """The session log (validated); :class:`AnnotationError` when there is nothing to save."""
        if not self.order or not self.frames[self.order[0]].iterations:
            raise AnnotationError("nothing to save: the first frame has no input yet", conflict=True)
        frames = []
        for i in self.order:
            fw = self.frames[i]
            if not fw.iterations:
                continue
            its = [Interaction(index=k, inputs=list(it.inputs), duration_s=it.duration_s) for k, it in enumerate(fw.iterations)]
            frames.append(AnnotatedFrame(frame_index=i, stage=fw.stage, iterations=its))
        info = {
            "recorded_with": "ivos annotate",
            "refinement_from_round": {str(i): self.frames[i].from_round for i in self.order if self.frames[i].stage == "refinement"},
            **(meta or {}),
        }
        return Session(
            session_id=session_id,
            user_id=user_id,
            created_at=self.created_at,
            video=video,
            frames=frames,
            source="recorded",
            meta=info,
        )
