"""CVAT "Segmentation mask 1.1" out and in (CVAT's own Pascal-VOC-based layout)::

    OUT/labelmap.txt                        "# label:color_rgb:parts:actions", then one line a label,
                                            e.g. "background:0,0,0::" and "object:128,0,0::"
    OUT/ImageSets/Segmentation/default.txt  the image names (no extension), one a line
    OUT/SegmentationClass/<name>.png        RGB: each pixel the colour of its label (labelmap.txt)
    OUT/SegmentationObject/<name>.png       palette PNG: instance k in the Pascal VOC colour of index k

Zip ``OUT``'s contents and upload them with *Upload annotations* > *Segmentation mask 1.1* in a
CVAT task made from the same frames (names: :func:`ivos_core.interchange.common.frame_names`).

Import (:func:`import_mask`): a folder (or a ``.zip``) in that layout; the mask of ``label`` (the
only non-background label when None) on one image. Colours in a class mask that labelmap.txt does
not list are an error (the file is not what it claims), as is a label it does not define.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from ivos_core.interchange.common import ImportedMask, InterchangeError, JobOutput, check_mask, frame_names

__all__ = ["export_cvat", "import_mask", "read_labelmap", "HEADER"]

HEADER = "# label:color_rgb:parts:actions"


def export_cvat(job: JobOutput, out: str | Path) -> Path:
    """Write the layout under ``out``; returns ``out``. Object k is label ``job.labels[k]``
    (``object`` / ``object_<k>``) in the VOC colour of index k."""
    from PIL import Image

    from ivos_core.export import davis_palette
    from ivos_core.utils import atomic_write

    root = Path(out)
    ids = job.object_ids()
    names = {k: job.labels.get(k, "object" if k == 1 else f"object_{k}") for k in ids}
    pal = davis_palette(256)
    voc = np.asarray(pal, np.uint8).reshape(256, 3)
    lut = np.zeros((256, 3), np.uint8)  # the objects' VOC colours; anything else black
    lut[list(ids)] = voc[list(ids)]
    lines = [HEADER, "background:0,0,0::"] + [f"{names[k]}:{','.join(str(int(v)) for v in voc[k])}::" for k in ids]
    atomic_write(root / "labelmap.txt", "\n".join(lines) + "\n")
    stems = frame_names(job)
    atomic_write(root / "ImageSets" / "Segmentation" / "default.txt", "\n".join(stems) + "\n")
    for stem, lab in zip(stems, job.masks):
        cls = Image.fromarray(lut[lab], mode="RGB")
        obj = Image.fromarray(lab.astype(np.uint8), mode="P")
        obj.putpalette(pal)
        atomic_write(root / "SegmentationClass" / f"{stem}.png", lambda t, im=cls: im.save(t, format="PNG"))
        atomic_write(root / "SegmentationObject" / f"{stem}.png", lambda t, im=obj: im.save(t, format="PNG"))
    return root


def read_labelmap(text: str, src: str) -> dict[str, tuple[int, int, int]]:
    """``{label: (r, g, b)}`` from labelmap.txt text; :class:`InterchangeError` on a bad line."""
    out: dict[str, tuple[int, int, int]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) < 2:
            raise InterchangeError(src, f"labelmap.txt line {n} is not 'label:r,g,b:parts:actions': {line!r}")
        try:
            rgb = tuple(int(v) for v in parts[1].split(","))
        except ValueError:
            raise InterchangeError(src, f"labelmap.txt line {n}: colour {parts[1]!r} is not r,g,b") from None
        if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise InterchangeError(src, f"labelmap.txt line {n}: colour {parts[1]!r} is not r,g,b in 0..255")
        out[parts[0]] = rgb  # type: ignore[assignment]
    if not out:
        raise InterchangeError(src, "labelmap.txt defines no labels")
    return out


class _Tree:
    """A folder or a zip archive, read by relative path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = None
        if path.is_file():
            try:
                self.zip = zipfile.ZipFile(path)
            except zipfile.BadZipFile:
                raise InterchangeError(path, "not a zip archive nor a folder in CVAT Segmentation mask 1.1 layout") from None
            names = self.zip.namelist()
            tops = {n.split("/")[0] for n in names if "/" in n}
            self.prefix = "" if any(n in ("labelmap.txt",) or n.startswith("SegmentationClass/") for n in names) else (
                next(iter(tops)) + "/" if len(tops) == 1 else "")
        elif not path.is_dir():
            raise InterchangeError(path, "no such file or folder")

    def read(self, rel: str) -> bytes | None:
        if self.zip is not None:
            try:
                return self.zip.read(self.prefix + rel)
            except KeyError:
                return None
        p = self.path / rel
        return p.read_bytes() if p.is_file() else None

    def list(self, folder: str) -> list[str]:
        if self.zip is not None:
            pre = self.prefix + folder + "/"
            return sorted(n[len(pre):] for n in self.zip.namelist() if n.startswith(pre) and not n.endswith("/"))
        d = self.path / folder
        return sorted(p.name for p in d.iterdir() if p.is_file()) if d.is_dir() else []


