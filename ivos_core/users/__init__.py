"""Simulated users: behaviour-simulated annotators, and the training-time input samplers.

Why: the usage analyses of paper §4 (Figs. 7-9, the 15% who refine) need session logs, and a
deployment has none on day one. These simulated users produce logs in the same schema as
recorded ones (:class:`~ivos_core.interactions.Session`, ``source="simulated"``), so the demo,
the tests, the analytics store and the job queue run on them unchanged.

A simulated user (:class:`UserProfile`, ``profiles``) behaves like the three patterns of §4.1:

* **clicker** - independent clicks, each at the interior-most point of the largest error region
  (the NoC robot's rule, :class:`~ivos_core.robot.RobotUser`) displaced by Gaussian
  positional noise (people annotate inaccurately, §4.2); the label is the intended one, so a
  noisy click may land on the wrong side of a boundary, as real ones do.
* **stroker** - short strokes drawn inside error regions (:func:`sample_correction_stroke`),
  positive in missed object parts, negative in wrongly included background.
* **highlighter** - one broad back-and-forth scribble over the whole object first
  (:func:`simulate_highlight`), then correction strokes.

On the first frame the user iterates (``annotator``, through :func:`ivos_core.robot.robot_loop`):
give 1-3 inputs (per the user's distribution), run the segmenter on the frame's inputs so far and
the previous iteration's mask, look at the result, stop when its IoU to the ground truth reaches
the user's ``satisfaction_iou`` or after ``patience`` iterations (gives up). When several inputs
are given in one iteration the user aims each at a *different* mistake: after each input the
error region it touched counts as "fixed" in the user's head before the next one is placed.
Then, with probability ``refine_probability`` (the paper: 15% of users refine), and only when a
propagation function is given, the user looks at the propagated result, picks its worst 1-2
frames (lowest IoU to the ground truth, standing in for "looks worst") and corrects each with
1-3 iterations starting from the propagated mask (stage ``refinement``).

Times ``t`` (seconds since session start) and ``duration_s`` (an iteration from the user's look
at the current result to the model's next result) come from a simple model: a look at the frame
before each iteration's first input, ``seconds_per_input`` per click (log-normal jitter), strokes
at ``draw_speed_px_s`` along their path, the model's latency and a look at each result, and a
wait for propagation before refinement. Every input lies inside the frame (clipped) and times
strictly increase.

Randomness: one ``numpy.random.Generator`` per session, built from a seed drawn by
:func:`simulate_sessions` and recorded in ``session.meta["seed"]``, so any session can be
regenerated on its own with :func:`simulate_session`.

Modules: ``profiles`` (who), ``videos`` (what they work on), ``annotator`` (one user on one
frame), ``session`` (sessions and their logs), ``adapters`` (segmenters and propagation for
them), ``strokes`` (strokes and highlights, §4.1), ``samplers`` (training-time clicks, §2.1.1),
``geometry`` (the mask geometry they share). The evaluation robot and the robot loop are
:mod:`ivos_core.robot`.
"""

from ivos_core.protocols import SegmentFn, UserInput
from ivos_core.users.adapters import (
    at_scale,
    flow_propagate,
    grabcut_segment,
    model_segment,
)
from ivos_core.users.geometry import inner_distance, outer_distance
from ivos_core.users.profiles import (
    DEFAULT_MIX,
    PAPER_REFINE_SHARE,
    USER_KINDS,
    UserKind,
    UserProfile,
    sample_users,
)
from ivos_core.users.samplers import (
    D_HULL,
    D_MARGIN,
    D_STEP,
    N_CORR_CHOICES,
    N_NEG_RANGE,
    N_POS_RANGE,
    NEGATIVE_STRATEGIES,
    VOID_LABELS,
    NegativeStrategy,
    background_band,
    positive_candidates,
    sample_correction_clicks,
    sample_negative_clicks,
    sample_positive_clicks,
    sample_training_inputs,
)
from ivos_core.users.session import (
    DEFAULT_START,
    SIMULATOR_VERSION,
    simulate_session,
    simulate_sessions,
    write_sessions,
)
from ivos_core.users.strokes import (
    sample_correction_stroke,
    simulate_highlight,
    simulate_stroke,
)
from ivos_core.users.videos import ArrayVideo, PropagateFn, VideoLike

__all__ = [
    # behaviour-simulated annotators
    "SIMULATOR_VERSION",
    "DEFAULT_MIX",
    "DEFAULT_START",
    "PAPER_REFINE_SHARE",
    "USER_KINDS",
    "UserKind",
    "UserProfile",
    "UserInput",
    "VideoLike",
    "ArrayVideo",
    "SegmentFn",
    "PropagateFn",
    "sample_users",
    "simulate_session",
    "simulate_sessions",
    "write_sessions",
    "grabcut_segment",
    "model_segment",
    "at_scale",
    "flow_propagate",
    # strokes and highlights (§4.1)
    "simulate_stroke",
    "simulate_highlight",
    "sample_correction_stroke",
    # training-time samplers (§2.1.1)
    "NegativeStrategy",
    "NEGATIVE_STRATEGIES",
    "N_CORR_CHOICES",
    "D_MARGIN",
    "D_STEP",
    "D_HULL",
    "N_POS_RANGE",
    "N_NEG_RANGE",
    "VOID_LABELS",
    "inner_distance",
    "outer_distance",
    "positive_candidates",
    "sample_positive_clicks",
    "background_band",
    "sample_negative_clicks",
    "sample_training_inputs",
    "sample_correction_clicks",
]
