"""Prefect flow ``prepare-data``: validate a dataset root, write its manifest, or generate one.

Outputs in ``out``: ``manifest.parquet`` (one row per sample: ids, paths, sizes, object area,
checksum), ``broken.json`` (items that failed with their path and reason), and for video
datasets ``sequences.parquet`` (per-sequence statistics incl. the mean IoU between consecutive
ground-truth masks, the paper's Fig. 10 x-axis).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from flows.progress import FlowProgress, artifact_key


@task(name="generate-synthetic", retries=1)
def generate_synthetic(out: str, n: int, seed: int, videos: int) -> str:
    from ivos_core.data.synthetic import write_synthetic_images, write_synthetic_video

    root = Path(out) / "synthetic"
    write_synthetic_images(root / "images_dataset", n, seed=seed)
    for v in range(videos):
        write_synthetic_video(root / "davis", f"synth{v:02d}", seed=seed + v)
    return str(root)


@task(name="build-manifest", retries=1)
def manifest_task(dataset: str, root: str, out: str) -> dict[str, Any]:
    from ivos_core.data import open_dataset
    from ivos_core.data.manifest import build_manifest

    ds = open_dataset(dataset, root)
    df, errors = build_manifest(ds)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out_dir / "manifest.parquet", index=False)
    broken = [{"path": str(e.path), "reason": str(e.reason)} for e in errors]
    (out_dir / "broken.json").write_text(json.dumps(broken, indent=2))
    return {"n_samples": int(len(df)), "n_broken": len(broken), "broken": broken}


@task(name="sequence-statistics", retries=1)
def sequence_stats_task(root: str, split: str, out: str) -> int:
    import pandas as pd

    from ivos_core.data.davis import DavisDataset
    from ivos_core.data.manifest import video_statistics

    ds = DavisDataset(root, split=split)
    names = ds.sequences()
    progress = FlowProgress(artifact_key("sequence-stats", split), f"sequence statistics ({split})")
    rows = []
    for i, name in enumerate(names):
        try:
            rows.append({"sequence": name, "split": split, **video_statistics(ds.sequence(name))})
        except Exception as exc:  # a broken sequence is reported, the rest continues
            rows.append({"sequence": name, "split": split, "error": f"{type(exc).__name__}: {exc}"})
        progress(i + 1, len(names), name)
    pd.DataFrame(rows).to_parquet(Path(out) / f"sequences_{split}.parquet", index=False)
    return len(rows)


@flow(name="prepare-data", log_prints=True)
def prepare_data_flow(
    dataset: str = "synthetic",
    root: str = "",
    out: str = "outputs/data",
    synthetic: int | None = None,
    videos: int = 2,
    seed: int = 0,
    split: str = "val",
) -> dict[str, Any]:
    """Validate ``root`` as ``dataset`` and write its manifest, or generate ``synthetic`` images."""
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"dataset": dataset, "out": str(out_dir)}
    if synthetic:
        gen_root = generate_synthetic(str(out_dir), synthetic, seed, videos)
        result["generated"] = gen_root
        dataset, root = "synthetic", str(Path(gen_root) / "images_dataset")
        result["dataset"] = dataset
    if not root:
        raise ValueError(f"prepare-data needs --root DIR for dataset {dataset!r} (or --synthetic N)")
    result["root"] = root
    result.update(manifest_task(dataset, root, str(out_dir)))
    if dataset == "davis":
        result["sequences"] = sequence_stats_task(root, split, str(out_dir))
    create_markdown_artifact(
        f"**{dataset}** at `{root}`: {result['n_samples']} samples, {result['n_broken']} broken "
        f"(see `{out_dir / 'broken.json'}`)",
        key=artifact_key("prepare", dataset),
    )
    print(f"{dataset}: {result['n_samples']} samples, {result['n_broken']} broken -> {out_dir}")
    return result
