"""The paper's DAVIS evaluations (§3.2 Fig. 5, §3.3 Table 3) plus DAVIS J&F and Fig. 10 statistics.

Per sequence of a DAVIS split (:func:`evaluate_sequence`):

(a) **Fig. 5** (:mod:`~ivos_core.davis.first_frame`) - OSVOS initialised from one first-frame
    mask: the ground truth (``gt``), GrabCut with the heuristic box around the ground truth plus
    ``N`` robot clicks (``grabcut@N``), or our interactive model after ``N`` robot clicks
    (``ours@N``), ``N`` in ``init_clicks`` (paper: 1, 4, 8). Each setting fine-tunes a copy of the
    parent (or a network from scratch) on that one mask and propagates; its score is the DAVIS J
    mean of the sequence.
(b) **Table 3** (:mod:`~ivos_core.davis.correction`) - the worst frame of the GT-initialised
    OSVOS run (lowest IoU with the ground truth, frame 0 excluded) is corrected with
    ``correction_clicks`` robot clicks (paper: 1, 4, 10) by ``ours`` (the propagated mask as the
    network's mask input), ``ifcn`` (first a positive click at the centre - distance-transform
    maximum - of the largest OSVOS blob, not a hard constraint, then the robot's clicks, which
    are) and ``grabcut`` (the §3.3 heuristic box: positive clicks + current mask). The frame's IoU
    before and after each is recorded; with ``progressive_clicks`` the corrected frame joins the
    fine-tuning set, OSVOS is re-fitted and re-propagated, and the sequence's J mean after is
    recorded (progressive refinement, §2.3).
(c) **DAVIS J and F** (mean, recall, decay) of every OSVOS run via
    :func:`ivos_core.metrics.davis_jf`, first and last (evaluated) frames excluded.
(d) **Fig. 10** - the mean IoU between consecutive ground-truth masks of the whole sequence.

The robot user is :class:`ivos_core.robot.RobotUser` (next click at the interior-most point
of the largest error), every click loop the one :func:`ivos_core.robot.robot_loop`, started
from the current mask (empty for a first frame).

Modules: ``config`` (:class:`DavisEvalConfig`, the paper's numbers, :func:`load_models`),
``sequence`` (frames + ground truth, OSVOS run, scores, robot loop, :class:`SequenceResult`),
``first_frame`` (Fig. 5), ``correction`` (Table 3, progressive refinement), ``run`` (a sequence,
a split, the per-sequence cache), ``report`` (:class:`DavisEvalResult`, summary, output files),
``figures`` (the two plots).

Usage::

    cfg = DavisEvalConfig(finetune_steps=200, frame_stride=2, checkpoint="runs/ours/final")
    result = evaluate_davis("../shared/data/DAVIS", cfg)
    write_davis_outputs(result, "outputs/davis")   # summary.json, *.parquet, *.png

Output columns (``per_sequence.parquet``, one row per sequence; ``sequence`` is the item column
the analytics store's eval-results loader reads, every numeric column becomes a metric):
``sequence, status, reason, n_frames, n_frames_total, frame_stride, height, width,
consecutive_iou_mean, J_mean, J_recall, J_decay, F_mean, F_recall, F_decay, JF_mean`` (the
GT-initialised run: the OSVOS score of Fig. 10), then per init setting ``s``
``init_iou[s], J_mean[s], J_recall[s], J_decay[s], F_mean[s], F_recall[s], F_decay[s]``, then
``worst_frame, worst_iou`` (before correction), ``refine_iou[m@k]`` per correction method ``m``
and clicks ``k``, ``progressive_J_mean[m@k]``, ``seconds``. ``per_frame.parquet``: ``sequence,
frame`` (index in the original sequence), ``setting`` (``osvos:<s>`` or ``progressive:<m@k>``),
``iou, boundary_f, evaluated`` (False for the first/last frame). ``corrections.parquet``:
``sequence, frame, method, clicks, iou`` (``clicks = 0``: before). ``summary.json`` names
``dataset`` (``davis2016``), ``method`` (``osvos``) and ``items`` (``per_sequence.parquet``).

A sequence that cannot be evaluated (missing annotation, unreadable frame, empty first-frame
ground truth, ...) is reported with ``status="failed"`` and its reason; the rest completes.
"""

from ivos_core.davis.config import (
    CORRECTION_METHODS,
    INIT_METHODS,
    PAPER_FIG5,
    PAPER_TABLE3,
    DavisEvalConfig,
    EvalModels,
    load_models,
)
from ivos_core.davis.correction import blob_centre_click
from ivos_core.davis.figures import plot_fig5, plot_table3
from ivos_core.davis.report import DavisEvalResult, summary_rows, write_davis_outputs
from ivos_core.davis.run import evaluate_davis, evaluate_named_sequence, evaluate_sequence, select_sequences
from ivos_core.davis.sequence import STAT_KEYS, SequenceResult, sequence_columns

__all__ = [
    "CORRECTION_METHODS",
    "INIT_METHODS",
    "PAPER_FIG5",
    "PAPER_TABLE3",
    "STAT_KEYS",
    "DavisEvalConfig",
    "DavisEvalResult",
    "EvalModels",
    "SequenceResult",
    "blob_centre_click",
    "evaluate_davis",
    "evaluate_named_sequence",
    "evaluate_sequence",
    "load_models",
    "select_sequences",
    "sequence_columns",
    "summary_rows",
    "plot_fig5",
    "plot_table3",
    "write_davis_outputs",
]
