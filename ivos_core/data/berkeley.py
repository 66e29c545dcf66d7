"""Image + mask folder pairs (the Berkeley interactive layout, and the base of GrabCut).

Layout: ``<root>/<image_dir>/<stem>.{jpg,png,bmp}`` and ``<root>/<mask_dir>/<stem>.{png,bmp}``
(0 background, 255 object; optionally an ``ignore_value`` level). The sample id is the stem.
An image without a mask stays in ``ids()`` so iteration reports it as a :class:`SampleError`
instead of silently shrinking the benchmark.
"""

from __future__ import annotations

from pathlib import Path

from ivos_core.data.common import (
    IMAGE_EXTS,
    ImageDataset,
    Sample,
    SampleError,
    check_same_size,
    list_files,
    read_image,
    read_mask,
    require_dirs,
)

MASK_EXTS: tuple[str, ...] = (".png", ".bmp", ".jpg", ".jpeg")


class FolderDataset(ImageDataset):
    """Samples from ``<root>/<image_dir>`` images and same-stem ``<root>/<mask_dir>`` masks.

    ``ignore_value``: grey level meaning "ignore" (GrabCut: 128), or None for binary masks.
    Each :class:`Sample` has ``meta["mask_path"]``.
    """

    name = "berkeley"

    def __init__(
        self,
        root: str | Path,
        image_dir: str = "images",
        mask_dir: str = "masks",
        *,
        ignore_value: int | None = None,
        image_exts: tuple[str, ...] = IMAGE_EXTS,
        mask_exts: tuple[str, ...] = MASK_EXTS,
    ) -> None:
        super().__init__()
        self.root = require_dirs(
            root,
            [image_dir, mask_dir],
            what=f"{type(self).__name__}",
            hint=f"pass the folder that contains {image_dir}/ and {mask_dir}/",
        )
        self.image_dir = self.root / image_dir
        self.mask_dir = self.root / mask_dir
        self.ignore_value = ignore_value
        self._images = list_files(self.image_dir, image_exts)
        self._masks = list_files(self.mask_dir, mask_exts)

    def _list_ids(self) -> list[str]:
        return sorted(self._images)

    def paths(self, sample_id: str) -> tuple[Path, Path | None]:
        """(image path, mask path or None when the mask file is missing)."""
        return self._images[sample_id], self._masks.get(sample_id)

    def load(self, sample_id: str) -> Sample:
        image_path, mask_path = self.paths(sample_id)  # KeyError for an unknown id
        if mask_path is None:
            raise SampleError(
                image_path, f"no mask {self.mask_dir / sample_id}.* for this image"
            )
        image = read_image(image_path)
        mask, ignore = read_mask(mask_path, ignore_value=self.ignore_value)
        check_same_size(image, mask, image_path, mask_path)
        return Sample(
            sample_id=sample_id,
            image=image,
            mask=mask,
            ignore=ignore,
            source=str(image_path),
            meta={"mask_path": str(mask_path), "dataset": self.name},
        )
