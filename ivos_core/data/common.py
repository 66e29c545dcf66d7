"""Shared data types, readers and the dataset base class for every loader in ``ivos_core.data``.

Why one place: every dataset (GrabCut, Berkeley folders, VOC/SBD instances, BSDS regions, DAVIS
frames, synthetic) hands the rest of the code the same thing, a :class:`Sample` with an RGB
``uint8`` image of shape (H, W, 3), a ``bool`` mask (H, W) and an optional ``bool`` ignore map
(H, W), so the segmenter, simulators and metrics never look at file formats.

Errors are split by who must act:

* :class:`DatasetError` - the *root* is wrong (a folder is missing): the message names the folder
  that was expected and what to pass instead. Raised at construction time.
* :class:`SampleError` - one *item* is broken (truncated JPEG, missing mask, size mismatch, not
  a mask). Carries ``.path`` and ``.reason``; iteration can report it and go on.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)

IMAGE_EXTS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")
"""Image suffixes the folder datasets accept, in order of preference when stems collide."""

OFF_LEVEL_DISTANCE = 32
"""A mask pixel farther than this from every expected level (e.g. 0/128/255) is 'off-level'."""

MAX_OFF_LEVEL_FRAC = 0.01
"""More than this fraction of off-level pixels means the file is clearly not a mask."""


class DatasetError(ValueError):
    """A dataset root is unusable (a folder or list file is missing); raised at construction."""


class SampleError(DatasetError):
    """One sample cannot be loaded. ``path`` names the offending file, ``reason`` says why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across process pools
        return (type(self), (self.path, self.reason))


@dataclass
class Sample:
    """One image with one object mask.

    ``image``: (H, W, 3) ``uint8`` RGB. ``mask``: (H, W) ``bool``, True on the object.
    ``ignore``: (H, W) ``bool`` (True = exclude from IoU, e.g. GrabCut's 128 band or VOC's void)
    or None when the format has no ignore label. ``source``: path of the image file ("" for
    in-memory samples). ``meta``: loader-specific facts (``mask_path``, instance id, ...).
    """

    sample_id: str
    image: np.ndarray
    mask: np.ndarray
    ignore: np.ndarray | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def area(self) -> int:
        """Object pixels (ignored pixels excluded)."""
        m = self.mask if self.ignore is None else (self.mask & ~self.ignore)
        return int(m.sum())


def require_dirs(root: str | Path, subdirs: Sequence[str], what: str, hint: str) -> Path:
    """Check that ``root`` holds every folder of ``subdirs``; else raise a :class:`DatasetError`.

    The message names the first missing folder and, via ``hint``, what root to pass; when a
    child of ``root`` has the right layout (e.g. ``data/GrabCut``) it is suggested.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{what} root {root} does not exist or is not a folder; {hint}")
    for sub in subdirs:
        if not (root / sub).is_dir():
            suggestion = ""
            for child in sorted(p for p in root.iterdir() if p.is_dir()):
                if all((child / s).is_dir() for s in subdirs):
                    suggestion = f" (did you mean {child}?)"
                    break
            raise DatasetError(
                f"{what} root {root} has no {sub}/ folder{suggestion}; {hint}"
            )
    return root


def list_files(folder: Path, exts: Iterable[str] = IMAGE_EXTS) -> dict[str, Path]:
    """Map stem -> file for files in ``folder`` with a suffix in ``exts`` (case-insensitive).

    When two files share a stem, the one whose suffix comes first in ``exts`` wins.
    """
    order = {e.lower(): i for i, e in enumerate(exts)}
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        suf = p.suffix.lower()
        if suf not in order or not p.is_file():
            continue
        prev = out.get(p.stem)
        if prev is None or order[suf] < order[prev.suffix.lower()]:
            out[p.stem] = p
    return out


def _open_fully(path: str | Path) -> Image.Image:
    """Open and decode a whole image file; any decoding problem becomes a SampleError."""
    path = Path(path)
    if not path.is_file():
        raise SampleError(path, "file does not exist")
    try:
        im = Image.open(path)
        im.load()  # decode now: truncated files fail here ("image file is truncated")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise SampleError(path, f"cannot decode image ({exc})") from exc
    return im


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W, 3) ``uint8`` RGB.

    Grey, palette, 16-bit and CMYK images are converted to RGB; RGBA/LA drop alpha (the colour
    channels are kept as stored, not composited). Unreadable or truncated files raise a
    :class:`SampleError` naming the path.
    """
    im = _open_fully(path)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.int64)
        scale = 257 if arr.max(initial=0) > 255 else 1
        grey = np.clip(arr // scale, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def read_label_map(path: str | Path) -> np.ndarray:
    """Read an annotation file as an (H, W) integer map, keeping palette indices as stored.

    Palette PNGs (VOC, DAVIS-2017) give their indices; grey files give grey values; an RGB(A)
    file whose colour channels are equal gives one channel. A colour RGB file is not a label
    map: :class:`SampleError`.
    """
    im = _open_fully(path)
    if im.mode in ("P", "L", "1", "I", "I;16", "I;16B", "I;16L"):
        arr = np.asarray(im)
        return arr.astype(np.uint8) if arr.dtype == bool else arr
    if im.mode == "LA":
        return np.asarray(im)[..., 0]
    arr = np.asarray(im.convert("RGB"))
    if not (np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2])):
        raise SampleError(path, f"colour {im.mode} image is not a mask (channels differ)")
    return arr[..., 0]


