"""Simulated users: training-time input samplers, the evaluation robot, stroke simulators.

Three jobs, one module, because they share the same geometry helpers:

* **Training samplers** (paper §2.1.1, after iFCN [18]): positive clicks ``d_margin = 3`` px inside
  the object and ``d_step = 5`` px apart; negatives by iFCN's three strategies within a hull of
  ``d_hull = 40`` px; ``N_corr`` correction clicks in the error regions of a prediction.
* **The robot user** of the standard NoC protocol (:class:`RobotUser`): each next click at the
  interior-most pixel of the error regions, exactly as RITM's ``Clicker`` does it.
* **Strokes** (paper §4.1, users click, stroke and highlight): a smooth stroke inside a region,
  a back-and-forth highlighter scribble, and correction strokes inside error regions.

Masks are 2-D ``(H, W)`` arrays, read as boolean (non-zero = object). Every output is a
:class:`~ivos_core.interactions.Click` or :class:`~ivos_core.interactions.Stroke` whose
coordinates are integer-valued floats (``x`` = column, ``y`` = row) inside the image.
Randomness comes only from the ``numpy.random.Generator`` passed in, so a seed reproduces a run.
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import cv2
import numpy as np

from ivos_core.interactions import Click, Stroke

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


# ----------------------------------------------------------------------------------------------
# geometry helpers
# ----------------------------------------------------------------------------------------------
def _as_mask(a: np.ndarray, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``a`` as a 2-D bool array; raise ValueError saying what was wrong with it."""
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) mask, got an array of shape {a.shape}")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape} but the ground truth has shape {shape}; resize one of them")
    return a.astype(bool, copy=False)


