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


def test_batchnorm_recomputed_as_the_equal_mean_of_training_batches(tmp_path):
    """After the pass each BatchNorm's running mean is the mean of its per-batch means over the
    training batches (momentum None); weights are untouched; the model is back in eval mode."""
    from ivos_core.training import InteractiveTrainSet, SyntheticSource, lite
    from ivos_core.training.bn_update import BN_STEP_OFFSET, recompute_batchnorm
    from ivos_core.training.loop import _collate

    cfg = lite(crop_size=64, input_size=96, batch_size=2, stage1_steps=2, stage2_steps=2, out_dir=str(tmp_path), threads=1)
    model = _interactive(0, tracked=5)
    weights = {k: v.clone() for k, v in model.named_parameters()}
    first_bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen = []
    first_bn.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].mean(dim=(0, 2, 3)).detach().clone()))
    sources = [SyntheticSource(6, 96, 128)]
    n = recompute_batchnorm(model, cfg, sources, batches=3, stage=1)
    assert n == sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()) > 0
    assert len(seen) == 3 and not model.training and first_bn.momentum == 0.1
    torch.testing.assert_close(first_bn.running_mean, torch.stack(seen).mean(0), rtol=1e-4, atol=1e-5)
    assert int(first_bn.num_batches_tracked) == 3
    for k, v in model.named_parameters():
        assert torch.equal(v, weights[k]), k
    # the batches are the run's own kind of examples, at steps the run never drew
    ds = InteractiveTrainSet(sources, cfg, model.spec, stage=1)
    x = _collate([ds.example(BN_STEP_OFFSET, j) for j in range(2)]).inputs
    assert x.shape[0] == 2 and x.shape[-1] == 64
    with pytest.raises(ValueError, match="batches"):
        recompute_batchnorm(model, cfg, sources, batches=0)


def test_bn_update_cli_writes_a_checkpoint_that_says_so(tmp_path):
    from ivos_core.training import lite
    from ivos_core.training.bn_update import main as bn_main

    cfg = lite(crop_size=64, input_size=96, batch_size=2, stage1_steps=2, stage2_steps=2, out_dir=str(tmp_path), threads=1)
    save_checkpoint(tmp_path / "avg", _interactive(1, tracked=7), {"input_size": 96, "train": cfg.to_dict()}, step=2)
    (tmp_path / "data").mkdir()  # no dataset folders: the synthetic source alone
    assert bn_main([str(tmp_path / "avg"), str(tmp_path / "data"), str(tmp_path / "avg-bn"), "--batches", "2"]) == 0
    doc = read_config(tmp_path / "avg-bn")
    rec = doc["config"]["bn_recomputed"] if "config" in doc else doc["bn_recomputed"]
    assert rec["batches"] == 2 and rec["stage"] == 1 and rec["layers"] > 0
    m, _ = load_model(tmp_path / "avg-bn")
    assert all(int(b) == 2 for k, b in m.state_dict().items() if k.endswith("num_batches_tracked"))
    assert bn_main([str(tmp_path / "missing"), str(tmp_path / "data"), str(tmp_path / "x")]) == 2
