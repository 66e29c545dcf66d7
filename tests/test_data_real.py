"""Loaders on the real data in ../shared/data (or $IVOS_DATA); skipped where it is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ivos_core.data import (
    BSDSRegions,
    DavisDataset,
    GrabCutDataset,
    build_manifest,
    first_frames_dataset,
    open_dataset,
    video_statistics,
)

pytestmark = pytest.mark.realdata


def test_grabcut_50_images_with_ignore_bands(shared_data: Path) -> None:
    ds = GrabCutDataset(shared_data / "GrabCut")
    assert len(ds) == 50
    samples = list(ds.iter_samples())
    assert len(samples) == 50 and ds.errors == []
    with_band = [s for s in samples if s.ignore is not None and s.ignore.any()]
    assert len(with_band) == 42  # 8 of the 50 masks have no 128 band
    for s in samples:
        assert s.image.dtype == np.uint8 and s.image.shape == (*s.mask.shape, 3)
        assert 0.01 < s.mask.mean() < 0.9
        assert not (s.mask & s.ignore).any()
    df, errors = build_manifest(ds)
    assert len(df) == 50 and not errors and df["sha1"].is_unique


def test_davis_val_lists_10_sequences_and_first_frames_load(shared_data: Path) -> None:
    root = shared_data / "DAVIS"
    dv = DavisDataset(root, 2016, "val")
    assert len(dv.sequences()) == 10 and "blackswan" in dv.sequences()
    assert len(DavisDataset(root, 2016, "train").sequences()) == 16
    ff = first_frames_dataset(root, "val")
    samples = list(ff.iter_samples())
    assert len(samples) == 10 and ff.errors == []
    for s in samples:
        assert s.image.shape == (480, 854, 3) and s.mask.shape == (480, 854) and s.mask.any()
    stats = video_statistics(dv.sequence("blackswan"))
    assert stats["n_frames"] == stats["n_annotated"] == 50
    assert 0.8 < stats["mean_consecutive_iou"] <= 1.0


def test_bsds_yields_regions_and_shares_no_grabcut_image(shared_data: Path) -> None:
    root = shared_data / "BSDS500"
    stems = sorted(p.stem for p in (root / "groundTruth" / "train").glob("*.mat"))[:6]
    ds = open_dataset("bsds", root, split="train", images=stems, max_regions_per_image=12)
    assert isinstance(ds, BSDSRegions)
    ids = ds.ids()
    assert 6 <= len(ids) <= 6 * 12
    for sid in ids[:: max(1, len(ids) // 8)]:
        s = ds.load(sid)
        assert 0.01 <= s.mask.mean() <= 0.8 and s.image.shape[:2] == s.mask.shape
    grabcut = {p.stem for p in (shared_data / "GrabCut" / "data_GT").iterdir()}
    bsds = {p.stem for split in ("train", "val") for p in (root / "images" / split).iterdir()}
    assert not grabcut & bsds  # no leak of GrabCut evaluation images into training data


def test_coco_mval_splits_are_disjoint_images(shared_data: Path) -> None:
    from ivos_core.data import CocoMValDataset

    train = CocoMValDataset(shared_data / "COCO_MVal", "train")
    dev = CocoMValDataset(shared_data / "COCO_MVal", "dev")
    assert (len(train), len(dev)) == (700, 100)
    image_of = lambda sid: sid.rsplit("_", 1)[1]  # noqa: E731 - <category><k>_<cocoid>
    assert not {image_of(i) for i in train.ids()} & {image_of(i) for i in dev.ids()}
    s = dev[0]
    assert s.image.shape[:2] == s.mask.shape and s.mask.any() and max(s.mask.shape) <= 480
