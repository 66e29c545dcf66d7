"""Frame sources for user videos: video files (OpenCV) and folders of frame images.

Both readers share one interface (:class:`FrameSource`): ``width``, ``height``, ``n_frames``,
``fps``, ``read(i)`` -> (H, W, 3) uint8 RGB, ``len()`` and lazy iteration that holds one frame
at a time (bounded memory, whatever the video length).

Failure detection in :class:`VideoReader`: OpenCV cannot open the file -> :class:`VideoError`
naming the path. A file opens but ``VideoCapture.read`` returns False at frame ``i`` while the
container's header promised ``n_frames > i`` (``CAP_PROP_FRAME_COUNT``) -> the frame failed to
decode (truncated or corrupt data): :class:`VideoError` naming the path and ``i``. Containers
whose frame count is only an estimate can be read with ``strict=False``, which stops at the
first undecodable frame and corrects ``n_frames`` instead of raising.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from ivos_core.data.common import SampleError, read_image
from ivos_core.protocols import FrameSource  # the one definition, re-exported here

FRAME_EXTS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")
_SEEK_FORWARD_MAX = 64  # decode forward instead of seeking for gaps up to this many frames


class VideoError(ValueError):
    """A video cannot be opened or one of its frames cannot be decoded."""

    def __init__(self, path: str | Path, reason: str, frame_index: int | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.frame_index = frame_index
        where = f" frame {frame_index}" if frame_index is not None else ""
        super().__init__(f"{self.path}{where}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.path, self.reason, self.frame_index))




class VideoReader:
    """A video file read through ``cv2.VideoCapture``; frames come out as (H, W, 3) uint8 RGB.

    Use as a context manager or call :meth:`close`. Random access (:meth:`read`) decodes
    forward for short gaps and seeks otherwise; iteration opens its own capture so it does not
    disturb random access.
    """

    def __init__(self, path: str | Path, *, strict: bool = True) -> None:
        self.path = Path(path)
        self.strict = strict
        if not self.path.is_file():
            raise VideoError(self.path, "file does not exist")
        cap = self._open()
        self.width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.n_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.fps = float(cap.get(cv2.CAP_PROP_FPS)) or 0.0
        if self.width <= 0 or self.height <= 0 or self.n_frames <= 0:
            cap.release()
            raise VideoError(
                self.path,
                f"no decodable video stream (width={self.width}, height={self.height}, "
                f"frames={self.n_frames})",
            )
        self._cap: cv2.VideoCapture | None = cap
        self._pos = 0  # index of the frame the next cap.read() returns

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise VideoError(self.path, "OpenCV cannot open this file (not a video or truncated)")
        return cap

    def __len__(self) -> int:
        return self.n_frames

    def _decoded(self, ok: bool, bgr: np.ndarray | None, i: int) -> np.ndarray | None:
        if not ok or bgr is None:
            if self.strict:
                raise VideoError(
                    self.path,
                    f"frame failed to decode (header promises {self.n_frames} frames)",
                    frame_index=i,
                )
            self.n_frames = i
            return None
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def read(self, i: int) -> np.ndarray:
        """Frame ``i`` as (H, W, 3) uint8 RGB."""
        if not 0 <= i < self.n_frames:
            raise IndexError(f"{self.path}: frame {i} out of range [0, {self.n_frames})")
        if self._cap is None:
            self._cap, self._pos = self._open(), 0
        cap = self._cap
        if not (self._pos <= i <= self._pos + _SEEK_FORWARD_MAX):
            cap.set(cv2.CAP_PROP_POS_FRAMES, i)
            self._pos = i
        while self._pos < i:
            if not cap.grab():
                self._decoded(False, None, self._pos)
                raise IndexError(f"{self.path}: frame {i} beyond the decodable end")
            self._pos += 1
        ok, bgr = cap.read()
        self._pos += 1
        rgb = self._decoded(ok, bgr, i)
        if rgb is None:
            raise IndexError(f"{self.path}: frame {i} beyond the decodable end")
        return rgb

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield every frame in order, one at a time, from a private capture."""
        cap = self._open()
        try:
            i = 0
            while i < self.n_frames:
                ok, bgr = cap.read()
                rgb = self._decoded(ok, bgr, i)
                if rgb is None:
                    return
                yield rgb
                i += 1
        finally:
            cap.release()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"VideoReader({str(self.path)!r}, {self.width}x{self.height}, "
            f"n_frames={self.n_frames}, fps={self.fps:g})"
        )


