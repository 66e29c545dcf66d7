"""``ivos simulate ...``: behaviour-simulated session logs and the motion difficulty table.

A Typer sub-app (``simulate_app``) that the main CLI mounts as ``ivos simulate``; it imports no
Prefect, so it starts fast. Library code lives in :mod:`ivos_core.users` and
:mod:`ivos_core.difficulty`; these commands only resolve paths, build the segmenter and print.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from flows.cli_common import console

simulate_app = typer.Typer(
    help="Simulated users (click / stroke / highlight sessions) and video difficulty estimates.",
    no_args_is_help=True,
)


def load_videos(root: Path, split: str | None, max_videos: int | None = None) -> list[tuple[object, object]]:
    """:func:`ivos_core.data.discovery.davis_videos`, its "no data here" error as a CLI error."""
    from ivos_core.data.discovery import davis_videos

    try:
        return davis_videos(root, split, max_videos)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@simulate_app.command("sessions")
def sessions(
    videos: Path = typer.Option(..., help="a DAVIS root, or a folder of DAVIS-layout (synthetic) roots"),
    n: int = typer.Option(20, min=1, help="number of sessions"),
    out: Path = typer.Option(Path("outputs/sessions"), help="folder for one JSON per session"),
    checkpoint: Optional[Path] = typer.Option(None, help="interactive model checkpoint (default: the shipped model)"),
    grabcut: bool = typer.Option(False, "--grabcut", help="users segment with OpenCV GrabCut instead of a network"),
    seed: int = typer.Option(0, help="seed of users, sessions and all their inputs"),
    split: str = typer.Option("val", help="DAVIS split list to take sequences from"),
    users: Optional[int] = typer.Option(None, help="number of distinct users (default n // 3)"),
    refine_share: float = typer.Option(0.15, min=0.0, max=1.0, help="mean refine probability (paper: 0.15)"),
    propagation: str = typer.Option("flow", help="'flow' (Farnebäck mask warping stand-in) or 'none'"),
    work_side: int = typer.Option(480, min=16, help="segment at this longer side (speed); inputs stay full size"),
    max_videos: Optional[int] = typer.Option(None, help="use at most this many sequences"),
) -> None:
    """Simulate N annotation sessions (clickers, strokers, highlighters) and write them as JSON."""
    import numpy as np

    from ivos_core.users import (
        at_scale,
        flow_propagate,
        grabcut_segment,
        model_segment,
        sample_users,
        simulate_sessions,
        write_sessions,
    )

    if propagation not in ("flow", "none"):
        raise typer.BadParameter(f"--propagation must be 'flow' or 'none', got {propagation!r}")
    vids = load_videos(videos, split, max_videos)
    if not vids:
        raise typer.BadParameter(f"no annotated sequences under {videos} (split {split!r})")
    if not grabcut:
        from ivos_core.interactive.segmenter import InteractiveSegmenter

        options: dict = {}
        if checkpoint is None:  # the shipped model with its dev-chosen settings
            from ivos_core.shipped import shipped_model

            shipped = shipped_model()
            checkpoint, options = shipped.interactive, dict(shipped.interactive_options)
        seg = InteractiveSegmenter.from_checkpoint(checkpoint, **options)
        segment_fn = model_segment(seg)  # the model resizes internally; no at_scale
        segmenter_name = f"model:{Path(checkpoint).name}"
        factory = lambda video: segment_fn  # noqa: E731
    else:
        gc = at_scale(grabcut_segment(), work_side)
        segmenter_name = f"grabcut@{work_side}"
        factory = lambda video: gc  # noqa: E731
    rng = np.random.default_rng(seed)
    people = sample_users(users if users is not None else max(1, n // 3), rng, refine_share=refine_share)
    result = simulate_sessions(
        vids, n, rng, factory, flow_propagate if propagation == "flow" else None, users=people,
        meta={"segmenter": segmenter_name, "propagation": propagation, "run_seed": seed},
    )
    paths = write_sessions(result, out)
    kinds = {u.user_id: u.kind for u in people}
    by_kind = Counter(kinds[s.user_id] for s in result)
    refined = sum(1 for s in result if s.refinement_frames)
    table = Table(title=f"{len(paths)} simulated sessions -> {out}")
    for col in ("user kind", "sessions", "median first-frame iterations", "refined"):
        table.add_column(col)
    for kind in ("clicker", "stroker", "highlighter"):
        ss = [s for s in result if kinds[s.user_id] == kind]
        med = float(np.median([len(s.first_frame.iterations) for s in ss])) if ss else float("nan")
        table.add_row(kind, str(by_kind.get(kind, 0)), f"{med:.1f}", str(sum(1 for s in ss if s.refinement_frames)))
    console.print(table)
    console.print(f"refine share: {refined}/{len(result)} = {refined / len(result):.1%} (configured mean {refine_share:.0%})")


@simulate_app.command("difficulty")
def difficulty(
    davis: Path = typer.Option(..., help="DAVIS root (JPEGImages/480p, Annotations/480p, ImageSets/480p)"),
    split: str = typer.Option("val", help="split list name (train, val, trainval)"),
    out: Path = typer.Option(Path("outputs/difficulty.parquet"), help="per-sequence table (.parquet or .csv)"),
    max_side: int = typer.Option(320, min=8, help="flow is computed on frames downscaled to this longer side"),
    db: Optional[Path] = typer.Option(None, "--db", help="also store the estimate in this analytics database "
                                      "(sequence_stats, kind 'flow') for `ivos analytics report`"),
    dataset: str = typer.Option("davis2016", help="dataset name in the database (as `ivos eval davis` writes it)"),
) -> None:
    """Per-sequence flow difficulty + consecutive GT mask IoU (paper §4.2, Fig. 10)."""
    from ivos_core.difficulty import difficulty_table, score_vs_consecutive_iou

    df = difficulty_table(davis, split, max_side=max_side)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        df.to_csv(out, index=False)
    else:
        df.to_parquet(out, index=False)
    table = Table(title=f"difficulty of DAVIS {split} ({len(df)} sequences) -> {out}")
    cols = ["sequence", "score", "mean_flow_magnitude", "flow_magnitude_p95", "mean_warp_error", "flow_mask_iou",
            "consecutive_iou"]
    for c in cols:
        table.add_column(c)
    for row in df.sort_values("score").itertuples(index=False):
        table.add_row(row.sequence, *[f"{getattr(row, c):.4f}" for c in cols[1:]])
    console.print(table)
    if len(df) >= 3:
        console.print(json.dumps({k: round(v, 4) for k, v in score_vs_consecutive_iou(df).items()}, indent=2))
    if db is not None:
        from analytics.difficulty import flow_sequence_stats
        from analytics.store import AnalyticsStore

        with AnalyticsStore(db, workers=1) as store:
            n = store.load_sequence_stats(flow_sequence_stats(df, dataset))
        console.print(f"{n} sequences written to {db} (sequence_stats, kind 'flow')")


if __name__ == "__main__":  # pragma: no cover
    simulate_app()
