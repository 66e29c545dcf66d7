"""Interactive video segmentation: annotate, one-shot fine-tune (OSVOS), propagate, refine.

One stateful :class:`VideoSegmenter` per video (shaped like SAM 2's video predictor and Cutie's
inference core, with a typed :class:`VideoState` instead of a dict)::

    vs = VideoSegmenter(parent, interactive=segmenter, finetune_steps=500)
    vs.open("DAVIS/JPEGImages/480p/blackswan")       # frame folder, video file, array, sequence
    vs.annotate(0, [Click(x=400, y=220)])            # first frame through the interactive model
    vs.fit()                                         # one-shot fine-tuning of a copy of the parent
    for r in vs.propagate():                         # FrameResult(index, prob, mask, confidence)
        ...
    worst = vs.worst_frames(1)                       # confidence / temporal-consistency proxy
    vs.refine(worst[0], [Click(x=10, y=20, positive=False)])   # propagated mask as input
    vs.fit(); vs.propagate_all()                     # the refined frame joined the training set

Memory stays bounded for long videos: frames are streamed from the source and dropped after use;
only the annotated frames (RGB, needed for fine-tuning) are kept, and the masks of all frames are
stored as packed bits (``ceil(H*W/8)`` bytes per frame: 51 KB at 854x480), in RAM or, with
``mask_dir``, in a memory-mapped file on disk. Probabilities are not kept: each frame's mask and
one confidence number survive propagation.

Bad input raises :class:`VideoSegmenterError` (a ``ValueError``) naming the video and, where it
applies, the frame: a source that cannot be opened, a frame that fails to decode mid-video, an
empty mask as the only annotation, a frame index past the end, a mask of the wrong size.

Modules: ``state`` (typed state, packed masks, results, the error), ``source`` (streaming frame
sources), ``segmenter`` (:class:`VideoSegmenter`: open, annotate, refine), ``osvos`` (its
one-shot fine-tuning and propagation), ``quality`` (its per-frame scores and worst frames).
The interactive model it drives is any :class:`~ivos_core.protocols.InteractiveMethod`.
"""

from ivos_core.protocols import InteractiveMethod
from ivos_core.video.segmenter import VideoSegmenter
from ivos_core.video.state import (
    FrameAnnotation,
    FrameResult,
    Iterations,
    PackedMasks,
    PropagationStats,
    RefinementRound,
    Stage,
    UserInputs,
    VideoSegmenterError,
    VideoState,
)

InteractiveLike = InteractiveMethod
"""The old name of what :class:`VideoSegmenter` drives: :class:`ivos_core.protocols.InteractiveMethod`."""

__all__ = [
    "FrameAnnotation",
    "FrameResult",
    "InteractiveLike",
    "Iterations",
    "PackedMasks",
    "PropagationStats",
    "RefinementRound",
    "Stage",
    "UserInputs",
    "VideoSegmenter",
    "VideoSegmenterError",
    "VideoState",
]
