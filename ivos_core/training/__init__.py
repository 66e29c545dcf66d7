"""Training of the interactive segmentation network (paper §2.1.1-2.1.2, §4.1 strokes).

* :mod:`~ivos_core.training.config` - :class:`TrainConfig` and the ``lite`` / ``paper`` presets;
* :mod:`~ivos_core.training.datasets` - augmented examples with simulated clicks, strokes and
  previous masks, keyed by (step, batch position) for exact resume;
* :mod:`~ivos_core.training.loop` - :func:`train`: two stages, AdamW + cosine, resumable
  safetensors checkpoints, metrics CSV/Parquet.
* :func:`default_sources` - BSDS500 regions + DAVIS-2016 train frames + synthetic images from a
  data root (what the ``lite`` run uses).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ivos_core.training.config import PRESETS, TrainConfig, lite, paper, preset
from ivos_core.training.datasets import CachedSource, InteractiveTrainSet, SyntheticSource, TrainItem, perturb_mask
from ivos_core.training.loop import TrainProgress, TrainResult, loss_fn, lr_at, train

__all__ = [
    "PRESETS",
    "CachedSource",
    "InteractiveTrainSet",
    "SyntheticSource",
    "TrainConfig",
    "TrainItem",
    "TrainProgress",
    "TrainResult",
    "TrainSources",
    "default_sources",
    "lite",
    "loss_fn",
    "lr_at",
    "paper",
    "perturb_mask",
    "preset",
    "train",
]


@dataclass(frozen=True)
class TrainSources:
    """Sample sources with their names and sampling weights (normalised by the dataset)."""

    sources: list
    names: list[str]
    weights: list[float]

    def sizes(self) -> dict[str, int]:
        return {n: len(s) for n, s in zip(self.names, self.sources)}


#: Sampling weight per source family: DAVIS frames are real objects but come from 16 videos;
#: BSDS regions are varied (objects and parts); synthetic images teach texture/colour edges.
#: COCO_MVal train instances are whole objects of 80 categories: the closest to the paper's
#: PASCAL/SBD objects these machines have, so they get the largest share.
DEFAULT_WEIGHTS = {
    "coco-mval-train": 0.4,
    "bsds-train": 0.14,
    "bsds-val": 0.06,
    "davis2016-train": 0.25,
    "synthetic": 0.15,
}


def default_sources(
    data_root: str | Path | None,
    *,
    davis_stride: int = 2,
    n_synthetic: int = 2000,
    bsds_splits: Sequence[str] = ("train", "val"),
    cache: bool = True,
) -> TrainSources:
    """Training sources under ``data_root``: COCO_MVal train instances, BSDS500 regions (train+val; the GrabCut images are not
    in that folder), DAVIS-2016 *train* frames (every ``davis_stride``-th) and synthetic images.

    Never uses GrabCut or DAVIS validation. Sources whose folders are absent are left out.
    Weights come from :data:`DEFAULT_WEIGHTS`.
    """
    from ivos_core.data.common import DatasetError

    sources: list = []
    names: list[str] = []
    if data_root is not None:
        root = Path(data_root)
        try:
            from ivos_core.data.bsds import BSDSRegions

            for split in bsds_splits:
                ds = BSDSRegions(root / "BSDS500", split, min_area_frac=0.01, max_area_frac=0.6, max_regions_per_image=8)
                if len(ds):
                    sources.append(CachedSource(ds) if cache else ds)
                    names.append(f"bsds-{split}")
        except DatasetError:
            pass
        try:
            from ivos_core.data.coco_mval import CocoMValDataset

            coco = CocoMValDataset(root / "COCO_MVal", "train")  # never dev.txt: that is for choosing
            sources.append(CachedSource(coco) if cache else coco)
            names.append("coco-mval-train")
        except DatasetError:
            pass
        try:
            from ivos_core.data.davis import frames_dataset

            dv = frames_dataset(root / "DAVIS", "train", davis_stride)
            if len(dv):
                sources.append(CachedSource(dv) if cache else dv)
                names.append("davis2016-train")
        except DatasetError:
            pass
    if n_synthetic:
        sources.append(SyntheticSource(n_synthetic, 240, 320))
        names.append("synthetic")
    return TrainSources(sources, names, [DEFAULT_WEIGHTS.get(n, 0.2) for n in names])
