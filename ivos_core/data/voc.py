"""PASCAL VOC 2012 and SBD object instances: one :class:`Sample` per instance.

* VOC 2012: ``JPEGImages/<stem>.jpg``, ``SegmentationObject/<stem>.png`` (palette PNG whose
  indices are instance ids 1..N, 0 background, 255 void), optional
  ``SegmentationClass/<stem>.png`` (class per pixel), ``ImageSets/Segmentation/<split>.txt``.
  A ``VOCdevkit`` folder is accepted too (its ``VOC2012`` child is used).
* SBD: ``img/<stem>.jpg``, ``inst/<stem>.mat`` (variable ``GTinst``, a struct whose
  ``Segmentation`` is an (H, W) instance-id map and ``Categories`` the class of each
  instance), ``<split>.txt`` lists of stems.

Sample id ``"<stem>#<instance>"``. Void (255) pixels form ``ignore``. ``min_area`` drops
instances with fewer object pixels (the usual interactive-segmentation protocol drops tiny ones).
Listing ids reads every annotation once (to find instances and areas); label maps and images of
recently used stems are cached so iterating the instances of one image decodes it once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ivos_core.data.common import (
    DatasetError,
    ImageDataset,
    ItemCache,
    Sample,
    SampleError,
    check_same_size,
    load_mat,
    read_image,
    read_label_map,
    require_dirs,
)

VOID = 255


def read_sbd_instances(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an SBD ``inst/*.mat``: ((H, W) integer instance map, (K,) class id per instance)."""
    gt = load_mat(path, "GTinst")
    try:
        seg = np.asarray(gt.Segmentation)
        cats = np.atleast_1d(np.asarray(getattr(gt, "Categories", np.zeros(0)))).astype(int)
    except AttributeError as exc:
        raise SampleError(path, f"GTinst has no Segmentation field ({exc})") from exc
    if seg.ndim != 2:
        raise SampleError(path, f"GTinst.Segmentation must be 2-D, got shape {seg.shape}")
    return seg, cats


def _split_stems(list_file: Path, what: str) -> list[str]:
    if not list_file.is_file():
        avail = sorted(p.stem for p in list_file.parent.glob("*.txt"))
        raise DatasetError(
            f"{what}: split list {list_file} does not exist (available: {avail}); "
            "pass one of those splits, or split=None for every annotated image"
        )
    return [ln.strip().split()[0] for ln in list_file.read_text().splitlines() if ln.strip()]


class _InstanceDataset(ImageDataset):
    """One sample per (image, instance id) of integer instance maps; subclasses give paths."""

    def __init__(self, min_area: int = 0, cache_size: int = 8) -> None:
        super().__init__()
        self.min_area = int(min_area)
        self._stems: list[str] = []
        self._instances: dict[str, dict[str, Any]] = {}
        self._label_cache = ItemCache(cache_size)
        self._image_cache = ItemCache(cache_size)
        self.index_errors: list[SampleError] = []

    # --- per-format hooks -------------------------------------------------------------
    def _image_path(self, stem: str) -> Path:
        raise NotImplementedError

    def _label_path(self, stem: str) -> Path:
        raise NotImplementedError

    def _read_labels(self, stem: str) -> tuple[np.ndarray, dict[int, int]]:
        """(instance map (H, W), {instance id: class id})."""
        raise NotImplementedError

    # --- shared ----------------------------------------------------------------------
    def _labels(self, stem: str) -> tuple[np.ndarray, dict[int, int]]:
        return self._label_cache.get(stem, self._read_labels)

    def _image(self, stem: str) -> np.ndarray:
        return self._image_cache.get(stem, lambda s: read_image(self._image_path(s)))

    def _list_ids(self) -> list[str]:
        """Scan every annotation once; broken ones are kept as ``<stem>#?`` ids that fail."""
        ids: list[str] = []
        self.index_errors = []
        for stem in self._stems:
            try:
                labels, _ = self._labels(stem)
            except SampleError as exc:
                self.index_errors.append(exc)
                ids.append(f"{stem}#?")  # so iteration reports the broken file
                continue
            counts = np.bincount(labels.ravel().astype(np.int64))
            for inst in np.nonzero(counts)[0]:
                if inst in (0, VOID) or counts[inst] < self.min_area:
                    continue
                ids.append(f"{stem}#{int(inst)}")
        return ids

    def load(self, sample_id: str) -> Sample:
        stem, _, inst_s = sample_id.rpartition("#")
        if not stem:
            raise KeyError(sample_id)
        labels, classes = self._labels(stem)  # raises SampleError for a broken annotation
        if inst_s == "?":
            raise SampleError(self._label_path(stem), "annotation listed no instances")
        inst = int(inst_s)
        image = self._image(stem)
        check_same_size(image, labels, self._image_path(stem), self._label_path(stem))
        mask = labels == inst
        if not mask.any():
            raise KeyError(sample_id)
        ignore = labels == VOID
        return Sample(
            sample_id=sample_id,
            image=image,
            mask=mask,
            ignore=ignore,
            source=str(self._image_path(stem)),
            meta={
                "mask_path": str(self._label_path(stem)),
                "image": stem,
                "instance": inst,
                "class_id": classes.get(inst),
                "dataset": self.name,
            },
        )


