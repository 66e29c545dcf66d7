"""COCO_MVal-style object instances: ``img/<id>.jpg`` + ``gt/<id>.png`` with split lists.

Layout: ``<root>/img/<id>.jpg``, ``<root>/gt/<id>.png`` (0 background, 255 object) and
``<root>/<split>.txt`` listing the ids of a split (one per line). The ``train`` split is training
data; ``dev`` is the interactive DEVELOPMENT set on which every setting is chosen (see
``ivos_core.splits``). Without a list file every pair in the folders is a sample (``split=None``).
"""

from __future__ import annotations

from pathlib import Path

from ivos_core.data.berkeley import FolderDataset
from ivos_core.data.common import DatasetError


class CocoMValDataset(FolderDataset):
    """One object instance per sample; ``split`` picks the ids listed in ``<root>/<split>.txt``."""

    name = "coco_mval"

    def __init__(self, root: str | Path, split: str | None = "dev") -> None:
        super().__init__(root, image_dir="img", mask_dir="gt", ignore_value=None)
        self.split = split
        self._split_ids: list[str] | None = None
        if split is not None:
            listing = self.root / f"{split}.txt"
            if not listing.is_file():
                raise DatasetError(
                    f"COCO_MVal split {split!r}: no {listing}; expected train.txt / dev.txt beside img/ and gt/"
                )
            ids = [ln.strip() for ln in listing.read_text().splitlines() if ln.strip()]
            self._split_ids = ids

    def _list_ids(self) -> list[str]:
        if self._split_ids is None:
            return sorted(self._images)
        # ids listed but missing on disk stay, so iteration reports them as broken samples
        return list(self._split_ids)

    def paths(self, sample_id: str) -> tuple[Path, Path | None]:
        image = self._images.get(sample_id, self.image_dir / f"{sample_id}.jpg")
        return image, self._masks.get(sample_id)
