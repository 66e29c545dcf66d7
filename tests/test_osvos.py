"""OSVOS networks, the class-balanced loss, one-shot fine-tuning and parent training (tiny, CPU)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from ivos_core.metrics import iou
from ivos_core.models.osvos import OSVOSLite, OSVOSPaper, build_osvos, class_balanced_bce
from ivos_core.training.osvos_parent import ArraySequence, OSVOSTrainConfig, load_parent, train_parent
from ivos_core.video.finetune import _random_affine, finetune


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def moving_object_video(seed: int, n_frames: int = 8, height: int = 64, width: int = 96):
    """A textured ellipse moving and rotating over a smooth random background.

    Returns ``frames`` (T, H, W, 3) uint8 and ``masks`` (T, H, W) bool.
    """
    rng = np.random.default_rng(seed)
    bg = cv2.resize(rng.integers(0, 255, (height // 4 + 2, width // 4 + 2, 3)).astype(np.uint8),
                    (width + 4 * n_frames, height + 4 * n_frames), interpolation=cv2.INTER_CUBIC)
    tex = cv2.resize(rng.integers(0, 255, (8, 8, 3)).astype(np.uint8), (width, height), interpolation=cv2.INTER_CUBIC)
    tex = (0.5 * tex + 0.5 * rng.integers(0, 255, 3)).astype(np.uint8)
    frames = np.zeros((n_frames, height, width, 3), np.uint8)
    masks = np.zeros((n_frames, height, width), bool)
    for t in range(n_frames):
        m = np.zeros((height, width), np.uint8)
        centre = (int(width * 0.35 + width * 0.03 * t), int(height * 0.45 + height * 0.015 * t))
        cv2.ellipse(m, centre, (width // 7, height // 5), 10 * t, 0, 360, 1, -1)
        f = bg[t : t + height, t : t + width].copy()
        f[m > 0] = tex[m > 0]
        frames[t], masks[t] = f, m > 0
    return frames, masks


def _probs(model, frames: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
        return torch.sigmoid(model(x))[:, 0].numpy()


# ---- networks ---------------------------------------------------------------------------------


def test_lite_shapes_and_size():
    torch.manual_seed(0)
    m = build_osvos("lite").eval()
    n_params = sum(p.numel() for p in m.parameters())
    assert 3e5 <= n_params <= 1e6
    with torch.no_grad():
        for h, w in [(64, 96), (50, 70)]:  # any size, not only multiples of 32
            x = torch.rand(2, 3, h, w)
            assert m(x).shape == (2, 1, h, w)
            fused, sides = m.forward_sides(x)
            assert fused.shape == (2, 1, h, w) and len(sides) == 4
            assert all(s.shape == (2, 1, h, w) for s in sides)
            assert torch.allclose(fused, m(x), atol=1e-5)


def test_paper_shapes_once_64x64():
    torch.manual_seed(0)
    m = build_osvos("paper", imagenet=False).eval()
    assert isinstance(m, OSVOSPaper)
    with torch.no_grad():
        fused, sides = m.forward_sides(torch.rand(1, 3, 64, 64))
    assert fused.shape == (1, 1, 64, 64)
    assert len(sides) == 4 and all(s.shape == (1, 1, 64, 64) for s in sides)
    assert m.fuse.in_channels == 64  # 4 side outputs x 16 channels


def test_bad_name_and_bad_input():
    with pytest.raises(ValueError, match="unknown OSVOS configuration"):
        build_osvos("resnet")
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        OSVOSLite()(torch.rand(1, 4, 32, 32))


def test_pretrained_local_file_roundtrip(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    a = build_osvos("lite")
    save_file({k: v.contiguous() for k, v in a.state_dict().items()}, str(tmp_path / "w.safetensors"))
    b = build_osvos("lite", pretrained=tmp_path / "w.safetensors")
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    with pytest.raises(FileNotFoundError, match="not found"):
        build_osvos("lite", pretrained=tmp_path / "missing.safetensors")


def test_paper_loads_vgg_backbone_from_local_file(tmp_path):
    torch.manual_seed(2)
    vgg = OSVOSPaper()  # its features are torchvision's vgg16().features layout
    sd = {f"features.{k}": v for k, v in vgg.features.state_dict().items()}
    sd["classifier.0.weight"] = torch.zeros(2, 2)  # an ImageNet file also holds the classifier
    torch.save(sd, tmp_path / "vgg16_features.pth")
    m = build_osvos("paper", pretrained=tmp_path / "vgg16_features.pth")
    assert torch.equal(m.features[0].weight, vgg.features[0].weight)
    assert torch.equal(m.features[28].weight, vgg.features[28].weight)
    assert not torch.equal(m.fuse.weight, vgg.fuse.weight)  # only the backbone came from the file


# ---- loss -------------------------------------------------------------------------------------


def test_class_balanced_bce_values():
    # zero logits: every pixel costs log 2; P positives, N negatives, T = P + N
    target = torch.zeros(1, 1, 4, 5)
    target[..., :1, :] = 1  # P = 5, N = 15
    loss = class_balanced_bce(torch.zeros_like(target), target)
    P, N, T = 5.0, 15.0, 20.0
    expected = (N / T * P * math.log(2) + P / T * N * math.log(2)) / T
    assert loss.item() == pytest.approx(expected, rel=1e-6)

    # each class weighted by the other's frequency: errors on the rare class cost more per pixel
    logits = torch.full_like(target, 0.0)
    wrong_pos = logits.clone()
    wrong_pos[target.bool()] = -3.0  # a confident miss on all positives
    wrong_neg = logits.clone()
    wrong_neg[~target.bool()] = 3.0  # a confident false alarm on all negatives
    per_pos = (class_balanced_bce(wrong_pos, target) - class_balanced_bce(logits, target)) / P
    per_neg = (class_balanced_bce(wrong_neg, target) - class_balanced_bce(logits, target)) / N
    assert per_pos.item() == pytest.approx(3 * per_neg.item(), rel=1e-5)  # N/P = 3

    # one class only: plain mean BCE (not zero)
    empty = torch.zeros(1, 1, 3, 3)
    assert class_balanced_bce(torch.zeros_like(empty), empty).item() == pytest.approx(math.log(2))

    # mean over images; valid mask drops pixels
    two = torch.cat([target, target])
    assert class_balanced_bce(torch.zeros_like(two), two).item() == pytest.approx(expected, rel=1e-6)
    valid = torch.ones_like(target)
    valid[..., 2:, :] = 0  # keep rows 0-1: P = 5, N = 5
    got = class_balanced_bce(torch.zeros_like(target), target, valid=valid).item()
    assert got == pytest.approx((0.5 * 5 + 0.5 * 5) * math.log(2) / 10)
    with pytest.raises(ValueError, match="differ in shape"):
        class_balanced_bce(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3))


# ---- augmentation / fine-tuning ------------------------------------------------------------------


def test_identity_affine_reproduces_the_frame():
    rng = np.random.default_rng(0)
    theta = _random_affine(rng, 1, (40, 60), (40, 60), None)
    x = torch.rand(1, 3, 40, 60)
    grid = torch.nn.functional.affine_grid(theta, [1, 3, 40, 60], align_corners=False)
    y = torch.nn.functional.grid_sample(x, grid, align_corners=False)
    assert torch.allclose(x, y, atol=1e-5)


def test_augmentation_strength_scales_the_warps():
    """Strength 0 leaves only flips (each warp is the identity or a mirror); strength 2 draws
    zooms, rotations and shifts beyond the default's ranges."""
    from ivos_core.video.finetune import FinetuneConfig

    assert FinetuneConfig.scaled(1.0) == FinetuneConfig()
    strong = FinetuneConfig.scaled(2.0)
    assert strong.scale == pytest.approx((0.6, 1.4)) and strong.rotation_deg == 20 and strong.translation == pytest.approx(0.1)
    with pytest.raises(ValueError, match="strength"):
        FinetuneConfig.scaled(5)
    flips = _random_affine(np.random.default_rng(0), 64, (40, 60), (40, 60), FinetuneConfig.scaled(0.0)).numpy()
    assert np.allclose(np.abs(flips[:, 0, 0]), 1) and np.allclose(flips[:, 1, 1], 1)
    assert np.allclose(flips[:, :, 2], 0) and np.allclose(flips[:, 0, 1], 0)
    assert (flips[:, 0, 0] < 0).any() and (flips[:, 0, 0] > 0).any()

    def spread(cfg):  # how far the warps reach: linear part's deviation from a flip, plus the shift
        m = _random_affine(np.random.default_rng(1), 256, (40, 60), (40, 60), cfg).numpy()
        lin = m[:, :, :2].copy()
        lin[:, 0, :] *= np.sign(lin[:, 0, 0:1])
        return float(np.abs(lin - np.eye(2)).mean() + np.abs(m[:, :, 2]).mean())

    assert spread(FinetuneConfig.scaled(2.0)) > 1.5 * spread(FinetuneConfig()) > 0


