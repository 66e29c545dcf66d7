"""What a DAVIS evaluation runs: the paper's reference numbers, :class:`DavisEvalConfig` (the
protocol's settings and their cache fingerprint) and :func:`load_models` (the networks it needs)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ivos_core.video_prior import DEFAULT_OSVOS_OPTIONS, OSVOSOptions
from ivos_core.utils import config_dict

__all__ = [
    "CORRECTION_METHODS",
    "INIT_METHODS",
    "PAPER_FIG5",
    "PAPER_TABLE3",
    "DavisEvalConfig",
    "EvalModels",
    "load_models",
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
    ``correction_methods`` / ``correction_clicks``: Table 3; ``correction_frames``: how many of
    the worst frames are corrected (Table 3 itself reads the worst one; the rest only add rows to
    ``corrections.parquet`` and the ``table3_frames`` summary). ``progressive_clicks``: click counts
    whose corrected worst frame is added to the fine-tuning set for a re-fit + re-propagation
    (one extra fine-tuning per available correction method and count; empty = off).
    ``finetune_steps`` / ``finetune_lr`` / ``finetune_crop`` / ``prior_weight`` /
    ``prior_inside`` / ``flip_tta`` / ``freeze_bn`` / ``prior_dilation`` / ``mask_threshold`` / ``flow_max_side`` /
    ``finetune_aug`` / ``osvos_crf`` (``OSVOSOptions.crf_weight``) / ``osvos_online_steps`` /
    ``osvos_online_every`` (``OSVOSOptions.online_*``): OSVOS's adaptation (:meth:`osvos_options`; defaults from
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
    correction_frames: int = 1  # correct the k worst frames (the paper: 1); k > 1 gives a steadier dev measure
    finetune_steps: int = DEFAULT_OSVOS_OPTIONS.finetune_steps
    finetune_lr: float | None = DEFAULT_OSVOS_OPTIONS.finetune_lr
    finetune_crop: int | None = DEFAULT_OSVOS_OPTIONS.finetune_crop
    prior_weight: float = DEFAULT_OSVOS_OPTIONS.prior_weight
    prior_inside: float = DEFAULT_OSVOS_OPTIONS.prior_inside
    flip_tta: bool = DEFAULT_OSVOS_OPTIONS.flip_tta
    freeze_bn: bool = DEFAULT_OSVOS_OPTIONS.freeze_bn
    prior_dilation: float = DEFAULT_OSVOS_OPTIONS.prior_dilation
    mask_threshold: float = DEFAULT_OSVOS_OPTIONS.mask_threshold
    flow_max_side: int = DEFAULT_OSVOS_OPTIONS.flow_max_side
    finetune_aug: float = DEFAULT_OSVOS_OPTIONS.finetune_aug
    osvos_crf: float = DEFAULT_OSVOS_OPTIONS.crf_weight
    osvos_online_steps: int = DEFAULT_OSVOS_OPTIONS.online_steps
    osvos_online_every: int = DEFAULT_OSVOS_OPTIONS.online_every
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
    colour: float = 0.0  # the colour cue's weight for the deep methods (ivos_core.interactive.colour)
    keep_clicked: bool = False
    grabcut_band: float | None = None  # our model's GrabCut boundary refinement (ivos_core.interactive.grabcut_refine)
    local_radius: float | None = None  # our model's corrections change only near the clicks (SegmenterOptions)
    interactive_flip: bool = False  # our model averages its mirror image's logits (SegmenterOptions.flip_tta)
    interactive_input_size: int | None = None  # our model's working size (None: the checkpoint's)
    interactive_options: dict[str, Any] = field(default_factory=dict)  # further SegmenterOptions of ours (e.g. tta_sizes)
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
        self._check_ranges()
        self.osvos_options()  # validates the OSVOS fields
        self.interactive_options = dict(self.interactive_options or {})
        try:  # a wrong name or value fails here, not later as an "unavailable" model
            from ivos_core.interactive.options import SegmenterOptions

            SegmenterOptions().with_(**self.interactive_options)
        except TypeError as exc:
            raise ValueError(f"DavisEvalConfig.interactive_options: {exc}") from None
        missing = [k for k in self.progressive_clicks if k not in self.correction_clicks]
        if missing:
            raise ValueError(f"progressive_clicks {missing} must be among correction_clicks {self.correction_clicks}")

    def _check_ranges(self) -> None:
        if self.correction_frames < 1:
            raise ValueError(f"DavisEvalConfig.correction_frames must be >= 1, got {self.correction_frames}")
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

    def osvos_options(self) -> OSVOSOptions:
        """The :class:`~ivos_core.video_prior.OSVOSOptions` of this evaluation (frames are already
        at ``max_side``, so the options' working resolution stays the default's)."""
        return replace(
            DEFAULT_OSVOS_OPTIONS, finetune_steps=int(self.finetune_steps), finetune_lr=self.finetune_lr,
            finetune_crop=self.finetune_crop, prior_weight=float(self.prior_weight), prior_inside=float(self.prior_inside),
            flip_tta=bool(self.flip_tta), freeze_bn=bool(self.freeze_bn), prior_dilation=float(self.prior_dilation),
            mask_threshold=float(self.mask_threshold), flow_max_side=int(self.flow_max_side),
            finetune_aug=float(self.finetune_aug), crf_weight=float(self.osvos_crf),
            online_steps=int(self.osvos_online_steps), online_every=int(self.osvos_online_every),
        )

    def init_settings(self) -> list[str]:
        """Fig. 5 setting names in plotting order: ``gt``, ``grabcut@1``, ..., ``ours@8``."""
        out = []
        for m in self.init_methods:
            out += ["gt"] if m == "gt" else [f"{m}@{n}" for n in self.init_clicks]
        return out

    def to_dict(self) -> dict[str, Any]:
        return config_dict(self)

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
        for key, default in (("correction_frames", 1), ("local_radius", None), ("flip_tta", False),
                             ("interactive_flip", False), ("interactive_input_size", None), ("freeze_bn", False),
                             ("prior_dilation", 0.03),
                             ("mask_threshold", 0.5), ("flow_max_side", 160), ("finetune_aug", 1.0),
                             ("osvos_crf", 0.0), ("osvos_online_steps", 0), ("osvos_online_every", 8),
                             ("interactive_options", {})):
            if d.get(key) == default:
                d.pop(key)  # settings left at their defaults keep the fingerprints runs had before them
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
    from ivos_core.training.osvos_parent import load_parent

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
            from ivos_core.interactive.methods import build_method

            seg = build_method(
                name, checkpoint=path, crf=config.crf, colour=config.colour, keep_clicked=config.keep_clicked,
                grabcut_band=config.grabcut_band if name == "ours" else None,
                local_radius=config.local_radius if name == "ours" else None,
                flip=config.interactive_flip and name == "ours", device=config.device,
                input_size=config.interactive_input_size if name == "ours" else None,
                options=(dict(config.interactive_options) or None) if name == "ours" else None,
            ).segmenter
        except (ValueError, OSError) as exc:
            models.unavailable[name] = f"{name} checkpoint {path} unusable: {exc}"
            continue
        setattr(models, name, seg)
    return models
