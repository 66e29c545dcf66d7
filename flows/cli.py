"""The ``ivos`` command line (Typer). Commands are thin: they call flows or library functions."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from flows.cli_common import (  # noqa: F401  (console etc. are shared with the sub-command modules)
    EXIT_ITEM_FAILED,
    JSON_HELP,
    console,
    emit_json,
    human_to_stderr,
    prefect_defaults,
    print_rows,
    segmenter_options,
)

app = typer.Typer(help="ivos: interactive video object segmentation, batch jobs and usage analytics.", no_args_is_help=True)
schema_app = typer.Typer(help="Print the JSON schemas of the data contracts.", no_args_is_help=True)
data_app = typer.Typer(help="Validate, describe and generate datasets.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluations (the interactive NoC protocol, DAVIS).", no_args_is_help=True)
train_app = typer.Typer(help="Train the interactive network and the OSVOS parent.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.add_typer(train_app, name="train")
app.add_typer(data_app, name="data")
app.add_typer(eval_app, name="eval")

DATASETS = ("grabcut", "coco_mval", "berkeley", "davis", "pascal", "sbd", "synthetic")

EvalDataset = Enum("EvalDataset", {d: d for d in DATASETS}, type=str)
EvalDataset.__doc__ = "Datasets of `ivos eval interactive` (ivos_core.data's loaders)."


class EvalMethod(str, Enum):
    """Methods of `ivos eval interactive` (ivos_core.interactive.methods.build_method)."""

    grabcut = "grabcut"  # the NoC baseline, clicks as seeds
    grabcut_rerun = "grabcut-rerun"
    grabcut_continue = "grabcut-continue"
    grabcut_box = "grabcut-box"  # the paper's box corrector (section 3.3)
    grabcut_nobox = "grabcut-nobox"
    ours = "ours"
    ifcn = "ifcn"


class DavisFrames(str, Enum):
    first = "first"
    all = "all"


@schema_app.command("session")
def schema_session() -> None:
    """Print the versioned JSON schema of a session log."""
    from ivos_core.interactions import session_json_schema

    typer.echo(json.dumps(session_json_schema(), indent=2))


@data_app.command("prepare")
def data_prepare(
    dataset: str = typer.Option("synthetic", help=f"one of {', '.join(DATASETS)}, bsds"),
    root: Optional[Path] = typer.Option(None, help="dataset root folder"),
    out: Path = typer.Option(Path("outputs/data"), help="where the manifest is written"),
    synthetic: Optional[int] = typer.Option(None, help="generate N synthetic images (+ videos) instead"),
    videos: int = typer.Option(2, help="synthetic videos to generate with --synthetic"),
    split: str = typer.Option("val", help="DAVIS split for sequence statistics"),
    seed: int = 0,
) -> None:
    """Validate a dataset root and write its manifest (Prefect flow ``prepare-data``)."""
    prefect_defaults()
    if root is None and not synthetic:
        raise typer.BadParameter("pass --root DIR (or --synthetic N to generate a dataset)")
    from flows.prepare_data import prepare_data_flow

    res = prepare_data_flow(
        dataset=dataset, root=str(root or ""), out=str(out), synthetic=synthetic, videos=videos, seed=seed, split=split
    )
    for b in res.get("broken", [])[:20]:
        console.print(f"[red]broken[/red] {b['path']}: {b['reason']}")
    console.print(f"[green]{res['n_samples']} samples[/green], {res['n_broken']} broken; manifest in {out}")


@eval_app.command("compare")
def eval_compare(
    summaries: list[Path] = typer.Argument(..., help="summary.json files (or their folders) of `ivos eval interactive`"),
    out: Path = typer.Option(Path("outputs/eval/compare.png"), help="the mIoU-vs-clicks figure"),
    label: Optional[list[str]] = typer.Option(None, "--label", help="one per summary (default: its method)"),
    title: str = typer.Option("", help="figure title"),
    paired: bool = typer.Option(
        True, "--paired/--no-paired",
        help="paired per-image NoC comparison of the first run against each other run (wins/ties/losses, "
             "seeded bootstrap 95%% interval of the mean difference); printed and written to OUT's stem + "
             ".paired.json"),
    seed: int = typer.Option(0, help="bootstrap seed of the paired comparison"),
) -> None:
    """One NoC table and one mIoU-vs-clicks figure for several evaluation runs, and paired
    per-image comparisons of the first run against the others (same items required)."""
    from ivos_core.evaluation import plot_miou_curves, summary_table

    docs = []
    files = []
    for p in summaries:
        f = p / "summary.json" if p.is_dir() else p
        if not f.is_file():
            raise typer.BadParameter(f"{f}: no summary.json (run `ivos eval interactive` first)")
        docs.append(json.loads(f.read_text(encoding="utf-8")))
        files.append(f)
    if label and len(label) != len(docs):
        raise typer.BadParameter(f"{len(label)} --label values for {len(docs)} summaries")
    names = label or [d.get("method", f"run{i}") for i, d in enumerate(docs)]
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_miou_curves(dict(zip(names, docs)), out, title=title)
    print_rows(summary_table([{**d, "method": n} for d, n in zip(docs, names)]), title="comparison")
    console.print(f"figure: {out}")
    if paired and len(docs) > 1:
        _paired_report(files, docs, names, out.with_name(out.stem + ".paired.json"), seed)


def _paired_report(files: list[Path], docs: list[dict], names: list[str], path: Path, seed: int) -> None:
    """Pair the first run (A) with each other run (B) on per-image NoC@85/90; print and write JSON."""
    from ivos_core.paired import PairedError, paired_comparison, per_item_noc

    base = {t: per_item_noc(files[0], t) for t in (0.85, 0.9)}
    comparisons, rows = [], []
    for f, d, n in zip(files[1:], docs[1:], names[1:]):
        entry = {"a": names[0], "b": n, "a_run": str(files[0]), "b_run": str(f),
                 "dataset": d.get("dataset"), "split": d.get("split"), "role": d.get("role")}
        try:
            for t in (0.85, 0.9):
                r = paired_comparison(base[t], per_item_noc(f, t), seed=seed)
                entry[f"noc@{round(100 * t)}"] = r
                rows.append({"A": names[0], "B": n, "metric": f"NoC@{round(100 * t)}", "n": r["n"],
                             "B wins": r["wins"], "ties": r["ties"], "B losses": r["losses"],
                             "mean B-A": round(r["mean_diff"], 3),
                             "95% CI": f"[{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]",
                             "excl. 0": r["ci_excludes_zero"]})
        except PairedError as exc:
            raise typer.BadParameter(f"cannot pair {files[0]} with {f}: {exc}") from exc
        comparisons.append(entry)
    print_rows(rows, title="paired per-image NoC (B - A; negative = B needs fewer clicks)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"comparisons": comparisons}, indent=2))
    console.print(f"paired comparison: {path}")


@eval_app.command("interactive")
def eval_interactive(
    dataset: EvalDataset = typer.Option(EvalDataset.grabcut, help="the evaluation set"),
    root: Path = typer.Option(..., help="dataset root (e.g. ../shared/data/GrabCut)"),
    method: EvalMethod = typer.Option(
        EvalMethod.grabcut, help="grabcut (NoC baseline, clicks as seeds), grabcut-rerun, grabcut-continue, grabcut-box "
                                 "(the §3.3 box corrector), grabcut-nobox, ours (our network) or ifcn (needs --checkpoint)"),
    checkpoint: Optional[Path] = typer.Option(None, help="model checkpoint for ours/ifcn"),
    crf: bool = typer.Option(False, "--crf/--no-crf", help="dense-CRF refinement of deep predictions"),
    crf_weight: Optional[float] = typer.Option(None, "--crf-weight", min=0.0, max=50.0,
                                               help="the CRF's appearance kernel weight (default 4; choose it on COCO_MVal dev)"),
    seg_option: Optional[List[str]] = typer.Option(None, "--seg-option",
                                                   help="KEY=VALUE: any further segmenter option (repeatable), e.g. grabcut_iterations=5"),
    zoom_in: bool = typer.Option(False, "--zoom-in/--no-zoom-in",
                                 help="from the 2nd click (--zoom-from), run the network on a crop around the object"),
    zoom_from: Optional[int] = typer.Option(None, "--zoom-from", min=2, help="with --zoom-in: the click from which it zooms (default 2)"),
    flip: bool = typer.Option(False, "--flip/--no-flip", help="average with the mirrored image (2x compute)"),
    colour: float = typer.Option(0.0, "--colour", min=0.0,
                                 help="weight of the per-image colour cue added to the network's logit (0 = off; choose it "
                                      "on COCO_MVal dev: scripts/select_colour_weight.sh)"),
    keep_clicked: bool = typer.Option(False, "--keep-clicked/--all-components",
                                      help="keep only mask components holding a positive click"),
    grabcut_band: Optional[float] = typer.Option(
        None, "--grabcut-band", min=0.0,
        help="refine the deep mask's boundary with GrabCut in a band of this fraction of the image diagonal "
             "(>= 1: the whole image; choose it on COCO_MVal dev)"),
    input_size: Optional[int] = typer.Option(None, "--input-size", min=32, help="the network's working size (longer side; default: the checkpoint's, 384 for lite)"),
    grabcut_max_side: Optional[int] = typer.Option(None, "--grabcut-max-side", min=16, help="run the GrabCut refinement on its crop downscaled to this side (speed)"),
    click_focus: Optional[float] = typer.Option(None, "--click-focus", min=0.0, help="from the 2nd click keep only the changes connected to the newest click, within this fraction of the diagonal of it"),
    davis_frames: DavisFrames = typer.Option(DavisFrames.first, help="davis only: the first frame of each sequence or all frames"),
    split: Optional[str] = typer.Option(
        None, help="davis: split (default val for first frames, train for all); coco_mval: dev (default, the "
                   "interactive DEVELOPMENT set) or train"),
    stride: int = typer.Option(1, min=1, help="davis --davis-frames all: every stride-th frame"),
    max_clicks: int = typer.Option(20, help="click cap of the NoC protocol"),
    limit: Optional[int] = typer.Option(None, help="evaluate only the first N samples"),
    seed: int = 0,
    out: Path = typer.Option(Path("outputs/eval"), help="output folder"),
    select: bool = typer.Option(
        False, "--select",
        help="this run is used to CHOOSE a setting: refuse unless the dataset/split is a development set "
             "(coco_mval dev, the DAVIS video dev sequences)"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP + ": the summary (summary.json's content: noc, miou_at, "
                                                                   "n, failed_items, skipped, ...) plus out"),
) -> None:
    """NoC@85/90 and mIoU@k with the robot user (Prefect flow ``eval-interactive``).

    summary.json records the dataset, split, role (test/development/training) and this command.

    Exit codes: 0 every item evaluated; 1 any item failed (it is counted at the click cap and listed
    in failed_items; the summary and files are still written); 2 bad usage (an unusable --root,
    ifcn without --checkpoint, ...), or --select on a set that is not a development set. Items
    skipped for broken data do not change the exit code.
    """
    prefect_defaults()
    dataset = dataset.value
    method = method.value
    davis_frames = davis_frames.value
    if method == "ifcn" and checkpoint is None:
        raise typer.BadParameter("method ifcn needs --checkpoint (a distance-map model: `ivos train interactive "
                                 "--encoding distance --no-mask`)", param_hint="'--checkpoint'")
    if select:
        _require_development_set(dataset, split)
    dataset_kw = _eval_dataset_kw(dataset, davis_frames, split, stride)
    _check_eval_root(dataset, root, dataset_kw)
    with human_to_stderr(as_json):
        summary = _run_eval(
            dataset=dataset, root=str(root), method=method, checkpoint=str(checkpoint) if checkpoint else None,
            crf=crf, zoom_in=zoom_in, flip=flip, colour=colour, keep_clicked=keep_clicked,
            grabcut_band=grabcut_band or None, input_size=input_size, grabcut_max_side=grabcut_max_side,
            click_focus=click_focus or None, zoom_from=zoom_from, crf_weight=crf_weight,
            seg_options=segmenter_options(seg_option) or None, dataset_kw=dataset_kw or None,
            max_clicks=max_clicks, limit=limit, seed=seed, out=str(out),
        )
        _print_eval_summary(summary, out)
    if as_json:
        emit_json({**summary, "out": str(out)})
    if summary.get("failed_items"):
        raise typer.Exit(code=EXIT_ITEM_FAILED)


def _require_development_set(dataset: str, split: Optional[str]) -> None:
    """``--select``: exit 2 unless the dataset/split is a development set, so that no setting is
    ever chosen on a test set."""
    from ivos_core.splits import TestSetError, require_development

    eff_split = (split or "dev") if dataset == "coco_mval" else split
    try:
        require_development(dataset, eff_split, what="`ivos eval interactive --select`")
    except TestSetError as exc:
        console.print(f"[red]refused[/red]: {exc}")
        raise typer.Exit(2) from exc


def _eval_dataset_kw(dataset: str, davis_frames: str, split: Optional[str], stride: int) -> dict:
    """The dataset options the CLI flags mean for ``dataset`` (``--split`` elsewhere is a usage error)."""
    dataset_kw: dict = {}
    if dataset == "davis":
        dataset_kw["frames"] = davis_frames
        if split:
            dataset_kw["split"] = split
        if davis_frames == "all":
            dataset_kw["stride"] = stride
    elif dataset == "coco_mval":
        dataset_kw["split"] = split or "dev"
    elif split:
        raise typer.BadParameter(f"--split applies to davis and coco_mval only, not {dataset!r}")
    return dataset_kw


def _check_eval_root(dataset: str, root: Path, dataset_kw: dict) -> None:
    """Open the dataset once so that an unusable ``--root`` is one line and exit 2, before any
    flow or server starts (one broken sample is not: the evaluation skips it and lists it)."""
    from ivos_core.data import DatasetError, open_dataset
    from ivos_core.data.common import SampleError

    try:
        open_dataset(dataset, str(root), **dataset_kw)
    except SampleError:
        pass
    except DatasetError as exc:
        typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
        raise typer.Exit(2) from None


def _print_eval_summary(summary: dict, out: Path) -> None:
    """The human summary: the table, the first failed/skipped items, the set and the files."""
    from ivos_core.evaluation import summary_table

    print_rows(summary_table([summary]), title="interactive evaluation")
    for s in summary.get("failed_items", [])[:20]:
        console.print(f"[red]failed (counted at the cap)[/red] {s['item']}: {s['error']}")
    for s in summary.get("skipped", [])[:20]:
        console.print(f"[yellow]skipped (data)[/yellow] {s['item']}: {s['reason']}")
    console.print(f"set: {summary.get('dataset')}/{summary.get('split')} ({summary.get('role')})")
    console.print(f"files in {out}: summary.json, per_image.parquet, miou_curve.png")


def _run_eval(**kw) -> dict:
    """The ``eval-interactive`` flow (a seam for tests)."""
    from flows.eval_interactive import eval_interactive_flow

    return eval_interactive_flow(**kw)


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("outputs/demo"), help="output folder"),
    quick: bool = typer.Option(False, help="smaller data and budgets"),
    davis: Optional[Path] = typer.Option(None, help="run on real DAVIS sequences from this root"),
    checkpoint: Optional[Path] = typer.Option(
        None, help="an interactive model to use instead of the shipped one (models/ivos-lite-v1)"
    ),
    train: bool = typer.Option(False, "--train", help="train a throwaway model pair briefly instead of the shipped one"),
) -> None:
    """The main job end to end on data it generates itself (Prefect flow ``demo``)."""
    prefect_defaults()
    from flows.demo import demo_flow

    result = demo_flow(out=str(out), quick=quick, davis=str(davis) if davis else None,
                       checkpoint=str(checkpoint) if checkpoint else None, train=train)
    from ivos_core.evaluation import summary_table

    print_rows(summary_table(result["summaries"]), title="demo: interactive evaluation (generated images)")
    print_rows([{k: v for k, v in r.items() if k != "out"} for r in result.get("videos", [])],
               title="demo: segment-video jobs, the same logged clicks replayed with our network and with GrabCut (J = mean IoU of the propagated masks vs ground truth)")
    for k, v in result.get("files", {}).items():
        console.print(f"[bold]{k}[/bold]: {v}")
    if train:
        steps = result["budget"]["interactive_steps"]
        console.print(
            f"[yellow]note[/yellow]: --train: 'ours' trained {steps} steps on generated images only, to show the "
            "training flows, not accuracy. Without --train the demo uses the shipped model."
        )


@train_app.command("interactive")
def train_interactive(
    config: str = typer.Option("lite", help="lite (CPU) | paper (ResNet-101 PSP, GPU)"),
    data: Optional[Path] = typer.Option(None, envvar="IVOS_DATA", help="root holding BSDS500/ and DAVIS/"),
    out: Path = typer.Option(Path("runs/interactive-lite"), help="checkpoints + metrics folder"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="total steps (both stages)"),
    encoding: Optional[str] = typer.Option(None, help="gaussian (ours) | distance (iFCN)"),
    mask: bool = typer.Option(True, "--mask/--no-mask", help="feed the current mask as an input channel"),
    resume: bool = typer.Option(False, help="continue from OUT/last"),
    synthetic: int = typer.Option(2000, help="synthetic composite images to add"),
    device: str = typer.Option("cpu", help="cpu | cuda | auto"),
) -> None:
    """Two-stage training (simulated clicks, then correction clicks) (Prefect flow ``train-interactive``)."""
    prefect_defaults()
    from flows.train import train_interactive_flow

    res = train_interactive_flow(
        config=config, data=str(data or ""), out=str(out), steps=max_steps, encoding=encoding,
        use_mask=mask, resume=resume, synthetic=synthetic, device=device,
    )
    console.print(f"final checkpoint: {res.get('final_checkpoint')}")


def _mount() -> None:
    from flows.annotate.cli import register as register_annotate
    from flows.cli_analytics import analytics_app
    from flows.cli_interchange import register as register_interchange
    from flows.cli_jobs import register as register_jobs
    from flows.cli_simulate import simulate_app
    from flows.cli_video import register as register_video

    app.add_typer(analytics_app, name="analytics")
    app.add_typer(simulate_app, name="simulate")
    register_jobs(app)
    register_video(app, train_app, eval_app)
    register_annotate(app)
    register_interchange(app)  # export, import, segment


_mount()

if __name__ == "__main__":  # pragma: no cover
    app()