def test_finetune_aug_option_reaches_finetune_and_keeps_old_hashes():
    from dataclasses import replace

    from ivos_core.video.finetune import FinetuneConfig
    from ivos_core.video_prior import DEFAULT_OSVOS_OPTIONS, OSVOSOptions

    # at its neutral value the field is left out of to_dict: records, caches and model versions
    # hashed before it existed stay valid
    neutral = replace(DEFAULT_OSVOS_OPTIONS, finetune_aug=1.0)
    assert "finetune_aug" not in neutral.to_dict() and "augment" not in neutral.finetune_kwargs()
    assert DEFAULT_OSVOS_OPTIONS.finetune_kwargs()["augment"] == FinetuneConfig.scaled(0.5)  # round 8's dev choice
    assert OSVOSOptions.from_dict(neutral.to_dict()) == neutral  # a complete dict without it: the neutral value
    assert OSVOSOptions.from_dict({"mask_threshold": 0.7}).finetune_aug == DEFAULT_OSVOS_OPTIONS.finetune_aug  # partial: the base's
    strong = replace(DEFAULT_OSVOS_OPTIONS, finetune_aug=2.0)
    assert strong.to_dict()["finetune_aug"] == 2.0 and "aug2" in strong.label()
    assert strong.finetune_kwargs()["augment"] == FinetuneConfig.scaled(2.0)
    assert OSVOSOptions.from_dict(strong.to_dict()) == strong
    assert OSVOSOptions.from_dict(DEFAULT_OSVOS_OPTIONS.to_dict()) == DEFAULT_OSVOS_OPTIONS
    with pytest.raises(ValueError, match="finetune_aug"):
        OSVOSOptions(finetune_aug=-1)


