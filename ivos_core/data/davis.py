"""DAVIS 2016 / 2017 video object segmentation sequences.

Layout (both years): ``JPEGImages/<res>/<seq>/%05d.jpg`` and ``Annotations/<res>/<seq>/%05d.png``.

* 2016: masks are grey 0/255 (one object, id 1); ``ImageSets/<res>/<split>.txt`` has lines
  ``/JPEGImages/480p/x/00000.jpg /Annotations/480p/x/00000.png``.
* 2017: masks are palette PNGs of object ids (0 background, 255 void), the objects being those
  of the first frame; ``ImageSets/2017/<split>.txt`` lists sequence names.

Without the list file the sequences come from the ``JPEGImages/<res>`` folder listing (with a
warning). ``DavisSequence`` is lazy: it holds paths, and decodes a frame only when asked.
``first_frames_dataset`` and ``frames_dataset`` expose frames as an :class:`ImageDataset`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ivos_core.data.common import (
    DatasetError,
    ImageDataset,
    Sample,
    SampleError,
    check_same_size,
    quantise_mask,
    read_image,
    read_label_map,
    require_dirs,
)

VOID = 255


@dataclass
class DavisSequence:
    """One sequence: ``frame_paths[i]`` and ``mask_paths[i]`` (None where not annotated).

    ``frame(i)``: (H, W, 3) uint8 RGB. ``label(i)``: (H, W) uint8 object ids (2016: 0/1).
    ``mask(i, obj_id)``: (H, W) bool. ``ignore(i)``: (H, W) bool void pixels (2017; 2016 none).
    """

    name: str
    frame_paths: list[Path]
    mask_paths: list[Path | None]
    year: int = 2016
    _object_ids: list[int] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.frame_paths)

    def frame(self, i: int) -> np.ndarray:
        return read_image(self.frame_paths[i])

    def mask_path(self, i: int) -> Path:
        """Annotation file of frame ``i``; SampleError naming sequence and frame if absent."""
        if not 0 <= i < len(self):
            raise IndexError(f"sequence {self.name} has {len(self)} frames, asked for {i}")
        p = self.mask_paths[i]
        if p is None or not p.is_file():
            where = p if p is not None else self.frame_paths[i]
            raise SampleError(
                where, f"sequence {self.name!r} frame {i} has no annotation"
            )
        return p

    def has_mask(self, i: int) -> bool:
        p = self.mask_paths[i]
        return p is not None and p.is_file()

    def label(self, i: int) -> np.ndarray:
        """(H, W) uint8 object-id map of frame ``i`` (2016: 0 background, 1 object)."""
        p = self.mask_path(i)
        raw = read_label_map(p)
        if self.year == 2016:
            mask, _ = quantise_mask(raw, p)
            return mask.astype(np.uint8)
        return raw.astype(np.uint8)

    def mask(self, i: int, obj_id: int = 1) -> np.ndarray:
        """(H, W) bool mask of object ``obj_id`` in frame ``i``; SampleError if not annotated."""
        return self.label(i) == obj_id

    def ignore(self, i: int) -> np.ndarray | None:
        """Void pixels of frame ``i`` (2017 label 255), None for 2016."""
        if self.year == 2016:
            return None
        return read_label_map(self.mask_path(i)) == VOID

    def object_ids(self) -> list[int]:
        """Ids of the objects in the first annotated frame (2016: ``[1]``)."""
        if self.year == 2016:
            return [1]
        if self._object_ids is None:
            first = next((i for i in range(len(self)) if self.has_mask(i)), None)
            if first is None:
                raise SampleError(self.frame_paths[0], f"sequence {self.name!r} has no annotation")
            ids = np.unique(self.label(first))
            self._object_ids = [int(v) for v in ids if v not in (0, VOID)]
        return list(self._object_ids)

    def iter_frames(
        self, obj_id: int = 1, *, with_masks: bool = True
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
        """Yield ``(i, frame RGB, mask bool or None)`` one frame at a time (bounded memory).

        The mask is None where the frame has no annotation or ``with_masks`` is False.
        """
        for i in range(len(self)):
            m = self.mask(i, obj_id) if (with_masks and self.has_mask(i)) else None
            yield i, self.frame(i), m


class DavisDataset:
    """A DAVIS root: lists a split's sequences and opens them as :class:`DavisSequence`."""

    def __init__(
        self,
        root: str | Path,
        year: Literal[2016, 2017] = 2016,
        split: str | None = "val",
        resolution: str = "480p",
    ) -> None:
        if year not in (2016, 2017):
            raise DatasetError(f"DAVIS year must be 2016 or 2017, got {year!r}")
        self.root = require_dirs(
            root,
            [f"JPEGImages/{resolution}", f"Annotations/{resolution}"],
            what="DAVIS",
            hint="pass the DAVIS root (the folder with JPEGImages/, Annotations/, ImageSets/)",
        )
        self.year = int(year)
        self.split = split
        self.resolution = resolution
        self._frames: dict[str, list[tuple[Path, Path | None]]] = {}
        self._names = self._list_sequences()

    # --- listing ---------------------------------------------------------------------
    def _list_file(self) -> Path:
        sub = self.resolution if self.year == 2016 else "2017"
        return self.root / "ImageSets" / sub / f"{self.split}.txt"

    def _list_sequences(self) -> list[str]:
        if self.split is None:
            return self._folder_sequences()
        lf = self._list_file()
        if not lf.is_file():
            warnings.warn(
                f"DAVIS split list {lf} is missing; using every sequence in "
                f"{self.root / 'JPEGImages' / self.resolution}",
                stacklevel=3,
            )
            return self._folder_sequences()
        lines = [ln.split() for ln in lf.read_text().splitlines() if ln.strip()]
        if self.year == 2017 or all(len(parts) == 1 and "/" not in parts[0] for parts in lines):
            return list(dict.fromkeys(parts[0] for parts in lines))
        names: list[str] = []
        for parts in lines:  # 2016: "/JPEGImages/480p/x/00000.jpg /Annotations/480p/x/00000.png"
            img_rel = parts[0].lstrip("/")
            name = Path(img_rel).parent.name
            if name not in self._frames:
                self._frames[name] = []
                names.append(name)
            ann = (self.root / parts[1].lstrip("/")) if len(parts) > 1 else None
            self._frames[name].append((self.root / img_rel, ann))
        return names

    def _folder_sequences(self) -> list[str]:
        base = self.root / "JPEGImages" / self.resolution
        return sorted(p.name for p in base.iterdir() if p.is_dir())

    def sequences(self) -> list[str]:
        return list(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def sequence(self, name: str) -> DavisSequence:
        """Open a sequence; frames listed by the 2016 list file, otherwise the folder's JPEGs."""
        if name not in self._names:
            raise KeyError(f"{name!r} is not in DAVIS {self.year} split {self.split!r}")
        pairs = self._frames.get(name)
        if pairs is None:
            fdir = self.root / "JPEGImages" / self.resolution / name
            adir = self.root / "Annotations" / self.resolution / name
            if not fdir.is_dir():
                raise SampleError(fdir, f"sequence {name!r} has no frame folder")
            exts = (".jpg", ".jpeg", ".png")
            frames = sorted(p for p in fdir.iterdir() if p.suffix.lower() in exts)
            pairs = [(f, adir / f"{f.stem}.png") for f in frames]
        return DavisSequence(
            name=name,
            frame_paths=[f for f, _ in pairs],
            mask_paths=[a if (a is not None and a.is_file()) else None for _, a in pairs],
            year=self.year,
        )

    def __iter__(self) -> Iterator[DavisSequence]:
        for name in self._names:
            yield self.sequence(name)


class DavisFramesDataset(ImageDataset):
    """Selected annotated DAVIS frames as samples.

    Ids: ``"<seq>/<frame stem>"`` (2016) or ``"<seq>/<frame stem>#<obj_id>"`` (2017, one sample
    per object). ``ignore`` is the 2017 void map, None for 2016.
    """

    name = "davis"

    def __init__(self, davis: DavisDataset, *, first_only: bool, stride: int = 1) -> None:
        super().__init__()
        if stride < 1:
            raise DatasetError(f"stride must be >= 1, got {stride}")
        self.davis = davis
        self.first_only = first_only
        self.stride = stride
        self._entries: dict[str, tuple[str, int, int]] = {}
        self._seqs: dict[str, DavisSequence] = {}

    def _seq(self, name: str) -> DavisSequence:
        if name not in self._seqs:
            self._seqs[name] = self.davis.sequence(name)
        return self._seqs[name]

    def _list_ids(self) -> list[str]:
        ids: list[str] = []
        for name in self.davis.sequences():
            seq = self._seq(name)
            idx = [0] if self.first_only else list(range(0, len(seq), self.stride))
            if self.davis.year == 2017:
                try:
                    objs = seq.object_ids()
                except SampleError:
                    objs = [1]  # loading reports the missing annotation
            else:
                objs = [1]
            for i in idx:
                stem = seq.frame_paths[i].stem
                if not self.first_only and not seq.has_mask(i):
                    continue  # training frames: only annotated ones
                for o in objs:
                    sid = f"{name}/{stem}" if self.davis.year == 2016 else f"{name}/{stem}#{o}"
                    self._entries[sid] = (name, i, o)
                    ids.append(sid)
        return ids

    def load(self, sample_id: str) -> Sample:
        if not self._entries:
            self.ids()
        name, i, obj = self._entries[sample_id]  # KeyError for an unknown id
        seq = self._seq(name)
        image = seq.frame(i)
        mask_path = seq.mask_path(i)
        mask = seq.mask(i, obj)
        check_same_size(image, mask, seq.frame_paths[i], mask_path)
        return Sample(
            sample_id=sample_id,
            image=image,
            mask=mask,
            ignore=seq.ignore(i),
            source=str(seq.frame_paths[i]),
            meta={
                "mask_path": str(mask_path),
                "sequence": name,
                "frame_index": i,
                "obj_id": obj,
                "dataset": self.name,
            },
        )


def first_frames_dataset(
    root: str | Path,
    split: str | None = "val",
    *,
    year: Literal[2016, 2017] = 2016,
    resolution: str = "480p",
) -> DavisFramesDataset:
    """Each sequence's first frame and its mask (interactive evaluation on DAVIS first frames)."""
    return DavisFramesDataset(DavisDataset(root, year, split, resolution), first_only=True)


def frames_dataset(
    root: str | Path,
    split: str | None = "train",
    stride: int = 1,
    *,
    year: Literal[2016, 2017] = 2016,
    resolution: str = "480p",
) -> DavisFramesDataset:
    """Every ``stride``-th annotated frame of every sequence (training frames)."""
    return DavisFramesDataset(
        DavisDataset(root, year, split, resolution), first_only=False, stride=stride
    )
