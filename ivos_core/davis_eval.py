"""The paper's DAVIS evaluations (§3.2 Fig. 5, §3.3 Table 3) plus DAVIS J&F and Fig. 10 statistics.

Per sequence of a DAVIS split (:func:`evaluate_sequence`):

(a) **Fig. 5** - OSVOS initialised from one first-frame mask: the ground truth (``gt``), GrabCut
    with the heuristic box around the ground truth plus ``N`` robot clicks (``grabcut@N``), or our
    interactive model after ``N`` robot clicks (``ours@N``), ``N`` in ``init_clicks`` (paper:
    1, 4, 8). Each setting fine-tunes a copy of the parent (or a network from scratch) on that one
    mask and propagates; its score is the DAVIS J mean of the sequence.
(b) **Table 3** - the worst frame of the GT-initialised OSVOS run (lowest IoU with the ground
    truth, frame 0 excluded) is corrected with ``correction_clicks`` robot clicks (paper: 1, 4,
    10) by ``ours`` (the propagated mask as the network's mask input), ``ifcn`` (first a positive
    click at the centre - distance-transform maximum - of the largest OSVOS blob, not a hard
    constraint, then the robot's clicks, which are) and ``grabcut`` (the §3.3 heuristic box:
    positive clicks + current mask). The frame's IoU before and after each is recorded; with
    ``progressive_clicks`` the corrected frame joins the fine-tuning set, OSVOS is re-fitted and
    re-propagated, and the sequence's J mean after is recorded (progressive refinement, §2.3).
(c) **DAVIS J and F** (mean, recall, decay) of every OSVOS run via
    :func:`ivos_core.metrics.davis_jf`, first and last (evaluated) frames excluded.
(d) **Fig. 10** - the mean IoU between consecutive ground-truth masks of the whole sequence.

The robot user is :class:`ivos_core.simulation.RobotUser` (next click at the interior-most point
of the largest error). Every click loop starts from the current mask (empty for a first frame).

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

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ivos_core.interactions import Click
from ivos_core.metrics import boundary_f, davis_jf, iou
from ivos_core.simulation import RobotUser
from ivos_core.video_prior import DEFAULT_OSVOS_OPTIONS, OSVOSOptions

__all__ = [
    "PAPER_FIG5",
    "PAPER_TABLE3",
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

#: Fig. 5 of the paper (mean IoU of OSVOS on DAVIS-2016 val, as fractions). Only the two values
#: stated in the text are known; the GrabCut and 1/4-click bars exist only as a plot.
PAPER_FIG5: dict[str, float] = {"gt": 0.838, "ours@8": 0.806}
#: Table 3 of the paper: IoU of the worst OSVOS frame per sequence before and after correction.
PAPER_TABLE3: dict[str, Any] = {
    "before": 0.504,
    "grabcut": {1: 0.466, 4: 0.535, 10: 0.688},
    "ifcn": {1: 0.557, 4: 0.713, 10: 0.799},
    "ours": {1: 0.638, 4: 0.757, 10: 0.822},
}

INIT_METHODS = ("gt", "grabcut", "ours")
CORRECTION_METHODS = ("ours", "ifcn", "grabcut")
ProgressFn = Callable[[int, int, str], None]


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------


def _ints(v: Any, name: str) -> tuple[int, ...]:
    if isinstance(v, str):
        v = [x for x in v.split(",") if x.strip()]
    out = tuple(sorted({int(x) for x in v}))
    if any(k < 1 for k in out):
        raise ValueError(f"DavisEvalConfig.{name} must be positive click counts, got {v!r}")
    return out


def _names(v: Any, allowed: tuple[str, ...], name: str) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [x.strip() for x in v.split(",") if x.strip()]
    out = tuple(dict.fromkeys(v))
    bad = [x for x in out if x not in allowed]
    if bad:
        raise ValueError(f"DavisEvalConfig.{name}: unknown {bad}; choose from {allowed}")
    return out


@dataclass
class DavisEvalConfig:
    """What to evaluate and how (defaults: the paper's protocol; shrink the budgets on a CPU).

    ``sequences``: a subset of the split (None: all). ``init_methods`` / ``init_clicks``: the
    Fig. 5 settings (``gt`` is one setting; ``grabcut`` and ``ours`` one per click count).
    ``correction_methods`` / ``correction_clicks``: Table 3. ``progressive_clicks``: click counts
    whose corrected worst frame is added to the fine-tuning set for a re-fit + re-propagation
    (one extra fine-tuning per available correction method and count; empty = off).
    ``finetune_steps`` / ``finetune_lr`` / ``finetune_crop`` / ``prior_weight`` /
    ``prior_inside``: OSVOS's adaptation (:meth:`osvos_options`; defaults from
    :data:`ivos_core.video_prior.DEFAULT_OSVOS_OPTIONS`, the one place they are set). ``max_frames`` /
    ``frame_stride``: evaluate frames ``0, s, 2s, ...`` (at most ``max_frames``) for quick runs;
    ``max_side``: downscale frames so the longer side is at most this (metrics at that size).
    ``osvos_parent``: a ``kind="osvos"`` checkpoint (None: ``osvos_model`` from scratch).
    ``checkpoint`` / ``ifcn_checkpoint``: the interactive models (gaussian / distance encoding);
    settings that need a missing one are skipped and the reason reported.
    """

    split: str = "val"
    year: int = 2016
    resolution: str = "480p"
    sequences: tuple[str, ...] | None = None
    init_methods: tuple[str, ...] = INIT_METHODS
    init_clicks: tuple[int, ...] = (1, 4, 8)
    correction_methods: tuple[str, ...] = CORRECTION_METHODS
    correction_clicks: tuple[int, ...] = (1, 4, 10)
    progressive_clicks: tuple[int, ...] = ()
    finetune_steps: int = DEFAULT_OSVOS_OPTIONS.finetune_steps
    finetune_lr: float | None = DEFAULT_OSVOS_OPTIONS.finetune_lr
    finetune_crop: int | None = DEFAULT_OSVOS_OPTIONS.finetune_crop
    prior_weight: float = DEFAULT_OSVOS_OPTIONS.prior_weight
    prior_inside: float = DEFAULT_OSVOS_OPTIONS.prior_inside
    max_frames: int | None = None
    frame_stride: int = 1
    max_side: int | None = None
    batch_size: int = 4
    seed: int = 0
    device: str = "auto"
    osvos_parent: str | None = None
    osvos_model: str = "lite"
    checkpoint: str | None = None
    ifcn_checkpoint: str | None = None
    crf: bool = False
    colour: float = 0.0  # the colour cue's weight for the deep methods (ivos_core.colour)
    keep_clicked: bool = False
    grabcut_band: float | None = None  # our model's GrabCut boundary refinement (ivos_core.grabcut_refine)
    grabcut_box_margin: int = 10
    grabcut_iterations: int = 5

    def __post_init__(self) -> None:
        if self.sequences is not None:
            seqs = self.sequences.split(",") if isinstance(self.sequences, str) else self.sequences
            self.sequences = tuple(s.strip() for s in seqs if s and s.strip()) or None
        self.init_methods = _names(self.init_methods, INIT_METHODS, "init_methods")
        self.correction_methods = _names(self.correction_methods, CORRECTION_METHODS, "correction_methods")
        self.init_clicks = _ints(self.init_clicks, "init_clicks")
        self.correction_clicks = _ints(self.correction_clicks, "correction_clicks")
        self.progressive_clicks = _ints(self.progressive_clicks, "progressive_clicks")
        if self.finetune_steps < 0:
            raise ValueError(f"DavisEvalConfig.finetune_steps must be >= 0, got {self.finetune_steps}")
        if self.frame_stride < 1:
            raise ValueError(f"DavisEvalConfig.frame_stride must be >= 1, got {self.frame_stride}")
        if self.max_frames is not None and self.max_frames < 3:
            raise ValueError(f"DavisEvalConfig.max_frames must be >= 3 (J&F drop the first and last), got {self.max_frames}")
        if self.max_side is not None and self.max_side < 32:
            raise ValueError(f"DavisEvalConfig.max_side must be >= 32 pixels, got {self.max_side}")
        if self.year not in (2016, 2017):
            raise ValueError(f"DavisEvalConfig.year must be 2016 or 2017, got {self.year}")
        if self.batch_size < 1:
            raise ValueError(f"DavisEvalConfig.batch_size must be >= 1, got {self.batch_size}")
        self.osvos_options()  # validates the OSVOS fields
        missing = [k for k in self.progressive_clicks if k not in self.correction_clicks]
        if missing:
            raise ValueError(f"progressive_clicks {missing} must be among correction_clicks {self.correction_clicks}")

    def osvos_options(self) -> OSVOSOptions:
        """The :class:`~ivos_core.video_prior.OSVOSOptions` of this evaluation (frames are already
        at ``max_side``, so the options' working resolution stays the default's)."""
        return replace(
            DEFAULT_OSVOS_OPTIONS, finetune_steps=int(self.finetune_steps), finetune_lr=self.finetune_lr,
            finetune_crop=self.finetune_crop, prior_weight=float(self.prior_weight), prior_inside=float(self.prior_inside),
        )

    def init_settings(self) -> list[str]:
        """Fig. 5 setting names in plotting order: ``gt``, ``grabcut@1``, ..., ``ours@8``."""
        out = []
        for m in self.init_methods:
            out += ["gt"] if m == "gt" else [f"{m}@{n}" for n in self.init_clicks]
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DavisEvalConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k, v in known.items():
            if isinstance(v, list):
                known[k] = tuple(v)
        return cls(**known)

    def fingerprint(self) -> str:
        """Hash of everything that changes a sequence's numbers (a cached result is reused only
        when its fingerprint matches)."""
        d = self.to_dict()
        d.pop("sequences", None)
        d.pop("device", None)
        for key in ("osvos_parent", "checkpoint", "ifcn_checkpoint"):
            d[key] = _file_tag(d[key])
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _file_tag(path: str | None) -> str | None:
    """A checkpoint path plus its weights' size and mtime (a retrained model invalidates caches)."""
    if not path:
        return None
    p = Path(path)
    for cand in (p, Path(str(p) + ".safetensors")):
        if cand.is_file():
            st = cand.stat()
            return f"{p}:{st.st_size}:{int(st.st_mtime)}"
    return str(p)


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------