def import_mask(path: str | Path, *, frame: str | int | None = None, label: str | None = None,
                size: tuple[int, int] | None = None) -> ImportedMask:
    """The mask of ``label`` on one image of a Segmentation mask 1.1 folder / zip (default: the
    first image, in ImageSets order, where the label is present)."""
    from PIL import Image, UnidentifiedImageError

    src = Path(path)
    tree = _Tree(src)
    lm = tree.read("labelmap.txt")
    if lm is None:
        raise InterchangeError(src, "no labelmap.txt: not a CVAT Segmentation mask 1.1 export")
    labels = read_labelmap(lm.decode("utf-8", errors="replace"), f"{src}/labelmap.txt")
    fg = {k: v for k, v in labels.items() if k != "background"}
    if label is None:
        if len(fg) != 1:
            raise InterchangeError(src, f"several labels ({', '.join(sorted(fg))}): pass --label")
        label = next(iter(fg))
    if label not in labels:
        raise InterchangeError(src, f"unknown label {label!r}; labelmap.txt has {', '.join(sorted(labels))}")
    pngs = [n for n in tree.list("SegmentationClass") if n.lower().endswith(".png")]
    if not pngs:
        raise InterchangeError(src, "no SegmentationClass/*.png masks")
    order = tree.read("ImageSets/Segmentation/default.txt")
    stems = [s.strip() for s in order.decode("utf-8", errors="replace").splitlines() if s.strip()] if order else []
    stems = [s for s in stems if f"{s}.png" in pngs] + sorted(Path(n).stem for n in pngs if Path(n).stem not in stems)
    all_stems = list(stems)
    if frame is not None:
        if isinstance(frame, int) or str(frame).isdigit():
            i = int(frame)
            if not 0 <= i < len(stems):
                raise InterchangeError(src, f"frame {i} is out of range: {len(stems)} masks")
            stems = [stems[i]]
        elif Path(str(frame)).stem in stems:
            stems = [Path(str(frame)).stem]
        else:
            raise InterchangeError(src, f"no mask named {frame!r} in SegmentationClass/")
    colours = np.array(list(labels.values()), dtype=np.int64)
    want = np.array(labels[label], dtype=np.int64)
    skipped: list[str] = []
    for stem in stems:
        rel = f"SegmentationClass/{stem}.png"
        data = tree.read(rel)
        try:
            with Image.open(io.BytesIO(data or b"")) as im:
                rgb = np.asarray(im.convert("RGB"), dtype=np.int64)
        except (UnidentifiedImageError, OSError) as exc:
            skipped.append(f"{rel}: not a readable PNG ({exc})")
            continue
        codes = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
        known = colours[:, 0] << 16 | colours[:, 1] << 8 | colours[:, 2]
        unknown = np.setdiff1d(np.unique(codes), known)
        if unknown.size:
            shown = ", ".join(f"({c >> 16},{c >> 8 & 255},{c & 255})" for c in unknown[:5])
            raise InterchangeError(f"{src}/{rel}", f"colours not in labelmap.txt: {shown}"
                                                   f"{' ...' if unknown.size > 5 else ''}")
        mask = codes == (want[0] << 16 | want[1] << 8 | want[2])
        if not mask.any() and frame is None:
            continue
        return ImportedMask(mask=check_mask(mask, f"{src}/{rel}", size), source=f"{src}/{rel}", label=label,
                            frame_name=stem, frame_index=all_stems.index(stem),
                            skipped=skipped)
    raise InterchangeError(src, f"no mask holds label {label!r}" + (f" ({'; '.join(skipped[:5])})" if skipped else ""))
