"""Interactive network registry: shapes, zero-initialised extra channels, pretrained loading."""

from __future__ import annotations

import pickle

import pytest
import torch
import torch.nn as nn

from ivos_core.models import (
    PaperNet,
    PretrainedWeightsError,
    build_interactive,
    list_models,
    load_pretrained,
    resolve_name,
)
from ivos_core.models.interactive import read_state_file


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: tiny tensors, and two spinning threads crawl on a busy 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def paper_model() -> PaperNet:
    torch.manual_seed(0)
    return build_interactive("paper").eval()


def test_registry_lists_names_and_aliases():
    names = list_models()
    assert {"paper", "lite", "ifcn", "lite-ifcn"} <= set(names)
    assert resolve_name("ifcn") == ("paper", "distance")
    assert resolve_name("lite-ifcn") == ("lite", "distance")
    assert resolve_name("lite", "distance") == ("lite", "distance")
    with pytest.raises(ValueError, match="alias 'ifcn'"):
        resolve_name("ifcn", "gaussian")
    with pytest.raises(ValueError, match="unknown interactive model 'nope'"):
        build_interactive("nope")
    with pytest.raises(ValueError, match="encoding"):
        build_interactive("lite", encoding="dots")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name,encoding,use_mask,channels",
    [
        ("lite", "gaussian", True, 5),
        ("lite", "distance", True, 6),
        ("lite", "gaussian", False, 4),
        ("lite-ifcn", None, False, 5),
    ],
)
def test_lite_shapes(name, encoding, use_mask, channels):
    m = build_interactive(name, encoding=encoding, use_mask=use_mask).eval()
    assert m.spec.in_channels == channels
    with torch.inference_mode():
        y = m(torch.randn(2, channels, 64, 96))
    assert y.shape == (2, 1, 64, 96)
    assert torch.isfinite(y).all()
    n_params = sum(p.numel() for p in m.parameters())
    assert 1e6 < n_params < 4e6


def test_paper_shape_and_zero_init_extra_channels(paper_model):
    m = paper_model
    assert m.spec.in_channels == 5
    assert torch.count_nonzero(m.backbone.conv1.weight[:, 3:]) == 0
    rgb = torch.randn(1, 3, 64, 64)
    extra = torch.randn(1, 2, 64, 64) * 5
    wide = m.backbone.conv1
    with torch.inference_mode():
        y = m(torch.cat([rgb, extra], 1))
        # the base RGB network: same weights, a 3-channel first conv
        conv = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        conv.weight.data.copy_(wide.weight.data[:, :3])
        m.backbone.conv1 = conv
        try:
            y_base = m(rgb)
        finally:
            m.backbone.conv1 = wide
    assert y.shape == (1, 1, 64, 64)
    torch.testing.assert_close(y, y_base, rtol=1e-4, atol=1e-4)


def test_paper_loads_local_resnet_weights(tmp_path, paper_model):
    from safetensors.torch import save_file

    # a torchvision-ResNet state dict (RGB conv1) as DeepLabV3 stores it: "backbone." prefix
    ref = {k[len("backbone."):]: v.clone() for k, v in paper_model.state_dict().items() if k.startswith("backbone.")}
    ref["conv1.weight"] = torch.randn(64, 3, 7, 7)
    pt = tmp_path / "deeplab_backbone.pt"
    torch.save({"backbone." + k: v for k, v in ref.items()}, pt)
    m = build_interactive("ifcn", use_mask=True, pretrained=pt)  # distance: 6 channels
    w = m.backbone.conv1.weight
    assert w.shape == (64, 6, 7, 7)
    torch.testing.assert_close(w[:, :3], ref["conv1.weight"])
    assert torch.count_nonzero(w[:, 3:]) == 0
    torch.testing.assert_close(m.backbone.layer4[2].conv3.weight, ref["layer4.2.conv3.weight"])
    del m

    # a whole PaperNet state dict in safetensors
    st = tmp_path / "paper.safetensors"
    save_file({k: v.contiguous() for k, v in paper_model.state_dict().items()}, str(st))
    m2 = build_interactive("paper", pretrained=st)
    torch.testing.assert_close(m2.head.classifier.weight, paper_model.head.classifier.weight)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pretrained_file_errors_and_pickle_refusal(tmp_path, paper_model):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"conv1.weight": _Evil(marker)}))
    with pytest.raises(PretrainedWeightsError, match="weights_only"):
        read_state_file(evil)
    assert not marker.exists()
    fake = tmp_path / "evil.safetensors"
    fake.write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(PretrainedWeightsError, match="not a valid safetensors"):
        read_state_file(fake)
    assert not marker.exists()
    with pytest.raises(PretrainedWeightsError, match="does not exist"):
        read_state_file(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    torch.save({"foo.weight": torch.zeros(2)}, other)
    with pytest.raises(PretrainedWeightsError, match="expected a ResNet state dict"):
        load_pretrained(paper_model, other)
    with pytest.raises(ValueError, match="only available for the 'paper'"):
        build_interactive("lite", pretrained="imagenet")


def test_hub_weights_never_downloaded(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    for name in ("imagenet", "deeplabv3-coco"):
        with pytest.raises(PretrainedWeightsError, match="no internet"):
            build_interactive("paper", pretrained=name)