@dataclass
class EvalModels:
    """The networks of one evaluation: the OSVOS ``parent`` (None: from scratch), the interactive
    segmenters ``ours`` / ``ifcn`` (None when unavailable) and ``unavailable`` method -> reason."""

    parent: Any = None
    ours: Any = None
    ifcn: Any = None
    unavailable: dict[str, str] = field(default_factory=dict)


def load_models(config: DavisEvalConfig) -> EvalModels:
    """Load the OSVOS parent and the interactive models the config names.

    A missing ``osvos_parent`` file is an error (the run would silently change meaning); a
    missing or mismatched interactive checkpoint only makes its settings unavailable.
    """
    from ivos_core.osvos_training import load_parent

    models = EvalModels()
    if config.osvos_parent:
        models.parent = load_parent(config.osvos_parent, device="cpu")
    need_ours = "ours" in config.init_methods or "ours" in config.correction_methods
    need_ifcn = "ifcn" in config.correction_methods
    for name, path, needed in (("ours", config.checkpoint, need_ours), ("ifcn", config.ifcn_checkpoint, need_ifcn)):
        if not needed:
            continue
        if not path:
            flag = "--checkpoint" if name == "ours" else "--ifcn-checkpoint"
            models.unavailable[name] = f"no {name} checkpoint given ({flag} PATH)"
            continue
        try:
            from ivos_core.methods import build_method

            seg = build_method(
                name, checkpoint=path, crf=config.crf, colour=config.colour, keep_clicked=config.keep_clicked,
                grabcut_band=config.grabcut_band if name == "ours" else None, device=config.device,
            ).segmenter
        except (ValueError, OSError) as exc:
            models.unavailable[name] = f"{name} checkpoint {path} unusable: {exc}"
            continue
        setattr(models, name, seg)
    return models


