"""The videos a person may open: everything under the allowed roots that ivos can read.

Found by walking each root (hidden entries and label folders skipped, symlinks leaving the root
ignored, depth and count bounded):

* DAVIS sequences (``.../JPEGImages/<resolution>/<sequence>/``): ``kind="davis"``;
* other folders of frame images whose first and last frames have the same size: ``"frames"``
  (folders of unrelated stills, e.g. GrabCut, differ in size and are left out);
* video files (``.mp4``, ``.avi``, ``.mov``, ``.mkv``, ``.webm``, ``.m4v``): ``"file"``.

Each entry's ``uri`` is its path relative to its root (what a session log records and what
:func:`ivos_core.paths.resolve_video_ref` resolves); the first root holding a uri wins, as there.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from ivos_core.data.video import FRAME_EXTS
from ivos_core.paths import is_inside

__all__ = ["VIDEO_EXTS", "VideoEntry", "list_videos", "thumbnail"]

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
SKIP_DIRS = frozenset({"Annotations", "Annotations_unsupervised", "gt", "masks", "labels", "SegmentationClass",
                       "SegmentationObject", "__pycache__", "node_modules"})


@dataclass(frozen=True)
class VideoEntry:
    uri: str
    name: str
    kind: str  # "davis" | "frames" | "file"
    n_frames: int
    width: int
    height: int
    fps: float | None
    root: str
    dataset: str | None = None
    sequence: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _image_size(path: Path) -> tuple[int, int] | None:
    try:
        from PIL import Image

        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except Exception:  # unreadable image: the folder is not offered
        return None


def _frame_folder(d: Path, images: list[Path], root: Path, rroot: Path) -> VideoEntry | None:
    images.sort()
    first, last = _image_size(images[0]), _image_size(images[-1])
    if first is None or first != last:
        return None
    davis = d.parent.parent.name == "JPEGImages"
    rel = d.relative_to(rroot).as_posix()
    return VideoEntry(
        uri=rel, name=d.name if not davis else f"{d.name} ({d.parent.name})", kind="davis" if davis else "frames",
        n_frames=len(images), width=first[0], height=first[1], fps=24.0, root=str(root),
        dataset=d.parents[2].name if davis and len(d.parents) > 2 else None, sequence=d.name if davis else None,
    )


def _video_file(f: Path, root: Path, rroot: Path) -> VideoEntry | None:
    cap = cv2.VideoCapture(str(f))
    try:
        if not cap.isOpened():
            return None
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0) or None
    finally:
        cap.release()
    if n <= 0 or w <= 0 or h <= 0:
        return None
    return VideoEntry(uri=f.relative_to(rroot).as_posix(), name=f.name, kind="file", n_frames=n, width=w, height=h,
                      fps=fps, root=str(root))


def list_videos(roots: Sequence[str | Path], *, max_depth: int = 6, limit: int = 2000) -> list[VideoEntry]:
    """Every readable video under ``roots`` (see the module docstring), sorted by uri per root."""
    out: list[VideoEntry] = []
    seen: set[str] = set()
    for root in roots:
        root = Path(root).expanduser()
        if not root.is_dir():
            continue
        rroot = root.resolve()
        found: list[VideoEntry] = []
        stack: list[tuple[Path, int]] = [(rroot, 0)]
        while stack and len(out) + len(found) < limit:
            d, depth = stack.pop()
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name)
            except OSError:
                continue
            images: list[Path] = []
            subdirs: list[tuple[Path, int]] = []
            for e in entries:
                if e.name.startswith("."):
                    continue
                p = Path(e.path)
                if e.is_symlink() and not is_inside(p.resolve(), rroot):
                    continue  # a link out of the root is never offered (and would be refused)
                try:
                    if e.is_dir():
                        if e.name not in SKIP_DIRS and depth < max_depth:
                            subdirs.append((p, depth + 1))
                    elif e.is_file():
                        ext = p.suffix.lower()
                        if ext in FRAME_EXTS:
                            images.append(p)
                        elif ext in VIDEO_EXTS:
                            v = _video_file(p, root, rroot)
                            if v is not None:
                                found.append(v)
                except OSError:
                    continue
            if images:
                v = _frame_folder(d, images, root, rroot)
                if v is not None:
                    found.append(v)
            stack.extend(reversed(subdirs))
        for v in sorted(found, key=lambda v: v.uri):
            if v.uri not in seen:
                seen.add(v.uri)
                out.append(v)
    return out[:limit]


def thumbnail(frame: np.ndarray, width: int = 160, mask: np.ndarray | None = None, quality: int = 80) -> bytes:
    """A JPEG of ``frame`` (RGB) ``width`` px wide, with ``mask`` drawn over it when given."""
    h, w = frame.shape[:2]
    width = max(8, min(int(width), w))
    height = max(1, round(h * width / w))
    img = frame
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        img = frame.copy()
        img[m] = (0.45 * img[m] + 0.55 * np.array([255, 64, 160])).astype(np.uint8)
    small = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
