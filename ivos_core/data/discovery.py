"""Finding DAVIS-layout videos on disk: a DAVIS root, or a folder of them (e.g. synthetic roots).

:func:`davis_videos` yields ``(DavisSequence, VideoRef)`` pairs, the VideoRef's ``uri`` relative to
the root's parent, so that parent is the data root jobs resolve session logs in.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["davis_roots", "davis_videos"]


def davis_roots(root: Path) -> list[Path]:
    """``root`` itself when it is a DAVIS-layout root, else its DAVIS-layout subfolders; a
    ValueError that says how to get data when there are none."""
    root = Path(root)
    if (root / "JPEGImages").is_dir():
        return [root]
    subs = sorted(p for p in root.iterdir() if p.is_dir() and (p / "JPEGImages").is_dir()) if root.is_dir() else []
    if not subs:
        raise ValueError(
            f"{root} is neither a DAVIS root (JPEGImages/, Annotations/) nor a folder of them; "
            "write synthetic ones with `ivos data prepare --synthetic N` or pass ../shared/data/DAVIS"
        )
    return subs


def davis_videos(root: Path, split: str | None, max_videos: int | None = None) -> list[tuple[object, object]]:
    """``(DavisSequence, VideoRef)`` pairs of every annotated sequence under ``root`` (see
    :func:`davis_roots`), at most ``max_videos``.

    The VideoRef ``uri`` is the sequence's frame folder relative to ``root``'s parent (so the
    parent is the data root jobs resolve it in, e.g. ``IVOS_DATA=../shared/data``);
    ``dataset`` is the root folder's name. A split list that is missing falls back to folders.
    """
    from ivos_core.data.davis import DavisDataset
    from ivos_core.interactions import VideoRef

    base = Path(root).resolve().parent
    out: list[tuple[object, object]] = []
    for r in davis_roots(root):
        has_list = (r / "ImageSets" / "480p" / f"{split}.txt").is_file() if split else False
        ds = DavisDataset(r, year=2016, split=split if has_list else None)
        for name in ds.sequences():
            seq = ds.sequence(name)
            if len(seq) == 0 or not seq.has_mask(0):
                continue
            h, w = seq.frame(0).shape[:2]
            uri = str(seq.frame_paths[0].parent.resolve().relative_to(base))
            ref = VideoRef(uri=uri, width=int(w), height=int(h), n_frames=len(seq), fps=24.0,
                           dataset=r.resolve().name, sequence=name)
            out.append((seq, ref))
            if max_videos is not None and len(out) >= max_videos:
                return out
    return out