# --------------------------------------------------------------------------------------------
# one sequence
# --------------------------------------------------------------------------------------------


@dataclass
class SequenceResult:
    """Everything measured on one sequence, as plain rows (JSON-able; see the module docstring).

    ``row``: the ``per_sequence`` row; ``frame_rows`` / ``correction_rows``: the long tables;
    ``skipped``: setting -> reason for settings not run on this sequence.
    """

    sequence: str
    status: str
    reason: str | None = None
    row: dict[str, Any] = field(default_factory=dict)
    frame_rows: list[dict[str, Any]] = field(default_factory=list)
    correction_rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    fingerprint: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SequenceResult":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def save(self, path: str | Path) -> Path:
        """Write atomically as JSON (a reader never sees half a file)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        _atomic(p, lambda t: t.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8"))
        return p

    @classmethod
    def load(cls, path: str | Path) -> "SequenceResult":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _clean(x: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        f = float(x)
        return f if math.isfinite(f) else None
    return x


def _foreground(seq: Any, i: int, year: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(mask, void) of frame ``i``: 2016 object 1; 2017 the union of all objects, 255 void."""
    if year == 2016:
        return np.asarray(seq.mask(i), bool), None
    lab = seq.label(i)
    return (lab > 0) & (lab != 255), (lab == 255)


