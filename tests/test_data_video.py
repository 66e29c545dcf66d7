"""Video files, frame folders, synthetic videos and DAVIS-layout folders (all generated here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ivos_core.data import (
    DavisDataset,
    FrameFolderReader,
    SampleError,
    VideoError,
    VideoReader,
    first_frames_dataset,
    frames_dataset,
    open_dataset,
    open_video,
    synthetic_video,
    video_statistics,
    write_synthetic_video,
    write_video,
)


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """(12, 48, 64, 3) uint8: a synthetic clip, small enough to encode in milliseconds."""
    frames, _ = synthetic_video(np.random.default_rng(0), 12, 48, 64)
    return frames


def test_mp4_round_trip_metadata_and_frames(tmp_path: Path, clip: np.ndarray) -> None:
    path = write_video(tmp_path / "v.mp4", clip, fps=12)
    with VideoReader(path) as vr:
        assert (vr.width, vr.height, vr.n_frames, len(vr)) == (64, 48, 12, 12)
        assert vr.fps == pytest.approx(12)
        frames = list(vr)
        assert len(frames) == 12
        assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)
        assert np.abs(frames[5].astype(int) - clip[5]).mean() < 20  # lossy, but the same picture
        assert np.array_equal(vr.read(7), frames[7])
        assert np.array_equal(vr.read(2), frames[2])  # backwards: seek
        with pytest.raises(IndexError):
            vr.read(12)
    assert isinstance(open_video(path), VideoReader)


def test_garbage_and_truncated_files_raise_video_error(tmp_path: Path, clip: np.ndarray) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(VideoError, match="junk.mp4"):
        VideoReader(junk)
    with pytest.raises(VideoError, match="does not exist"):
        VideoReader(tmp_path / "none.mp4")
    data = write_video(tmp_path / "v.mp4", clip, fps=12).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # mp4v keeps its index at the end: cannot open
    with pytest.raises(VideoError, match="cut.mp4"):
        VideoReader(cut)


def test_frame_that_fails_mid_video_names_its_index(tmp_path: Path, clip: np.ndarray) -> None:
    # MJPG in AVI: the header keeps the promised frame count while the data stops early.
    data = write_video(tmp_path / "v.avi", clip, fps=12, fourcc="MJPG").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    vr = VideoReader(cut)
    assert vr.n_frames == 12
    with pytest.raises(VideoError) as ei:
        list(vr)
    assert ei.value.frame_index is not None and 0 < ei.value.frame_index < 12
    assert "cut.avi" in str(ei.value) and f"frame {ei.value.frame_index}" in str(ei.value)
    lenient = VideoReader(cut, strict=False)
    n = len(list(lenient))
    assert n == ei.value.frame_index == lenient.n_frames


def test_frame_folder_reader(tmp_path: Path, clip: np.ndarray) -> None:
    from PIL import Image

    d = tmp_path / "frames"
    d.mkdir()
    for i, f in enumerate(clip[:5]):
        Image.fromarray(f).save(d / f"{i:05d}.png")
    fr = open_video(d, fps=10)
    assert isinstance(fr, FrameFolderReader)
    assert (fr.width, fr.height, fr.n_frames, fr.fps) == (64, 48, 5, 10.0)
    assert np.array_equal(fr.read(3), clip[3]) and len(list(fr)) == 5
    Image.fromarray(clip[0][:20]).save(d / "00005.png")
    (d / "00006.png").write_bytes(b"broken")
    fr = FrameFolderReader(d)
    with pytest.raises(VideoError, match="frame 5"):
        fr.read(5)
    with pytest.raises(VideoError, match="00006.png frame 6"):
        fr.read(6)
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="no frame images"):
        FrameFolderReader(tmp_path / "empty")


def test_synthetic_video_is_deterministic_smooth_and_occluded() -> None:
    a = synthetic_video(np.random.default_rng(7), 16, 60, 80, n_objects=2)
    b = synthetic_video(np.random.default_rng(7), 16, 60, 80, n_objects=2)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.labels, b.labels)
    frames, masks = a
    assert frames.shape == (16, 60, 80, 3) and frames.dtype == np.uint8
    assert masks.shape == (16, 60, 80) and masks.dtype == bool
    assert set(np.unique(a.labels)) <= {0, 1, 2}
    no_occ = synthetic_video(np.random.default_rng(7), 16, 60, 80, n_objects=2, occluder=False)
    assert (no_occ.masks.sum((1, 2)) >= a.masks.sum((1, 2))).all()
    assert (no_occ.masks.sum((1, 2)) > a.masks.sum((1, 2))).any()  # the bar passes over it
    inter = (no_occ.masks[1:] & no_occ.masks[:-1]).sum((1, 2))
    union = (no_occ.masks[1:] | no_occ.masks[:-1]).sum((1, 2))
    assert np.mean(inter / np.maximum(union, 1)) > 0.6  # smooth motion


def test_davis_2016_layout_from_synthetic(tmp_path: Path) -> None:
    root = tmp_path / "DAVIS"
    for i, name in enumerate(["alpha", "beta"]):
        write_synthetic_video(root, name, n_frames=6, seed=i, height=48, width=64,
                              split="val" if i == 0 else "train", mp4=(i == 0))
    assert (root / "alpha.mp4").is_file() and VideoReader(root / "alpha.mp4").n_frames == 6
    dv = DavisDataset(root, 2016, "val")
    assert dv.sequences() == ["alpha"]
    seq = dv.sequence("alpha")
    assert len(seq) == 6 and seq.object_ids() == [1]
    frames = list(seq.iter_frames())
    assert [i for i, _, _ in frames] == list(range(6))
    assert frames[0][1].shape == (48, 64, 3) and frames[0][2].dtype == bool
    ref = synthetic_video(np.random.default_rng(0), 6, 48, 64)
    assert np.array_equal(seq.mask(3), ref.masks[3])
    ff = first_frames_dataset(root, "val")
    assert ff.ids() == ["alpha/00000"] and ff.load("alpha/00000").meta["sequence"] == "alpha"
    tr = frames_dataset(root, "train", stride=2)
    assert tr.ids() == ["beta/00000", "beta/00002", "beta/00004"]
    assert open_dataset("davis", root, split="val").ids() == ["alpha/00000"]
    stats = video_statistics(seq)
    assert stats["n_frames"] == 6 and stats["n_annotated"] == 6
    assert (stats["height"], stats["width"]) == (48, 64)
    assert 0 < stats["mean_consecutive_iou"] <= 1 and stats["mean_area"] > 0
    # a missing annotation: named by sequence and frame, and iteration goes on
    (root / "Annotations" / "480p" / "beta" / "00002.png").unlink()
    seq_b = DavisDataset(root, 2016, "train").sequence("beta")
    with pytest.raises(SampleError, match=r"'beta' frame 2"):
        seq_b.mask(2)
    missing = [m is None for _, _, m in seq_b.iter_frames()]
    assert missing == [False, False, True, False, False, False]
    assert frames_dataset(root, "train", stride=2).ids() == ["beta/00000", "beta/00004"]
    (root / "Annotations" / "480p" / "alpha" / "00000.png").unlink()
    ff = first_frames_dataset(root, "val")
    assert list(ff.iter_samples()) == [] and "'alpha' frame 0" in str(ff.errors[0])


def test_davis_2017_multi_object_and_folder_fallback(tmp_path: Path) -> None:
    root = tmp_path / "DAVIS2017"
    write_synthetic_video(root, "duo", n_frames=4, seed=3, height=48, width=64,
                          n_objects=2, occluder=False, year=2017, split="val")
    dv = DavisDataset(root, 2017, "val")
    seq = dv.sequence("duo")
    assert seq.object_ids() == [1, 2]
    ref = synthetic_video(np.random.default_rng(3), 4, 48, 64, n_objects=2, occluder=False)
    assert np.array_equal(seq.mask(2, obj_id=2), ref.object_masks(2)[2])
    assert not seq.ignore(0).any()
    ff = first_frames_dataset(root, "val", year=2017)
    assert ff.ids() == ["duo/00000#1", "duo/00000#2"]
    assert ff.load("duo/00000#2").meta["obj_id"] == 2
    (root / "ImageSets" / "2017" / "val.txt").unlink()
    with pytest.warns(UserWarning, match="missing"):
        assert DavisDataset(root, 2017, "val").sequences() == ["duo"]


def test_davis_bad_root(tmp_path: Path) -> None:
    from ivos_core.data import DatasetError

    with pytest.raises(DatasetError, match="JPEGImages/480p/"):
        DavisDataset(tmp_path)
