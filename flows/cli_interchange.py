"""``ivos export``, ``ivos import`` and ``ivos segment``: mounted by :func:`register`.

Thin: the work is :mod:`ivos_core.interchange` (formats, session logs from masks or clicks) and
:func:`ivos_core.jobs.replay_session` + :func:`ivos_core.jobs.write_outputs` (the same replay as
the batch jobs, without Prefect: one video, one process).
"""

from __future__ import annotations

import hashlib
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

console = Console(soft_wrap=True)

FORMAT_HELP = "DAVIS PNGs, COCO (+ YouTube-VIS) JSON, CVAT Segmentation mask 1.1, Label Studio tasks"


class Format(str, Enum):
    """Interchange formats (ivos_core.interchange.FORMATS)."""

    davis = "davis"
    coco = "coco"
    cvat = "cvat"
    labelstudio = "labelstudio"


def _fail(exc: BaseException) -> None:
    console.print(f"[red]error[/red]: {exc}")
    raise typer.Exit(2)


def _frame_arg(frame: Optional[str]) -> str | int | None:
    if frame is None:
        return None
    return int(frame) if frame.isdigit() else frame


def export_cmd(
    job_dir: Path = typer.Argument(..., help="a finished job folder (<out>/<model_version>/<session_id>/)"),
    out: Path = typer.Argument(..., help="the folder to write (new or empty)"),
    fmt: Format = typer.Option(..., "--format", "-f", help=FORMAT_HELP),
    frames: bool = typer.Option(False, "--frames/--no-frames", help="also write the video's frames as JPEGs"),
    image_prefix: str = typer.Option("", help="labelstudio: prefix of each task's image URL, e.g. /data/local-files/?d=frames/"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace OUT when it is not empty"),
) -> None:
    """Export a job's masks as DAVIS PNGs, COCO + YouTube-VIS JSON, CVAT Segmentation mask 1.1 or Label Studio tasks."""
    from ivos_core.interchange import InterchangeError, export_job

    fmt = fmt.value
    try:
        path = export_job(job_dir, out, fmt, frames=frames, image_prefix=image_prefix, overwrite=overwrite)
    except (InterchangeError, OSError) as exc:
        _fail(exc)
    files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    shown = ", ".join(files[:6]) + (f" ... ({len(files)} files)" if len(files) > 6 else "")
    console.print(f"[green]{fmt}[/green] export of {job_dir} in {path}: {shown}")


def import_cmd(
    source: Path = typer.Argument(..., help="the annotation: DAVIS PNG (or folder), COCO / YouTube-VIS JSON, "
                                             "CVAT Segmentation mask 1.1 folder or zip, Label Studio tasks JSON"),
    fmt: Format = typer.Option(..., "--format", "-f", help=FORMAT_HELP),
    video: Path = typer.Option(..., "--video", help="the video it annotates (mp4 or frame folder)"),
    out: Path = typer.Option(..., "--out", help="the session log to write (JSON)"),
    root: Optional[Path] = typer.Option(None, "--root", help="data root the session's video uri is relative to "
                                                             "(default: the video's absolute path)"),
    frame: Optional[str] = typer.Option(None, "--frame", help="which image/task/frame of SOURCE: position or name "
                                                              "(default: the first holding the label)"),
    label: Optional[str] = typer.Option(None, "--label", help="label / category / object to take (default: all, "
                                                              "or the only one)"),
    frame_index: Optional[int] = typer.Option(None, "--frame-index", min=0,
                                              help="video frame the mask belongs to (default: its position in SOURCE, else 0)"),
    click: Optional[list[str]] = typer.Option(None, "--click", help="extra clicks after the mask: X,Y[,+|-] (repeat)"),
    session_id: Optional[str] = typer.Option(None, help="default: <video>-import-<hash>"),
    user_id: str = typer.Option("import", help="the session's user id"),
) -> None:
    """Make a session log whose first frame starts from an imported mask (or polygons)."""
    from ivos_core.interactions import save_session
    from ivos_core.interchange import InterchangeError, import_mask
    from ivos_core.interchange.sessions import mask_session, parse_click, video_ref

    fmt = fmt.value
    try:
        vref = video_ref(video, root=root)
        got = import_mask(fmt, source, frame=_frame_arg(frame), label=label, size=(vref.height, vref.width))
        idx = frame_index if frame_index is not None else (got.frame_index if got.frame_index is not None
                                                           and got.frame_index < vref.n_frames else 0)
        clicks = [parse_click(c) for c in click or []]
        sid = session_id or f"{vref.sequence or 'video'}-import-" + hashlib.sha256(
            f"{got.source}|{idx}|{click}".encode()).hexdigest()[:8]
        s = mask_session(got.mask, vref, session_id=sid, user_id=user_id, frame_index=idx, source=got.source,
                         clicks=clicks, meta={"imported_from": fmt, "label": label})
        save_session(s, out)
    except (InterchangeError, ValueError, OSError) as exc:
        _fail(exc)
    for sk in got.skipped[:20]:
        console.print(f"[yellow]skipped[/yellow] {sk}")
    console.print(f"[green]session {sid}[/green]: frame {idx} starts from {got.source} ({int(got.mask.sum())} px)"
                  f"{f' + {len(clicks)} clicks' if clicks else ''}; log in {out}")


def _model(model: Optional[str], checkpoint: Optional[Path], interactive: Optional[str], models_dir: Optional[Path],
           finetune_steps: Optional[int]):
    from ivos_core.jobs import resolve_model

    if interactive == "grabcut":
        return resolve_model(model or "grabcut", models_dir=models_dir, interactive="grabcut", finetune_steps=finetune_steps)
    if checkpoint is not None:
        return resolve_model(model or "custom", models_dir=models_dir, interactive_checkpoint=checkpoint,
                             finetune_steps=finetune_steps)
    if model is not None:
        return resolve_model(model, models_dir=models_dir, finetune_steps=finetune_steps)
    from ivos_core.shipped import shipped_model

    sm = shipped_model()  # models/ivos-lite-v1: the job-model layout, so the jobs' resolver reads it
    return resolve_model(sm.name, models_dir=sm.folder.parent, finetune_steps=finetune_steps)


def segment_cmd(
    video: Path = typer.Argument(..., help="an mp4 (any OpenCV-readable video) or a folder of frames"),
    click: list[str] = typer.Option(..., "--click", help="X,Y[,+|-][,OBJECT] in pixels (+ object, the default; "
                                    "- background; OBJECT: the object id, default 1, one per object); repeat"),
    frame: int = typer.Option(0, "--frame", min=0, help="the frame the clicks are on"),
    out: Path = typer.Option(..., "--out", help="output folder: <session>.session.json and <model_version>/<session>/"),
    model: Optional[str] = typer.Option(None, "--model", help="a named model in --models-dir (default: the shipped one)"),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="an interactive checkpoint instead"),
    interactive: Optional[str] = typer.Option(None, "--interactive", help="grabcut: the classical method, no weights"),
    models_dir: Optional[Path] = typer.Option(None, "--models-dir", help="where --model names live"),
    finetune_steps: Optional[int] = typer.Option(None, "--finetune-steps", min=0, help="OSVOS one-shot steps (model default)"),
    session_id: Optional[str] = typer.Option(None, help="default: <video>-<hash of the clicks>"),
    device: str = typer.Option("auto", help="cpu | cuda | auto"),
) -> None:
    """Clicks on one frame -> masks for every frame, sticker and overlay (through the job replay)."""
    from ivos_core.interactions import save_session
    from ivos_core.interchange.sessions import click_session, parse_click, video_ref
    from ivos_core.jobs import JobError, replay_session, write_outputs
    from ivos_core.shipped import ShippedModelError

    vpath = video.resolve()
    try:
        if not vpath.exists():
            raise FileNotFoundError(f"{video}: no such video file or frame folder")
        clicks = [parse_click(c) for c in click]
        vref = video_ref(vpath, root=vpath.parent)
        sid = session_id or f"{vref.sequence or 'video'}-" + hashlib.sha256(
            f"{frame}|{[(c.x, c.y, c.positive) + ((c.object_id,) if c.object_id != 1 else ()) for c in clicks]}"
            .encode()).hexdigest()[:8]
        session = click_session(clicks, vref, session_id=sid, frame_index=frame, meta={"command": "ivos segment"})
        log = save_session(session, out / f"{sid}.session.json")
        spec = _model(model, checkpoint, interactive, models_dir, finetune_steps)
        console.print(f"session {sid} ({len(clicks)} clicks on frame {frame}) -> model {spec.version}; log {log}")
        result = replay_session(session, video_roots=[vpath.parent], spec=spec, device=device,
                                progress=lambda d, t, lab: console.print(f"  [{d}/{t}] {lab}"))
        folder = write_outputs(result, out)
    except (JobError, ShippedModelError, FileNotFoundError, ValueError, OSError) as exc:
        _fail(exc)
    files = sorted(p.name for p in folder.iterdir() if p.is_file())
    console.print(f"[green]done[/green]: {len(result.masks)} masks in {folder}/masks; {', '.join(files)}")


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)
    app.command("import")(import_cmd)
    app.command("segment")(segment_cmd)