def _load_sequence(seq: Any, config: DavisEvalConfig) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray | None]:
    """Frame indices, frames (T, H, W, 3) uint8, GT (T, H, W) bool and void (or None), resized."""
    n = len(seq)
    idx = list(range(0, n, config.frame_stride))
    if config.max_frames is not None:
        idx = idx[: config.max_frames]
    if len(idx) < 3:
        raise ValueError(f"sequence {seq.name!r}: {len(idx)} frame(s) selected of {n}; J&F need at least 3")
    frames, gts, voids = [], [], []
    first_shape: tuple[int, ...] | None = None
    for i in idx:
        f = np.asarray(seq.frame(i))
        g, v = _foreground(seq, i, config.year)
        if g.shape != f.shape[:2]:
            raise ValueError(f"sequence {seq.name!r} frame {i}: annotation {g.shape} and frame {f.shape[:2]} differ")
        if first_shape is None:
            first_shape = f.shape
        elif f.shape != first_shape:
            raise ValueError(f"sequence {seq.name!r} frame {i}: size {f.shape[:2]} differs from frame 0's {first_shape[:2]}")
        if config.max_side is not None and max(f.shape[:2]) > config.max_side:
            s = config.max_side / max(f.shape[:2])
            size = (max(1, round(f.shape[1] * s)), max(1, round(f.shape[0] * s)))
            f = cv2.resize(f, size, interpolation=cv2.INTER_AREA)
            g = cv2.resize(g.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
            if v is not None:
                v = cv2.resize(v.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
        frames.append(f)
        gts.append(g)
        voids.append(v)
    if not gts[0].any():
        raise ValueError(f"sequence {seq.name!r}: the first frame's ground truth is empty (nothing to segment)")
    void = None if voids[0] is None else np.stack(voids)
    return idx, np.stack(frames), np.stack(gts), void


def _consecutive_gt_iou(seq: Any, year: int) -> float | None:
    """Mean IoU between consecutive annotated GT masks of the whole sequence (Fig. 10 x axis)."""
    from ivos_core.difficulty import consecutive_mask_iou

    masks = [_foreground(seq, i, year)[0] for i in range(len(seq)) if seq.has_mask(i)]
    return consecutive_mask_iou(masks) if len(masks) >= 2 else None


def _robot_loop(
    predict: Callable[[list[Click], np.ndarray], np.ndarray],
    gt: np.ndarray,
    start: np.ndarray,
    n_max: int,
    void: np.ndarray | None = None,
) -> tuple[list[np.ndarray], list[Click]]:
    """Robot clicks 1..n_max on the current mask's errors; returns the mask after each click.

    ``predict(clicks so far, current mask) -> mask``. When the robot finds nothing to fix the
    mask stays as it is for the remaining clicks.
    """
    robot = RobotUser(gt, void)
    pred = np.asarray(start, bool)
    clicks: list[Click] = []
    masks: list[np.ndarray] = []
    for _ in range(n_max):
        c = robot.next_click(pred)
        if c is not None:
            clicks.append(c)
            pred = np.asarray(predict(list(clicks), pred), bool)
            if pred.shape != gt.shape:
                raise ValueError(f"a method returned a {pred.shape} mask for a {gt.shape} frame")
        masks.append(pred)
    return masks, clicks


def blob_centre_click(mask: np.ndarray) -> Click | None:
    """A positive click at the interior-most pixel (distance-transform maximum) of the largest
    connected component of ``mask``; None for an empty mask (iFCN's start, paper §3.3)."""
    m = np.asarray(mask, bool)
    if not m.any():
        return None
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    blob = np.pad((lab == k).astype(np.uint8), 1)
    dt = cv2.distanceTransform(blob, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = divmod(int(np.argmax(dt)), dt.shape[1])
    return Click(x=float(x), y=float(y), positive=True)


def _first_frame_masks(
    method: str, image: np.ndarray, gt: np.ndarray, clicks: Sequence[int], models: EvalModels,
    config: DavisEvalConfig, void: np.ndarray | None,
) -> dict[int, np.ndarray]:
    """First-frame masks after each of ``clicks`` robot clicks: GrabCut (box around the GT +
    clicks as seeds) or our model (all clicks + previous mask), starting from an empty mask."""
    if method == "grabcut":
        from ivos_core.baselines.grabcut import GrabCutSegmenter, heuristic_box

        gc = GrabCutSegmenter(iterations=config.grabcut_iterations)
        box = heuristic_box([], gt, margin=config.grabcut_box_margin)
        predict = lambda cl, cur: gc.predict(image, cl, box=box)  # noqa: E731
    else:
        seg = models.ours
        seg.set_image(image)
        predict = lambda cl, cur: seg.predict(cl, prev_mask=cur).mask  # noqa: E731
    masks, _ = _robot_loop(predict, gt, np.zeros_like(gt), max(clicks), void)
    return {k: masks[k - 1] for k in clicks}


def _correct(
    method: str, image: np.ndarray, gt: np.ndarray, start: np.ndarray, n_max: int, models: EvalModels,
    config: DavisEvalConfig, void: np.ndarray | None,
) -> list[np.ndarray]:
    """Masks after 1..n_max robot clicks correcting ``start`` (the propagated OSVOS mask)."""
    if method == "grabcut":
        from ivos_core.methods import GrabCutMethod

        gm = GrabCutMethod(iterations=config.grabcut_iterations)
        gm.set_image(image)
        return _robot_loop(gm.predict, gt, start, n_max, void)[0]
    if method == "ours":
        seg = models.ours
        seg.set_image(image)
        # the propagated mask's parts were never clicked: no clicked-component filter here
        return _robot_loop(
            lambda cl, cur: seg.predict(cl, prev_mask=cur, keep_clicked=False).mask, gt, start, n_max, void
        )[0]
    # iFCN: a free positive click at the centre of the largest OSVOS blob, not a hard constraint;
    # the robot's clicks are (clamped after the soft prediction).
    from ivos_core.segmenter import constraint_masks

    seg = models.ifcn
    seg.set_image(image)
    seed_click = blob_centre_click(start)
    seeds = [seed_click] if seed_click is not None else []
    h, w = gt.shape
    radius = int(getattr(seg, "click_radius", 3))

    def predict(cl: list[Click], cur: np.ndarray) -> np.ndarray:
        m = seg.predict(seeds + cl, prev_mask=cur, hard_constraints=False, keep_clicked=False).mask.copy()
        fg, bg = constraint_masks(cl, h, w, click_radius=radius)
        m[fg] = True
        m[bg] = False
        return m

    first = predict([], start) if seeds else np.zeros_like(gt)
    return _robot_loop(predict, gt, first, n_max, void)[0]


def _osvos(
    name: str, frames: np.ndarray, annotations: dict[int, np.ndarray], models: EvalModels, config: DavisEvalConfig,
    vs: Any = None,
) -> tuple[np.ndarray, Any]:
    """Fine-tune on ``annotations`` (frame -> mask) and propagate; returns masks (T, H, W) and the
    VideoSegmenter (reused for progressive refinement). An empty annotation predicts nothing."""
    from ivos_core.video import VideoSegmenter

    if vs is None:
        vs = VideoSegmenter(
            models.parent, device=config.device, options=config.osvos_options(),
            batch_size=config.batch_size, seed=config.seed,
        )
        vs.open(frames, name=name)
    for i, m in annotations.items():
        vs.set_mask(i, m, allow_empty=True)
    if not any(a.mask.any() for a in vs.state.annotations.values()):
        return np.zeros(frames.shape[:3], bool), vs
    vs.fit()
    vs.propagate_all()
    return np.stack([vs.mask(i) for i in range(len(frames))]), vs


def _scores(preds: np.ndarray, gts: np.ndarray, void: np.ndarray | None) -> tuple[dict[str, float], list[float], list[float]]:
    """DAVIS stats (first/last excluded) and per-frame J, F for all frames."""
    r = davis_jf(preds, gts, void_masks=void)
    n = len(gts)
    j, f = [math.nan] * n, [math.nan] * n
    for t, jv, fv in zip(r["frames"], r["J_per_frame"], r["F_per_frame"]):
        j[t], f[t] = jv, fv
    for t in (0, n - 1):
        v = None if void is None else void[t]
        j[t] = iou(preds[t], gts[t], ignore=v)
        f[t] = boundary_f(preds[t], gts[t], ignore=v)
    stats = {
        "J_mean": r["J"].mean, "J_recall": r["J"].recall, "J_decay": r["J"].decay,
        "F_mean": r["F"].mean, "F_recall": r["F"].recall, "F_decay": r["F"].decay,
        "JF_mean": r["JF_mean"],
    }
    return stats, j, f


STAT_KEYS = ("J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay")


def sequence_columns(config: DavisEvalConfig) -> list[str]:
    """The documented ``per_sequence`` columns for a config, in order."""
    cols = ["sequence", "status", "reason", "n_frames", "n_frames_total", "frame_stride", "height", "width",
            "consecutive_iou_mean", *STAT_KEYS, "JF_mean"]
    for s in config.init_settings():
        cols += [f"init_iou[{s}]"] + [f"{k}[{s}]" for k in STAT_KEYS]
    cols += ["worst_frame", "worst_iou"]
    cols += [f"refine_iou[{m}@{k}]" for m in config.correction_methods for k in config.correction_clicks]
    cols += [f"progressive_J_mean[{m}@{k}]" for m in config.correction_methods for k in config.progressive_clicks]
    cols += ["seconds"]
    return cols


def evaluate_sequence(
    seq: Any,
    config: DavisEvalConfig,
    models: EvalModels | None = None,
    *,
    log: Callable[[str], None] | None = None,
) -> SequenceResult:
    """Run (a)-(d) on one :class:`~ivos_core.data.DavisSequence`; never raises for a broken
    sequence: the result has ``status="failed"`` and the reason."""
    t0 = time.perf_counter()
    models = models if models is not None else load_models(config)
    name = str(getattr(seq, "name", "sequence"))
    res = SequenceResult(sequence=name, status="ok", fingerprint=config.fingerprint())
    row: dict[str, Any] = {c: None for c in sequence_columns(config)}
    row.update(sequence=name, status="ok", frame_stride=config.frame_stride)
    say = log or (lambda msg: None)
    try:
        import torch

        torch.manual_seed(config.seed)
        cv2.setRNGSeed(config.seed)
        idx, frames, gts, void = _load_sequence(seq, config)
        T = len(idx)
        row.update(n_frames=T, n_frames_total=len(seq), height=int(gts.shape[1]), width=int(gts.shape[2]))
        row["consecutive_iou_mean"] = _consecutive_gt_iou(seq, config.year)
        v0 = None if void is None else void[0]

        def frame_rows(setting: str, j: list[float], f: list[float]) -> None:
            for t in range(T):
                res.frame_rows.append({
                    "sequence": name, "frame": idx[t], "setting": setting, "iou": j[t], "boundary_f": f[t],
                    "evaluated": 0 < t < T - 1,
                })

        # (a) first-frame masks of every setting
        init: dict[str, np.ndarray] = {}
        for m in config.init_methods:
            if m == "gt":
                init["gt"] = gts[0]
                continue
            if m in models.unavailable or (m == "ours" and models.ours is None):
                for k in config.init_clicks:
                    res.skipped[f"{m}@{k}"] = models.unavailable.get(m, f"{m} model not loaded")
                continue
            for k, mask in _first_frame_masks(m, frames[0], gts[0], config.init_clicks, models, config, v0).items():
                init[f"{m}@{k}"] = mask
        gt_vs = None
        gt_preds = None
        for s in config.init_settings():
            if s not in init:
                continue
            ts = time.perf_counter()
            preds, vs = _osvos(name, frames, {0: init[s]}, models, config)
            stats, j, f = _scores(preds, gts, void)
            row[f"init_iou[{s}]"] = iou(init[s], gts[0], ignore=v0)
            for k in STAT_KEYS:
                row[f"{k}[{s}]"] = stats[k]
            if s == "gt":
                row.update(stats)
                gt_vs, gt_preds = vs, preds
            frame_rows(f"osvos:{s}", j, f)
            say(f"{name}: OSVOS from {s}: J {stats['J_mean']:.3f} ({time.perf_counter() - ts:.1f} s)")

        # (b) Table 3 on the worst frame of the GT-initialised run
        if gt_preds is not None and config.correction_methods:
            ious = [iou(gt_preds[t], gts[t], ignore=None if void is None else void[t]) for t in range(T)]
            w = min(range(1, T), key=lambda t: (ious[t], t))
            row["worst_frame"], row["worst_iou"] = idx[w], ious[w]
            vw = None if void is None else void[w]
            corrected: dict[str, list[np.ndarray]] = {}
            for m in config.correction_methods:
                if m in models.unavailable or getattr(models, m, True) is None:
                    for k in config.correction_clicks:
                        res.skipped[f"refine:{m}@{k}"] = models.unavailable.get(m, f"{m} model not loaded")
                    continue
                masks = _correct(m, frames[w], gts[w], gt_preds[w], max(config.correction_clicks), models, config, vw)
                corrected[m] = masks
                res.correction_rows.append({"sequence": name, "frame": idx[w], "method": m, "clicks": 0, "iou": ious[w]})
                for k, mk in enumerate(masks, start=1):
                    res.correction_rows.append(
                        {"sequence": name, "frame": idx[w], "method": m, "clicks": k, "iou": iou(mk, gts[w], ignore=vw)}
                    )
                for k in config.correction_clicks:
                    row[f"refine_iou[{m}@{k}]"] = iou(masks[k - 1], gts[w], ignore=vw)
            # progressive refinement: the corrected frame joins the fine-tuning set
            for m, masks in corrected.items():
                for k in config.progressive_clicks:
                    preds, _ = _osvos(name, frames, {w: masks[k - 1]}, models, config, vs=gt_vs)
                    gt_vs.remove_annotation(w)
                    stats, j, f = _scores(preds, gts, void)
                    row[f"progressive_J_mean[{m}@{k}]"] = stats["J_mean"]
                    frame_rows(f"progressive:{m}@{k}", j, f)
        if gt_vs is not None:
            gt_vs.close()
    except Exception as exc:  # one broken sequence must not end a long evaluation
        res.status, res.reason = "failed", f"{type(exc).__name__}: {exc}"
        row.update(status="failed", reason=res.reason)
        res.frame_rows, res.correction_rows = [], []
        say(f"{name}: failed: {res.reason}")
    res.seconds = time.perf_counter() - t0
    row["seconds"] = res.seconds
    res.row = _clean(row)
    res.frame_rows = _clean(res.frame_rows)
    res.correction_rows = _clean(res.correction_rows)
    return res


# --------------------------------------------------------------------------------------------
# a whole split
# --------------------------------------------------------------------------------------------


def _open_dataset(root: str | Path, config: DavisEvalConfig):
    from ivos_core.data import DavisDataset

    return DavisDataset(root, year=config.year, split=config.split, resolution=config.resolution)


def select_sequences(root: str | Path, config: DavisEvalConfig) -> list[str]:
    """The sequence names to evaluate: the split's, or ``config.sequences`` in the given order
    (names not in the split are kept: they are reported as failed)."""
    ds = _open_dataset(root, config)
    return list(config.sequences) if config.sequences else ds.sequences()


def evaluate_named_sequence(
    root: str | Path, name: str, config: DavisEvalConfig, models: EvalModels | None = None, *,
    cache: str | Path | None = None, log: Callable[[str], None] | None = None,
) -> SequenceResult:
    """Evaluate sequence ``name`` of the DAVIS root; with ``cache`` (a JSON path) reuse a result
    saved there by the same config (:meth:`DavisEvalConfig.fingerprint`), else compute and save."""
    if cache is not None and Path(cache).is_file():
        try:
            old = SequenceResult.load(cache)
        except (ValueError, OSError, TypeError):
            old = None
        if old is not None and old.fingerprint == config.fingerprint() and old.status == "ok":
            return old
    try:
        seq = _open_dataset(root, config).sequence(name)
    except Exception as exc:
        res = SequenceResult(name, "failed", f"{type(exc).__name__}: {exc}", fingerprint=config.fingerprint())
        res.row = _clean({**{c: None for c in sequence_columns(config)}, "sequence": name, "status": "failed",
                          "reason": res.reason})
    else:
        res = evaluate_sequence(seq, config, models, log=log)
    if cache is not None:
        res.save(cache)
    return res


@dataclass
class DavisEvalResult:
    """All sequences of one evaluation, plus what could not run and why."""

    config: DavisEvalConfig
    sequences: list[SequenceResult]
    unavailable: dict[str, str] = field(default_factory=dict)
    root: str = ""
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    seconds: float = 0.0

    @property
    def dataset(self) -> str:
        return f"davis{self.config.year}"

    def per_sequence(self):
        import pandas as pd

        cols = sequence_columns(self.config)
        df = pd.DataFrame([s.row for s in self.sequences], columns=cols)
        for c in cols:
            if c not in ("sequence", "status", "reason"):
                df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
        return df

    def per_frame(self):
        import pandas as pd

        cols = ["sequence", "frame", "setting", "iou", "boundary_f", "evaluated"]
        return pd.DataFrame([r for s in self.sequences for r in s.frame_rows], columns=cols)

    def corrections(self):
        import pandas as pd

        cols = ["sequence", "frame", "method", "clicks", "iou"]
        return pd.DataFrame([r for s in self.sequences for r in s.correction_rows], columns=cols)

    def summary(self) -> dict[str, Any]:
        """Means per setting next to the paper's numbers (fractions, not percent)."""
        cfg = self.config
        df = self.per_sequence()
        ok = df[df["status"] == "ok"]

        def mean(col: str) -> tuple[float | None, int]:
            if col not in ok:
                return None, 0
            v = ok[col].dropna()
            return (float(v.mean()) if len(v) else None), int(len(v))

        fig5 = {}
        davis = {}
        for s in cfg.init_settings():
            m, n = mean(f"J_mean[{s}]")
            fig5[s] = {"mean_iou": m, "n": n, "paper": PAPER_FIG5.get(s), "init_iou": mean(f"init_iou[{s}]")[0]}
            davis[s] = {k: mean(f"{k}[{s}]")[0] for k in STAT_KEYS}
            j, fm = davis[s]["J_mean"], davis[s]["F_mean"]
            davis[s]["JF_mean"] = None if j is None or fm is None else (j + fm) / 2
        before, nb = mean("worst_iou")
        t3: dict[str, Any] = {"before": {"mean_iou": before, "n": nb, "paper": PAPER_TABLE3["before"]}, "methods": {}}
        for meth in cfg.correction_methods:
            entry = {}
            for k in cfg.correction_clicks:
                m, n = mean(f"refine_iou[{meth}@{k}]")
                sub = ok[[f"refine_iou[{meth}@{k}]", "worst_iou"]].dropna()
                gain = float((sub.iloc[:, 0] - sub.iloc[:, 1]).mean()) if len(sub) else None
                paper = PAPER_TABLE3.get(meth, {}).get(k)
                entry[str(k)] = {
                    "mean_iou": m, "gain": gain, "n": n, "paper": paper,
                    "paper_gain": None if paper is None else round(paper - PAPER_TABLE3["before"], 4),
                }
            t3["methods"][meth] = entry
        prog = {}
        gt_j, _ = mean("J_mean[gt]")
        for meth in cfg.correction_methods:
            for k in cfg.progressive_clicks:
                m, n = mean(f"progressive_J_mean[{meth}@{k}]")
                sub = ok[[f"progressive_J_mean[{meth}@{k}]", "J_mean[gt]"]].dropna()
                gain = float((sub.iloc[:, 0] - sub.iloc[:, 1]).mean()) if len(sub) else None
                prog[f"{meth}@{k}"] = {"J_mean": m, "gain_vs_gt_init": gain, "n": n}
        skipped: dict[str, str] = {}
        for s in self.sequences:
            skipped.update(s.skipped)
        failed = [{"sequence": s.sequence, "reason": s.reason} for s in self.sequences if s.status != "ok"]
        out = {
            "dataset": self.dataset,
            "method": "osvos",
            "items": "per_sequence.parquet",
            "split": cfg.split,
            "root": self.root,
            "created_at": self.created_at,
            "seed": cfg.seed,
            "metric": "J mean per sequence (first and last evaluated frame excluded), averaged over sequences",
            "n_sequences": len(self.sequences),
            "n_ok": int(len(ok)),
            "n_failed": len(failed),
            "failed": failed,
            "unavailable": dict(self.unavailable),
            "skipped_settings": skipped,
            "fig5": fig5,
            "table3": t3,
            "progressive": prog,
            "davis": davis,
            "J_mean": gt_j,
            "F_mean": mean("F_mean")[0],
            "consecutive_iou_mean": mean("consecutive_iou_mean")[0],
            "paper": {"fig5": PAPER_FIG5, "table3": {k: v for k, v in PAPER_TABLE3.items()}},
            "config": cfg.to_dict(),
            "config_fingerprint": cfg.fingerprint(),
            "seconds": round(self.seconds, 2),
            "seconds_per_sequence": mean("seconds")[0],
        }
        return _clean(out)


def evaluate_davis(
    root: str | Path,
    config: DavisEvalConfig | None = None,
    progress: ProgressFn | None = None,
    *,
    cache_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> DavisEvalResult:
    """Evaluate every selected sequence of the DAVIS root (see the module docstring).

    ``progress(done, total, sequence)`` after each sequence. ``cache_dir``: keep each
    sequence's result there as ``<sequence>.json`` and reuse results of the same config.
    """
    t0 = time.perf_counter()
    config = config or DavisEvalConfig()
    names = select_sequences(root, config)
    models = load_models(config)
    results = []
    for i, name in enumerate(names):
        cache = None if cache_dir is None else Path(cache_dir) / f"{name}.json"
        results.append(evaluate_named_sequence(root, name, config, models, cache=cache, log=log))
        if progress is not None:
            progress(i + 1, len(names), name)
    return DavisEvalResult(config, results, dict(models.unavailable), str(root), seconds=time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------


def _atomic(path: Path, write: Callable[[Path], Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    write(tmp)
    tmp.replace(path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_fig5(summary: dict[str, Any], path: str | Path) -> Path:
    """Fig. 5: OSVOS mean IoU vs the first-frame mask's source (lines vs clicks, GT as a level),
    the paper's stated values as stars."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    fig5 = summary.get("fig5", {})
    colours = {"grabcut": "#dd8452", "ours": "#4c72b0"}
    for meth in ("grabcut", "ours"):
        pts = sorted((int(s.split("@")[1]), v["mean_iou"]) for s, v in fig5.items()
                     if s.startswith(meth + "@") and v.get("mean_iou") is not None)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=colours[meth],
                    label=f"OSVOS from {meth} mask")
    gt = fig5.get("gt", {}).get("mean_iou")
    if gt is not None:
        ax.axhline(gt, color="#55a868", lw=1.5, label=f"OSVOS from ground truth ({gt:.3f})")
    ax.scatter([0.3], [PAPER_FIG5["gt"]], marker="*", s=90, color="#55a868", label="paper: GT 0.838")
    ax.scatter([8], [PAPER_FIG5["ours@8"]], marker="*", s=90, color=colours["ours"], label="paper: ours@8 0.806")
    ax.set_xlabel("robot clicks on the first frame")
    ax.set_ylabel("OSVOS mean IoU (J)")
    ax.set_ylim(0, 1)
    ax.set_title(f"Fig. 5: OSVOS by first-frame mask ({summary.get('n_ok', 0)} sequences)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_table3(summary: dict[str, Any], path: str | Path) -> Path:
    """Table 3 as grouped bars: worst-frame IoU before and after k clicks per method; the paper's
    values as black ticks."""
    plt = _pyplot()
    t3 = summary.get("table3", {})
    methods = list(t3.get("methods", {}))
    ks = sorted({int(k) for m in methods for k in t3["methods"][m]})
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    width = 0.8 / max(1, len(methods))
    before = (t3.get("before") or {}).get("mean_iou")
    if before is not None:
        ax.axhline(before, color="grey", ls="--", lw=1, label=f"OSVOS worst frame ({before:.3f})")
    for j, m in enumerate(methods):
        xs = [i + (j - (len(methods) - 1) / 2) * width for i in range(len(ks))]
        vals = [t3["methods"][m][str(k)]["mean_iou"] for k in ks]
        ax.bar(xs, [v if v is not None else 0 for v in vals], width, label=m)
        for x, k in zip(xs, ks):
            p = PAPER_TABLE3.get(m, {}).get(k)
            if p is not None:
                ax.plot([x - width / 2, x + width / 2], [p, p], color="black", lw=2)
    ax.set_xticks(range(len(ks)), [f"{k} click{'s' if k > 1 else ''}" for k in ks])
    ax.set_ylabel("IoU of the corrected worst frame")
    ax.set_ylim(0, 1)
    ax.set_title("Table 3: correcting the worst OSVOS frame (black: paper)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def write_davis_outputs(result: DavisEvalResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``summary.json``, ``per_sequence.parquet`` (+ ``.csv``), ``per_frame.parquet``,
    ``corrections.parquet``, ``fig5_osvos_init.png`` and ``table3_corrections.png`` atomically
    (the summary last, so its presence means the run's files are complete)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "summary": out / "summary.json",
        "per_sequence": out / "per_sequence.parquet",
        "per_sequence_csv": out / "per_sequence.csv",
        "per_frame": out / "per_frame.parquet",
        "corrections": out / "corrections.parquet",
        "fig5": out / "fig5_osvos_init.png",
        "table3": out / "table3_corrections.png",
    }
    summary = result.summary()
    per_seq = result.per_sequence()
    _atomic(paths["per_sequence"], lambda p: per_seq.to_parquet(p, index=False))
    _atomic(paths["per_sequence_csv"], lambda p: per_seq.to_csv(p, index=False))
    _atomic(paths["per_frame"], lambda p: result.per_frame().to_parquet(p, index=False))
    _atomic(paths["corrections"], lambda p: result.corrections().to_parquet(p, index=False))
    _atomic(paths["fig5"], lambda p: plot_fig5(summary, p))
    _atomic(paths["table3"], lambda p: plot_table3(summary, p))
    summary["files"] = {k: p.name for k, p in paths.items() if k != "summary"}
    _atomic(paths["summary"], lambda p: p.write_text(json.dumps(summary, indent=2), encoding="utf-8"))
    return paths


def summary_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten a summary for printing: one row per Fig. 5 setting and Table 3 entry."""
    rows: list[dict[str, Any]] = []
    for s, v in summary.get("fig5", {}).items():
        d = summary.get("davis", {}).get(s, {})
        rows.append({"table": "fig5", "setting": f"OSVOS from {s}", "ours": v.get("mean_iou"),
                     "F": d.get("F_mean"), "paper": v.get("paper"), "n": v.get("n")})
    t3 = summary.get("table3", {})
    b = t3.get("before", {})
    rows.append({"table": "table3", "setting": "OSVOS worst frame", "ours": b.get("mean_iou"), "F": None,
                 "paper": b.get("paper"), "n": b.get("n")})
    for m, entry in t3.get("methods", {}).items():
        for k, v in entry.items():
            rows.append({"table": "table3", "setting": f"{m} {k} click(s)", "ours": v.get("mean_iou"), "F": None,
                         "paper": v.get("paper"), "n": v.get("n")})
    for s, v in summary.get("progressive", {}).items():
        rows.append({"table": "progressive", "setting": f"re-propagated after {s}", "ours": v.get("J_mean"),
                     "F": None, "paper": None, "n": v.get("n")})
    return rows
