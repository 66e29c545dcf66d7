"""Flows of the foundation (prepare-data, eval-interactive) under one Prefect test harness."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ivos_core.data.synthetic import write_synthetic_images, write_synthetic_video


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    write_synthetic_images(root / "images", 4, seed=3, height=96, width=128)
    # one broken sample: a truncated image file
    bad = root / "images" / "images" / "0001.jpg"
    bad.write_bytes(bad.read_bytes()[:200])
    write_synthetic_video(root / "davis", "clip", n_frames=6, seed=1, height=64, width=96)
    return root


def test_prepare_data_manifest_and_broken_items(prefect_harness, synth, tmp_path):
    from flows.prepare_data import prepare_data_flow

    res = prepare_data_flow(dataset="synthetic", root=str(synth / "images"), out=str(tmp_path / "m"))
    assert res["n_samples"] == 3 and res["n_broken"] == 1
    assert "0001.jpg" in res["broken"][0]["path"]
    df = pd.read_parquet(tmp_path / "m" / "manifest.parquet")
    assert len(df) == 3 and set(df.columns) >= {"sample_id", "sha1", "object_area", "height", "width"}
    assert (df["height"] == 96).all() and (df["object_area"] > 0).all()
    assert json.loads((tmp_path / "m" / "broken.json").read_text())[0]["reason"]


def test_prepare_data_davis_sequence_statistics(prefect_harness, synth, tmp_path):
    from flows.prepare_data import prepare_data_flow

    res = prepare_data_flow(dataset="davis", root=str(synth / "davis"), out=str(tmp_path / "d"), split="val")
    assert res["n_samples"] == 1 and res["sequences"] == 1
    stats = pd.read_parquet(tmp_path / "d" / "sequences_val.parquet")
    iou = float(stats["mean_consecutive_iou"].iloc[0])
    assert 0.3 < iou <= 1.0  # a moving object: consecutive masks overlap but are not identical


def test_eval_interactive_flow_writes_files_and_skips_broken(prefect_harness, synth, tmp_path):
    from flows.eval_interactive import eval_interactive_flow

    out = tmp_path / "e"
    summary = eval_interactive_flow(dataset="synthetic", root=str(synth / "images"), method="grabcut",
                                    max_clicks=5, out=str(out))
    assert summary["n"] == 3 and summary["n_skipped"] == 1
    assert set(summary["noc"]) == {"0.85", "0.9"} and set(summary["miou_at"]) == {str(k) for k in range(1, 6)}
    # GrabCut separates the synthetic object from its differently coloured background quickly
    assert summary["miou_at"]["5"] > 0.8
    assert (out / "summary.json").is_file() and (out / "miou_curve.png").is_file()
    rows = pd.read_parquet(out / "per_image.parquet")
    assert len(rows) == 3 and rows["noc@90"].between(1, 5).all()


def test_eval_cli_deep_method_with_colour_cue_on_davis_frames(prefect_harness, synth, tmp_path):
    """--colour/--keep-clicked reach the segmenter, --davis-frames all/--stride pick the frames."""
    import torch
    from typer.testing import CliRunner

    from flows.cli import app
    from ivos_core.checkpoints import save_checkpoint
    from ivos_core.models import build_interactive

    torch.manual_seed(0)
    save_checkpoint(tmp_path / "ck", build_interactive("lite"), {"input_size": 64})
    out = tmp_path / "e"
    res = CliRunner().invoke(app, [
        "eval", "interactive", "--dataset", "davis", "--root", str(synth / "davis"), "--davis-frames", "all",
        "--split", "val", "--stride", "2", "--method", "ours", "--checkpoint", str(tmp_path / "ck"),
        "--colour", "0.5", "--keep-clicked", "--max-clicks", "3", "--out", str(out),
    ])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "ours+colour0.5+cc"
    assert summary["n"] == 3  # frames 0, 2, 4 of the 6-frame clip
    assert summary["dataset_options"] == {"frames": "all", "split": "val", "stride": 2}


def test_eval_cli_rejects_unknown_dataset(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    res = CliRunner().invoke(app, ["eval", "interactive", "--dataset", "imagenet", "--root", str(tmp_path)])
    assert res.exit_code == 2 and "imagenet" in res.output and "coco_mval" in res.output  # usage error, the choices


def test_eval_cli_help_lists_datasets_methods_and_exit_codes():
    from typer.testing import CliRunner

    from flows.cli import DATASETS, app

    res = CliRunner().invoke(app, ["eval", "interactive", "--help"], env={"COLUMNS": "400"})
    assert res.exit_code == 0
    assert "|".join(DATASETS) in res.stdout
    assert "grabcut|grabcut-rerun|grabcut-continue|grabcut-box|grabcut-nobox|ours|ifcn" in res.stdout
    assert "first|all" in res.stdout and "--json" in res.stdout and "Exit codes" in res.stdout


@pytest.fixture
def live_prefect_console():
    """Prefect sets up its console log handler on the first flow run, on the sys.stderr of that
    moment: inside an earlier CliRunner.invoke, a stream closed since, and a later in-process flow
    run would log into it (and recurse through log_prints). Point it at the real stderr around the
    test. (A real `ivos` process runs one command: no such stale stream.)"""
    import logging
    import sys

    def fix() -> None:
        names = [""] + [n for n in list(logging.root.manager.loggerDict) if n.startswith("prefect")]
        for n in names:
            for h in logging.getLogger(n).handlers:
                if type(h).__name__ == "PrefectConsoleHandler":
                    h.stream = sys.__stderr__  # not setStream: it flushes the closed one
                    h.console.file = sys.__stderr__

    fix()
    yield
    fix()


def test_eval_cli_json_summary_on_stdout(prefect_harness, live_prefect_console, synth, tmp_path):
    """--json: the summary is the only thing on stdout; a data-skipped item does not fail the run."""
    from typer.testing import CliRunner

    from flows.cli import app

    out = tmp_path / "e"
    res = CliRunner().invoke(app, ["eval", "interactive", "--dataset", "synthetic", "--root", str(synth / "images"),
                                   "--method", "grabcut", "--max-clicks", "2", "--limit", "2", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc) >= {"dataset", "method", "n", "noc", "miou_at", "failed_items", "skipped", "out"}
    assert doc["method"].startswith("grabcut") and doc["failed_items"] == [] and doc["out"] == str(out)
    assert doc["noc"] == json.loads((out / "summary.json").read_text())["noc"]
    assert "interactive evaluation" in res.stderr  # the table went to stderr


def test_eval_cli_exits_1_when_an_item_failed(monkeypatch, synth, tmp_path):
    """A failed item (counted at the cap, listed) makes the exit code 1; --json still prints the summary."""
    from typer.testing import CliRunner

    import flows.cli
    from flows.cli import app

    seen = {}

    def fake(**kw):
        seen.update(kw)
        return {"dataset": kw["dataset"], "split": None, "role": "test", "method": kw["method"], "n": 2,
                "noc": {"0.85": 3.0, "0.9": 4.0}, "miou_at": {"1": 0.5}, "n_failed_items": 1,
                "failed_items": [{"item": "0002", "error": "RuntimeError: boom", "clicks_done": 0}], "skipped": []}

    monkeypatch.setattr(flows.cli, "_run_eval", fake)
    args = ["eval", "interactive", "--dataset", "davis", "--davis-frames", "all", "--root", str(synth / "davis"),
            "--method", "grabcut-box", "--out", str(tmp_path / "e")]
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 1, res.output
    assert json.loads(res.stdout)["failed_items"][0]["item"] == "0002"
    assert seen["dataset"] == "davis" and seen["method"] == "grabcut-box" and seen["dataset_kw"]["frames"] == "all"
    plain = CliRunner().invoke(app, args)
    assert plain.exit_code == 1 and "failed (counted at the cap)" in plain.stdout


def test_deploy_sets_the_pool_concurrency_to_the_gpu_slots(prefect_harness):
    """The job's GPU slot is the pool's limit: created with --gpu-slots, updated when it changes."""
    import asyncio

    from prefect import get_client

    from flows.deploy import _ensure_pool_objects

    async def limits(slots: int) -> tuple[int | None, int]:
        await _ensure_pool_objects("ivos-gpu-test", slots, 60)
        async with get_client() as c:
            pool = await c.read_work_pool("ivos-gpu-test")
            tag = await c.read_concurrency_limit_by_tag("gpu")
        return pool.concurrency_limit, tag.concurrency_limit

    assert asyncio.run(limits(1))[0] == 1
    pool_limit, tag_limit = asyncio.run(limits(3))
    assert pool_limit == 3 and tag_limit >= 1  # the gpu tag limit stays for training tasks


def test_deploy_creates_the_cpu_pool_with_the_priority_queues(prefect_harness):
    """ivos-cpu (data, evaluation, analytics) next to ivos-gpu: no limit by default, --cpu-slots sets one."""
    import asyncio

    from prefect import get_client

    from flows.deploy import _ensure_pool_objects

    async def cpu_pool(slots: int | None) -> tuple[int | None, dict[str, int]]:
        await _ensure_pool_objects("ivos-gpu-test", 1, 60, cpu_pool="ivos-cpu-test", cpu_slots=slots)
        async with get_client() as c:
            pool = await c.read_work_pool("ivos-cpu-test")
            queues = {q.name: q.priority for q in await c.read_work_queues(work_pool_name="ivos-cpu-test")}
        return pool.concurrency_limit, queues

    limit, queues = asyncio.run(cpu_pool(None))
    assert limit is None and queues["high"] < queues["normal"] < queues["low"]
    assert asyncio.run(cpu_pool(4))[0] == 4


@pytest.mark.parametrize("args,says", [(["--dataset", "grabcut"], "error: "),  # an empty folder: no GrabCut layout
                                       (["--dataset", "synthetic", "--method", "ifcn"], "--checkpoint")])
def test_eval_cli_usage_errors_exit_2_in_one_line(monkeypatch, tmp_path, args, says):
    from typer.testing import CliRunner

    import flows.cli
    from flows.cli import app

    monkeypatch.setattr(flows.cli, "_run_eval", lambda **kw: pytest.fail("the flow must not start"))
    res = CliRunner().invoke(app, ["eval", "interactive", *args, "--root", str(tmp_path), "--json"])
    assert res.exit_code == 2, res.output
    assert res.stdout == "" and "Traceback" not in res.output and says in res.stderr
    if says == "error: ":
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
