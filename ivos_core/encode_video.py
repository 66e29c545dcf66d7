"""Browser-playable video files: H.264 MP4 and VP9 WebM through PyAV (which ships FFmpeg's codecs).

OpenCV's ``mp4v`` (MPEG-4 Part 2) files do not play in browsers; these do:

* :func:`write_browser_video`: ``(H, W, 3)`` RGB ``uint8`` frames to ``.mp4`` (H.264, ``yuv420p``,
  ``+faststart`` so playback starts before the download ends) or ``.webm`` (VP9, ``yuv420p``).
  Odd frame sizes are padded by one pixel (4:2:0 needs even sizes). Atomic: a failed encode leaves
  nothing at ``path``.
* :func:`probe_video`: decode a file back (codec name, size, frame count) to check what was written.
* :func:`browser_codec_available`: whether this PyAV can encode a format (False without PyAV).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ivos_core.utils import atomic_path

__all__ = ["CODECS", "VideoEncodeError", "write_browser_video", "probe_video", "browser_codec_available", "VideoInfo"]

#: suffix -> (encoder names to try in order, container format, codec options)
CODECS: dict[str, tuple[tuple[str, ...], str, dict[str, str]]] = {
    ".mp4": (("libx264", "h264", "libopenh264"), "mp4", {"preset": "veryfast", "crf": "23"}),
    ".webm": (("libvpx-vp9",), "webm", {"crf": "32", "b:v": "0", "deadline": "realtime", "cpu-used": "8"}),
}


class VideoEncodeError(RuntimeError):
    """The video cannot be encoded here (no PyAV, no encoder for the format, bad frames)."""


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    n_frames: int
    fps: float | None


def _encoder(suffix: str) -> tuple[str, str, dict[str, str]]:
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is a dependency
        raise VideoEncodeError("PyAV is not installed (pip install av)") from exc
    if suffix not in CODECS:
        raise VideoEncodeError(f"no browser codec for {suffix!r}; use one of {', '.join(CODECS)}")
    names, fmt, opts = CODECS[suffix]
    for n in names:
        if n in av.codecs_available:
            try:
                av.codec.Codec(n, "w")
            except Exception:  # listed but not an encoder in this build
                continue
            return n, fmt, opts
    raise VideoEncodeError(f"this PyAV/FFmpeg has none of the encoders {', '.join(names)} for {suffix}")


def browser_codec_available(suffix: str = ".mp4") -> bool:
    try:
        _encoder(suffix.lower())
        return True
    except VideoEncodeError:
        return False


def write_browser_video(path: str | Path, frames: Sequence[np.ndarray], *, fps: float = 12.0) -> Path:
    """Encode ``frames`` to ``path`` (``.mp4``: H.264; ``.webm``: VP9); returns ``path``.

    Raises :class:`VideoEncodeError` when the format cannot be encoded here or frames are bad.
    """
    import av
    from fractions import Fraction

    target = Path(path)
    codec, fmt, opts = _encoder(target.suffix.lower())
    if len(frames) == 0:
        raise VideoEncodeError(f"{target}: no frames to encode")
    h, w = np.asarray(frames[0]).shape[:2]
    H, W = h + h % 2, w + w % 2
    rate = Fraction(max(1e-3, float(fps))).limit_denominator(1001)
    with atomic_path(target) as tmp:
        with av.open(str(tmp), mode="w", format=fmt, options={"movflags": "+faststart"} if fmt == "mp4" else {}) as box:
            stream = box.add_stream(codec, rate=rate)
            stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
            stream.options = dict(opts)
            for i, f in enumerate(frames):
                a = np.asarray(f)
                if a.shape != (h, w, 3) or a.dtype != np.uint8:
                    raise VideoEncodeError(f"{target}: frame {i} is {a.shape} {a.dtype}, expected ({h}, {w}, 3) uint8")
                if (H, W) != (h, w):
                    a = np.pad(a, ((0, H - h), (0, W - w), (0, 0)), mode="edge")
                for pkt in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(a), format="rgb24")):
                    box.mux(pkt)
            for pkt in stream.encode():
                box.mux(pkt)
    return target


def probe_video(path: str | Path) -> VideoInfo:
    """Decode every frame of ``path``: its codec, size, frame count and frame rate."""
    import av

    try:
        with av.open(str(path)) as box:
            st = box.streams.video[0]
            n = sum(1 for _ in box.decode(st))
            return VideoInfo(
                codec=st.codec_context.name, width=st.codec_context.width, height=st.codec_context.height,
                n_frames=n, fps=float(st.average_rate) if st.average_rate else None,
            )
    except (av.error.FFmpegError, IndexError) as exc:
        raise VideoEncodeError(f"{path}: cannot decode: {exc}") from exc
