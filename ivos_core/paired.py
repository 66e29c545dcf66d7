"""Paired comparison of two evaluation runs on the same items (per-item NoC differences).

Why paired: two methods evaluated on the same images differ mostly through the images (a hard
image is hard for both). Comparing the two means alone hides that; the per-item differences
``b - a`` remove it, and their wins/ties/losses and a bootstrap interval of their mean say whether
"B needs fewer clicks than A" holds beyond the luck of which images were drawn. Issue 12 asks
for this whenever the README says one method beats another.

Convention: ``diff = b - a`` per item, so with NoC (lower is better) a NEGATIVE mean difference
means B needs fewer clicks; ``wins`` counts items where B is better (``b < a``), ``losses`` where
it is worse. Both runs must cover exactly the same items: a comparison over different item sets
is refused with the items that differ (a failed image is an item counted at the cap, not a gap).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["PairedError", "paired_comparison", "per_item_noc"]

N_BOOT = 10_000


class PairedError(ValueError):
    """The two runs cannot be paired (different items, nothing to compare)."""


def paired_comparison(
    a: Mapping[str, float],
    b: Mapping[str, float],
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    confidence: float = 0.95,
    lower_is_better: bool = True,
) -> dict[str, Any]:
    """Compare per-item values of run ``a`` and run ``b`` (``{item id: value}``, e.g. NoC@90).

    Returns ``n``, ``wins`` / ``ties`` / ``losses`` (of B against A; with ``lower_is_better`` a
    win is ``b < a``), ``mean_a``, ``mean_b``, ``mean_diff`` (mean of ``b - a``) and ``ci``: the
    percentile bootstrap interval of the mean difference (``n_boot`` resamples of the items with
    replacement, ``numpy.random.default_rng(seed)``, so the interval is reproducible), plus
    ``ci_excludes_zero``.

    Raises :class:`PairedError` when the item sets differ (the message names some of the items
    only one run has) or are empty.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    if only_a or only_b:
        raise PairedError(
            f"the two runs must cover the same items to be paired: {len(only_a)} only in A "
            f"{only_a[:5]}{'...' if len(only_a) > 5 else ''}, {len(only_b)} only in B "
            f"{only_b[:5]}{'...' if len(only_b) > 5 else ''} (same dataset, split and --limit?)"
        )
    items = sorted(a)
    if not items:
        raise PairedError("no items to compare")
    va = np.array([float(a[k]) for k in items])
    vb = np.array([float(b[k]) for k in items])
    if not (np.all(np.isfinite(va)) and np.all(np.isfinite(vb))):
        raise PairedError("per-item values must be finite")
    d = vb - va
    better = d < 0 if lower_is_better else d > 0
    worse = d > 0 if lower_is_better else d < 0
    rng = np.random.default_rng(seed)
    n = len(items)
    # resample items in chunks so 10000 x n stays small in memory
    means = np.empty(n_boot)
    chunk = max(1, min(n_boot, 2_000_000 // max(n, 1)))
    for start in range(0, n_boot, chunk):
        m = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(m, n))
        means[start : start + m] = d[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return {
        "n": n,
        "wins": int(better.sum()),
        "ties": int((d == 0).sum()),
        "losses": int(worse.sum()),
        "mean_a": float(va.mean()),
        "mean_b": float(vb.mean()),
        "mean_diff": float(d.mean()),
        "ci": [float(lo), float(hi)],
        "confidence": confidence,
        "n_boot": int(n_boot),
        "seed": int(seed),
        "ci_excludes_zero": bool(lo > 0 or hi < 0),
        "convention": "diff = B - A per item; " + ("win = B lower" if lower_is_better else "win = B higher"),
    }


def per_item_noc(run: str | Path, threshold: float = 0.9) -> dict[str, float]:
    """``{item: NoC@threshold}`` of one ``ivos eval interactive`` run (its folder or summary.json).

    Reads ``per_image.parquet`` (or ``per_image.csv``) beside ``summary.json``; the column is
    ``noc@85`` / ``noc@90`` (``f"noc@{round(100 * threshold)}"``).
    """
    import pandas as pd

    folder = Path(run)
    if folder.is_file():
        folder = folder.parent
    col = f"noc@{round(100 * threshold)}"
    pq, csv = folder / "per_image.parquet", folder / "per_image.csv"
    if pq.is_file():
        df = pd.read_parquet(pq)
    elif csv.is_file():
        df = pd.read_csv(csv)
    else:
        raise PairedError(f"{folder}: no per_image.parquet or per_image.csv to pair on")
    if col not in df or "item" not in df:
        raise PairedError(f"{folder}: per-image table has no 'item' / {col!r} column")
    items = df["item"].astype(str)
    if items.duplicated().any():
        raise PairedError(f"{folder}: duplicate items {sorted(items[items.duplicated()])[:5]}")
    return dict(zip(items, df[col].astype(float)))