def test_finetune_first_frame_propagates_on_synthetic_video():
    # Measured on this CPU: mean IoU 0.85-0.87 over seeds 0-2 after 100 steps from scratch
    frames, masks = moving_object_video(seed=0)
    torch.manual_seed(0)
    model = build_osvos("lite")
    before = float(np.mean([iou(p > 0.5, g) for p, g in zip(_probs(model.eval(), frames[1:]), masks[1:])]))
    finetune(model, frames[:1], masks[:1], steps=100, device="cpu", seed=0)
    assert not model.training
    probs = _probs(model, frames[1:])
    ious = [iou(p > 0.5, g) for p, g in zip(probs, masks[1:])]
    assert np.mean(ious) > 0.7, ious
    assert np.mean(ious) > before + 0.3


def test_finetune_errors():
    frames, masks = moving_object_video(seed=0, n_frames=1)
    m = build_osvos("lite")
    with pytest.raises(ValueError, match="every annotated mask is empty"):
        finetune(m, frames, np.zeros_like(masks), steps=1, device="cpu")
    with pytest.raises(ValueError, match="at least one"):
        finetune(m, [], [], steps=1, device="cpu")
    with pytest.raises(ValueError, match="mask 0 has shape"):
        finetune(m, frames, masks[:, :10], steps=1, device="cpu")


# ---- parent training + checkpoints ----------------------------------------------------------------


def test_train_parent_resumes_from_checkpoint(tmp_path):
    seqs = []
    for s in range(2):
        f, m = moving_object_video(seed=10 + s, n_frames=4)
        seqs.append(ArraySequence(f"synthetic-{s}", f, m))
    cfg = OSVOSTrainConfig(model="lite", steps=4, batch_size=2, crop=48, checkpoint_every=2, device="cpu")
    seen = []
    full = train_parent(cfg, seqs, tmp_path / "a", resume=False, progress=lambda p: seen.append(p.step))
    assert seen == [1, 2, 3, 4] and full.steps == 4 and not full.resumed
    assert (tmp_path / "a" / "parent.safetensors").is_file() and (tmp_path / "a" / "parent.json").is_file()

    # a run interrupted after step 2 and resumed gives the same weights as the uninterrupted one
    class Stop(Exception):
        pass

    def stop_at_2(p):
        if p.step == 2:
            raise Stop

    with pytest.raises(Stop):
        train_parent(cfg, seqs, tmp_path / "c", resume=False, progress=stop_at_2)
    resumed = train_parent(cfg, seqs, tmp_path / "c", resume=True)
    assert resumed.start_step == 2 and resumed.steps == 2 and resumed.resumed
    a = load_parent(tmp_path / "a" / "parent")
    c = load_parent(tmp_path / "c" / "parent")
    for k, v in a.state_dict().items():
        assert torch.allclose(v.float(), c.state_dict()[k].float(), atol=1e-5), k


