"""Simulated users: sampler constraints, the NoC robot's exact choices, strokes inside regions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ivos_core.interactions import Click, Stroke
from ivos_core.interactive.encoding import distance_maps
from ivos_core.robot import RobotUser
from ivos_core.users import (
    N_CORR_CHOICES,
    inner_distance,
    outer_distance,
    sample_correction_clicks,
    sample_correction_stroke,
    sample_negative_clicks,
    sample_positive_clicks,
    sample_training_inputs,
    simulate_highlight,
    simulate_stroke,
)

H, W = 120, 160


def disk(cy: int = 60, cx: int = 80, r: int = 30, h: int = H, w: int = W) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def rect(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[r0:r1, c0:c1] = True
    return m


def rc(c: Click) -> tuple[int, int]:
    assert c.x == int(c.x) and c.y == int(c.y), f"non-integer click {c}"
    assert 0 <= c.x < W and 0 <= c.y < H
    return int(c.y), int(c.x)


def min_pairwise(clicks: list[Click]) -> float:
    pts = [rc(c) for c in clicks]
    return min((math.dist(a, b) for a, b in itertools.combinations(pts, 2)), default=math.inf)


def brush_pixels(stroke: Stroke, h: int = H, w: int = W) -> np.ndarray:
    """The pixels a stroke paints, as the encoder rasterises them."""
    return distance_maps([stroke], h, w)[0 if stroke.positive else 1] == 0


def test_positive_clicks_respect_margin_and_step(rng: np.random.Generator) -> None:
    m = disk()
    depth = inner_distance(m)
    for _ in range(20):
        clicks = sample_positive_clicks(m, 5, rng)
        assert len(clicks) == 5 and all(c.positive for c in clicks)
        assert all(depth[rc(c)] >= 3 for c in clicks)
        assert min_pairwise(clicks) >= 5


def test_positive_clicks_small_and_empty_objects(rng: np.random.Generator) -> None:
    tiny = rect(50, 57, 50, 57)  # 7x7: only its centre pixel is 4 px from the outside
    clicks = sample_positive_clicks(tiny, 5, rng, d_margin=4)
    assert [rc(c) for c in clicks] == [(53, 53)]
    assert sample_positive_clicks(np.zeros((H, W), bool), 3, rng) == []
    line = rect(40, 41, 10, 100)  # too thin for the margin: falls back to its deepest pixels
    got = sample_positive_clicks(line, 3, rng)
    assert len(got) == 3 and all(line[rc(c)] for c in got)


@pytest.mark.parametrize("strategy", ["background", "boundary"])
def test_negative_clicks_in_hull(strategy: str, rng: np.random.Generator) -> None:
    m = disk()
    dist = outer_distance(m)
    for _ in range(10):
        clicks = sample_negative_clicks(m, 8, rng, strategy)  # type: ignore[arg-type]
        assert len(clicks) == 8 and not any(c.positive for c in clicks)
        assert all(3 <= dist[rc(c)] <= 40 for c in clicks)
        assert min_pairwise(clicks) >= 5


def test_boundary_negatives_hug_and_surround_the_object(rng: np.random.Generator) -> None:
    m = disk()
    dist = outer_distance(m)
    clicks = sample_negative_clicks(m, 8, rng, "boundary")
    assert all(dist[rc(c)] < 3 + 5 for c in clicks)  # on the inner rim of the band
    angles = sorted(math.atan2(c.y - 60, c.x - 80) for c in clicks)
    gaps = np.diff(angles + [angles[0] + 2 * math.pi])
    assert gaps.max() < math.pi / 2  # farthest-point sampling leaves no quadrant uncovered
    random_bg = sample_negative_clicks(m, 8, rng, "background")
    assert np.mean([dist[rc(c)] for c in random_bg]) > np.mean([dist[rc(c)] for c in clicks])


def test_other_object_negatives(rng: np.random.Generator) -> None:
    target = disk(r=25)
    labels = np.zeros((H, W), np.uint8)
    labels[target] = 1
    labels[5:25, 5:45] = 2  # another object
    labels[100:110, 130:150] = 255  # void: never a negative
    for others in (labels, [target, rect(5, 25, 5, 45)]):
        clicks = sample_negative_clicks(target, 4, rng, "other_objects", others=others)
        assert len(clicks) == 4
        for c in clicks:
            r, col = rc(c)
            # >= d_margin = 3 from the nearest pixel outside object 2 (rows 5..24, cols 5..44)
            assert 7 <= r <= 22 and 7 <= col <= 42
        assert min_pairwise(clicks) >= 5
    assert sample_negative_clicks(target, 4, rng, "other_objects", others=np.zeros((H, W), np.uint8)) == []
    with pytest.raises(ValueError, match="needs others"):
        sample_negative_clicks(target, 4, rng, "other_objects")
    with pytest.raises(ValueError, match="unknown negative strategy"):
        sample_negative_clicks(target, 4, rng, "anywhere")  # type: ignore[arg-type]


def test_training_inputs_counts(rng: np.random.Generator) -> None:
    m = disk()
    n_pos_seen, n_neg_seen = set(), []
    for _ in range(40):
        clicks = sample_training_inputs(m, rng)
        pos = [c for c in clicks if c.positive]
        neg = [c for c in clicks if not c.positive]
        assert clicks == pos + neg  # positives first
        assert 1 <= len(pos) <= 5 and len(neg) <= 10
        assert all(m[rc(c)] for c in pos) and not any(m[rc(c)] for c in neg)
        n_pos_seen.add(len(pos))
        n_neg_seen.append(len(neg))
    assert n_pos_seen == {1, 2, 3, 4, 5} and max(n_neg_seen) > 5 and min(n_neg_seen) <= 2


def test_training_inputs_use_other_objects_when_given(rng: np.random.Generator) -> None:
    m = disk(r=25)
    other = rect(5, 25, 5, 45)
    on_other = 0
    for _ in range(30):
        neg = [c for c in sample_training_inputs(m, rng, others=[other]) if not c.positive]
        on_other += any(other[rc(c)] for c in neg)
    assert 3 <= on_other <= 20  # one strategy in three, when it draws any negatives


def test_correction_clicks_lie_in_error_regions(rng: np.random.Generator) -> None:
    gt = disk()
    pred = gt.copy()
    pred[:, :80] = False  # left half missed: false negatives
    pred[5:20, 5:25] = True  # a false-positive blob
    fn, fp = gt & ~pred, ~gt & pred
    assert N_CORR_CHOICES == (0, 1, 2, 3, 4, 5, 10, 20)
    assert sample_correction_clicks(gt, pred, 0, rng) == []
    signs = []
    for _ in range(5):
        clicks = sample_correction_clicks(gt, pred, 20, rng)
        assert len(clicks) == 20 and min_pairwise(clicks) >= 5
        for c in clicks:
            assert (fn if c.positive else fp)[rc(c)]
            signs.append(c.positive)
    assert 0 < signs.count(False) < signs.count(True)  # the big region gets most clicks
    assert sample_correction_clicks(gt, gt, 5, rng) == []


def test_robot_first_click_is_the_disk_centre() -> None:
    robot = RobotUser(disk(cy=61, cx=77, r=20))
    click = robot.next_click(np.zeros((H, W), bool))
    assert click is not None and (click.x, click.y, click.positive) == (77.0, 61.0, True)
    assert robot.clicks == [click]


def test_robot_perfect_prediction_and_false_positive_blob() -> None:
    gt = disk()
    assert RobotUser(gt).next_click(gt) is None
    pred = gt | rect(8, 29, 12, 33)  # a 21x21 false-positive blob, centre (18, 22)
    click = RobotUser(gt).next_click(pred)
    assert click is not None and not click.positive and rc(click) == (18, 22)


def test_robot_tie_goes_to_positive_and_is_row_major() -> None:
    gt = rect(10, 15, 10, 15)  # 5x5 missed square...
    pred = rect(50, 55, 50, 55)  # ...and an equal 5x5 false positive
    click = RobotUser(gt).next_click(pred)
    assert click is not None and click.positive and rc(click) == (12, 12)
    flat = rect(20, 22, 30, 40)  # 2 rows: depth 1 everywhere, first pixel in row-major order
    click = RobotUser(flat).next_click(np.zeros((H, W), bool))
    assert rc(click) == (20, 30)


def test_robot_never_clicks_ignore_or_twice_and_is_deterministic() -> None:
    gt = disk()
    ignore = disk(r=33) & ~disk(r=27)  # the ignore band straddles the boundary
    empty = np.zeros((H, W), bool)

    def run() -> list[tuple[int, int]]:
        robot = RobotUser(gt, ignore)
        pts = []
        for _ in range(15):  # the prediction never improves: each click must be new
            c = robot.next_click(empty)
            assert c is not None and c.positive
            pts.append(rc(c))
        return pts

    pts = run()
    assert len(set(pts)) == 15 and not any(ignore[p] for p in pts)
    assert run() == pts
    for pred in (disk(r=28), disk(r=32)):  # errors only inside the ignore band do not count
        assert RobotUser(gt, ignore).next_click(pred) is None
    assert RobotUser(gt).next_click(disk(r=32)) is not None


def test_robot_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        RobotUser(disk()).next_click(np.zeros((10, 10), bool))


def test_simulated_stroke_stays_inside(rng: np.random.Generator) -> None:
    m = disk(r=35) & ~rect(55, 66, 80, 160)  # a disk with a notch: non-convex
    for positive in (True, False):
        for _ in range(5):
            s = simulate_stroke(m, rng, positive=positive, n_points=8, radius=3.0)
            assert s.positive == positive and s.radius == 3.0
            assert 2 <= len(s.points_xy) <= 8 and s.path_length() > 20
            assert all(x == int(x) and y == int(y) for x, y in s.points_xy)
            assert not (brush_pixels(s) & ~m).any()
    thin = rect(40, 43, 10, 100)  # 3 px tall: the brush shrinks to fit
    s = simulate_stroke(thin, rng, radius=5.0)
    assert s.radius < 2 and not (brush_pixels(s) & ~thin).any()
    with pytest.raises(ValueError, match="empty"):
        simulate_stroke(np.zeros((H, W), bool), rng)


def test_highlight_covers_much_of_the_object(rng: np.random.Generator) -> None:
    m = disk(r=40)
    s = simulate_highlight(m, rng)
    painted = brush_pixels(s)
    assert not (painted & ~m).any()
    assert painted.sum() >= 0.5 * m.sum()
    assert len(s.points_xy) >= 6  # back and forth: at least three passes
    r = rect(20, 100, 30, 130)
    s = simulate_highlight(r, rng, radius=6.0)
    painted = brush_pixels(s)
    assert s.radius == 6.0 and not (painted & ~r).any() and painted.sum() >= 0.6 * r.sum()
    notched = disk(r=40) & ~rect(56, 64, 70, 160)  # a slot cut into the right half
    for _ in range(3):
        painted = brush_pixels(simulate_highlight(notched, rng))
        assert not (painted & ~notched).any() and painted.sum() >= 0.4 * notched.sum()


def test_correction_stroke_inside_an_error_region(rng: np.random.Generator) -> None:
    gt = disk()
    pred = gt & ~rect(0, H, 0, 70)  # false negatives on the left
    pred |= rect(5, 25, 110, 150)  # a false-positive blob
    fn, fp = gt & ~pred, ~gt & pred
    signs = set()
    for _ in range(8):
        s = sample_correction_stroke(gt, pred, rng)
        assert s is not None
        region = fn if s.positive else fp
        assert not (brush_pixels(s) & ~region).any()
        signs.add(s.positive)
    assert signs == {True, False}
    assert sample_correction_stroke(gt, gt, rng) is None
