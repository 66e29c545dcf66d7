"""``ivos train osvos`` and ``ivos eval davis``: mounted by :func:`register`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from flows.cli_common import segmenter_options

console = Console(soft_wrap=True)

# the defaults of every OSVOS option below come from the one frozen record
from ivos_core.splits import VIDEO_DEV_SEQUENCES as VIDEO_DEV_SEQUENCES_DEFAULT  # noqa: E402
from ivos_core.video_prior import DEFAULT_OSVOS_OPTIONS as _OSVOS  # noqa: E402


def _defaults() -> None:
    from flows.cli_common import prefect_defaults

    prefect_defaults()


def _csv(v: Optional[str]) -> Optional[list[str]]:
    if v is None:
        return None
    out = [x.strip() for x in v.split(",") if x.strip()]
    return out or None


def _weights_file(path: Optional[Path]) -> Optional[str]:
    """A checkpoint base name (``runs/x/parent``) or its weight file; a missing one is a usage error."""
    if path is None:
        return None
    for cand in (path, Path(f"{path}.safetensors")):
        if cand.is_file():
            return str(cand)
    raise typer.BadParameter(f"{path}: no such weight file (pass a .safetensors file or a checkpoint base name)")


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
    stills: Optional[Path] = typer.Option(
        None, "--stills", help="COCO_MVal root: its train.txt instances join as one-frame sequences"),
    holdout_dev: bool = typer.Option(
        False, "--holdout-dev", help="leave the video development sequences (hockey, lucia, surf) out"),
    holdout: Optional[str] = typer.Option(
        None, "--holdout", help="comma-separated DAVIS sequences to leave out as well (recorded in the checkpoint; "
                                "a cross-validation fold that `ivos eval video-select` may then develop on)"),
    steps: Optional[int] = typer.Option(None, "--steps", help="set the preset's training steps"),
    lr: Optional[float] = typer.Option(None, "--lr", help="peak learning rate (cosine decay to a tenth)"),
    keep_snapshots: bool = typer.Option(
        False, "--keep-snapshots", help="keep <out>/snapshots/stepNNNNNN at every checkpoint (to choose on dev)"),
    init_from: Optional[Path] = typer.Option(
        None, "--init-from", help="start from these weights (e.g. a finished parent's .safetensors): a warm restart"),
) -> None:
    """Train the OSVOS parent network on DAVIS train (Prefect flow ``train-osvos-parent``)."""
    _defaults()
    from flows.train_osvos import PRESETS, train_osvos_flow

    if config not in PRESETS:
        raise typer.BadParameter(f"--config must be one of {', '.join(PRESETS)}")
    info = train_osvos_flow(
        root=str(root), out=str(out), config=config, max_steps=max_steps, resume=resume, split=split,
        overrides={"batch_size": batch_size, "crop": crop, "device": device, "seed": seed, "steps": steps, "lr": lr,
                   "pretrained": _weights_file(init_from),
                   "keep_snapshots": keep_snapshots or None,
                   "held_out": tuple(x.strip() for x in holdout.split(",") if x.strip()) if holdout else None},
        stills=str(stills) if stills else None, holdout_dev=holdout_dev,
    )
    what = (f"resumed at step {info['start_step']}" if info["resumed"]
            else f"from {init_from}" if init_from else "from scratch")
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
    finetune_steps: int = typer.Option(_OSVOS.finetune_steps, "--finetune-steps", help="one-shot fine-tuning steps (paper: 500)"),
    finetune_lr: Optional[float] = typer.Option(_OSVOS.finetune_lr, "--finetune-lr", help="fine-tuning learning rate (default: the network's)"),
    finetune_crop: Optional[int] = typer.Option(_OSVOS.finetune_crop, "--finetune-crop", help="square fine-tuning crop (default: whole frame)"),
    prior_weight: float = typer.Option(_OSVOS.prior_weight, "--prior-weight", min=0.0,
                                       help="previous-frame prior (flow-warped mask) on the logits; 0 = the paper's OSVOS"),
    prior_inside: float = typer.Option(_OSVOS.prior_inside, "--prior-inside", min=0.0, max=1.0,
                                       help="share of the prior's foreground boost inside the warped mask"),
    flip_tta: bool = typer.Option(_OSVOS.flip_tta, "--flip-tta/--no-flip-tta",
                                  help="propagate with the mean of each frame's and its mirror image's logits"),
    freeze_bn: bool = typer.Option(_OSVOS.freeze_bn, "--freeze-bn/--no-freeze-bn",
                                   help="fine-tune with the parent's BatchNorm statistics frozen"),
    prior_dilation: float = typer.Option(_OSVOS.prior_dilation, "--prior-dilation", min=0.0, max=0.5,
                                         help="the prior's band around the warped previous mask (fraction of the diagonal)"),
    mask_threshold: float = typer.Option(_OSVOS.mask_threshold, "--mask-threshold", min=0.01, max=0.99,
                                         help="probability above which a propagated pixel is object"),
    flow_side: int = typer.Option(_OSVOS.flow_max_side, "--flow-side", min=16, help="longer side the prior's optical flow is computed at"),
    finetune_aug: float = typer.Option(_OSVOS.finetune_aug, "--finetune-aug", min=0.0, max=4.0, help="fine-tuning augmentation strength (1 = default ranges, 0 = flips only)"),
    osvos_crf: float = typer.Option(_OSVOS.crf_weight, "--osvos-crf", min=0.0, max=50.0, help="dense CRF appearance weight on each propagated frame (0 = off)"),
    osvos_online: str = typer.Option(f"{_OSVOS.online_steps}:{_OSVOS.online_every}", "--osvos-online", help="online adaptation STEPS:EVERY propagated frames (0:8 = off)"),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="at most N frames per sequence"),
    frame_stride: int = typer.Option(1, "--frame-stride", help="evaluate every k-th frame"),
    max_side: Optional[int] = typer.Option(None, "--max-side", help="downscale frames to this longer side"),
    init: str = typer.Option("gt,grabcut,ours", "--init", help="Fig. 5 first-frame sources"),
    init_clicks: str = typer.Option("1,4,8", "--init-clicks", help="robot clicks for the first frame"),
    correct: str = typer.Option("ours,ifcn,grabcut", "--correct", help="Table 3 correction methods (empty: none)"),
    correction_clicks: str = typer.Option("1,4,10", "--correction-clicks", help="clicks on the worst frame"),
    correction_frames: int = typer.Option(1, "--correction-frames", min=1,
                                          help="correct the k worst frames (Table 3 reads the worst; more: a steadier dev measure)"),
    progressive_clicks: str = typer.Option("", "--progressive-clicks",
                                           help="re-fit + re-propagate after correcting with k clicks (e.g. 1)"),
    crf: bool = typer.Option(False, "--crf/--no-crf", help="dense CRF on the interactive model's output"),
    colour: float = typer.Option(0.0, "--colour", min=0.0, help="colour cue weight for the deep models (0 = off)"),
    keep_clicked: bool = typer.Option(False, "--keep-clicked/--all-components",
                                      help="deep models keep only mask components holding a positive click"),
    grabcut_band: Optional[float] = typer.Option(None, "--grabcut-band", min=0.0,
                                                 help="our model's GrabCut boundary refinement band (fraction of the diagonal)"),
    local_radius: Optional[float] = typer.Option(None, "--local-radius", min=0.0,
                                                 help="our corrections change only within this fraction of the diagonal around the clicks"),
    interactive_flip: bool = typer.Option(False, "--interactive-flip/--no-interactive-flip",
                                          help="our model averages the logits of the image and its mirror image"),
    seg_option: Optional[List[str]] = typer.Option(None, "--seg-option", help="KEY=VALUE: a further option of our model (repeatable), e.g. tta_sizes=[448]"),
    interactive_input_size: Optional[int] = typer.Option(None, "--interactive-input-size", min=32,
                                                         help="our model's working size (default: the checkpoint's)"),
    device: str = typer.Option("auto", help="cpu | cuda | auto"),
    year: int = typer.Option(2016, help="DAVIS year (2016: the paper's)"),
    seed: int = 0,
) -> None:
    """OSVOS on DAVIS: Fig. 5 (first-frame mask source), Table 3 (worst-frame correction), J&F
    and consecutive-mask IoU per sequence (Prefect flow ``eval-davis``)."""
    _defaults()
    from ivos_core.davis import DavisEvalConfig

    try:
        cfg = DavisEvalConfig(
            split=split, year=year, sequences=tuple(_csv(sequences) or ()) or None,
            init_methods=tuple(_csv(init) or ()), init_clicks=tuple(_csv(init_clicks) or (1,)),
            correction_methods=tuple(_csv(correct) or ()), correction_clicks=tuple(_csv(correction_clicks) or (1,)),
            progressive_clicks=tuple(_csv(progressive_clicks) or ()), correction_frames=correction_frames,
            finetune_steps=finetune_steps, finetune_lr=finetune_lr, finetune_crop=finetune_crop,
            prior_weight=prior_weight, prior_inside=prior_inside, flip_tta=flip_tta,
            freeze_bn=freeze_bn, prior_dilation=prior_dilation, mask_threshold=mask_threshold, flow_max_side=flow_side, finetune_aug=finetune_aug, osvos_crf=osvos_crf, max_frames=max_frames,
            osvos_online_steps=_online_pair(osvos_online)[0], osvos_online_every=_online_pair(osvos_online)[1], frame_stride=frame_stride, max_side=max_side,
            seed=seed, device=device, crf=crf, colour=colour, keep_clicked=keep_clicked,
            grabcut_band=grabcut_band or None, local_radius=local_radius or None, interactive_flip=interactive_flip, interactive_input_size=interactive_input_size,
            osvos_parent=str(osvos_parent) if osvos_parent else None, checkpoint=str(checkpoint) if checkpoint else None, ifcn_checkpoint=str(ifcn_checkpoint) if ifcn_checkpoint else None, interactive_options=segmenter_options(seg_option),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    from flows.eval_davis import eval_davis_flow

    summary = eval_davis_flow(root=str(root), out=str(out), config=cfg.to_dict())
    _print_davis_summary(summary, out, year, split)


def _print_davis_summary(summary: dict, out: Path, year: int, split: str) -> None:
    from flows.cli_common import print_rows
    from ivos_core.davis import summary_rows

    print_rows(summary_rows(summary), title=f"OSVOS on DAVIS {year} {split} (mean IoU; paper for reference)")
    for f in summary.get("failed", [])[:20]:
        console.print(f"[red]failed[/red] {f['sequence']}: {f['reason']}")
    for r in sorted({v for v in summary.get("skipped_settings", {}).values()}):
        console.print(f"[yellow]skipped[/yellow]: {r}")
    console.print(f"files in {out}: summary.json, per_sequence.parquet, per_frame.parquet, corrections.parquet, *.png")


def _on_off(value: str) -> bool:
    if value.lower() in ("on", "true", "1", "yes"):
        return True
    if value.lower() in ("off", "false", "0", "no"):
        return False
    raise ValueError(f"expected on or off, got {value!r}")


def _online_pair(value: str) -> tuple[int, int]:
    """``STEPS:EVERY`` (online adaptation steps every EVERY propagated frames; ``0:8`` = off)."""
    steps, _, every = value.partition(":")
    try:
        return int(steps), int(every or 8)
    except ValueError:
        raise ValueError(f"expected STEPS:EVERY for online adaptation (e.g. 25:8), got {value!r}") from None


def select_video_cmd(
    root: Path = typer.Option(..., "--root", help="DAVIS root (the development sequences are train sequences)"),
    osvos_parent: Path = typer.Option(..., "--osvos-parent", help="OSVOS parent checkpoint"),
    out: Path = typer.Option(Path("docs/results/dev/video-selection.json"), "--out", help="selection JSON"),
    sequences: str = typer.Option(",".join(VIDEO_DEV_SEQUENCES_DEFAULT), "--sequences",
                                  help="development sequences only: hockey, lucia, surf, or training sequences "
                                       "the parent was trained without (`ivos train osvos --holdout`); a val "
                                       "sequence is refused"),
    split: str = typer.Option("train", "--split"),
    steps: str = typer.Option("100,200", "--steps", help="fine-tuning steps to try"),
    lrs: str = typer.Option("default,0.003,0.01", "--lr", help="learning rates to try ('default' = the network's)"),
    crops: str = typer.Option("none", "--crop", help="fine-tuning crops to try ('none' = whole frame)"),
    osvos_sides: str = typer.Option("320", "--osvos-side",
                                    help="OSVOS working sizes to try (longer side; 'none' = the loaded frames')"),
    priors: str = typer.Option("0:1,3:0,10:0,3:0.5,10:0.5", "--priors",
                               help="previous-frame priors to try, weight:inside pairs (0:1 = off)"),
    flips: str = typer.Option("off", "--osvos-flip",
                              help="propagation with mirror averaging to try: off, on or off,on (reuses each fit)"),
    freeze_bn: str = typer.Option("off", "--freeze-bn",
                                  help="fine-tuning with the parent's BatchNorm statistics frozen: off, on or off,on"),
    augs: str = typer.Option(str(_OSVOS.finetune_aug), "--aug",
                             help="fine-tuning augmentation strengths to try (1 = default ranges; each is a fit)"),
    dilations: str = typer.Option(str(_OSVOS.prior_dilation), "--prior-dilation",
                                  help="the prior's band around the warped mask (fraction of the diagonal) to try (reuses each fit)"),
    thresholds: str = typer.Option(str(_OSVOS.mask_threshold), "--threshold",
                                   help="mask thresholds on the propagated probabilities to try (reuses each fit)"),
    flow_sides: str = typer.Option(str(_OSVOS.flow_max_side), "--flow-side",
                                   help="longer sides the prior's optical flow is computed at, to try (reuses each fit)"),
    crf_weights: str = typer.Option(str(_OSVOS.crf_weight), "--crf-weight",
                                    help="dense CRF appearance weights on each propagated frame to try (0 = off; reuses each fit)"),
    online: str = typer.Option(f"{_OSVOS.online_steps}:{_OSVOS.online_every}", "--online",
                               help="online adaptation to try, STEPS:EVERY pairs (0:8 = off; reuses each fit)"),
    frame_stride: int = typer.Option(2, "--frame-stride"),
    max_side: Optional[int] = typer.Option(320, "--max-side"),
    cache: Optional[Path] = typer.Option(Path("runs/select-video-cache"), "--cache", help="per-sequence result cache"),
    seed: int = 0,
) -> None:
    """Choose OSVOS fine-tuning and prior settings on the video DEVELOPMENT sequences (GT first
    frame); writes every candidate's J per sequence and the choice. Refuses DAVIS val."""
    import json

    from ivos_core.splits import TestSetError
    from ivos_core.utils import atomic_write
    from ivos_core.video_select import SelectionGrid, check_development, parent_fold, select_video_settings

    try:
        fold = parent_fold(osvos_parent, root) if split == "train" else ()
        seqs = check_development(_csv(sequences) or [], split, fold=fold)
        pairs = tuple((float(p.split(":")[0]), float(p.split(":")[1]) if ":" in p else 1.0) for p in _csv(priors) or ["0:1"])
        grid = SelectionGrid(
            finetune_steps=tuple(int(x) for x in _csv(steps) or ["100"]),
            finetune_lr=tuple(None if x == "default" else float(x) for x in _csv(lrs) or ["default"]),
            finetune_crop=tuple(None if x == "none" else int(x) for x in _csv(crops) or ["none"]),
            osvos_side=tuple(None if x == "none" else int(x) for x in _csv(osvos_sides) or ["320"]),
            priors=pairs, flip_tta=tuple(_on_off(x) for x in _csv(flips) or ["off"]),
            freeze_bn=tuple(_on_off(x) for x in _csv(freeze_bn) or ["off"]),
            finetune_aug=tuple(float(x) for x in _csv(augs) or [str(_OSVOS.finetune_aug)]),
            prior_dilation=tuple(float(x) for x in _csv(dilations) or [str(_OSVOS.prior_dilation)]),
            mask_threshold=tuple(float(x) for x in _csv(thresholds) or [str(_OSVOS.mask_threshold)]),
            flow_max_side=tuple(int(x) for x in _csv(flow_sides) or [str(_OSVOS.flow_max_side)]),
            crf_weight=tuple(float(x) for x in _csv(crf_weights) or [str(_OSVOS.crf_weight)]),
            online=tuple(_online_pair(x) for x in _csv(online) or [f"{_OSVOS.online_steps}:{_OSVOS.online_every}"]),
            frame_stride=frame_stride, max_side=max_side,
        )
    except TestSetError as exc:
        console.print(f"[red]refused[/red]: {exc}")
        raise typer.Exit(2) from exc
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    doc = select_video_settings(root, osvos_parent, grid, sequences=seqs, split=split, cache_dir=cache, seed=seed,
                                log=console.print)
    atomic_write(out, json.dumps(doc, indent=2))
    for c in sorted(doc["candidates"], key=lambda c: -c["J_mean"]):
        per = "  ".join(f"{s} {c['J'][s]:.3f}" for s in doc["sequences"])
        console.print(f"{c['label']:40s} J {c['J_mean']:.3f}   {per}")
    console.print(f"[green]chosen[/green]: {doc['choice']['label']} (J {doc['choice']['J_mean']:.3f}); wrote {out}")


def register(app: typer.Typer, train_app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add ``train osvos`` to ``train_app`` and ``eval davis`` to ``eval_app`` (``app`` unused:
    the same signature as the other CLI modules' ``register`` for the lead's wiring)."""
    del app
    train_app.command("osvos")(train_osvos_cmd)
    eval_app.command("davis")(eval_davis_cmd)
    eval_app.command("video-select")(select_video_cmd)