def test_load_parent_rejects_other_kinds(tmp_path):
    from ivos_core.checkpoints import CheckpointError, save_checkpoint

    m = build_osvos("lite")
    save_checkpoint(tmp_path / "x", m, {"kind": "interactive", "model": "lite"})
    with pytest.raises(CheckpointError, match="kind 'osvos'"):
        load_parent(tmp_path / "x")


def test_load_parent_rejects_mismatched_weights(tmp_path):
    from ivos_core.checkpoints import CheckpointError, save_checkpoint

    save_checkpoint(tmp_path / "y", build_osvos("lite"), {"kind": "osvos", "model": "paper"})
    with pytest.raises(CheckpointError, match="do not fit model 'paper'"):
        load_parent(tmp_path / "y")
    save_checkpoint(tmp_path / "z", build_osvos("lite"), {"kind": "osvos", "model": "resnet"})
    with pytest.raises(CheckpointError, match="'resnet'"):
        load_parent(tmp_path / "z")


def test_parent_training_sequences_hold_out_dev_and_add_train_stills(tmp_path):
    import numpy as np
    from PIL import Image

    from ivos_core.data.synthetic import write_synthetic_video
    from ivos_core.training.osvos_parent import StaticImageSequence, parent_training_sequences

    davis = tmp_path / "DAVIS"
    for name in ("hockey", "bear"):
        write_synthetic_video(davis, name, n_frames=3, seed=1, height=32, width=48, split="train")
    coco = tmp_path / "COCO_MVal"
    (coco / "img").mkdir(parents=True)
    (coco / "gt").mkdir()
    for sid in ("cat1_1", "dog1_2", "cat2_3"):
        Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(coco / "img" / f"{sid}.jpg")
        m = np.zeros((20, 30), np.uint8)
        m[5:15, 5:20] = 255
        Image.fromarray(m).save(coco / "gt" / f"{sid}.png")
    (coco / "train.txt").write_text("cat1_1\ndog1_2\n")
    (coco / "dev.txt").write_text("cat2_3\n")

    seqs = parent_training_sequences(davis, stills_root=coco, holdout=("hockey",))
    videos = [s for s in seqs if not isinstance(s, StaticImageSequence)]
    stills = [s for s in seqs if isinstance(s, StaticImageSequence)]
    assert [s.name for s in videos] == ["bear"]  # the dev sequence is held out
    assert len(stills) == 2  # train.txt only, never dev.txt
    assert len(stills[0]) == 1 and stills[0].frame(0).shape == (20, 30, 3) and stills[0].mask(0).sum() == 150


def test_parent_warm_restart_and_snapshots(tmp_path):
    f, m = moving_object_video(seed=3, n_frames=4)
    seqs = [ArraySequence("synthetic", f, m)]
    cfg = OSVOSTrainConfig(model="lite", steps=2, batch_size=2, crop=48, checkpoint_every=1, device="cpu")
    train_parent(cfg, seqs, tmp_path / "a", resume=False)
    first = load_parent(tmp_path / "a" / "parent")
    warm = OSVOSTrainConfig(model="lite", steps=2, batch_size=2, crop=48, checkpoint_every=1, device="cpu",
                            lr=1e-12, pretrained=str(tmp_path / "a" / "parent.safetensors"), keep_snapshots=True)
    train_parent(warm, seqs, tmp_path / "b", resume=False)
    assert (tmp_path / "b" / "snapshots" / "step000001.safetensors").is_file()
    second = load_parent(tmp_path / "b" / "parent")
    for k, v in first.state_dict().items():
        if v.is_floating_point() and "running" not in k:
            assert torch.allclose(second.state_dict()[k], v, atol=1e-6), k


def test_loaded_parents_hold_no_denormal_weights():
    from ivos_core.training.osvos_parent import _zero_denormals

    m = build_osvos("lite")
    w = next(p for p in m.parameters() if p.ndim == 4)
    with torch.no_grad():
        w.view(-1)[:3] = torch.tensor([1, -2147483392, 0x3F000000], dtype=torch.int32).view(torch.float32)  # 2 denormals, 0.5
    assert _zero_denormals(m) == 2 and float(w.view(-1)[2]) == 0.5 and not w.view(-1)[:2].any()