def quantise_mask(
    values: np.ndarray, path: str | Path, *, ignore_value: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Turn a grey (H, W) mask into (mask bool, ignore bool | None).

    Rule (documented because real masks are often JPEG-ish or resaved):

    * a mask whose maximum is 1 is read as 0/1 (no ignore level);
    * otherwise each pixel goes to the nearest expected level: 0 (background), 255 (object) and,
      if ``ignore_value`` is given (GrabCut: 128), ``ignore_value`` (ignore); ties go to the
      lower level. With 0/128/255: v <= 64 -> background, 65..191 -> ignore, v >= 192 ->
      object; with 0/255: v >= 128 -> object;
    * values outside [0, 255] (16-bit label maps) are not masks: :class:`SampleError`;
    * if more than ``MAX_OFF_LEVEL_FRAC`` of pixels lie farther than ``OFF_LEVEL_DISTANCE``
      from every level the file is clearly not a mask (a photo saved under the mask name):
      :class:`SampleError`.
    """
    v = np.asarray(values)
    if v.ndim != 2:
        raise SampleError(path, f"mask must be 2-D, got shape {v.shape}")
    if v.dtype == bool:
        v = v.astype(np.uint8)
    vmin, vmax = int(v.min(initial=0)), int(v.max(initial=0))
    if vmin < 0 or vmax > 255:
        raise SampleError(path, f"mask values must lie in [0, 255], got [{vmin}, {vmax}]")
    if vmax <= 1:
        return v.astype(bool), (np.zeros(v.shape, bool) if ignore_value is not None else None)
    levels = [0, 255] if ignore_value is None else [0, int(ignore_value), 255]
    # One 256-entry lookup table (nearest level per grey value) keeps this O(H*W) and cheap.
    grey = np.arange(256)[:, None]
    dist = np.abs(grey - np.asarray(levels)[None, :])
    nearest = dist.argmin(axis=1)
    far = dist.min(axis=1) > OFF_LEVEL_DISTANCE
    v8 = v.astype(np.uint8, copy=False)
    hist = np.bincount(v8.ravel(), minlength=256)
    off = float(hist[far].sum()) / v8.size
    if off > MAX_OFF_LEVEL_FRAC:
        raise SampleError(
            path,
            f"not a mask: {off:.1%} of pixels are far from levels {levels} "
            f"({int((hist > 0).sum())} distinct values)",
        )
    cls = nearest.astype(np.uint8)[v8]
    mask = cls == len(levels) - 1
    ignore = (cls == 1) if ignore_value is not None else None
    return mask, ignore


def read_mask(
    path: str | Path, *, ignore_value: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a binary (0/255 or 0/1) or trimap mask file as (mask, ignore), both (H, W) bool.

    ``ignore`` is None unless ``ignore_value`` is given. See :func:`quantise_mask` for the rule
    applied to values other than the expected levels.
    """
    return quantise_mask(read_label_map(path), path, ignore_value=ignore_value)


def load_mat(path: str | Path, variable: str) -> Any:
    """``scipy.io.loadmat`` one variable with ``squeeze_me`` and attribute-style structs.

    MATLAB structs come back as objects with attribute fields (``m.Segmentation``) and 1x1
    cells/structs as scalars (callers use ``np.atleast_1d`` for cell arrays). A missing,
    corrupt or truncated file, or one without ``variable``, raises :class:`SampleError`.
    """
    import scipy.io  # local: only the .mat datasets pay for it

    path = Path(path)
    if not path.is_file():
        raise SampleError(path, "file does not exist")
    try:
        mat = scipy.io.loadmat(
            str(path), squeeze_me=True, struct_as_record=False, variable_names=[variable]
        )
    except Exception as exc:  # scipy raises many types (MatReadError, ValueError, zlib errors)
        raise SampleError(path, f"cannot read MATLAB file ({type(exc).__name__}: {exc})") from exc
    if variable not in mat:
        raise SampleError(path, f"MATLAB file has no variable {variable!r}")
    return mat[variable]


def check_same_size(
    image: np.ndarray, mask: np.ndarray, image_path: str | Path, mask_path: str | Path
) -> None:
    """Raise a :class:`SampleError` naming both sizes when image and mask differ in (H, W)."""
    if image.shape[:2] != mask.shape[:2]:
        ih, iw = image.shape[:2]
        mh, mw = mask.shape[:2]
        raise SampleError(
            mask_path,
            f"mask size {mw}x{mh} (WxH) differs from image size {iw}x{ih} of {image_path}",
        )


class ItemCache:
    """A small LRU cache of decoded files (e.g. one image's label map shared by its instances).

    Unlike ``functools.lru_cache`` on a bound method it pickles (empty), so datasets that use it
    can be sent to process pools and spawned data-loader workers.
    """

    def __init__(self, maxsize: int = 8) -> None:
        self.maxsize = int(maxsize)
        self._data: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[Hashable], Any]) -> Any:
        if key in self._data:
            self._data.move_to_end(key)
            return self._data[key]
        value = compute(key)  # exceptions are not cached
        self._data[key] = value
        if len(self._data) > self.maxsize:
            self._data.popitem(last=False)
        return value

    def __getstate__(self) -> dict[str, int]:
        return {"maxsize": self.maxsize}

    def __setstate__(self, state: dict[str, int]) -> None:
        self.__init__(state["maxsize"])  # type: ignore[misc]


