"""Checkpoint weight averaging: exact means, integer buffers from the last, refusals, CLI."""

from __future__ import annotations

import pytest
import torch

from ivos_core.checkpoints import CheckpointError, load_model, read_config, save_checkpoint
from ivos_core.models import build_interactive
from ivos_core.models.osvos import build_osvos
from ivos_core.training.averaging import average_checkpoints, average_state_dicts, main


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _interactive(seed: int, tracked: int):
    torch.manual_seed(seed)
    m = build_interactive("lite", encoding="gaussian", use_mask=True)
    for buf_name, buf in m.named_buffers():
        if buf_name.endswith("running_mean"):
            buf.normal_()
        if buf_name.endswith("num_batches_tracked"):
            buf.fill_(tracked)
    return m.eval()


def test_average_is_the_elementwise_mean_and_keeps_the_last_counters(tmp_path):
    models = [_interactive(s, tracked=10 * (s + 1)) for s in range(3)]
    for i, m in enumerate(models):
        save_checkpoint(tmp_path / f"s{i}", m, {"input_size": 384}, step=100 * (i + 1))
    paths = average_checkpoints([tmp_path / f"s{i}" for i in range(3)], tmp_path / "avg")
    avg, doc = load_model(paths.base)
    states = [m.state_dict() for m in models]
    for k, v in avg.state_dict().items():
        if v.is_floating_point():
            want = (states[0][k].double() + states[1][k].double() + states[2][k].double()) / 3
            torch.testing.assert_close(v, want.float())
        else:
            assert torch.equal(v, states[2][k]), k  # num_batches_tracked of the last snapshot
    # a non-trivial mean: differs from every source
    k = next(k for k, v in states[0].items() if v.is_floating_point() and v.numel() > 10)
    assert all(not torch.allclose(avg.state_dict()[k], s[k]) for s in states)
    assert doc["step"] == 300 and doc["config"]["input_size"] == 384
    assert [a["step"] for a in doc["config"]["averaged_from"]] == [100, 200, 300]
    assert (doc["encoding"], doc["use_mask"]) == ("gaussian", True)


def test_osvos_parents_average_and_mismatches_are_refused(tmp_path):
    for i in range(2):
        torch.manual_seed(i)
        save_checkpoint(tmp_path / f"p{i}", build_osvos("lite", imagenet=False), {"kind": "osvos", "model": "lite"}, step=i)
    paths = average_checkpoints([tmp_path / "p0", tmp_path / "p1"], tmp_path / "pavg", kind="osvos")
    assert read_config(paths.base)["kind"] == "osvos"
    save_checkpoint(tmp_path / "i0", _interactive(0, 1), {})
    with pytest.raises(CheckpointError, match="expected a checkpoint of kind 'osvos'"):
        average_checkpoints([tmp_path / "p0", tmp_path / "i0"], tmp_path / "bad", kind="osvos")
    with pytest.raises(ValueError, match="at least two"):
        average_checkpoints([tmp_path / "p0"], tmp_path / "bad", kind="osvos")
    a = {"w": torch.zeros(2)}
    with pytest.raises(CheckpointError, match="differs in shape"):
        average_state_dicts([a, {"w": torch.zeros(3)}])
    with pytest.raises(CheckpointError, match="different tensors"):
        average_state_dicts([a, {"v": torch.zeros(2)}])


def test_cli_reports_errors_with_exit_2(tmp_path, capsys):
    assert main([str(tmp_path / "out"), str(tmp_path / "missing0"), str(tmp_path / "missing1")]) == 2
    assert "found nothing" in capsys.readouterr().err
