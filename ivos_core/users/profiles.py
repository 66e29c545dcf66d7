"""Who the simulated annotators are: a :class:`UserProfile` per user (kind, when satisfied, how
patient, how many inputs per iteration, whether and how much they refine, timing and precision)
and :func:`sample_users`, a documented population of them (paper §4.1's three patterns)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal, Sequence

import numpy as np

__all__ = ["DEFAULT_MIX", "PAPER_REFINE_SHARE", "USER_KINDS", "UserKind", "UserProfile", "sample_users"]

PAPER_REFINE_SHARE = 0.15
"""Paper §4.1: "only 15% of our users invest time to do a refinement"."""

UserKind = Literal["clicker", "stroker", "highlighter"]
USER_KINDS: tuple[str, ...] = ("clicker", "stroker", "highlighter")

DEFAULT_MIX: dict[str, float] = {"clicker": 0.5, "stroker": 0.3, "highlighter": 0.2}
"""Share of each user kind in :func:`sample_users`. The paper names the three patterns (§4.1,
Fig. 7) but gives no shares; this mix is an assumption: clicks are what the tool's UI suggests,
strokes the most common alternative, highlighting the least common."""


def _check_distribution(name: str, p: Sequence[float]) -> None:
    if not p or any(v < 0 for v in p) or not math.isclose(sum(p), 1.0, abs_tol=1e-6):
        raise ValueError(f"{name} must be non-negative probabilities summing to 1, got {tuple(p)}")


@dataclass(frozen=True)
class UserProfile:
    """How one simulated user behaves (see the module docstring for the behaviour model).

    Distributions are tuples of probabilities: ``inputs_per_iteration[k]`` is P(k + 1 inputs in
    an iteration), ``refine_frames[k]`` P(k + 1 frames refined), ``refine_iterations[k]`` the
    iteration budget P(k + 1) per refined frame. ``stroke_radius`` is the brush of stroke and
    correction inputs (pixels); highlighters' first scribble uses a broad brush sized to the
    object (:func:`~ivos_core.users.strokes.simulate_highlight`).
    """

    user_id: str
    kind: UserKind
    satisfaction_iou: float = 0.89
    patience: int = 8
    inputs_per_iteration: tuple[float, ...] = (0.7, 0.2, 0.1)
    refine_probability: float = PAPER_REFINE_SHARE
    refine_frames: tuple[float, ...] = (0.6, 0.4)
    refine_iterations: tuple[float, ...] = (0.4, 0.35, 0.25)
    seconds_per_input: float = 1.5
    look_seconds: float = 2.0
    model_latency_s: float = 0.8
    propagation_wait_s: float = 30.0
    draw_speed_px_s: float = 400.0
    click_noise_px: float = 3.0
    stroke_radius: float = 3.0

    def __post_init__(self) -> None:
        if self.kind not in USER_KINDS:
            raise ValueError(f"kind must be one of {USER_KINDS}, got {self.kind!r}")
        if not 0.0 < self.satisfaction_iou <= 1.0:
            raise ValueError(f"satisfaction_iou must be in (0, 1], got {self.satisfaction_iou}")
        if self.patience < 1:
            raise ValueError(f"patience must be >= 1, got {self.patience}")
        if not 0.0 <= self.refine_probability <= 1.0:
            raise ValueError(f"refine_probability must be in [0, 1], got {self.refine_probability}")
        for name in ("inputs_per_iteration", "refine_frames", "refine_iterations"):
            _check_distribution(name, getattr(self, name))
        for name in ("seconds_per_input", "draw_speed_px_s", "stroke_radius"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if min(self.look_seconds, self.model_latency_s, self.propagation_wait_s, self.click_noise_px) < 0:
            raise ValueError("times and click_noise_px must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (recorded in ``session.meta["user"]``)."""
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def sample_users(
    n: int,
    rng: np.random.Generator,
    *,
    mix: dict[str, float] | None = None,
    refine_share: float = PAPER_REFINE_SHARE,
    id_prefix: str = "simuser",
) -> list[UserProfile]:
    """``n`` users with a documented mix of kinds and per-user noise.

    * kind: drawn from ``mix`` (default :data:`DEFAULT_MIX`: 50% clickers, 30% strokers, 20%
      highlighters - an assumption, the paper gives no shares);
    * ``satisfaction_iou`` ~ Normal(0.89, 0.025) clipped to [0.80, 0.96] - people stop at
      "good enough", and their "good enough" differs;
    * ``patience`` = 2 + Poisson(4), clipped to [2, 15] iterations (the paper's median is 4
      first-frame iterations, Fig. 8; patience is an upper bound, satisfaction often stops earlier);
    * ``refine_probability`` ~ Beta(1.5, 1.5 (1 - s) / s) with mean ``refine_share`` (default the
      paper's 15%), so users differ but about ``refine_share`` of sessions refine;
    * inputs per iteration: clickers (0.7, 0.2, 0.1) for 1/2/3 inputs, strokers (0.6, 0.3, 0.1),
      highlighters (0.85, 0.15);
    * timing and precision: ``seconds_per_input`` log-normal around 1.5 s, ``click_noise_px``
      uniform 1-5 px, stroke brush 2-5 px (highlighters' corrections 4-8 px).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    mix = dict(DEFAULT_MIX if mix is None else mix)
    unknown = set(mix) - set(USER_KINDS)
    if unknown:
        raise ValueError(f"unknown user kinds in mix: {sorted(unknown)}; use {USER_KINDS}")
    kinds = list(mix)
    probs = np.array([mix[k] for k in kinds], np.float64)
    if (probs < 0).any() or probs.sum() <= 0:
        raise ValueError(f"mix must have non-negative shares with a positive sum, got {mix}")
    probs /= probs.sum()
    if not 0.0 <= refine_share <= 1.0:
        raise ValueError(f"refine_share must be in [0, 1], got {refine_share}")
    per_iter = {"clicker": (0.7, 0.2, 0.1), "stroker": (0.6, 0.3, 0.1), "highlighter": (0.85, 0.15)}
    users = []
    for i in range(n):
        kind = kinds[int(rng.choice(len(kinds), p=probs))]
        if 0.0 < refine_share < 1.0:
            refine_p = float(rng.beta(1.5, 1.5 * (1.0 - refine_share) / refine_share))
        else:
            refine_p = float(refine_share)
        users.append(
            UserProfile(
                user_id=f"{id_prefix}-{i:04d}",
                kind=kind,  # type: ignore[arg-type]
                satisfaction_iou=round(float(np.clip(rng.normal(0.89, 0.025), 0.80, 0.96)), 4),
                patience=int(np.clip(2 + rng.poisson(4.0), 2, 15)),
                inputs_per_iteration=per_iter[kind],
                refine_probability=round(refine_p, 4),
                seconds_per_input=round(float(1.5 * rng.lognormal(0.0, 0.25)), 3),
                click_noise_px=round(float(rng.uniform(1.0, 5.0)), 2),
                stroke_radius=round(float(rng.uniform(4.0, 8.0) if kind == "highlighter" else rng.uniform(2.0, 5.0)), 2),
            )
        )
    return users
