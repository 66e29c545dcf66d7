"""Image dataset loaders on fixtures generated in tmp_path (every format, and broken inputs)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from ivos_core.data import (
    BSDSRegions,
    DatasetError,
    FolderDataset,
    GrabCutDataset,
    SampleError,
    SBDInstances,
    VOCInstances,
    build_manifest,
    open_dataset,
    read_image,
    read_mask,
    synthetic_image,
    write_synthetic_images,
)

H, W = 24, 32


def _rgb(seed: int, h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _save(arr: np.ndarray, path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw)
    return path


def _trimap(h: int = H, w: int = W) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[6:18, 8:24] = 128
    m[8:16, 10:22] = 255
    return m


# --- readers -------------------------------------------------------------------------------
def test_read_image_converts_grey_rgba_palette(tmp_path: Path) -> None:
    grey = _save(np.full((H, W), 77, np.uint8), tmp_path / "g.png")
    rgba = _save(np.dstack([_rgb(0), np.full((H, W), 9, np.uint8)]), tmp_path / "a.png")
    pal = Image.fromarray(np.zeros((H, W), np.uint8))
    pal.putpalette([10, 20, 30] * 256)
    pal.save(tmp_path / "p.png")
    g, a, p = read_image(grey), read_image(rgba), read_image(tmp_path / "p.png")
    for arr in (g, a, p):
        assert arr.shape == (H, W, 3) and arr.dtype == np.uint8
    assert (g == 77).all()
    assert np.array_equal(a, _rgb(0))
    assert tuple(p[0, 0]) == (10, 20, 30)


def test_truncated_jpeg_is_a_sample_error_naming_the_path(tmp_path: Path) -> None:
    good = _save(_rgb(1, 64, 64), tmp_path / "x.jpg", quality=90)
    data = good.read_bytes()
    bad = tmp_path / "trunc.jpg"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(SampleError) as ei:
        read_image(bad)
    assert ei.value.path == str(bad) and "trunc.jpg" in str(ei.value)
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(SampleError, match="junk.png"):
        read_image(tmp_path / "junk.png")
    with pytest.raises(SampleError, match="does not exist"):
        read_image(tmp_path / "missing.jpg")


def test_read_mask_levels_and_noise_rule(tmp_path: Path) -> None:
    tri = _trimap()
    noisy = np.clip(tri.astype(int) + np.random.default_rng(0).integers(-20, 21, tri.shape), 0, 255)
    p = _save(noisy.astype(np.uint8), tmp_path / "m.png")
    mask, ignore = read_mask(p, ignore_value=128)
    assert np.array_equal(mask, tri == 255) and np.array_equal(ignore, tri == 128)
    m01 = _save((tri == 255).astype(np.uint8), tmp_path / "m01.png")
    mask, ignore = read_mask(m01)
    assert ignore is None and np.array_equal(mask, tri == 255)
    noise = np.random.default_rng(1).integers(0, 256, (H, W), dtype=np.uint8)
    photo = _save(noise, tmp_path / "ph.png")
    with pytest.raises(SampleError, match="not a mask"):
        read_mask(photo)
    colour = _save(_rgb(2), tmp_path / "c.png")
    with pytest.raises(SampleError, match="not a mask"):
        read_mask(colour)


# --- GrabCut / Berkeley folders ------------------------------------------------------------
def _grabcut_root(tmp_path: Path, n: int = 3) -> Path:
    root = tmp_path / "GrabCut"
    for i in range(n):
        _save(_rgb(i), root / "data_GT" / f"im{i}.jpg", quality=95)
        Image.fromarray(_trimap()).save(_mkparent(root / "boundary_GT" / f"im{i}.bmp"))
    return root


def _mkparent(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def test_grabcut_loads_trimap_with_ignore(tmp_path: Path) -> None:
    ds = GrabCutDataset(_grabcut_root(tmp_path))
    assert ds.ids() == ["im0", "im1", "im2"] and len(ds) == 3
    s = ds.load("im1")
    assert s.image.shape == (H, W, 3) and s.image.dtype == np.uint8
    assert s.mask.dtype == bool and s.ignore is not None and s.ignore.dtype == bool
    assert np.array_equal(s.mask, _trimap() == 255) and np.array_equal(s.ignore, _trimap() == 128)
    assert s.source.endswith("im1.jpg") and s.meta["mask_path"].endswith("im1.bmp")
    assert s.area == int((_trimap() == 255).sum())


def test_root_without_expected_folders_says_what_to_pass(tmp_path: Path) -> None:
    _grabcut_root(tmp_path)
    with pytest.raises(DatasetError) as ei:
        GrabCutDataset(tmp_path)  # the parent of the real root
    msg = str(ei.value)
    assert "data_GT/" in msg and "did you mean" in msg and str(tmp_path / "GrabCut") in msg
    with pytest.raises(DatasetError, match="does not exist"):
        FolderDataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="masks/"):
        (tmp_path / "b" / "images").mkdir(parents=True)
        FolderDataset(tmp_path / "b")


def test_broken_samples_are_reported_and_iteration_continues(tmp_path: Path) -> None:
    root = _grabcut_root(tmp_path, n=4)
    jpg = root / "data_GT" / "im1.jpg"
    jpg.write_bytes(jpg.read_bytes()[:200])  # truncated JPEG
    Image.fromarray(np.zeros((H + 5, W), np.uint8)).save(root / "boundary_GT" / "im2.bmp")
    (root / "boundary_GT" / "im3.bmp").unlink()  # missing mask
    ds = GrabCutDataset(root)
    got = [s.sample_id for s in ds.iter_samples()]
    assert got == ["im0"]
    assert len(ds.errors) == 3
    by_id = {Path(e.path).stem: e for e in ds.errors}
    assert "im1.jpg" in by_id["im1"].path
    assert f"{W}x{H + 5}" in by_id["im2"].reason and f"{W}x{H}" in by_id["im2"].reason
    assert "no mask" in by_id["im3"].reason
    with pytest.raises(SampleError):
        list(ds.iter_samples(skip_errors=False))
    results = list(ds.iter_results())
    assert sum(isinstance(r, SampleError) for r in results) == 3
    df, errors = build_manifest(ds)
    assert list(df["sample_id"]) == ["im0"] and len(errors) == 3
    with pytest.raises(KeyError):
        ds.load("nope")


def test_berkeley_folder_and_synthetic_factory(tmp_path: Path) -> None:
    root = write_synthetic_images(tmp_path / "syn", n=3, seed=5, height=40, width=48)
    ds = open_dataset("synthetic", root)
    assert isinstance(ds, FolderDataset) and ds.ids() == ["0000", "0001", "0002"]
    s = ds[0]
    ref = synthetic_image(np.random.default_rng([5, 0]), 40, 48)
    assert np.array_equal(s.mask, ref.mask) and s.ignore is None
    assert np.abs(s.image.astype(int) - ref.image).mean() < 10  # JPEG q95 of a noisy texture
    df, errors = build_manifest(ds)
    assert not errors and len(df) == 3
    assert list(df.columns) == [
        "sample_id", "image_path", "mask_path", "height", "width",
        "object_area", "area_frac", "sha1",
    ]
    assert (df["height"] == 40).all() and (df["area_frac"] > 0).all()
    assert df["sha1"].str.len().eq(40).all()
    with pytest.raises(ValueError, match="unknown dataset"):
        open_dataset("coco", root)  # type: ignore[arg-type]


def test_synthetic_images_are_deterministic(tmp_path: Path) -> None:
    a = synthetic_image(np.random.default_rng(3))
    b = synthetic_image(np.random.default_rng(3))
    c = synthetic_image(np.random.default_rng(4))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.image, c.image)
    assert 0.02 < a.mask.mean() < 0.6
    write_synthetic_images(tmp_path / "x", 2, seed=1, height=32, width=32)
    write_synthetic_images(tmp_path / "y", 2, seed=1, height=32, width=32)
    for sub in ("images/0001.jpg", "masks/0001.png"):
        assert (tmp_path / "x" / sub).read_bytes() == (tmp_path / "y" / sub).read_bytes()


# --- PASCAL VOC / SBD -----------------------------------------------------------------------
def _instances() -> np.ndarray:
    lab = np.zeros((H, W), np.uint8)
    lab[2:10, 2:12] = 1  # 80 px
    lab[12:22, 14:30] = 2  # 160 px
    lab[0, 0:3] = 3  # 3 px: tiny
    lab[1, :] = 255  # void
    return lab


def _voc_root(tmp_path: Path) -> Path:
    root = tmp_path / "VOCdevkit" / "VOC2012"
    palette = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [224, 224, 192] * 252
    for i, stem in enumerate(["2007_000001", "2007_000002"]):
        _save(_rgb(i), root / "JPEGImages" / f"{stem}.jpg", quality=95)
        im = Image.fromarray(_instances())
        im.putpalette(palette)
        im.save(_mkparent(root / "SegmentationObject" / f"{stem}.png"))
        cls = np.where(_instances() == 255, 255, np.where(_instances() > 0, 15, 0)).astype(np.uint8)
        cim = Image.fromarray(cls)
        cim.putpalette(palette)
        cim.save(_mkparent(root / "SegmentationClass" / f"{stem}.png"))
    sets = _mkparent(root / "ImageSets" / "Segmentation" / "val.txt")
    sets.write_text("2007_000001\n2007_000002\n")
    (sets.parent / "train.txt").write_text("2007_000002\n")
    return root


def test_voc_instances_palette_png(tmp_path: Path) -> None:
    root = _voc_root(tmp_path)
    assert Image.open(root / "SegmentationObject" / "2007_000001.png").mode == "P"
    ds = VOCInstances(tmp_path / "VOCdevkit", split="val")
    assert ds.ids() == [
        "2007_000001#1", "2007_000001#2", "2007_000001#3",
        "2007_000002#1", "2007_000002#2", "2007_000002#3",
    ]
    big = VOCInstances(root, split="val", min_area=10)
    assert big.ids() == ["2007_000001#1", "2007_000001#2", "2007_000002#1", "2007_000002#2"]
    s = big.load("2007_000001#2")
    assert s.mask.sum() == 160 and s.ignore is not None and s.ignore.sum() == W
    assert s.meta["instance"] == 2 and s.meta["class_id"] == 15
    train = VOCInstances(root, split="train", min_area=10)
    assert train.ids() == ["2007_000002#1", "2007_000002#2"]
    clone = pickle.loads(pickle.dumps(big))  # process pools / spawned workers
    assert clone.ids() == big.ids() and clone.load("2007_000002#1").mask.sum() == 80
    with pytest.raises(DatasetError, match="available"):
        VOCInstances(root, split="test")
    with pytest.raises(DatasetError, match="SegmentationObject/"):
        (tmp_path / "empty" / "JPEGImages").mkdir(parents=True)
        VOCInstances(tmp_path / "empty")


def test_sbd_instances_mat(tmp_path: Path) -> None:
    root = tmp_path / "sbd"
    (root / "inst").mkdir(parents=True)
    seg = _instances()
    seg[seg == 255] = 0  # SBD has no void
    for i, stem in enumerate(["2008_000002", "2008_000003"]):
        _save(_rgb(i), root / "img" / f"{stem}.jpg", quality=95)
        scipy.io.savemat(
            root / "inst" / f"{stem}.mat",
            {"GTinst": {"Segmentation": seg, "Boundaries": np.zeros((3, 1), object),
                        "Categories": np.array([[7], [12], [3]], np.uint8)}},
        )
    (root / "train.txt").write_text("2008_000002\n2008_000003\n")
    (root / "val.txt").write_text("2008_000003\n")
    (root / "inst" / "2008_000003.mat").write_bytes(b"MATLAB garbage")
    ds = SBDInstances(root, split="train", min_area=10)
    assert ds.ids() == ["2008_000002#1", "2008_000002#2", "2008_000003#?"]
    s = ds.load("2008_000002#2")
    assert s.mask.sum() == 160 and s.meta["class_id"] == 12 and not s.ignore.any()
    samples = list(ds.iter_samples())
    assert len(samples) == 2 and len(ds.errors) == 1 and "2008_000003.mat" in ds.errors[0].path
    assert open_dataset("sbd", root, split="train").ids()[:3] == [
        "2008_000002#1", "2008_000002#2", "2008_000002#3"
    ]


# --- BSDS ------------------------------------------------------------------------------------
def _bsds_root(tmp_path: Path) -> Path:
    root = tmp_path / "BSDS500"
    a = np.ones((H, W), np.uint16)
    a[:, 16:] = 2
    a[0:2, 0:2] = 3  # 4 px = 0.5 %: below min_area_frac
    b = np.ones((H, W), np.uint16)  # one region covering all: above max_area_frac
    b[:12] = 2
    cell = np.empty((1, 2), dtype=object)
    cell[0, 0] = {"Segmentation": a, "Boundaries": np.zeros((H, W), bool)}
    cell[0, 1] = {"Segmentation": b, "Boundaries": np.zeros((H, W), bool)}
    for stem in ("1001", "1002"):
        _save(_rgb(3), root / "images" / "train" / f"{stem}.jpg", quality=95)
        _mkparent(root / "groundTruth" / "train" / "x")
        scipy.io.savemat(root / "groundTruth" / "train" / f"{stem}.mat", {"groundTruth": cell})
    return root


def test_bsds_regions(tmp_path: Path) -> None:
    root = _bsds_root(tmp_path)
    ds = BSDSRegions(root, "train")
    assert ds.ids() == [
        "1001#0#1", "1001#0#2", "1001#1#1", "1001#1#2",
        "1002#0#1", "1002#0#2", "1002#1#1", "1002#1#2",
    ]
    s = ds.load("1001#0#2")
    assert s.mask.sum() == H * 16 and s.meta["n_annotators"] == 2 and s.ignore is None
    capped = BSDSRegions(root, "train", max_regions_per_image=3, seed=1)
    again = BSDSRegions(root, "train", max_regions_per_image=3, seed=1)
    assert len(capped) == 6 and capped.ids() == again.ids()
    assert len(BSDSRegions(root, "train", annotators=[1], images=["1002"])) == 2
    with pytest.raises(DatasetError, match="groundTruth/val/"):
        (root / "images" / "val").mkdir()
        BSDSRegions(root, "val")


def test_quantise_thresholds_are_as_documented() -> None:
    from ivos_core.data.common import quantise_mask

    v = np.zeros((40, 40), np.uint8)
    v[0, :8] = [0, 64, 65, 127, 128, 191, 192, 255]
    mask, ignore = quantise_mask(v, "x", ignore_value=128)
    assert mask[0, :8].tolist() == [False] * 6 + [True, True]
    assert ignore[0, :8].tolist() == [False, False, True, True, True, True, False, False]
    mask, ignore = quantise_mask(v, "x")
    assert ignore is None and mask[0, :8].tolist() == [False] * 4 + [True] * 4
    with pytest.raises(SampleError, match=r"\[0, 255\]"):
        quantise_mask(np.full((4, 4), 300, np.uint16), "x")


def test_synthetic_distractors_are_look_alikes_outside_the_object() -> None:
    import numpy as np

    from ivos_core.data.synthetic import synthetic_image

    plain = synthetic_image(np.random.default_rng(3), 240, 320)
    again = synthetic_image(np.random.default_rng(3), 240, 320, distractors=0)
    assert np.array_equal(plain.image, again.image)  # the default stays byte-identical
    hard = synthetic_image(np.random.default_rng(3), 240, 320, distractors=2)
    assert hard.mask.any() and not hard.mask.all()
    # pixels outside the object with colours close to the object's mean colour: the look-alikes
    fg_mean = hard.image[hard.mask].astype(float).mean(0)
    near = np.linalg.norm(hard.image.astype(float) - fg_mean, axis=2) < 60
    assert (near & ~hard.mask).sum() > 0.3 * hard.mask.sum()