class FrameFolderReader:
    """A folder of frame images (sorted by name) with the :class:`VideoReader` interface.

    ``fps`` cannot be read from images: it is a parameter (DAVIS: 24). Size comes from the first
    frame; a frame of another size or an undecodable one raises :class:`VideoError` with its index.
    """

    def __init__(self, path: str | Path, fps: float = 24.0) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise VideoError(self.path, "not a folder of frames")
        self.frame_paths = sorted(
            p for p in self.path.iterdir() if p.suffix.lower() in FRAME_EXTS and p.is_file()
        )
        if not self.frame_paths:
            raise VideoError(self.path, f"no frame images ({', '.join(FRAME_EXTS)}) in folder")
        self.fps = float(fps)
        self.n_frames = len(self.frame_paths)
        first = self._load(0, check_size=False)
        self.height, self.width = int(first.shape[0]), int(first.shape[1])

    def _load(self, i: int, *, check_size: bool = True) -> np.ndarray:
        try:
            img = read_image(self.frame_paths[i])
        except SampleError as exc:
            raise VideoError(self.frame_paths[i], exc.reason, frame_index=i) from exc
        if check_size and img.shape[:2] != (self.height, self.width):
            raise VideoError(
                self.frame_paths[i],
                f"frame size {img.shape[1]}x{img.shape[0]} differs from the first frame's "
                f"{self.width}x{self.height}",
                frame_index=i,
            )
        return img

    def __len__(self) -> int:
        return self.n_frames

    def read(self, i: int) -> np.ndarray:
        if not 0 <= i < self.n_frames:
            raise IndexError(f"{self.path}: frame {i} out of range [0, {self.n_frames})")
        return self._load(i)

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(self.n_frames):
            yield self._load(i)

    def close(self) -> None:
        """Nothing to release; present for interface parity."""

    def __enter__(self) -> FrameFolderReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"FrameFolderReader({str(self.path)!r}, {self.width}x{self.height}, "
            f"n_frames={self.n_frames}, fps={self.fps:g})"
        )


def open_video(path: str | Path, *, fps: float = 24.0, strict: bool = True) -> FrameSource:
    """A :class:`FrameFolderReader` for a folder (with ``fps``), else a :class:`VideoReader`."""
    p = Path(path)
    if p.is_dir():
        return FrameFolderReader(p, fps=fps)
    return VideoReader(p, strict=strict)


def write_video(
    path: str | Path, frames: Iterable[np.ndarray], fps: float = 24.0, fourcc: str = "mp4v"
) -> Path:
    """Write (H, W, 3) uint8 RGB frames to a video file (default MPEG-4 Part 2 ``mp4v``).

    Lossy: read-back pixels differ from the input. All frames must share the first's size.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer: cv2.VideoWriter | None = None
    size: tuple[int, int] | None = None
    n = 0
    try:
        for i, fr in enumerate(frames):
            fr = np.asarray(fr)
            if fr.ndim != 3 or fr.shape[2] != 3 or fr.dtype != np.uint8:
                raise VideoError(
                    path, f"frame must be (H, W, 3) uint8, got {fr.shape} {fr.dtype}", i
                )
            if writer is None:
                size = (fr.shape[1], fr.shape[0])
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
                if not writer.isOpened():
                    raise VideoError(path, f"OpenCV cannot write fourcc {fourcc!r} here")
            elif (fr.shape[1], fr.shape[0]) != size:
                raise VideoError(path, f"frame size {fr.shape[1]}x{fr.shape[0]} != {size}", i)
            writer.write(cv2.cvtColor(np.ascontiguousarray(fr), cv2.COLOR_RGB2BGR))
            n += 1
    finally:
        if writer is not None:
            writer.release()
    if n == 0:
        raise VideoError(path, "no frames to write")
    return path
