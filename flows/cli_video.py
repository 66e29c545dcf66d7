"""``ivos train osvos`` and ``ivos eval davis``: mounted by :func:`register`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

console = Console(soft_wrap=True)


def _defaults() -> None:
    from flows.cli_common import prefect_defaults

    prefect_defaults()


def _csv(v: Optional[str]) -> Optional[list[str]]:
    if v is None:
        return None
    out = [x.strip() for x in v.split(",") if x.strip()]
    return out or None


def train_osvos_cmd(
    root: Path = typer.Option(..., "--root", help="DAVIS root (JPEGImages/, Annotations/, ImageSets/)"),
    out: Path = typer.Option(..., "--out", help="checkpoint folder (last.*, parent.*)"),
    config: str = typer.Option("lite", "--config", help="lite (CPU network) | paper (VGG-16, GPU)"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="cap the preset's training steps"),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="continue from <out>/last when it exists"),
    split: str = typer.Option("train", help="DAVIS-2016 split to train on"),
    batch_size: Optional[int] = typer.Option(None, help="override the preset's batch size"),
    crop: Optional[int] = typer.Option(None, help="override the preset's square crop (pixels)"),
    device: Optional[str] = typer.Option(None, help="cpu | cuda | auto"),
    seed: Optional[int] = typer.Option(None),
) -> None:
    """Train the OSVOS parent network on DAVIS train (Prefect flow ``train-osvos-parent``)."""
    _defaults()
    from flows.train_osvos import PRESETS, train_osvos_flow

    if config not in PRESETS:
        raise typer.BadParameter(f"--config must be one of {', '.join(PRESETS)}")
    info = train_osvos_flow(
        root=str(root), out=str(out), config=config, max_steps=max_steps, resume=resume, split=split,
        overrides={"batch_size": batch_size, "crop": crop, "device": device, "seed": seed},
    )
    what = f"resumed at step {info['start_step']}" if info["resumed"] else "from scratch"
    console.print(
        f"[green]OSVOS {info['model']} parent[/green]: {info['steps_run']} steps ({what}) in {info['seconds']} s, "
        f"final loss {info['final_loss']}; checkpoint {info['checkpoint']}"
    )


def eval_davis_cmd(
    root: Path = typer.Option(..., "--root", help="DAVIS root"),
    split: str = typer.Option("val", "--split"),
    out: Path = typer.Option(..., "--out", help="output folder"),
    sequences: Optional[str] = typer.Option(None, "--sequences", help="comma-separated subset, e.g. a,b"),
    osvos_parent: Optional[Path] = typer.Option(None, "--osvos-parent", help="OSVOS parent checkpoint (default: from scratch)"),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="our interactive model (gaussian clicks)"),
    ifcn_checkpoint: Optional[Path] = typer.Option(None, "--ifcn-checkpoint", help="iFCN model (distance maps)"),
    finetune_steps: int = typer.Option(500, "--finetune-steps", help="one-shot fine-tuning steps (paper: 500)"),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="at most N frames per sequence"),
    frame_stride: int = typer.Option(1, "--frame-stride", help="evaluate every k-th frame"),
    max_side: Optional[int] = typer.Option(None, "--max-side", help="downscale frames to this longer side"),
    init: str = typer.Option("gt,grabcut,ours", "--init", help="Fig. 5 first-frame sources"),
    init_clicks: str = typer.Option("1,4,8", "--init-clicks", help="robot clicks for the first frame"),
    correct: str = typer.Option("ours,ifcn,grabcut", "--correct", help="Table 3 correction methods (empty: none)"),
    correction_clicks: str = typer.Option("1,4,10", "--correction-clicks", help="clicks on the worst frame"),
    progressive_clicks: str = typer.Option("", "--progressive-clicks",
                                           help="re-fit + re-propagate after correcting with k clicks (e.g. 1)"),
    crf: bool = typer.Option(False, "--crf/--no-crf", help="dense CRF on the interactive model's output"),
    colour: float = typer.Option(0.0, "--colour", min=0.0, help="colour cue weight for the deep models (0 = off)"),
    keep_clicked: bool = typer.Option(False, "--keep-clicked/--all-components",
                                      help="deep models keep only mask components holding a positive click"),
    device: str = typer.Option("auto", help="cpu | cuda | auto"),
    year: int = typer.Option(2016, help="DAVIS year (2016: the paper's)"),
    seed: int = 0,
) -> None:
    """OSVOS on DAVIS: Fig. 5 (first-frame mask source), Table 3 (worst-frame correction), J&F
    and consecutive-mask IoU per sequence (Prefect flow ``eval-davis``)."""
    _defaults()
    from ivos_core.davis_eval import DavisEvalConfig, summary_rows

    try:
        cfg = DavisEvalConfig(
            split=split, year=year, sequences=tuple(_csv(sequences) or ()) or None,
            init_methods=tuple(_csv(init) or ()), init_clicks=tuple(_csv(init_clicks) or (1,)),
            correction_methods=tuple(_csv(correct) or ()),
            correction_clicks=tuple(_csv(correction_clicks) or (1,)),
            progressive_clicks=tuple(_csv(progressive_clicks) or ()),
            finetune_steps=finetune_steps, max_frames=max_frames, frame_stride=frame_stride, max_side=max_side,
            seed=seed, device=device, crf=crf, colour=colour, keep_clicked=keep_clicked,
            osvos_parent=str(osvos_parent) if osvos_parent else None,
            checkpoint=str(checkpoint) if checkpoint else None,
            ifcn_checkpoint=str(ifcn_checkpoint) if ifcn_checkpoint else None,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    from flows.cli_common import print_rows
    from flows.eval_davis import eval_davis_flow

    summary = eval_davis_flow(root=str(root), out=str(out), config=cfg.to_dict())
    print_rows(summary_rows(summary), title=f"OSVOS on DAVIS {year} {split} (mean IoU; paper for reference)")
    for f in summary.get("failed", [])[:20]:
        console.print(f"[red]failed[/red] {f['sequence']}: {f['reason']}")
    reasons = sorted({v for v in summary.get("skipped_settings", {}).values()})
    for r in reasons:
        console.print(f"[yellow]skipped[/yellow]: {r}")
    console.print(f"files in {out}: summary.json, per_sequence.parquet, per_frame.parquet, corrections.parquet, *.png")


def register(app: typer.Typer, train_app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add ``train osvos`` to ``train_app`` and ``eval davis`` to ``eval_app`` (``app`` unused:
    the same signature as the other CLI modules' ``register`` for the lead's wiring)."""
    del app
    train_app.command("osvos")(train_osvos_cmd)
    eval_app.command("davis")(eval_davis_cmd)