def inner_distance(mask: np.ndarray, image_border_is_boundary: bool = True) -> np.ndarray:
    """float32 ``(H, W)``: for each mask pixel, the Euclidean distance to the nearest non-mask pixel.

    0 outside the mask, 1 on the mask's outermost pixels. With ``image_border_is_boundary`` the
    mask is padded with a 1-pixel empty border first, so pixels on the image edge count as on the
    boundary (a user does not click on the very edge of the frame; the NoC robot does the same).
    """
    m = np.asarray(mask, dtype=bool).astype(np.uint8)
    if image_border_is_boundary:
        m = np.pad(m, 1)
    d = cv2.distanceTransform(m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return d[1:-1, 1:-1] if image_border_is_boundary else d


def outer_distance(mask: np.ndarray) -> np.ndarray:
    """float32 ``(H, W)``: distance of each pixel to the nearest mask pixel (0 on the mask).

    An empty mask gives ``inf`` everywhere (no object to be near).
    """
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return np.full(m.shape, np.inf, np.float32)
    return cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _click(row: int, col: int, positive: bool) -> Click:
    return Click(x=float(col), y=float(row), positive=bool(positive))


def _far_from(coords: np.ndarray, picked: Sequence[tuple[int, int]], d_min: float) -> np.ndarray:
    """Bool per row of ``coords`` ``(K, 2)``: at least ``d_min`` from every ``(row, col)`` in ``picked``."""
    keep = np.ones(len(coords), bool)
    for r, c in picked:
        keep &= (coords[:, 0] - r) ** 2 + (coords[:, 1] - c) ** 2 >= d_min * d_min
    return keep


def _random_spread(
    candidates: np.ndarray,
    n: int,
    rng: np.random.Generator,
    d_step: float,
    avoid: Sequence[tuple[int, int]] = (),
) -> list[tuple[int, int]]:
    """Up to ``n`` random rows of ``candidates`` ``(K, 2)``, each ``>= d_step`` from the others and ``avoid``.

    Fewer than ``n`` come back when the candidates run out (a small object holds few spread points).
    """
    coords = candidates[_far_from(candidates, avoid, d_step)] if len(avoid) else candidates
    picked: list[tuple[int, int]] = []
    while len(picked) < n and len(coords):
        r, c = (int(v) for v in coords[rng.integers(len(coords))])
        picked.append((r, c))
        coords = coords[_far_from(coords, [(r, c)], d_step)]
    return picked


def _farthest_spread(candidates: np.ndarray, n: int, rng: np.random.Generator, d_step: float) -> list[tuple[int, int]]:
    """Farthest-point sampling: a random first point, then each next one maximally far from all chosen.

    Stops early once the farthest remaining candidate is closer than ``d_step`` to a chosen point.
    """
    if n <= 0 or not len(candidates):
        return []
    pts = candidates.astype(np.float64)
    first = int(rng.integers(len(pts)))
    picked = [first]
    d2 = ((pts - pts[first]) ** 2).sum(axis=1)
    while len(picked) < n:
        nxt = int(np.argmax(d2))
        if d2[nxt] < d_step * d_step:
            break
        picked.append(nxt)
        d2 = np.minimum(d2, ((pts - pts[nxt]) ** 2).sum(axis=1))
    return [(int(candidates[i, 0]), int(candidates[i, 1])) for i in picked]


def _coords(m: np.ndarray) -> np.ndarray:
    """``(K, 2)`` int ``(row, col)`` of the true pixels of ``m`` in row-major order."""
    return np.argwhere(m)


# ----------------------------------------------------------------------------------------------
# training samplers (§2.1.1)
# ----------------------------------------------------------------------------------------------
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


def error_masks(
    gt: np.ndarray, pred: np.ndarray, ignore: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(fn, fp)`` bool masks: missed object pixels and wrongly included background pixels."""
    g = _as_mask(gt, "gt")
    p = _as_mask(pred, "pred", g.shape)
    valid = ~_as_mask(ignore, "ignore", g.shape) if ignore is not None else np.ones_like(g)
    return g & ~p & valid, ~g & p & valid


def _error_regions(gt: np.ndarray, pred: np.ndarray, ignore: np.ndarray | None) -> list[tuple[np.ndarray, bool]]:
    """The connected (8-neighbour) error regions as ``(mask, is_false_negative)``, largest first."""
    regions: list[tuple[np.ndarray, bool]] = []
    for err, positive in zip(error_masks(gt, pred, ignore), (True, False)):
        n, labels = cv2.connectedComponents(err.astype(np.uint8), connectivity=8)
        regions += [(labels == k, positive) for k in range(1, n)]
    regions.sort(key=lambda rp: -int(rp[0].sum()))
    return regions


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


# ----------------------------------------------------------------------------------------------
# evaluation robot (standard NoC protocol)
# ----------------------------------------------------------------------------------------------
class RobotUser:
    """The NoC robot: each click at the pixel farthest inside the current errors.

    ``gt`` and ``ignore`` are bool ``(H, W)``; ``ignore`` (e.g. the GrabCut 128 band) is never
    clicked and never counts as an error. :meth:`next_click` reads the current prediction and
    returns the click a careful user would make, or ``None`` when nothing is wrong. Follows RITM's
    ``Clicker``: distance transforms (``cv2.DIST_L2``, 5x5 mask) of the false-negative and
    false-positive masks padded with a 1-pixel empty border, so the image edge counts as a
    boundary; already-clicked pixels score 0 so no pixel is clicked twice; the larger maximum
    wins, a tie goes to the false negatives (a positive click); the argmax is the first maximal
    pixel in row-major order. Deterministic: same inputs, same clicks.
    """

    def __init__(self, gt: np.ndarray, ignore: np.ndarray | None = None) -> None:
        self.gt = _as_mask(gt, "gt").copy()
        self.ignore = (
            _as_mask(ignore, "ignore", self.gt.shape).copy() if ignore is not None else np.zeros_like(self.gt)
        )
        self.clicks: list[Click] = []
        self._clicked = np.zeros(self.gt.shape, bool)

    @staticmethod
    def _padded_dt(m: np.ndarray) -> np.ndarray:
        padded = np.pad(m.astype(np.uint8), 1)
        return cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]

    def next_click(self, pred: np.ndarray) -> Click | None:
        """The next click for prediction ``pred`` (bool ``(H, W)``), recorded in :attr:`clicks`."""
        fn, fp = error_masks(self.gt, pred, self.ignore)
        fn_dt = self._padded_dt(fn)
        fp_dt = self._padded_dt(fp)
        fn_dt[self._clicked] = 0
        fp_dt[self._clicked] = 0
        fn_max, fp_max = float(fn_dt.max()), float(fp_dt.max())
        if max(fn_max, fp_max) <= 0:
            return None
        positive = fn_max >= fp_max
        dt = fn_dt if positive else fp_dt
        row, col = divmod(int(np.argmax(dt)), dt.shape[1])  # argmax: first maximum, row-major
        self._clicked[row, col] = True
        click = _click(row, col, positive)
        self.clicks.append(click)
        return click

    def reset(self) -> None:
        """Forget the clicks (start a new NoC run on the same object)."""
        self.clicks = []
        self._clicked[:] = False


# ----------------------------------------------------------------------------------------------
# strokes and highlighting (§4.1)
# ----------------------------------------------------------------------------------------------
def _segment_pixels(p0: tuple[float, float], p1: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Rows and cols of the pixels a straight segment between two ``(row, col)`` points passes."""
    n = max(1, int(math.ceil(math.hypot(p1[0] - p0[0], p1[1] - p0[1]))))
    t = np.linspace(0.0, 1.0, n + 1)
    rows = np.floor(p0[0] + (p1[0] - p0[0]) * t + 0.5).astype(np.int64)
    cols = np.floor(p0[1] + (p1[1] - p0[1]) * t + 0.5).astype(np.int64)
    return rows, cols


def _segment_inside(safe: np.ndarray, p0: tuple[float, float], p1: tuple[float, float]) -> bool:
    rows, cols = _segment_pixels(p0, p1)
    h, w = safe.shape
    if rows.min() < 0 or cols.min() < 0 or rows.max() >= h or cols.max() >= w:
        return False
    return bool(safe[rows, cols].all())


def _brush_fit(depth: np.ndarray, radius: float) -> tuple[np.ndarray, float]:
    """The pixels where a brush of ``radius`` stays inside the region, and the radius used.

    A brush centred on a pixel of depth ``d`` (distance to the nearest outside pixel) stays inside
    when ``radius < d``. In a region too thin for ``radius`` the brush shrinks to fit
    (``max(0.5, depth - 1)``, at least the centre pixel).
    """
    dmax = float(depth.max())
    if dmax <= 0:
        raise ValueError("the region is empty; there is nothing to draw a stroke on")
    if radius >= dmax:
        radius = max(0.5, dmax - 1.0)
    return depth > radius, float(radius)


def _stroke(points_rc: Sequence[tuple[int, int]], positive: bool, radius: float) -> Stroke:
    pts = [(float(c), float(r)) for r, c in points_rc]
    return Stroke(points=pts, positive=bool(positive), radius=float(radius))


def simulate_stroke(
    mask: np.ndarray,
    rng: np.random.Generator,
    positive: bool = True,
    n_points: int = 8,
    radius: float = 3.0,
    step: float | None = None,
) -> Stroke:
    """A smooth stroke of up to ``n_points`` vertices drawn inside ``mask`` with a brush of ``radius``.

    Starts at a random pixel deep enough for the brush and walks with a slowly turning heading:
    at each step it tries a handful of headings within +-60 degrees of the current one and takes
    the one whose end is deepest in the region (plus noise), so the path drifts towards the
    region's medial axis (skeleton-like) and never doubles back; a step whose segment would let
    the brush leave the region is refused (then wider turns are tried, then the walk stops). The
    whole brush therefore stays inside ``mask``; for thin regions the radius shrinks to fit.
    ``step`` (pixels per segment) defaults to a quarter of the square root of the usable area.
    """
    m = _as_mask(mask, "mask")
    if n_points < 1:
        raise ValueError(f"n_points must be >= 1, got {n_points}")
    depth = inner_distance(m)
    safe, radius = _brush_fit(depth, radius)
    cand = _coords(safe)
    if step is None:
        step = max(2.0, math.sqrt(len(cand)) / 4.0)
    r, c = (int(v) for v in cand[rng.integers(len(cand))])
    path = [(r, c)]
    heading = float(rng.uniform(0, 2 * math.pi))
    while len(path) < n_points:
        nxt = _next_vertex(safe, depth, path[-1], heading, step, rng)
        if nxt is None:
            break
        heading = math.atan2(nxt[0] - path[-1][0], nxt[1] - path[-1][1])
        path.append(nxt)
    return _stroke(path, positive, radius)


def _next_vertex(
    safe: np.ndarray,
    depth: np.ndarray,
    cur: tuple[int, int],
    heading: float,
    step: float,
    rng: np.random.Generator,
    n_try: int = 8,
) -> tuple[int, int] | None:
    """The next stroke vertex ``step`` px from ``cur``, turning gently; ``None`` when boxed in."""
    for spread in (math.pi / 3, math.pi / 2, 2 * math.pi / 3):
        best, best_score = None, -math.inf
        for ang in heading + rng.uniform(-spread, spread, n_try):
            for length in (step, step / 2):
                p = (int(round(cur[0] + length * math.sin(ang))), int(round(cur[1] + length * math.cos(ang))))
                if p != cur and _segment_inside(safe, cur, p):
                    score = float(depth[p]) + float(rng.uniform(0, 2))
                    if score > best_score:
                        best, best_score = p, score
                    break
        if best is not None:
            return best
    return None


def simulate_highlight(
    mask: np.ndarray,
    rng: np.random.Generator,
    radius: float | None = None,
    positive: bool = True,
    n_orientations: int = 6,
) -> Stroke:
    """A highlighter scribble: one back-and-forth (zig-zag) stroke covering much of ``mask``.

    Rows of the zig-zag run across the object at a random orientation, ``2 * radius`` apart so
    neighbouring passes of the brush touch; each pass spans the widest run of brush-safe pixels on
    its line, and consecutive passes join end to start. A pass or join that would let the brush
    leave the object ends the scribble there, so it stays inside; of ``n_orientations`` random
    orientations the one covering the most pixels is kept. ``radius`` defaults to a quarter of
    the object's inner radius, clipped to 3..20 px (a broad brush, as highlighting users use).
    """
    m = _as_mask(mask, "mask")
    depth = inner_distance(m)
    if radius is None:
        radius = float(np.clip(depth.max() / 4.0, 3.0, 20.0))
    safe, radius = _brush_fit(depth, radius)
    best: list[tuple[int, int]] = []
    best_cover = -1
    for _ in range(max(1, n_orientations)):
        path = _zigzag(safe, float(rng.uniform(0, math.pi)), 2.0 * radius)
        cover = _brush_cover(path, radius, m.shape)
        if cover > best_cover:
            best, best_cover = path, cover
    if not best:  # no pass found (tiny or sliver region): a dab at the deepest pixel
        best = [divmod(int(np.argmax(np.where(safe, depth, -1))), m.shape[1])]
    return _stroke(best, positive, radius)


def _zigzag(safe: np.ndarray, angle: float, spacing: float) -> list[tuple[int, int]]:
    """Vertices ``(row, col)`` of a zig-zag over ``safe`` with passes along direction ``angle``.

    Each pass takes the longest run of its line that the brush can reach from the end of the
    previous pass, or else from its start by retracing it (as a user's highlighter doubles back
    around a notch); join and pass both inside ``safe``. The scribble ends at the first line
    with no reachable run.
    """
    pix = _coords(safe).astype(np.float64)
    u_dir = np.array([math.sin(angle), math.cos(angle)])  # along a pass, in (row, col)
    v_dir = np.array([math.cos(angle), -math.sin(angle)])  # across passes
    u, v = pix @ u_dir, pix @ v_dir
    path: list[tuple[int, int]] = []
    span = float(v.max() - v.min())
    first = float(v.min()) + (span % spacing) / 2.0  # centre the passes across the object
    for v0 in np.arange(first, float(v.max()) + 1e-9, spacing):
        on = np.abs(v - v0) <= 0.71  # a band sqrt(2) px wide: an 8-connected line at any angle
        if not on.any():
            continue
        step = _next_pass(safe, path, _runs(pix[on], u[on]))
        if step is None:
            if path:
                return path
            continue
        for p in step:
            if not path or p != path[-1]:
                path.append(p)
    return path


def _next_pass(
    safe: np.ndarray,
    path: list[tuple[int, int]],
    runs: list[tuple[tuple[int, int], tuple[int, int]]],
) -> list[tuple[int, int]] | None:
    """Vertices to append for the next pass (optional retrace point, pass start, pass end)."""
    origins = [[]] if not path else [[path[-1]]] + ([[path[-1], path[-2]]] if len(path) >= 2 else [])
    for a, b in runs:  # longest first
        if not _segment_inside(safe, a, b):
            continue
        for via in origins:
            o = via[-1] if via else None
            near_first = o is None or math.dist(o, a) <= math.dist(o, b)
            for s0, s1 in ((a, b), (b, a)) if near_first else ((b, a), (a, b)):
                if o is None or _segment_inside(safe, o, s0):
                    return via[1:] + [s0, s1]
    return None


def _runs(pts: np.ndarray, u: np.ndarray) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Ends ``(start, stop)`` of the gap-free runs of ``pts`` along coordinate ``u``, longest first.

    A gap of more than 1.5 px along the line splits runs (the line left the region and came back).
    """
    order = np.argsort(u, kind="stable")
    u, pts = u[order], pts[order]
    cuts = np.flatnonzero(np.diff(u) > 1.5) + 1
    starts = np.concatenate([[0], cuts]).astype(np.int64)
    stops = np.concatenate([cuts, [len(u)]]).astype(np.int64) - 1
    runs = sorted(zip(starts, stops), key=lambda ab: -(u[ab[1]] - u[ab[0]]))
    return [
        ((int(pts[i, 0]), int(pts[i, 1])), (int(pts[j, 0]), int(pts[j, 1])))
        for i, j in runs
    ]


def _brush_cover(path: Sequence[tuple[int, int]], radius: float, shape: tuple[int, ...]) -> int:
    """How many pixels a brush of ``radius`` paints along ``path`` (``(row, col)`` vertices)."""
    if not path:
        return 0
    src = np.full(shape, 255, np.uint8)
    for p0, p1 in zip(path, path[1:] or path):
        rows, cols = _segment_pixels(p0, p1)
        src[rows, cols] = 0
    return int((cv2.distanceTransform(src, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= radius).sum())


def sample_correction_stroke(
    gt: np.ndarray,
    pred: np.ndarray,
    rng: np.random.Generator,
    radius: float = 3.0,
    n_points: int = 8,
    ignore: np.ndarray | None = None,
) -> Stroke | None:
    """A correction stroke inside one error region of ``pred`` (paper §4.1 stroke training examples).

    Picks an error region with probability proportional to its area and draws
    :func:`simulate_stroke` inside it: positive in a false-negative region, negative in a
    false-positive one. ``None`` when ``pred`` has no error outside ``ignore``.
    """
    regions = _error_regions(gt, pred, ignore)
    if not regions:
        return None
    areas = np.array([int(r.sum()) for r, _ in regions], np.float64)
    region, positive = regions[int(rng.choice(len(regions), p=areas / areas.sum()))]
    return simulate_stroke(region, rng, positive=positive, n_points=n_points, radius=radius)
