"""Training configuration of the interactive network (a typed dataclass, JSON round-trippable).

Presets: :func:`lite` (from scratch on a 2-core CPU, about an hour) and :func:`paper` (the
paper's ResNet-101/PSP configuration for a GPU). Two stages (paper §2.1.1): stage 1 learns from
simulated clicks without a previous mask; stage 2 adds correction examples - a previous mask
(the frozen stage-1 model's own prediction, or a perturbed ground truth) plus ``N_corr``
correction clicks in its error regions - and stroke examples (§4.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from ivos_core.users.samplers import N_CORR_CHOICES
from ivos_core.utils import config_dict


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (saved in every checkpoint's JSON).

    Sizes are pixels of the network input: images are resized so their longer side is
    ``input_size`` x U(``scale_range``) (``input_size`` is also what the segmenter uses at
    inference), then cropped to ``crop_size`` around the object.
    """

    model: str = "lite"
    encoding: Literal["gaussian", "distance"] = "gaussian"
    use_mask: bool = True
    pretrained: str | None = None
    #: a whole interactive checkpoint (same model, encoding and mask channel) to start from instead
    #: of random/backbone weights: continues a finished run with a new schedule (e.g. stage 2 only)
    init_from: str | None = None
    input_size: int = 384
    crop_size: int = 256
    scale_range: tuple[float, float] = (0.75, 1.35)
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    min_lr_frac: float = 0.02
    stage1_steps: int = 2000
    stage2_steps: int = 1500
    iou_loss_weight: float = 0.5
    #: extra cross-entropy weight on the pixels within ``boundary_radius`` px of the object's
    #: boundary (0: plain pixel-weighted cross-entropy, as every shipped checkpoint was trained)
    boundary_weight: float = 0.0
    boundary_radius: int = 3
    p_stroke: float = 0.2
    n_corr_choices: tuple[int, ...] = tuple(N_CORR_CHOICES)
    # stage 2 example mix (normalised): no previous mask / perturbed GT / stage-1 model prediction
    stage2_mix: tuple[float, float, float] = (0.2, 0.4, 0.4)
    p_composite: float = 0.3
    #: share of perturbed-ground-truth stage-2 examples that look like correcting a propagated
    #: video mask: a heavier error (a large part cut off or a distractor blob added) and only the
    #: correction clicks, no initial clicks (0 keeps the original example stream bit for bit)
    p_corrections_only: float = 0.0
    p_flip: float = 0.5
    colour_jitter: float = 0.15
    encoding_kw: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    num_workers: int = 0
    threads: int = 2
    checkpoint_every: int = 250
    keep_checkpoints: bool = True
    log_every: int = 10
    out_dir: str = "runs/interactive-lite"

    def __post_init__(self) -> None:
        for name in ("crop_size", "batch_size", "input_size", "checkpoint_every", "log_every", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("stage1_steps", "stage2_steps", "warmup_steps", "num_workers"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.crop_size % 32:
            raise ValueError(f"TrainConfig.crop_size must be a multiple of 32, got {self.crop_size}")
        if not (0 < self.scale_range[0] <= self.scale_range[1]):
            raise ValueError(f"TrainConfig.scale_range must be 0 < lo <= hi, got {self.scale_range}")
        for name in ("p_stroke", "p_composite", "p_flip", "p_corrections_only"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"TrainConfig.{name} must lie in [0, 1], got {getattr(self, name)}")
        if len(self.stage2_mix) != 3 or min(self.stage2_mix) < 0 or sum(self.stage2_mix) <= 0:
            raise ValueError(f"TrainConfig.stage2_mix must be 3 non-negative weights, got {self.stage2_mix}")
        if not self.n_corr_choices or min(self.n_corr_choices) < 0:
            raise ValueError(f"TrainConfig.n_corr_choices must be non-negative ints, got {self.n_corr_choices}")
        if self.boundary_weight < 0 or self.boundary_radius < 1:
            raise ValueError(f"TrainConfig.boundary_weight must be >= 0 and boundary_radius >= 1, got "
                             f"{self.boundary_weight}, {self.boundary_radius}")
        if self.lr <= 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr}")

    @property
    def total_steps(self) -> int:
        return self.stage1_steps + self.stage2_steps

    def with_total_steps(self, total: int) -> "TrainConfig":
        """Same run shape with ``total`` steps, split between the stages in the same ratio."""
        if total < 1:
            raise ValueError(f"total steps must be >= 1, got {total}")
        frac = self.stage1_steps / max(1, self.total_steps)
        s1 = max(1, round(total * frac)) if total > 1 else 1
        return replace(self, stage1_steps=s1, stage2_steps=total - s1, warmup_steps=min(self.warmup_steps, total // 10))

    def to_dict(self) -> dict[str, Any]:
        return config_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {sorted(unknown)}; known: {sorted(names)}")
        kw = dict(d)
        for k in ("scale_range", "n_corr_choices", "stage2_mix"):
            if k in kw and isinstance(kw[k], list):
                kw[k] = tuple(kw[k])
        return cls(**kw)


def lite(**overrides: Any) -> TrainConfig:
    """The CPU configuration: ``lite`` UNet from scratch, 256 px crops, ~1 h on 2 cores."""
    return replace(TrainConfig(), **overrides)


def paper(**overrides: Any) -> TrainConfig:
    """The paper's configuration: ResNet-101/PSP, DeepLabV3-COCO backbone when cached, for a GPU."""
    base = TrainConfig(
        model="paper",
        pretrained="deeplabv3-coco",
        input_size=480,
        crop_size=384,
        scale_range=(0.8, 1.25),
        batch_size=8,
        lr=1e-4,
        warmup_steps=200,
        stage1_steps=20000,
        stage2_steps=10000,
        num_workers=4,
        threads=4,
        checkpoint_every=1000,
        log_every=20,
        out_dir="runs/interactive-paper",
    )
    return replace(base, **overrides)


PRESETS = {"lite": lite, "paper": paper}


def preset(name: str, **overrides: Any) -> TrainConfig:
    """A preset by name (``lite`` / ``paper``) with overrides."""
    if name not in PRESETS:
        raise ValueError(f"unknown training preset {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name](**overrides)


def out_path(config: TrainConfig) -> Path:
    return Path(config.out_dir)
