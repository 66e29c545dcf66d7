"""The GrabCut benchmark (Rother et al. 2004): ``data_GT`` images + ``boundary_GT`` trimaps.

Masks are BMPs with 0 = background, 255 = object, 128 = a boundary band that evaluation must
IGNORE (the standard convention). Values off these levels (resaved/JPEG-ish files) snap to the
nearest level; a file that is mostly off-level is rejected (see
:func:`ivos_core.data.common.quantise_mask`). Sample id = file stem (e.g. ``"banana1"``).
"""

from __future__ import annotations

from pathlib import Path

from ivos_core.data.berkeley import FolderDataset

GRABCUT_IGNORE = 128


class GrabCutDataset(FolderDataset):
    """GrabCut: each sample's ``ignore`` is the 128 band ((H, W) bool, all False if none)."""

    name = "grabcut"

    def __init__(
        self,
        root: str | Path,
        image_dir: str = "data_GT",
        mask_dir: str = "boundary_GT",
    ) -> None:
        super().__init__(
            root,
            image_dir=image_dir,
            mask_dir=mask_dir,
            ignore_value=GRABCUT_IGNORE,
            mask_exts=(".bmp", ".png"),
        )
