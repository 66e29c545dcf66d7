"""Datasets, video readers and the synthetic generator: everything that turns files into arrays.

Every image dataset is an :class:`ImageDataset` of :class:`Sample` (RGB uint8 image (H, W, 3),
bool mask (H, W), optional bool ignore map); broken items raise :class:`SampleError` and
iteration can skip and report them. ``open_dataset(name, root)`` picks a loader by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from ivos_core.data.berkeley import FolderDataset
from ivos_core.data.bsds import BSDSRegions
from ivos_core.data.coco_mval import CocoMValDataset
from ivos_core.data.common import (
    DatasetError,
    ImageDataset,
    Sample,
    SampleError,
    read_image,
    read_label_map,
    read_mask,
)
from ivos_core.data.davis import (
    DavisDataset,
    DavisFramesDataset,
    DavisSequence,
    first_frames_dataset,
    frames_dataset,
)
from ivos_core.data.grabcut import GrabCutDataset
from ivos_core.data.manifest import build_manifest, video_statistics
from ivos_core.data.synthetic import (
    SyntheticVideo,
    synthetic_image,
    synthetic_video,
    write_synthetic_images,
    write_synthetic_video,
)
from ivos_core.data.video import (
    FrameFolderReader,
    FrameSource,
    VideoError,
    VideoReader,
    open_video,
    write_video,
)
from ivos_core.data.voc import SBDInstances, VOCInstances

DatasetName = Literal["grabcut", "berkeley", "coco_mval", "davis", "pascal", "sbd", "bsds", "synthetic"]
DATASET_NAMES: tuple[str, ...] = (
    "grabcut", "berkeley", "coco_mval", "davis", "pascal", "sbd", "bsds", "synthetic"
)


def open_dataset(name: DatasetName, root: str | Path, **kw: Any) -> ImageDataset:
    """Open an image dataset by name; ``kw`` goes to the loader.

    * ``grabcut`` -> :class:`GrabCutDataset`; ``coco_mval`` -> :class:`CocoMValDataset` (``split``); ``berkeley`` / ``synthetic`` (a folder written by
      :func:`write_synthetic_images`) -> :class:`FolderDataset`;
    * ``pascal`` -> :class:`VOCInstances` (``split``, ``min_area``); ``sbd`` ->
      :class:`SBDInstances`; ``bsds`` -> :class:`BSDSRegions`;
    * ``davis`` -> first frames (``frames="first"``, default, with ``split="val"``) or every
      ``stride``-th annotated frame (``frames="all"``, default ``split="train"``); also ``year``.
    """
    if name == "grabcut":
        return GrabCutDataset(root, **kw)
    if name == "coco_mval":
        return CocoMValDataset(root, **kw)
    if name in ("berkeley", "synthetic"):
        return FolderDataset(root, **kw)
    if name == "pascal":
        return VOCInstances(root, **kw)
    if name == "sbd":
        return SBDInstances(root, **kw)
    if name == "bsds":
        return BSDSRegions(root, **kw)
    if name == "davis":
        frames = kw.pop("frames", "first")
        if frames == "first":
            return first_frames_dataset(root, **kw)
        if frames == "all":
            return frames_dataset(root, **kw)
        raise ValueError(f"davis frames must be 'first' or 'all', got {frames!r}")
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")


__all__ = [
    "DATASET_NAMES",
    "BSDSRegions",
    "CocoMValDataset",
    "DatasetError",
    "DavisDataset",
    "DavisFramesDataset",
    "DavisSequence",
    "FolderDataset",
    "FrameFolderReader",
    "FrameSource",
    "GrabCutDataset",
    "ImageDataset",
    "SBDInstances",
    "Sample",
    "SampleError",
    "SyntheticVideo",
    "VOCInstances",
    "VideoError",
    "VideoReader",
    "build_manifest",
    "first_frames_dataset",
    "frames_dataset",
    "open_dataset",
    "open_video",
    "read_image",
    "read_label_map",
    "read_mask",
    "synthetic_image",
    "synthetic_video",
    "video_statistics",
    "write_synthetic_images",
    "write_synthetic_video",
    "write_video",
]
