"""Prefect flow ``eval-interactive``: the NoC protocol on one dataset with one method."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from flows.progress import FlowProgress, artifact_key
from ivos_core.evaluation import evaluate_interactive, summary_table, write_eval_outputs


@task(name="evaluate-interactive", retries=1)
def run_protocol(
    dataset: str,
    root: str,
    method: str,
    checkpoint: str | None,
    crf: bool,
    max_clicks: int,
    limit: int | None,
    seed: int,
    out: str,
    zoom_in: bool = False,
    flip: bool = False,
    colour: float = 0.0,
    keep_clicked: bool = False,
    dataset_kw: dict[str, Any] | None = None,
    grabcut_band: float | None = None,
    input_size: int | None = None,
    grabcut_max_side: int | None = None,
    click_focus: float | None = None,
    zoom_from: int | None = None,
    crf_weight: float | None = None,
    seg_options: dict[str, Any] | None = None,
) -> str:
    """Run the whole protocol and write its files; returns the summary path (not the data)."""
    from ivos_core.data import open_dataset
    from ivos_core.interactive.methods import build_method

    ds = open_dataset(dataset, root, **(dataset_kw or {}))
    m = build_method(
        method, checkpoint=checkpoint, crf=crf, zoom_in=zoom_in, flip=flip, colour=colour, keep_clicked=keep_clicked,
        grabcut_band=grabcut_band, input_size=input_size, grabcut_max_side=grabcut_max_side, click_focus=click_focus,
        zoom_from=zoom_from, crf_weight=crf_weight, options=seg_options,
    )
    progress = FlowProgress(artifact_key("eval", dataset, m.name), f"{m.name} on {dataset}")
    result = evaluate_interactive(
        ds, m, dataset_name=dataset, max_clicks=max_clicks, limit=limit, seed=seed, progress=progress
    )
    result.extra["root"] = str(root)
    if dataset_kw:
        result.extra["dataset_options"] = dict(dataset_kw)
    if checkpoint:
        result.extra["checkpoint"] = str(checkpoint)
    paths = write_eval_outputs(result, out)
    return str(paths["summary"])


@flow(name="eval-interactive", log_prints=True)
def eval_interactive_flow(
    dataset: str = "grabcut",
    root: str = "",
    method: str = "grabcut",
    checkpoint: str | None = None,
    crf: bool = False,
    max_clicks: int = 20,
    limit: int | None = None,
    seed: int = 0,
    out: str = "outputs/eval",
    zoom_in: bool = False,
    flip: bool = False,
    colour: float = 0.0,
    keep_clicked: bool = False,
    dataset_kw: dict[str, Any] | None = None,
    grabcut_band: float | None = None,
    input_size: int | None = None,
    grabcut_max_side: int | None = None,
    click_focus: float | None = None,
    zoom_from: int | None = None,
    crf_weight: float | None = None,
    seg_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate one interactive method; writes summary.json, per_image.parquet, miou_curve.png."""
    import json

    summary_path = run_protocol(
        dataset, root, method, checkpoint, crf, max_clicks, limit, seed, out, zoom_in, flip, colour, keep_clicked,
        dataset_kw, grabcut_band, input_size, grabcut_max_side, click_focus, zoom_from, crf_weight, seg_options,
    )
    summary = json.loads(Path(summary_path).read_text())
    create_table_artifact(
        summary_table([summary]),
        key=artifact_key("noc", dataset, summary["method"]),
        description=f"NoC on {dataset} ({summary['n']} images, {summary['n_skipped']} skipped)",
    )
    return summary
