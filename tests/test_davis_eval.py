"""The DAVIS evaluations (Fig. 5, Table 3, J&F, Fig. 10 stats) on a tiny synthetic DAVIS root:
two 8-frame 64x96 sequences, one of them missing an annotation (reported, the other completes);
plus the eval-davis / train-osvos-parent flows and the CLI wiring (CPU, seconds)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from ivos_core.davis import (
    PAPER_FIG5,
    PAPER_TABLE3,
    DavisEvalConfig,
    SequenceResult,
    blob_centre_click,
    evaluate_davis,
    sequence_columns,
    write_davis_outputs,
)

STEPS = 80  # fine-tuning steps; GT-initialised J measured 0.45-0.60 on "good" (seeds 0, 1)
J_MIN = 0.3


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def davis_root(tmp_path_factory):
    from ivos_core.checkpoints import save_checkpoint
    from ivos_core.data.synthetic import write_synthetic_video
    from ivos_core.models import build_interactive

    root = tmp_path_factory.mktemp("davis")
    write_synthetic_video(root, "good", n_frames=8, seed=1, height=64, width=96, as_davis=True)
    write_synthetic_video(root, "broken", n_frames=8, seed=2, height=64, width=96, as_davis=True)
    (root / "Annotations" / "480p" / "broken" / "00003.png").unlink()
    torch.manual_seed(0)  # untrained interactive models: they exercise the code paths, not quality
    save_checkpoint(root / "ours", build_interactive("lite"), {"input_size": 64})
    save_checkpoint(root / "ifcn", build_interactive("lite", encoding="distance", use_mask=False), {"input_size": 64})
    return root


@pytest.fixture(scope="module")
def outputs(davis_root, tmp_path_factory):
    torch.set_num_threads(1)
    cfg = DavisEvalConfig(
        init_clicks=(1, 4), correction_clicks=(1, 4), progressive_clicks=(1,), finetune_steps=STEPS,
        device="cpu", checkpoint=str(davis_root / "ours"), ifcn_checkpoint=None,
    )
    result = evaluate_davis(davis_root, cfg, cache_dir=davis_root / "cache")
    out = tmp_path_factory.mktemp("out")
    return cfg, result, write_davis_outputs(result, out)


def test_outputs_and_columns(outputs):
    cfg, result, paths = outputs
    for key in ("summary", "per_sequence", "per_frame", "corrections", "fig5", "table3"):
        assert paths[key].is_file() and paths[key].stat().st_size > 0, key
    per_seq = pd.read_parquet(paths["per_sequence"])
    assert list(per_seq.columns) == sequence_columns(cfg)
    assert {"J_mean", "F_mean", "consecutive_iou_mean", "init_iou[grabcut@4]", "refine_iou[grabcut@1]",
            "progressive_J_mean[ours@1]"} <= set(per_seq.columns)
    per_frame = pd.read_parquet(paths["per_frame"])
    assert list(per_frame.columns) == ["sequence", "frame", "setting", "iou", "boundary_f", "evaluated"]
    corr = pd.read_parquet(paths["corrections"])
    assert list(corr.columns) == ["sequence", "frame", "rank", "method", "clicks", "iou"]


def test_broken_sequence_reported_and_other_completes(outputs):
    _, result, paths = outputs
    summary = json.loads(paths["summary"].read_text())
    assert summary["n_sequences"] == 2 and summary["n_ok"] == 1 and summary["n_failed"] == 1
    (failed,) = summary["failed"]
    assert failed["sequence"] == "broken" and "frame 3" in failed["reason"] and "annotation" in failed["reason"]
    per_seq = pd.read_parquet(paths["per_sequence"]).set_index("sequence")
    assert per_seq.loc["broken", "status"] == "failed" and np.isnan(per_seq.loc["broken", "J_mean"])
    assert per_seq.loc["good", "status"] == "ok"


def test_numbers(outputs):
    _, result, paths = outputs
    summary = json.loads(paths["summary"].read_text())
    good = pd.read_parquet(paths["per_sequence"]).set_index("sequence").loc["good"]
    assert good["J_mean"] > J_MIN  # GT-initialised OSVOS from scratch, 80 steps
    assert good["init_iou[gt]"] == 1.0
    for col in [c for c in good.index if c.split("[")[0] in ("J_mean", "J_recall", "F_mean", "F_recall")]:
        assert 0.0 <= good[col] <= 1.0, col
    assert 0.0 < good["consecutive_iou_mean"] <= 1.0
    # GrabCut rows: Fig. 5 settings and Table 3 corrections
    assert 0.0 <= good["J_mean[grabcut@1]"] <= 1.0 and good["init_iou[grabcut@4]"] > 0.5
    corr = pd.read_parquet(paths["corrections"])
    gc = corr[corr["method"] == "grabcut"].sort_values("clicks")
    assert list(gc["clicks"]) == [0, 1, 2, 3, 4]
    assert gc["iou"].iloc[0] == pytest.approx(good["worst_iou"])
    assert gc["iou"].iloc[-1] == pytest.approx(good["refine_iou[grabcut@4]"])
    assert 1 <= good["worst_frame"] <= 7
    per_frame = pd.read_parquet(paths["per_frame"])
    gt_rows = per_frame[(per_frame["sequence"] == "good") & (per_frame["setting"] == "osvos:gt")]
    assert len(gt_rows) == 8 and gt_rows["evaluated"].sum() == 6
    assert gt_rows.loc[gt_rows["evaluated"], "iou"].mean() == pytest.approx(good["J_mean"])
    assert per_frame["setting"].str.startswith("progressive:").any()
    # the paper's numbers travel with ours; iFCN was skipped with a reason
    assert summary["fig5"]["gt"]["paper"] == PAPER_FIG5["gt"] and summary["fig5"]["ours@4"]["n"] == 1
    assert summary["table3"]["methods"]["ours"]["1"]["paper"] == PAPER_TABLE3["ours"][1]
    assert "ifcn" in summary["unavailable"] and "--ifcn-checkpoint" in summary["unavailable"]["ifcn"]
    assert summary["table3"]["methods"]["ifcn"]["1"]["n"] == 0


def test_summary_loads_into_analytics(outputs, tmp_path):
    from analytics.results import read_eval_run

    run = read_eval_run(outputs[2]["summary"])
    assert (run.dataset, run.method) == ("davis2016", "osvos")
    j = run.items[(run.items["sequence"] == "good") & (run.items["metric"] == "J_mean")]["value"]
    assert len(j) == 1 and 0 < float(j.iloc[0]) <= 1
    assert "consecutive_iou_mean" in set(run.items["metric"])


def test_cache_reused(davis_root, outputs):
    cfg, result, _ = outputs
    cached = SequenceResult.load(davis_root / "cache" / "good.json")
    assert cached.fingerprint == cfg.fingerprint()
    again = evaluate_davis(davis_root, DavisEvalConfig.from_dict({**cfg.to_dict(), "sequences": ["good"]}),
                           cache_dir=davis_root / "cache")
    assert again.sequences[0].seconds == pytest.approx(cached.seconds)  # loaded, not recomputed


def test_blob_centre_click_and_config_errors():
    m = np.zeros((20, 30), bool)
    m[2:5, 2:5] = True
    m[8:19, 10:25] = True
    c = blob_centre_click(m)
    assert c.positive and 10 <= c.x <= 24 and 8 <= c.y <= 18
    assert blob_centre_click(np.zeros((4, 4), bool)) is None
    with pytest.raises(ValueError, match="init_methods"):
        DavisEvalConfig(init_methods=("nope",))
    with pytest.raises(ValueError, match="progressive_clicks"):
        DavisEvalConfig(correction_clicks=(1,), progressive_clicks=(4,))
    assert DavisEvalConfig(init_methods=("gt", "grabcut"), init_clicks="8,1").init_settings() == [
        "gt", "grabcut@1", "grabcut@8"]


def test_cli_registers():
    import typer
    from typer.testing import CliRunner

    from flows.cli_video import register

    app, train_app, eval_app = typer.Typer(), typer.Typer(), typer.Typer()
    app.add_typer(train_app, name="train")
    app.add_typer(eval_app, name="eval")
    register(app, train_app, eval_app)
    runner = CliRunner()
    assert "--osvos-parent" in runner.invoke(app, ["eval", "davis", "--help"]).output
    assert "--max-steps" in runner.invoke(app, ["train", "osvos", "--help"]).output


def test_flows(prefect_harness, davis_root, tmp_path):
    from flows.eval_davis import eval_davis_flow
    from flows.train_osvos import make_config, train_osvos_flow

    info = train_osvos_flow(root=str(davis_root), out=str(tmp_path / "parent"), config="lite", max_steps=2,
                            split="val", overrides={"batch_size": 2, "crop": 48, "device": "cpu", "held_out": ("other",)},
                            holdout_dev=True)
    assert info["steps_run"] == 2 and (tmp_path / "parent" / "parent.json").is_file()
    # what the parent never saw is recorded with it (a fold `ivos eval video-select` may develop on)
    held = json.loads((tmp_path / "parent" / "parent.json").read_text())["config"]["train"]["held_out"]
    assert held == ["hockey", "lucia", "other", "surf"]
    again = train_osvos_flow(root=str(davis_root), out=str(tmp_path / "parent"), config="lite", max_steps=2,
                             split="val", overrides={"batch_size": 2, "crop": 48, "device": "cpu"})
    assert again["steps_run"] == 0 and again["resumed"]  # resumed at the end: nothing left to do
    assert make_config("paper", max_steps=10).model == "paper"

    cfg = DavisEvalConfig(sequences=("good", "broken"), init_methods=("gt",), correction_methods=("grabcut",),
                          correction_clicks=(1,), finetune_steps=10, device="cpu",
                          osvos_parent=str(tmp_path / "parent" / "parent"))
    out = tmp_path / "eval"
    summary = eval_davis_flow(root=str(davis_root), out=str(out), config=cfg.to_dict())
    assert summary["n_ok"] == 1 and summary["n_failed"] == 1
    assert (out / "sequences" / "good.json").is_file() and (out / "per_sequence.parquet").is_file()
    mtime = (out / "sequences" / "good.json").stat().st_mtime_ns
    eval_davis_flow(root=str(davis_root), out=str(out), config=cfg.to_dict())  # a re-run skips "good"
    assert (out / "sequences" / "good.json").stat().st_mtime_ns == mtime


# ---- choosing OSVOS settings: development sequences only -----------------------------------


def test_video_selection_refuses_test_sequences(tmp_path):
    from ivos_core.splits import TestSetError
    from ivos_core.video_select import check_development, select_video_settings

    assert check_development(["hockey", "surf"]) == ("hockey", "surf")
    for seqs, split in ((["blackswan"], "train"), (["hockey", "dog"], "train"), (["hockey"], "val"),
                        (["bear"], "train")):
        with pytest.raises(TestSetError):
            check_development(seqs, split)
        # refused before anything is loaded (the root and parent need not even exist)
        with pytest.raises(TestSetError):
            select_video_settings(tmp_path / "nowhere", tmp_path / "no-parent", sequences=seqs, split=split)


def test_video_select_cli_refuses_val_and_selects_on_dev(tmp_path):
    import typer
    from typer.testing import CliRunner

    from flows.cli_video import register
    from ivos_core.checkpoints import save_checkpoint
    from ivos_core.data.synthetic import write_synthetic_video
    from ivos_core.models.osvos import build_osvos

    app, train_app, eval_app = typer.Typer(), typer.Typer(), typer.Typer()
    app.add_typer(train_app, name="train")
    app.add_typer(eval_app, name="eval")
    register(app, train_app, eval_app)
    runner = CliRunner()
    root = tmp_path / "DAVIS"
    write_synthetic_video(root, "hockey", n_frames=6, seed=1, height=64, width=96, split="train")
    write_synthetic_video(root, "blackswan", n_frames=6, seed=2, height=64, width=96, split="val")
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "parent", build_osvos("lite"), {"kind": "osvos", "model": "lite"}, step=0)
    out = tmp_path / "sel.json"
    base = ["eval", "video-select", "--root", str(root), "--osvos-parent", str(tmp_path / "parent"), "--out", str(out),
            "--cache", str(tmp_path / "cache")]
    r = runner.invoke(app, base + ["--sequences", "blackswan"])
    assert r.exit_code == 2 and "refused" in r.output and not out.exists()
    r = runner.invoke(app, base + ["--sequences", "hockey", "--split", "val"])
    assert r.exit_code == 2 and not out.exists()
    args = base + ["--sequences", "hockey", "--steps", "5", "--lr", "default", "--priors", "0:1,10:0", "--frame-stride", "1"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["sequences"] == ["hockey"] and len(doc["candidates"]) == 2
    # the grid's other settings default to the shipped ones (online adaptation 25 steps every 8 frames)
    assert {c["label"] for c in doc["candidates"]} == {"steps5-side320-aug0.5-noprior-thr0.8-online25every8",
                                                      "steps5-side320-aug0.5-prior10in0dil0.06-thr0.8-online25every8"}
    assert all(0 <= c["J"]["hockey"] <= 1 for c in doc["candidates"])
    assert doc["choice"]["label"] in {c["label"] for c in doc["candidates"]}
    # re-runnable: the second run reads the cache and gives the same numbers
    r2 = runner.invoke(app, args)
    assert r2.exit_code == 0 and "cached" in r2.output
    assert json.loads(out.read_text())["candidates"] == doc["candidates"]


def test_video_select_accepts_training_sequences_held_out_of_the_parent(tmp_path):
    """A cross-validation fold: a training sequence the parent never saw is development data for
    that parent only; another parent, or a val sequence named in the held-out list, is refused."""
    from ivos_core.checkpoints import save_checkpoint
    from ivos_core.data.synthetic import write_synthetic_video
    from ivos_core.models.osvos import build_osvos
    from ivos_core.splits import TestSetError
    from ivos_core.training.osvos_parent import OSVOSTrainConfig
    from ivos_core.video_select import SelectionGrid, check_development, parent_fold, select_video_settings

    root = tmp_path / "DAVIS"
    write_synthetic_video(root, "kite-walk", n_frames=5, seed=1, height=48, width=64, split="train")
    write_synthetic_video(root, "blackswan", n_frames=5, seed=2, height=48, width=64, split="val")
    torch.manual_seed(0)
    net = build_osvos("lite")
    cfg = OSVOSTrainConfig(held_out=("kite-walk", "hockey", "blackswan", "kite-walk"))
    assert cfg.held_out == ("blackswan", "hockey", "kite-walk")
    assert OSVOSTrainConfig.from_dict(cfg.to_dict()).held_out == cfg.held_out
    save_checkpoint(tmp_path / "fold", net, {"kind": "osvos", "model": "lite", "train": cfg.to_dict()}, step=1)
    save_checkpoint(tmp_path / "full", net, {"kind": "osvos", "model": "lite", "train": OSVOSTrainConfig().to_dict()})
    assert parent_fold(tmp_path / "fold", root) == ("kite-walk",)  # blackswan is not a train sequence
    assert parent_fold(tmp_path / "full", root) == ()
    with pytest.raises(TestSetError, match="held out of this parent"):
        check_development(["kite-walk"], "train", fold=parent_fold(tmp_path / "full", root))
    with pytest.raises(TestSetError):
        check_development(["blackswan"], "train", fold=parent_fold(tmp_path / "fold", root))
    grid = SelectionGrid(finetune_steps=(2,), finetune_lr=(None,), priors=((0.0, 1.0),), frame_stride=1, max_side=None)
    doc = select_video_settings(root, tmp_path / "fold", grid, sequences=["kite-walk"])
    assert doc["sequences"] == ["kite-walk"] and doc["fold_sequences"] == ["kite-walk"]
    assert 0 <= doc["choice"]["J_mean"] <= 1
    with pytest.raises(TestSetError):
        select_video_settings(root, tmp_path / "full", grid, sequences=["kite-walk"])


def test_correction_frames_adds_the_next_worst_frames(davis_root, tmp_path):
    """k worst frames: Table 3 still reads the worst one; the corrections table and the
    ``table3_frames`` summary hold all k, worst first, with per-frame gains."""
    cfg = DavisEvalConfig(sequences=("good",), init_methods=("gt",), correction_methods=("grabcut",),
                          correction_clicks=(1,), correction_frames=3, finetune_steps=10, device="cpu")
    assert cfg.fingerprint() != DavisEvalConfig.from_dict({**cfg.to_dict(), "correction_frames": 1}).fingerprint()
    result = evaluate_davis(davis_root, cfg)
    corr = result.corrections()
    before = corr[corr["clicks"] == 0].sort_values("rank")
    assert list(before["rank"]) == [1, 2, 3] and before["iou"].is_monotonic_increasing
    row = result.per_sequence().iloc[0]
    assert row["worst_iou"] == pytest.approx(before["iou"].iloc[0])
    frames = result.summary()["table3_frames"]
    assert frames["before"]["n"] == 3 and frames["methods"]["grabcut"]["1"]["n"] == 3
    assert len(frames["methods"]["grabcut"]["1"]["gains"]) == 3
    with pytest.raises(ValueError, match="correction_frames must be >= 1"):
        DavisEvalConfig(correction_frames=0)


def test_selection_grid_tries_osvos_working_sizes():
    from ivos_core.video_select import SelectionGrid

    grid = SelectionGrid(finetune_steps=(10,), finetune_lr=(None,), finetune_crop=(None, 320), osvos_side=(320, None))
    settings = grid.finetune_settings()
    assert sorted((s.finetune_crop or 0, s.max_side or 0) for s in settings) == [(0, 0), (0, 320), (320, 0), (320, 320)]
    assert len({s.label() for s in settings}) == 4


def test_flip_settings_change_the_fingerprint_only_when_on():
    off = DavisEvalConfig(flip_tta=False, interactive_flip=False)
    assert DavisEvalConfig(flip_tta=True).fingerprint() != off.fingerprint()
    assert DavisEvalConfig(flip_tta=False, interactive_flip=True).fingerprint() != off.fingerprint()
    assert DavisEvalConfig(flip_tta=True).osvos_options().flip_tta


def test_bn_dilation_and_threshold_reach_the_osvos_options_and_the_fingerprint():
    base = DavisEvalConfig()
    assert DavisEvalConfig(interactive_input_size=480).fingerprint() != base.fingerprint()
    for change in ({"freeze_bn": not base.freeze_bn}, {"prior_dilation": 0.09}, {"mask_threshold": 0.4},
                   {"flow_max_side": 320}, {"finetune_aug": 2.0}):
        cfg = DavisEvalConfig(**change)
        assert cfg.fingerprint() != base.fingerprint()
        (key, value), = change.items()
        assert getattr(cfg.osvos_options(), key) == value
    # the round-trip through the summary's config dict keeps them
    cfg = DavisEvalConfig(freeze_bn=True, mask_threshold=0.4)
    assert DavisEvalConfig.from_dict(cfg.to_dict()).osvos_options() == cfg.osvos_options()


def test_online_adaptation_reaches_the_osvos_options_and_the_fingerprint():
    from ivos_core.video_prior import DEFAULT_OSVOS_OPTIONS

    base = DavisEvalConfig()
    on = DavisEvalConfig(osvos_online_steps=25, osvos_online_every=4)
    assert on.fingerprint() != base.fingerprint()
    assert (on.osvos_options().online_steps, on.osvos_options().online_every) == (25, 4)
    assert DavisEvalConfig.from_dict(on.to_dict()).osvos_options() == on.osvos_options()
    # the shipped default: the fingerprint keys of earlier runs are unchanged by the new fields
    assert base.osvos_online_steps == DEFAULT_OSVOS_OPTIONS.online_steps
    d = base.to_dict()
    d.pop("osvos_online_steps"), d.pop("osvos_online_every")
    assert DavisEvalConfig.from_dict(d).fingerprint() == base.fingerprint()


def test_interactive_options_reach_our_model_and_the_fingerprint_only_when_set(monkeypatch, tmp_path):
    """``--seg-option`` on ``ivos eval davis``: further segmenter options of our model (e.g. the
    multi-scale ``tta_sizes``) are checked at once, change the fingerprint only when set (earlier
    runs' caches stay valid) and reach the segmenter that is built."""
    import typer
    from typer.testing import CliRunner

    from flows.cli_video import register
    from ivos_core.davis import config as davis_config

    base = DavisEvalConfig()
    ms = DavisEvalConfig(interactive_options={"tta_sizes": [448]})
    assert ms.fingerprint() != base.fingerprint()
    d = base.to_dict()
    d.pop("interactive_options")
    assert DavisEvalConfig.from_dict(d).fingerprint() == base.fingerprint()
    assert DavisEvalConfig.from_dict(ms.to_dict()).interactive_options == {"tta_sizes": [448]}
    with pytest.raises(ValueError, match="nonsense"):
        DavisEvalConfig(interactive_options={"nonsense": 1})
    with pytest.raises(ValueError, match="tta_sizes"):
        DavisEvalConfig(interactive_options={"tta_sizes": [8]})

    seen = {}

    def fake_build(name, **kw):
        seen[name] = kw.get("options")
        raise ValueError("stop here")

    monkeypatch.setattr("ivos_core.interactive.methods.build_method", fake_build)
    models = davis_config.load_models(DavisEvalConfig(init_methods=("ours",), correction_methods=("ifcn",),
                                                      checkpoint="x", ifcn_checkpoint="y",
                                                      interactive_options={"tta_sizes": [448]}))
    assert seen == {"ours": {"tta_sizes": [448]}, "ifcn": None} and set(models.unavailable) == {"ours", "ifcn"}

    captured = {}
    monkeypatch.setattr("flows.eval_davis.eval_davis_flow", lambda **kw: captured.update(kw) or {})
    monkeypatch.setattr("flows.cli_video._print_davis_summary", lambda *a: None)
    app, train_app, eval_app = typer.Typer(), typer.Typer(), typer.Typer()
    app.add_typer(train_app, name="train")
    app.add_typer(eval_app, name="eval")
    register(app, train_app, eval_app)
    res = CliRunner().invoke(app, ["eval", "davis", "--root", str(tmp_path), "--out", str(tmp_path / "o"),
                                   "--seg-option", "tta_sizes=[448]"])
    assert res.exit_code == 0, res.output
    assert captured["config"]["interactive_options"] == {"tta_sizes": [448]}
    bad = CliRunner().invoke(app, ["eval", "davis", "--root", str(tmp_path), "--out", str(tmp_path / "o"),
                                   "--seg-option", "nonsense=1"])
    assert bad.exit_code != 0 and "nonsense" in bad.output
