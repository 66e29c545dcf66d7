"""BSDS500 human region segmentations as class-agnostic training masks.

Layout: ``images/<split>/<stem>.jpg`` and ``groundTruth/<split>/<stem>.mat``; the ``.mat``
variable ``groundTruth`` is a 1xK cell (K annotators) of structs whose ``Segmentation`` is an
(H, W) ``uint16`` region map with labels 1..R. Every region whose area fraction lies in
``[min_area_frac, max_area_frac]`` becomes one sample (id ``"<stem>#<annotator>#<region>"``,
annotator and region as stored, annotator 0-based). Regions are object/part masks with no class:
training data for an interactive segmenter, never an evaluation set.

Listing ids parses every ``.mat`` once (about 5 ms each); parsed maps of recently used images
are cached so loading the many regions of one image decodes it once.
"""

from __future__ import annotations

import zlib
from pathlib import Path

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
    require_dirs,
)


def read_bsds_segmentations(path: str | Path) -> list[np.ndarray]:
    """Read a BSDS ``groundTruth/*.mat``: one (H, W) integer region map per annotator."""
    cells = np.atleast_1d(load_mat(path, "groundTruth"))  # a 1x1 cell squeezes to a scalar
    try:
        maps = [np.asarray(c.Segmentation) for c in cells]
    except AttributeError as exc:
        raise SampleError(path, f"groundTruth cells have no Segmentation field ({exc})") from exc
    if not maps or any(m.ndim != 2 for m in maps):
        raise SampleError(path, "groundTruth holds no 2-D Segmentation maps")
    return maps


class BSDSRegions(ImageDataset):
    """One sample per human-annotated BSDS region within an area-fraction range.

    ``max_regions_per_image`` caps regions per image (over all annotators) by a seeded random
    choice keyed on the image stem, so the subset is deterministic and independent of order.
    ``annotators``: restrict to these annotator indices (0-based), None = all. ``images``:
    restrict to these stems (a quick subset), None = every ``.mat`` of the split.
    """

    name = "bsds"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        min_area_frac: float = 0.01,
        max_area_frac: float = 0.8,
        max_regions_per_image: int | None = None,
        *,
        annotators: list[int] | None = None,
        images: list[str] | None = None,
        seed: int = 0,
        cache_size: int = 8,
    ) -> None:
        super().__init__()
        self.root = require_dirs(
            root,
            [f"images/{split}", f"groundTruth/{split}"],
            what="BSDS500",
            hint="pass the folder with images/<split>/ and groundTruth/<split>/ (e.g. .../BSDS500)",
        )
        if not 0 <= min_area_frac <= max_area_frac <= 1:
            raise DatasetError(
                "need 0 <= min_area_frac <= max_area_frac <= 1, "
                f"got {min_area_frac}, {max_area_frac}"
            )
        self.split = split
        self.min_area_frac = min_area_frac
        self.max_area_frac = max_area_frac
        self.max_regions_per_image = max_regions_per_image
        self.annotators = annotators
        self.seed = seed
        self._map_cache = ItemCache(cache_size)
        self._image_cache = ItemCache(cache_size)
        stems = sorted(p.stem for p in (self.root / "groundTruth" / split).glob("*.mat"))
        wanted = None if images is None else set(images)
        self.stems = stems if wanted is None else [s for s in stems if s in wanted]
        self.index_errors: list[SampleError] = []

    def _image_path(self, stem: str) -> Path:
        return self.root / "images" / self.split / f"{stem}.jpg"

    def _gt_path(self, stem: str) -> Path:
        return self.root / "groundTruth" / self.split / f"{stem}.mat"

    def _maps(self, stem: str) -> list[np.ndarray]:
        return self._map_cache.get(stem, lambda s: read_bsds_segmentations(self._gt_path(s)))

    def _image(self, stem: str) -> np.ndarray:
        return self._image_cache.get(stem, lambda s: read_image(self._image_path(s)))

    def regions(self, stem: str) -> list[tuple[int, int, float]]:
        """(annotator, region, area fraction) of the regions of ``stem`` that pass the filters."""
        out: list[tuple[int, int, float]] = []
        for a, seg in enumerate(self._maps(stem)):
            if self.annotators is not None and a not in self.annotators:
                continue
            counts = np.bincount(seg.ravel().astype(np.int64))
            frac = counts / seg.size
            for r in np.nonzero(counts)[0]:
                if self.min_area_frac <= frac[r] <= self.max_area_frac:
                    out.append((a, int(r), float(frac[r])))
        cap = self.max_regions_per_image
        if cap is not None and len(out) > cap:
            rng = np.random.default_rng([self.seed, zlib.crc32(stem.encode())])
            keep = np.sort(rng.choice(len(out), size=cap, replace=False))
            out = [out[i] for i in keep]
        return out

    def _list_ids(self) -> list[str]:
        ids: list[str] = []
        self.index_errors = []
        for stem in self.stems:
            try:
                ids.extend(f"{stem}#{a}#{r}" for a, r, _ in self.regions(stem))
            except SampleError as exc:
                self.index_errors.append(exc)
                ids.append(f"{stem}#?#?")  # iteration reports the broken file
        return ids

    def load(self, sample_id: str) -> Sample:
        try:
            stem, a_s, r_s = sample_id.split("#")
        except ValueError:
            raise KeyError(sample_id) from None
        maps = self._maps(stem)
        if a_s == "?":
            raise SampleError(self._gt_path(stem), "no readable regions")
        a, r = int(a_s), int(r_s)
        if a >= len(maps):
            raise KeyError(sample_id)
        seg = maps[a]
        image = self._image(stem)
        check_same_size(image, seg, self._image_path(stem), self._gt_path(stem))
        mask = seg == r
        return Sample(
            sample_id=sample_id,
            image=image,
            mask=mask,
            ignore=None,
            source=str(self._image_path(stem)),
            meta={
                "mask_path": str(self._gt_path(stem)),
                "image": stem,
                "annotator": a,
                "region": r,
                "n_annotators": len(maps),
                "area_frac": float(mask.mean()),
                "dataset": self.name,
            },
        )
