"""``ivos annotate``: serve the annotation app (mounted on the main CLI by :func:`register`)."""

from __future__ import annotations

import getpass
import ipaddress
import os
from pathlib import Path
from typing import Any, Optional

import typer

TOKEN_ENV = "IVOS_ANNOTATE_TOKEN"


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_sessions_dir() -> Path:
    home = os.environ.get("IVOS_HOME")
    return Path(home) / "sessions" if home else Path("outputs") / "sessions"


def job_spec(model: str, checkpoint: Optional[Path], interactive: Optional[str], finetune_steps: Optional[int]) -> tuple[Any, str]:
    """The model the app and its jobs use: the shipped model ``model``, else ``--checkpoint``, else
    GrabCut (with a note why). Returns ``(ModelSpec, note)``."""
    import tempfile

    from ivos_core.jobs import JobError, resolve_model
    from ivos_core.shipped import ShippedModelError, models_root, shipped_model

    if interactive == "grabcut":
        return resolve_model("grabcut", models_dir=tempfile.gettempdir(), interactive="grabcut", finetune_steps=finetune_steps), ""
    if checkpoint is not None:
        return resolve_model(model, models_dir=models_root(), interactive_checkpoint=checkpoint, finetune_steps=finetune_steps), ""
    try:
        shipped_model(model)
        return resolve_model(model, models_dir=models_root(), finetune_steps=finetune_steps), ""
    except (ShippedModelError, JobError) as exc:
        note = f"no shipped model {model!r} ({exc}); annotating with GrabCut instead (pass --checkpoint PATH for a deep model)"
        return resolve_model("grabcut", models_dir=tempfile.gettempdir(), interactive="grabcut", finetune_steps=finetune_steps), note


def annotate_cmd(
    roots: Optional[list[str]] = typer.Option(None, "--roots", help="allowed video roots (repeat, or colon-separated; default $IVOS_DATA)"),
    host: str = typer.Option("127.0.0.1", help="address to bind; anything but loopback needs --token"),
    port: int = typer.Option(8765, help="port"),
    token: Optional[str] = typer.Option(None, "--token", envvar=TOKEN_ENV, help=f"access token (or ${TOKEN_ENV}); required off loopback"),
    sessions: Optional[Path] = typer.Option(None, "--sessions", help="where session logs are saved (default $IVOS_HOME/sessions or outputs/sessions)"),
    out: Optional[Path] = typer.Option(None, "--out", help="job output root (default $IVOS_HOME/jobs or outputs/jobs)"),
    model: str = typer.Option("ivos-lite-v1", help="shipped model name (models/<name>/)"),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="interactive checkpoint instead of the shipped one"),
    interactive: Optional[str] = typer.Option(None, help="'grabcut' to annotate with GrabCut (no weights)"),
    crf: Optional[bool] = typer.Option(None, "--crf/--no-crf", help="dense CRF on each click (fast mode; default: the model's setting)"),
    flip: Optional[bool] = typer.Option(None, "--flip/--no-flip",
                                        help="mirror-image averaging on each click (default: the model's; off halves the network's time)"),
    grabcut_refine: bool = typer.Option(True, "--grabcut-refine/--no-grabcut-refine",
                                        help="keep the model's GrabCut boundary refinement (off: much faster clicks on large objects)"),
    grabcut_max_side: int = typer.Option(
        240, "--grabcut-max-side", min=0,
        help="run that refinement on its crop downscaled to this side (0: full resolution, as benchmarked); 240 cost "
             "+0.01 NoC@90 on COCO_MVal dev [-0.23, +0.24] (docs/results/dev/v1-int-gc240-paired.json)"),
    finetune_steps: Optional[int] = typer.Option(None, help="OSVOS fine-tuning steps of each propagation and job"),
    submit: str = typer.Option("auto", help="auto (Prefect deployment if configured, else local) | prefect | local"),
    user: Optional[str] = typer.Option(None, help="default user id in the logs (default: login name)"),
    device: str = typer.Option("auto", help="cpu | cuda | auto"),
) -> None:
    """Serve the annotation app: pick a video, click, propagate, refine, save and submit."""
    if not is_loopback(host) and not token:
        typer.echo(f"refusing to bind {host}: off loopback the app needs a token (--token or ${TOKEN_ENV})", err=True)
        raise typer.Exit(code=2)
    if submit not in ("auto", "prefect", "local"):
        raise typer.BadParameter("--submit must be auto, prefect or local")
    import uvicorn

    from flows.annotate.app import AnnotateConfig, create_app
    from flows.annotate.jobs import JobRunner
    from flows.segment_video import default_out
    from ivos_core.annotation.workspace import build_method, build_video_segmenter
    from ivos_core.paths import default_roots, parse_roots
    from ivos_core.utils import resolve_device

    root_list = [p for r in (roots or []) for p in parse_roots(r)] or default_roots()
    if not root_list:
        typer.echo("no video roots: pass --roots DIR (or set IVOS_DATA)", err=True)
        raise typer.Exit(code=2)
    spec, note = job_spec(model, checkpoint, interactive, finetune_steps)
    if note:
        typer.echo(note, err=True)
    dev = str(resolve_device(device))
    overrides: dict = {} if crf is None else {"crf": crf, "crf_mode": "fast"}
    if flip is not None:
        overrides["flip_tta"] = flip
    if not grabcut_refine:
        overrides["grabcut_band"] = None
    elif grabcut_max_side:
        overrides["grabcut_max_side"] = grabcut_max_side
    method = build_method(spec, device=dev, **overrides)
    runner = JobRunner(spec=spec, out=out or Path(default_out()), roots=root_list, mode=submit, device=dev,
                       prefect_parameters={k: v for k, v in {
                           "interactive": spec.interactive if spec.interactive == "grabcut" else None,
                           "interactive_checkpoint": str(checkpoint.resolve()) if checkpoint else None,
                           "finetune_steps": finetune_steps}.items() if v is not None})
    config = AnnotateConfig(
        roots=root_list, sessions_dir=(sessions or default_sessions_dir()).resolve(), method=method,
        video_segmenter=lambda: build_video_segmenter(spec, device=dev, finetune_steps=finetune_steps),
        jobs=runner, token=token, user_id=user or getpass.getuser(), model_name=spec.version,
        finetune_steps=finetune_steps if finetune_steps is not None else spec.finetune_steps,
    )
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/" + (f"?token={token}" if token else "")
    typer.echo(f"ivos annotate: {url}  (model {spec.version}; roots {', '.join(map(str, root_list))}; "
               f"sessions -> {config.sessions_dir})")
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("annotate")(annotate_cmd)
