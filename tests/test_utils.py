"""The one copy of each small helper (ivos_core.utils): atomic writes, devices, image coercion."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch

from ivos_core.utils import as_rgb_uint8, atomic_write, file_sha256, resolve_device


def test_atomic_write_replaces_whole_files_with_the_usual_permissions(tmp_path):
    target = tmp_path / "sub" / "summary.json"
    assert atomic_write(target, "one") == target and target.read_text() == "one"
    atomic_write(target, b"two")
    assert target.read_text() == "two"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # as open() would, not mkstemp's 0o600
    seen = []
    atomic_write(tmp_path / "fig.png", lambda t: seen.append(t.name) or t.write_bytes(b"png"))
    assert seen[0].startswith(".fig.png.") and seen[0].endswith(".tmp.png")  # writers see the suffix
    with pytest.raises(ZeroDivisionError):
        atomic_write(target, lambda t: t.write_text("half") and 1 / 0)
    assert target.read_text() == "two" and sorted(p.name for p in target.parent.iterdir()) == ["summary.json"]
    assert file_sha256(target) == file_sha256(tmp_path / "sub" / "summary.json")


def test_resolve_device_accepts_torch_devices_and_names_the_choices():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    assert resolve_device("mps") == torch.device("mps")  # what the segmenter's own copy accepted
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="'cpu', 'cuda', 'cuda:N' or 'auto'"):
        resolve_device("gpu")


def test_as_rgb_uint8_is_strict_and_converts_grey_and_rgba():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert as_rgb_uint8(grey).shape == (3, 4, 3) and (as_rgb_uint8(grey)[..., 2] == grey).all()
    rgba = np.zeros((3, 4, 4), np.uint8)
    out = as_rgb_uint8(rgba)
    assert out.shape == (3, 4, 3) and out.flags.c_contiguous
    with pytest.raises(TypeError, match="uint8"):
        as_rgb_uint8(grey.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        as_rgb_uint8(np.zeros((3, 4, 2), np.uint8))


def test_flush_denormals_zeroes_denormal_arithmetic():
    import torch

    from ivos_core.utils import flush_denormals

    tiny = torch.tensor([1e-39], dtype=torch.float32)  # below float32's smallest normal (1.18e-38)
    if not flush_denormals():
        pytest.skip("this CPU does not support flushing denormals")
    assert float(tiny * 1.0) == 0.0
