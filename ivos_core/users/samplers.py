"""Training-time input samplers (paper §2.1.1, after iFCN [18]): positive clicks ``d_margin = 3`` px
inside the object and ``d_step = 5`` px apart; negatives by iFCN's three strategies within a hull of
``d_hull = 40`` px; ``N_corr`` correction clicks in the error regions of a prediction.

Every output is a :class:`~ivos_core.interactions.Click` whose coordinates are integer-valued
floats (``x`` = column, ``y`` = row) inside the image. Randomness comes only from the
``numpy.random.Generator`` passed in, so a seed reproduces a run.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

from ivos_core.interactions import Click
from ivos_core.users.geometry import (
    _click,
    _coords,
    _error_regions,
    _farthest_spread,
    _random_spread,
    inner_distance,
    outer_distance,
)
from ivos_core.utils import as_bool_mask as _as_mask

__all__ = [
    "NegativeStrategy",
    "NEGATIVE_STRATEGIES",
    "N_CORR_CHOICES",
    "D_MARGIN",
    "D_STEP",
    "D_HULL",
    "N_POS_RANGE",
    "N_NEG_RANGE",
    "VOID_LABELS",
    "positive_candidates",
    "sample_positive_clicks",
    "background_band",
    "sample_negative_clicks",
    "sample_training_inputs",
    "sample_correction_clicks",
]

NegativeStrategy = Literal["background", "other_objects", "boundary"]
NEGATIVE_STRATEGIES: tuple[str, ...] = ("background", "other_objects", "boundary")

#: Paper §2.1.1: the number of correction clicks sampled for a mask-correction training example.
N_CORR_CHOICES: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 10, 20)

#: Paper §2.1.1 distances (pixels).
D_MARGIN: int = 3
D_STEP: int = 5
D_HULL: int = 40

#: iFCN's ranges for the number of clicks per training example (inclusive): positives, and
#: negatives per strategy. The paper follows iFCN and does not restate them.
N_POS_RANGE: tuple[int, int] = (1, 5)
N_NEG_RANGE: dict[str, tuple[int, int]] = {"background": (0, 10), "other_objects": (0, 5), "boundary": (0, 10)}

#: Label values of an instance-label map that mean "void / unlabelled" (PASCAL, DAVIS borders).
VOID_LABELS: tuple[int, ...] = (255,)


def positive_candidates(mask: np.ndarray, d_margin: float = D_MARGIN) -> np.ndarray:
    """Bool ``(H, W)``: object pixels at least ``d_margin`` from the object boundary (and image edge).

    For an object too thin to hold such pixels, its deepest pixels instead, so any non-empty
    object still gets a positive click.
    """
    d = inner_distance(mask)
    cand = d >= d_margin
    if not cand.any() and d.max() > 0:
        cand = d >= d.max()
    return cand


def sample_positive_clicks(
    mask: np.ndarray, n: int, rng: np.random.Generator, d_margin: float = D_MARGIN, d_step: float = D_STEP
) -> list[Click]:
    """Up to ``n`` random positive clicks inside ``mask``, ``>= d_margin`` from its boundary, ``>= d_step`` apart.

    Returns fewer when the object cannot hold ``n`` such clicks, and ``[]`` for an empty mask.
    """
    m = _as_mask(mask, "mask")
    picks = _random_spread(_coords(positive_candidates(m, d_margin)), n, rng, d_step)
    return [_click(r, c, True) for r, c in picks]


def background_band(mask: np.ndarray, d_margin: float = D_MARGIN, d_hull: float = D_HULL) -> np.ndarray:
    """Bool ``(H, W)``: background pixels with ``d_margin <= distance to the object <= d_hull``."""
    d = outer_distance(mask)
    return (d >= d_margin) & (d <= d_hull)


def _other_objects(others: np.ndarray | Sequence[np.ndarray], mask: np.ndarray) -> np.ndarray:
    """Union of the other objects' pixels, minus the target and void pixels.

    ``others`` is an instance-label map ``(H, W)`` of ints (0 = background, 255 = void), a stack
    ``(K, H, W)`` of masks, or a list of ``(H, W)`` masks. In a label map the target's own
    pixels are whatever ``mask`` covers, so passing the full map of the image is fine.
    """
    if isinstance(others, np.ndarray) and others.ndim == 2:
        if others.shape != mask.shape:
            raise ValueError(f"others label map has shape {others.shape}, the mask {mask.shape}; they must match")
        if others.dtype == bool:
            union = others.copy()
        else:
            union = (others != 0) & ~np.isin(others, VOID_LABELS)
    else:
        stack = [np.asarray(o) for o in others]
        for i, o in enumerate(stack):
            if o.shape != mask.shape:
                raise ValueError(f"others[{i}] has shape {o.shape}, the mask {mask.shape}; they must match")
        union = np.zeros(mask.shape, bool)
        for o in stack:
            union |= o.astype(bool)
    return union & ~mask


def sample_negative_clicks(
    mask: np.ndarray,
    n: int,
    rng: np.random.Generator,
    strategy: NegativeStrategy,
    d_margin: float = D_MARGIN,
    d_step: float = D_STEP,
    d_hull: float = D_HULL,
    others: np.ndarray | Sequence[np.ndarray] | None = None,
) -> list[Click]:
    """Up to ``n`` negative clicks for ``mask`` by one of iFCN's three strategies (paper §2.1.1).

    * ``"background"`` (i): uniformly at random in the band of background pixels between
      ``d_margin`` and ``d_hull`` from the object, ``>= d_step`` apart.
    * ``"other_objects"`` (ii): at random on other objects of the image (``others``: an instance
      label map or masks), ``>= d_margin`` inside those objects and ``>= d_step`` apart. Without
      other objects it returns ``[]``; :func:`sample_training_inputs` then picks another strategy.
    * ``"boundary"`` (iii): "as (i) but maximally distant from each other, i.e. surrounding the
      object". Our reading: farthest-point sampling (random first click, then each next click
      farthest from those chosen) over the *inner rim* of the band, the background pixels
      between ``d_margin`` and ``d_margin + d_step`` from the object, so the clicks hug and
      cover the object's outline rather than the band's outer corners. Falls back to the full
      band when the rim is empty.

    Returns fewer than ``n`` clicks when the region runs out of spread-out candidates.
    """
    m = _as_mask(mask, "mask")
    if strategy not in NEGATIVE_STRATEGIES:
        raise ValueError(f"unknown negative strategy {strategy!r}; choose one of {list(NEGATIVE_STRATEGIES)}")
    if n <= 0:
        return []
    if strategy == "background":
        picks = _random_spread(_coords(background_band(m, d_margin, d_hull)), n, rng, d_step)
    elif strategy == "other_objects":
        if others is None:
            raise ValueError("strategy 'other_objects' needs others= (an instance-label map or a list of masks)")
        region = _other_objects(others, m)
        region &= outer_distance(m) >= d_margin
        cand = positive_candidates(region, d_margin) & region
        picks = _random_spread(_coords(cand), n, rng, d_step)
    else:
        d = outer_distance(m)
        rim = (d >= d_margin) & (d < d_margin + d_step)
        if not rim.any():
            rim = (d >= d_margin) & (d <= d_hull)
        picks = _farthest_spread(_coords(rim), n, rng, d_step)
    return [_click(r, c, False) for r, c in picks]


def sample_training_inputs(
    mask: np.ndarray,
    rng: np.random.Generator,
    others: np.ndarray | Sequence[np.ndarray] | None = None,
    d_margin: float = D_MARGIN,
    d_step: float = D_STEP,
    d_hull: float = D_HULL,
    n_pos_range: tuple[int, int] = N_POS_RANGE,
    n_neg_range: dict[str, tuple[int, int]] | None = None,
) -> list[Click]:
    """One training example's clicks: positives then negatives (paper §2.1.1 after iFCN).

    Draws ``n_pos`` uniformly in ``n_pos_range`` (1..5), a negative strategy uniformly among
    those usable ("other_objects" only when ``others`` has another object's pixels), and
    ``n_neg`` uniformly in that strategy's range (:data:`N_NEG_RANGE`). Negatives are also kept
    ``d_step`` away from the positives by construction (they lie ``>= d_margin`` outside the object).
    """
    m = _as_mask(mask, "mask")
    ranges = {**N_NEG_RANGE, **(n_neg_range or {})}
    n_pos = int(rng.integers(n_pos_range[0], n_pos_range[1] + 1))
    clicks = sample_positive_clicks(m, n_pos, rng, d_margin, d_step)
    usable = ["background", "boundary"]
    if others is not None and _other_objects(others, m).any():
        usable.insert(1, "other_objects")
    strategy = usable[int(rng.integers(len(usable)))]
    lo, hi = ranges[strategy]
    n_neg = int(rng.integers(lo, hi + 1))
    clicks += sample_negative_clicks(m, n_neg, rng, strategy, d_margin, d_step, d_hull, others)  # type: ignore[arg-type]
    return clicks


def sample_correction_clicks(
    gt: np.ndarray,
    pred: np.ndarray,
    n_corr: int,
    rng: np.random.Generator,
    d_margin: float = D_MARGIN,
    d_step: float = D_STEP,
    ignore: np.ndarray | None = None,
) -> list[Click]:
    """Up to ``n_corr`` correction clicks in the error regions of ``pred`` (paper §2.1.1, Fig. 3).

    False negatives (``gt & ~pred``) give positive clicks, false positives negative ones. Each
    click picks an error region at random with probability proportional to its area (so big
    mistakes get most clicks, like a user would), then a random pixel of it that lies
    ``>= min(d_margin, region depth)`` from the region's boundary and ``>= d_step`` from every
    earlier correction click (no repeats). Stops early when no region has such a pixel left.
    """
    if n_corr < 0:
        raise ValueError(f"n_corr must be >= 0, got {n_corr}")
    regions = []
    for region, positive in _error_regions(gt, pred, ignore):
        depth = inner_distance(region)
        cand = _coords(depth >= min(d_margin, float(depth.max())))
        regions.append((cand, positive))
    picked: list[tuple[int, int]] = []
    clicks: list[Click] = []
    while len(clicks) < n_corr and regions:
        areas = np.array([len(c) for c, _ in regions], np.float64)
        k = int(rng.choice(len(regions), p=areas / areas.sum()))
        cand, positive = regions[k]
        got = _random_spread(cand, 1, rng, d_step, avoid=picked)
        if not got:
            regions.pop(k)
            continue
        picked.append(got[0])
        clicks.append(_click(*got[0], positive))
    return clicks
