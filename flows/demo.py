"""Prefect flow ``demo``: the main job end to end on data it generates itself.

Stages (each a flow or task, composing the library): generate a synthetic dataset, evaluate the
GrabCut baseline with the robot user. Further stages (training, video jobs, analytics) join as
they land; the demo always runs in ephemeral mode, with no server to start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow

from flows.eval_interactive import eval_interactive_flow
from flows.prepare_data import prepare_data_flow


@flow(name="demo", log_prints=True)
def demo_flow(out: str = "outputs/demo", quick: bool = False, davis: str | None = None) -> dict[str, Any]:
    out_dir = Path(out)
    n_images = 6 if quick else 16
    prep = prepare_data_flow(dataset="synthetic", out=str(out_dir / "data"), synthetic=n_images, videos=1 if quick else 2)
    summaries = []
    files: dict[str, str] = {"manifest": str(out_dir / "data" / "manifest.parquet")}
    summaries.append(
        eval_interactive_flow(
            dataset="synthetic",
            root=prep["root"],
            method="grabcut",
            max_clicks=10 if quick else 20,
            out=str(out_dir / "eval_grabcut"),
        )
    )
    files["grabcut evaluation"] = str(out_dir / "eval_grabcut")
    return {"summaries": summaries, "files": files}
