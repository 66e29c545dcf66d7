"""Prefect flow ``demo``: the main job end to end, on data it generates itself.

1. generate a synthetic dataset (images + videos with ground truth) and its manifest;
2. load the shipped models (``models/ivos-lite-v1``: the interactive network, the OSVOS parent
   and the inference settings chosen on the development sets); ``train=True`` instead trains a
   throwaway ``lite`` pair for a minute or two, to show the training flows;
3. evaluate NoC with the robot user, our network against the GrabCut baseline;
4. simulate users (clickers, strokers, highlighters) annotating the videos with our network;
5. replay those sessions as ``segment-video`` jobs (fine-tune, propagate, refine, stickers);
6. load the logs, job results and evaluations into DuckDB and write the analytics report.

It runs in Prefect's ephemeral mode (no server to start). Its data are small and generated, so
its numbers show the pipeline working; the README's results come from the documented runs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prefect import flow, task

from flows.analytics_refresh import analytics_refresh_flow
from flows.eval_interactive import eval_interactive_flow
from flows.prepare_data import prepare_data_flow
from flows.segment_video import segment_video_flow
from flows.train import train_interactive_flow
from flows.train_osvos import train_osvos_flow


@dataclass(frozen=True)
class DemoBudget:
    """How much of everything the demo does (``quick``: about 3 minutes on 2 cores)."""

    images: int = 16
    video_frames: int = 16
    train_videos: int = 3
    session_videos: int = 2
    video_size: tuple[int, int] = (240, 320)
    interactive_steps: int = 240
    osvos_steps: int = 150
    max_clicks: int = 20
    sessions: int = 6
    # OSVOS one-shot steps per replay: the shipped 1600 would take ~40 s per replay; 200 at the
    # shipped lr 5e-3 keep the demo's 12 replays within about a minute
    finetune_steps: int = 200
    seed: int = 0

    @classmethod
    def quick(cls) -> "DemoBudget":
        return cls(images=6, video_frames=10, train_videos=2, session_videos=1, interactive_steps=40,
                   osvos_steps=30, max_clicks=8, sessions=3, finetune_steps=25)


@task(name="demo-videos")
def make_videos(out: str, budget: dict[str, Any]) -> str:
    """Synthetic DAVIS-layout videos: ``train`` ones for the OSVOS parent, ``val`` ones for users."""
    from ivos_core.data.synthetic import write_synthetic_video

    b = DemoBudget(**{**budget, "video_size": tuple(budget["video_size"])})
    root = Path(out) / "videos" / "synthetic-davis"
    h, w = b.video_size
    for i in range(b.train_videos):
        write_synthetic_video(root, f"train{i:02d}", b.video_frames, seed=b.seed + 100 + i, height=h, width=w, split="train")
    for i in range(b.session_videos):
        write_synthetic_video(root, f"clip{i:02d}", b.video_frames, seed=b.seed + 200 + i, height=h, width=w, split="val")
    return str(root)


@task(name="demo-simulate-sessions")
def simulate_users(
    videos_root: str, checkpoint: str, n: int, seed: int, out: str, options: dict[str, Any] | None = None
) -> list[str]:
    """Simulated users annotate the ``val`` videos with our network and its inference ``options``
    (the shipped model's dev-chosen CRF / colour cue) - paper §4 behaviours."""
    import numpy as np

    from ivos_core.users import (
        flow_propagate,
        model_segment,
        sample_users,
        simulate_sessions,
        write_sessions,
    )
    from ivos_core.data.discovery import davis_videos
    from ivos_core.interactive.segmenter import InteractiveSegmenter

    vids = davis_videos(Path(videos_root), "val")
    segment = model_segment(InteractiveSegmenter.from_checkpoint(checkpoint, device="cpu", **(options or {})))
    rng = np.random.default_rng(seed)
    users = sample_users(max(2, n // 2), rng, refine_share=0.34)  # more refiners than the paper's 15%, to show refinement
    sessions = simulate_sessions(vids, n, rng, lambda v: segment, flow_propagate, users=users,
                                 meta={"segmenter": f"model:{Path(checkpoint).name}", "run_seed": seed})
    return [str(p) for p in write_sessions(sessions, out)]


@flow(name="demo", log_prints=True)
def demo_flow(
    out: str = "outputs/demo", quick: bool = False, davis: str | None = None, checkpoint: str | None = None,
    train: bool = False,
) -> dict[str, Any]:
    """Run every stage; returns the summaries and where the outputs are.

    ``checkpoint``: an interactive model to use instead of the shipped one; ``train``: train a
    throwaway model pair briefly instead (shows the training flows, not accuracy).
    """
    budget = DemoBudget.quick() if quick else DemoBudget()
    out_dir = Path(out).resolve()
    files: dict[str, str] = {}

    prep = prepare_data_flow(dataset="synthetic", out=str(out_dir / "data"), synthetic=budget.images,
                             videos=0, seed=budget.seed)
    files["dataset manifest"] = str(out_dir / "data" / "manifest.parquet")
    synth_root = make_videos(str(out_dir), asdict(budget))
    # with --davis, users annotate real DAVIS val sequences; the parent still trains on synthetic videos
    videos_root = str(Path(davis).resolve()) if davis else synth_root

    models = _demo_models(budget, out_dir, synth_root, checkpoint, train)
    checkpoint, interactive_options, osvos_parent = models.checkpoint, models.interactive_options, models.osvos_parent
    files["models"] = models.folder

    summaries = _demo_evaluations(budget, out_dir, prep["root"], checkpoint, interactive_options)
    files["interactive evaluation"] = str(out_dir / "eval_ours" / "summary.json")

    sessions = simulate_users(videos_root, checkpoint, budget.sessions, budget.seed, str(out_dir / "sessions"),
                              interactive_options)
    files["session logs"] = str(out_dir / "sessions")

    videos = _demo_replays(budget, out_dir, sessions, videos_root, models, files)
    files["job outputs"] = str(out_dir / "jobs")

    refreshed = analytics_refresh_flow(
        db=str(out_dir / "ivos.duckdb"), sessions=[str(out_dir / "sessions")], job_results=[str(out_dir / "jobs")],
        eval_results=[str(out_dir / f"eval_{m}") for m in ("grabcut", "ours")], report_out=str(out_dir / "report"),
    )
    files["analytics db"] = str(out_dir / "ivos.duckdb")
    files["report"] = refreshed["report"]
    result = {"summaries": summaries, "videos": videos, "files": files, "budget": asdict(budget),
              "checkpoint": checkpoint, "osvos_parent": osvos_parent, "trained": checkpoint is not None and train,
              "interactive_options": interactive_options}
    (out_dir / "demo_summary.json").write_text(json.dumps(result, indent=2, default=str))
    return result


@dataclass(frozen=True)
class DemoModels:
    """The models the demo uses: the interactive ``checkpoint`` with its inference options, its
    display ``name``, the OSVOS parent and the ``folder`` reported as the demo's models."""

    checkpoint: str
    name: str
    interactive_options: dict[str, Any]
    osvos_parent: str
    folder: str


def _demo_models(budget: DemoBudget, out_dir: Path, synth_root: str, checkpoint: str | None,
                 train: bool) -> DemoModels:
    """The shipped models (default), a given ``checkpoint``, or a briefly trained pair (``train``);
    an OSVOS parent is trained on the synthetic videos whenever none comes with the model."""
    model_dir = out_dir / "models"
    interactive_options: dict[str, Any] = {"crf": True}
    osvos_parent: str | None = None
    model_name = "demo-lite"
    if checkpoint is None and not train:
        from ivos_core.shipped import shipped_model

        shipped = shipped_model()
        checkpoint, model_name = str(shipped.interactive), shipped.name
        interactive_options = dict(shipped.interactive_options) or interactive_options
        osvos_parent = str(shipped.osvos_parent) if shipped.osvos_parent else None
    elif checkpoint is None:
        trained = train_interactive_flow(
            config="lite", data="", out=str(model_dir / "interactive"), steps=budget.interactive_steps,
            synthetic=max(200, budget.images * 20), resume=True,
            overrides={"crop_size": 160, "batch_size": 4, "input_size": 320, "checkpoint_every": 50,
                       "warmup_steps": max(1, budget.interactive_steps // 10)},
        )
        checkpoint = trained["final_checkpoint"]
    else:
        checkpoint = str(Path(checkpoint).resolve())
    if osvos_parent is None:
        osvos_parent = train_osvos_flow(
            root=synth_root, out=str(model_dir / "osvos"), max_steps=budget.osvos_steps,
            split="train", overrides={"crop": 128, "batch_size": 4, "scale_range": (0.8, 1.0)},
        )["checkpoint"]
        folder = str(model_dir)
    else:
        folder = str(Path(checkpoint).parent)
    return DemoModels(checkpoint, model_name, interactive_options, osvos_parent, folder)


def _demo_evaluations(budget: DemoBudget, out_dir: Path, images_root: str, checkpoint: str,
                      interactive_options: dict[str, Any]) -> list[dict[str, Any]]:
    """NoC with the robot user: the GrabCut baseline, then our network with its inference options
    (the options apply to ours only, so the baseline stays the plain one)."""
    summaries = []
    colour = float(interactive_options.get("colour_weight", 0.0))
    keep = bool(interactive_options.get("keep_clicked", False))
    band = interactive_options.get("grabcut_band")
    for method, ckpt in (("grabcut", None), ("ours", checkpoint)):
        summaries.append(
            eval_interactive_flow(dataset="synthetic", root=images_root, method=method, checkpoint=ckpt,
                                  crf=bool(interactive_options.get("crf", False)) and method == "ours",
                                  colour=colour if method == "ours" else 0.0,
                                  keep_clicked=keep and method == "ours",
                                  grabcut_band=float(band) if band is not None and method == "ours" else None,
                                  zoom_in=bool(interactive_options.get("zoom_in")) and method == "ours",
                                  flip=bool(interactive_options.get("flip_tta")) and method == "ours",
                                  max_clicks=budget.max_clicks, out=str(out_dir / f"eval_{method}"))
        )
    return summaries


def _demo_replays(budget: DemoBudget, out_dir: Path, sessions: list[str], videos_root: str,
                  models: DemoModels, files: dict[str, str]) -> list[dict[str, Any]]:
    """Replay every session twice as a ``segment-video`` job (our network, then GrabCut on every
    frame as the baseline) and pair their J; the first job's sticker is added to ``files``."""

    def run_job(path: str, model: str, interactive: str | None) -> dict[str, Any]:
        job = segment_video_flow(
            session_path=path, model=model, out=str(out_dir / "jobs"),
            video_roots=[str(Path(videos_root).resolve().parent)], interactive=interactive,
            interactive_checkpoint=None if interactive == "grabcut" else models.checkpoint,
            osvos_checkpoint=models.osvos_parent,
            finetune_steps=budget.finetune_steps, refine_steps=max(5, budget.finetune_steps // 3), device="cpu",
        )
        return {**job, "record": json.loads((Path(job["out"]) / "results.json").read_text())}

    videos = []
    for path in sessions:
        ours = run_job(path, models.name, None)
        base = run_job(path, "grabcut-baseline", "grabcut")
        rec = ours["record"]
        videos.append({"session": ours["session_id"], "video": rec["video"]["uri"], "frames": rec["n_frames"],
                       "J ours": rec.get("final_iou"), "J GrabCut": base["record"].get("final_iou"),
                       "out": ours["out"]})
        files.setdefault("stickers", str(Path(ours["out"]) / "sticker.apng"))
    return videos
