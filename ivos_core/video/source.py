"""A uniform, streaming view of a video for :class:`~ivos_core.video.VideoSegmenter`: a frame array,
a frame folder or video file (:func:`ivos_core.data.video.open_video`), an open
:class:`~ivos_core.protocols.FrameSource`, or a sequence with ``frame(i)`` and ``len()``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ivos_core.video.state import VideoSegmenterError

__all__: list[str] = []  # package-private: VideoSegmenter.open() builds one


class _Source:
    """A uniform, streaming view of a frame array, a frame folder / video file or a sequence."""

    def __init__(self, source: Any, *, name: str | None, fps: float) -> None:
        self._reader = None
        self._array: np.ndarray | None = None
        self._seq = None
        self.fps = float(fps)
        if isinstance(source, np.ndarray):
            a = source
            if a.ndim != 4 or a.shape[-1] != 3 or a.dtype != np.uint8 or len(a) == 0:
                raise VideoSegmenterError(
                    name or "<array>", f"a frame array must be (T, H, W, 3) uint8 with T > 0, got {a.shape} {a.dtype}"
                )
            self._array = a
            self.name = name or "<array>"
            self.n_frames, self.height, self.width = int(a.shape[0]), int(a.shape[1]), int(a.shape[2])
        elif isinstance(source, (str, Path)):
            from ivos_core.data.video import VideoError, open_video

            self.name = name or str(source)
            try:
                self._reader = open_video(source, fps=fps)
            except (VideoError, OSError) as exc:
                raise VideoSegmenterError(self.name, f"cannot open video: {getattr(exc, 'reason', exc)}") from exc
            r = self._reader
            self.n_frames, self.height, self.width = int(r.n_frames), int(r.height), int(r.width)
            self.fps = float(getattr(r, "fps", fps) or fps)
        elif hasattr(source, "read") and hasattr(source, "n_frames"):  # an open FrameSource
            self._reader = source
            self.name = name or str(getattr(source, "path", type(source).__name__))
            self.n_frames, self.height, self.width = int(source.n_frames), int(source.height), int(source.width)
            self.fps = float(getattr(source, "fps", fps) or fps)
        elif hasattr(source, "frame") and hasattr(source, "__len__"):  # DavisSequence-like
            self._seq = source
            self.name = name or str(getattr(source, "name", type(source).__name__))
            self.n_frames = len(source)
            if self.n_frames == 0:
                raise VideoSegmenterError(self.name, "sequence has no frames")
            first = self._read_checked(0, check_size=False)
            self.height, self.width = int(first.shape[0]), int(first.shape[1])
        else:
            raise VideoSegmenterError(
                name or repr(type(source).__name__),
                "unsupported source: pass a frame folder or video file path, a (T, H, W, 3) uint8 "
                "array, an open video reader or a sequence with frame(i) and len()",
            )

    def _raw(self, i: int) -> np.ndarray:
        if self._array is not None:
            return self._array[i]
        if self._reader is not None:
            return self._reader.read(i)
        return self._seq.frame(i)

    def _read_checked(self, i: int, *, check_size: bool = True) -> np.ndarray:
        try:
            f = np.asarray(self._raw(i))
        except VideoSegmenterError:
            raise
        except (ValueError, OSError, KeyError) as exc:  # VideoError / SampleError are ValueErrors
            raise VideoSegmenterError(self.name, f"frame failed to decode: {exc}", i) from exc
        if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
            raise VideoSegmenterError(self.name, f"frame is not (H, W, 3) uint8 RGB: {f.shape} {f.dtype}", i)
        if check_size and f.shape[:2] != (self.height, self.width):
            raise VideoSegmenterError(
                self.name, f"frame size {f.shape[1]}x{f.shape[0]} differs from the video's {self.width}x{self.height}", i
            )
        return f

    def read(self, i: int) -> np.ndarray:
        """Frame ``i`` (H, W, 3) uint8 RGB."""
        return self._read_checked(i)

    def iterate(self, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
        """Frames ``start..stop-1`` in order, one at a time."""
        if self._reader is not None and start == 0 and stop == self.n_frames and hasattr(self._reader, "__iter__"):
            it = iter(self._reader)
            for i in range(start, stop):
                try:
                    f = next(it)
                except StopIteration:
                    raise VideoSegmenterError(
                        self.name, f"video ended early: {i} frames decoded, header promised {self.n_frames}", i
                    ) from None
                except (ValueError, OSError) as exc:
                    raise VideoSegmenterError(self.name, f"frame failed to decode: {exc}", i) from exc
                if f.shape[:2] != (self.height, self.width):
                    raise VideoSegmenterError(self.name, f"frame size {f.shape[1]}x{f.shape[0]} differs", i)
                yield i, f
            return
        for i in range(start, stop):
            yield i, self._read_checked(i)

    def close(self) -> None:
        close = getattr(self._reader, "close", None)
        if close is not None:
            close()
