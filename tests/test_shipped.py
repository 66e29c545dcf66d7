"""The shipped default model (models/ivos-lite-v1): it loads, predicts and propagates, and every
entry point that defaults to it finds it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ivos_core.shipped import DEFAULT_MODEL, ShippedModelError, shipped_model


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_shipped_model_folder_is_complete_and_small() -> None:
    m = shipped_model()
    assert m.name == DEFAULT_MODEL and m.osvos_parent is not None
    total = sum(p.stat().st_size for p in m.folder.glob("*.safetensors"))
    assert total <= 20 * 1024 * 1024
    assert m.interactive_options["crf"] is True
    doc = json.loads((m.folder / "model.json").read_text())
    assert doc["provenance"]["interactive_selection"].startswith("docs/results/dev/")  # chosen on dev
    assert (m.folder / "MODEL_CARD.md").is_file()


def test_missing_shipped_model_says_what_to_do(tmp_path) -> None:
    with pytest.raises(ShippedModelError, match="--checkpoint"):
        shipped_model(root=tmp_path)


def test_shipped_interactive_model_segments_objects_with_a_few_robot_clicks(tmp_path) -> None:
    from ivos_core.data import open_dataset
    from ivos_core.data.synthetic import write_synthetic_images
    from ivos_core.evaluation import evaluate_interactive
    from ivos_core.interactive.methods import build_method

    root = write_synthetic_images(tmp_path / "synth", 4, seed=11)
    method = build_method("ours", device="cpu", crf=True)  # no checkpoint: the shipped one
    summary = evaluate_interactive(open_dataset("synthetic", root), method, max_clicks=5).summary()
    assert not summary.get("failed_items")
    assert summary["miou_at"]["5"] > 0.8
    assert summary["miou_at"]["5"] > summary["miou_at"]["1"]


def test_jobs_resolve_the_default_name_to_the_shipped_folder(tmp_path) -> None:
    from ivos_core.jobs import resolve_model

    spec = resolve_model(models_dir=tmp_path)  # nothing there: the shipped model
    assert spec.name == DEFAULT_MODEL and spec.interactive_checkpoint is not None
    assert spec.osvos_checkpoint is not None
    opts = spec.video_options()
    from ivos_core.video_prior import DEFAULT_OSVOS_OPTIONS

    assert opts == DEFAULT_OSVOS_OPTIONS  # the dev-chosen defaults and the shipped model.json agree
    assert opts.prior_weight > 0 and (opts.max_side, opts.finetune_crop) == (480, 320)
    assert spec.interactive_options["crf"] and spec.interactive_options["local_radius"] == 0.05


def test_shipped_parent_propagates_a_synthetic_object() -> None:
    from ivos_core.data.synthetic import synthetic_video
    from ivos_core.training.osvos_parent import load_parent
    from ivos_core.video import VideoSegmenter
    from ivos_core.video_prior import DEFAULT_OSVOS_OPTIONS

    frames, masks = synthetic_video(np.random.default_rng(3), n_frames=6, height=120, width=160, occluder=False)
    vs = VideoSegmenter(load_parent(shipped_model().osvos_parent), device="cpu", options=DEFAULT_OSVOS_OPTIONS,
                        finetune_steps=15)
    vs.open(frames)
    vs.set_mask(0, masks[0])
    vs.fit()
    out = [np.asarray(f.mask, bool) for f in vs.propagate()]
    ious = [_iou(m, g) for m, g in zip(out[1:], masks[1:])]
    assert np.mean(ious) > 0.5


def test_build_method_sets_the_networks_working_size() -> None:
    from ivos_core.interactive.methods import build_method

    default = build_method("ours", device="cpu")
    big = build_method("ours", device="cpu", input_size=480, flip=True)
    assert default.segmenter.input_size == 384 and default.name == "ours"
    assert big.segmenter.input_size == 480 and big.name == "ours+in480+flip"
    img = np.zeros((200, 300, 3), np.uint8)
    img[50:150, 100:200] = 200
    big.set_image(img)
    assert big.predict([], None).shape == img.shape[:2]