class VOCInstances(_InstanceDataset):
    """PASCAL VOC 2012 ``SegmentationObject`` instances (split ``train``/``val``/None=all)."""

    name = "pascal"

    def __init__(
        self, root: str | Path, split: str | None = "val", *, min_area: int = 0
    ) -> None:
        super().__init__(min_area=min_area)
        root = Path(root)
        if (root / "VOC2012").is_dir() and not (root / "JPEGImages").is_dir():
            root = root / "VOC2012"
        self.root = require_dirs(
            root,
            ["JPEGImages", "SegmentationObject"],
            what="PASCAL VOC",
            hint="pass the VOC2012 folder (with JPEGImages/, SegmentationObject/, ImageSets/)",
        )
        if split is None:
            self._stems = sorted(p.stem for p in (self.root / "SegmentationObject").glob("*.png"))
        else:
            self._stems = _split_stems(
                self.root / "ImageSets" / "Segmentation" / f"{split}.txt", "PASCAL VOC"
            )
        self.split = split

    def _image_path(self, stem: str) -> Path:
        return self.root / "JPEGImages" / f"{stem}.jpg"

    def _label_path(self, stem: str) -> Path:
        return self.root / "SegmentationObject" / f"{stem}.png"

    def _read_labels(self, stem: str) -> tuple[np.ndarray, dict[int, int]]:
        labels = read_label_map(self._label_path(stem))
        classes: dict[int, int] = {}
        cls_path = self.root / "SegmentationClass" / f"{stem}.png"
        if cls_path.is_file():
            cls = read_label_map(cls_path)
            if cls.shape == labels.shape:
                for inst in np.unique(labels):
                    if inst in (0, VOID):
                        continue
                    vals = cls[(labels == inst) & (cls != VOID)]
                    if vals.size:
                        classes[int(inst)] = int(np.bincount(vals).argmax())
        return labels, classes


class SBDInstances(_InstanceDataset):
    """SBD (Hariharan et al. 2011) instances from ``inst/*.mat`` (split ``train``/``val``)."""

    name = "sbd"

    def __init__(
        self, root: str | Path, split: str | None = "train", *, min_area: int = 0
    ) -> None:
        super().__init__(min_area=min_area)
        root = Path(root)
        if (root / "dataset").is_dir() and not (root / "inst").is_dir():
            root = root / "dataset"  # the benchmark_RELEASE/dataset layout
        self.root = require_dirs(
            root,
            ["img", "inst"],
            what="SBD",
            hint="pass the SBD dataset folder (with img/, inst/, train.txt, val.txt)",
        )
        if split is None:
            self._stems = sorted(p.stem for p in (self.root / "inst").glob("*.mat"))
        else:
            self._stems = _split_stems(self.root / f"{split}.txt", "SBD")
        self.split = split

    def _image_path(self, stem: str) -> Path:
        return self.root / "img" / f"{stem}.jpg"

    def _label_path(self, stem: str) -> Path:
        return self.root / "inst" / f"{stem}.mat"

    def _read_labels(self, stem: str) -> tuple[np.ndarray, dict[int, int]]:
        seg, cats = read_sbd_instances(self._label_path(stem))
        classes = {i + 1: int(c) for i, c in enumerate(cats)}
        return seg, classes