class ImageDataset(ABC):
    """A list of samples addressed by string id; loading is lazy and per item.

    Subclasses implement :meth:`_list_ids` (cheap-ish, called once and cached) and
    :meth:`load`. Error API:

    * ``load(sample_id)`` raises :class:`SampleError` for a broken item (``KeyError`` for an id
      that the dataset does not have).
    * ``iter_results()`` yields ``Sample`` or ``SampleError`` values in id order and never raises
      for a broken item: the primitive for callers that want to report per item.
    * ``iter_samples(skip_errors=True)`` yields only samples; broken items are logged and
      collected in ``self.errors`` (reset at the start of each iteration). With
      ``skip_errors=False`` the first broken item raises.
    """

    name: str = "dataset"

    def __init__(self) -> None:
        self._ids: list[str] | None = None
        self.errors: list[SampleError] = []

    @abstractmethod
    def _list_ids(self) -> list[str]:
        """All sample ids, in a stable order."""

    @abstractmethod
    def load(self, sample_id: str) -> Sample:
        """Load one sample; raises :class:`SampleError` when its files are broken."""

    def ids(self) -> list[str]:
        if self._ids is None:
            self._ids = list(self._list_ids())
        return list(self._ids)

    def __len__(self) -> int:
        if self._ids is None:
            self._ids = list(self._list_ids())
        return len(self._ids)

    def __getitem__(self, index: int) -> Sample:
        """Positional access (for torch-style datasets): ``load(ids()[index])``."""
        if self._ids is None:
            self._ids = list(self._list_ids())
        return self.load(self._ids[index])

    def iter_results(self) -> Iterator[Sample | SampleError]:
        for sid in self.ids():
            try:
                yield self.load(sid)
            except SampleError as exc:
                yield exc

    def iter_samples(self, skip_errors: bool = True) -> Iterator[Sample]:
        self.errors = []
        for res in self.iter_results():
            if isinstance(res, SampleError):
                if not skip_errors:
                    raise res
                log.warning("skipping broken sample: %s", res)
                self.errors.append(res)
                continue
            yield res

    def __repr__(self) -> str:
        n = len(self._ids) if self._ids is not None else "?"
        return f"{type(self).__name__}(n={n})"
