"""Checkpoints: safetensors + JSON round trip, resume state, clear errors, pickles refused."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from ivos_core.checkpoints import (
    CheckpointError,
    CheckpointPaths,
    load_checkpoint,
    load_model,
    load_train_state,
    read_config,
    save_checkpoint,
)
from ivos_core.models import build_interactive


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def lite():
    torch.manual_seed(0)
    return build_interactive("lite", encoding="distance", use_mask=False).eval()


def test_round_trip(tmp_path, lite):
    paths = save_checkpoint(tmp_path / "ck" / "m", lite, {"input_size": 384, "note": "x"}, step=7)
    assert paths.weights.name == "m.safetensors" and paths.config.name == "m.json"
    doc = read_config(tmp_path / "ck" / "m.safetensors")  # any suffix works
    for key in ("kind", "model", "encoding", "use_mask", "ivos_version", "step", "created_at", "weights_sha256"):
        assert key in doc
    assert (doc["kind"], doc["model"], doc["encoding"], doc["use_mask"], doc["step"]) == ("interactive", "lite", "distance", False, 7)
    assert doc["config"] == {"input_size": 384, "note": "x"}
    model, doc2 = load_model(tmp_path / "ck" / "m")
    assert model.spec == lite.spec
    for k, v in lite.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v)
    assert not paths.state.exists()


def test_kind_model_and_missing_errors(tmp_path, lite):
    save_checkpoint(tmp_path / "m", lite, {})
    with pytest.raises(CheckpointError, match="expected a checkpoint of kind 'osvos', found kind 'interactive'"):
        load_checkpoint(tmp_path / "m", expected_kind="osvos")
    with pytest.raises(CheckpointError, match="expected model 'paper', found model 'lite'"):
        load_model(tmp_path / "m", expected_model="paper")
    (tmp_path / "m.json").unlink()
    with pytest.raises(CheckpointError, match="config is missing"):
        load_model(tmp_path / "m")
    with pytest.raises(CheckpointError, match="found nothing"):
        load_model(tmp_path / "nothing")
    with pytest.raises(ValueError, match="must give"):
        save_checkpoint(tmp_path / "plain", torch.nn.Linear(2, 2), {})


def test_corrupt_and_mismatched_files(tmp_path, lite):
    paths = save_checkpoint(tmp_path / "m", lite, {})
    data = paths.weights.read_bytes()
    paths.weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(tmp_path / "m")
    paths.weights.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="corrupt or not a safetensors"):
        load_model(tmp_path / "m")
    paths.config.write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(tmp_path / "m")
    # weights of another configuration under a config that says otherwise
    save_checkpoint(tmp_path / "g", lite, {})
    doc = json.loads((tmp_path / "g.json").read_text())
    doc["encoding"] = "gaussian"
    (tmp_path / "g.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="do not fit model 'lite'"):
        load_model(tmp_path / "g")
    # a checksum mismatch: weights swapped after saving
    save_checkpoint(tmp_path / "a", lite, {}, step=1)
    other = build_interactive("lite", encoding="distance", use_mask=False)
    save_checkpoint(tmp_path / "b", other, {}, step=1)
    (tmp_path / "a.safetensors").write_bytes((tmp_path / "b.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(tmp_path / "a", expected_kind="interactive")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickle_disguised_as_checkpoint_is_refused(tmp_path, lite):
    marker = tmp_path / "pwned"
    save_checkpoint(tmp_path / "m", lite, {})
    paths = CheckpointPaths.of(tmp_path / "m")
    doc = json.loads(paths.config.read_text())
    doc.pop("weights_sha256")
    paths.config.write_text(json.dumps(doc))
    for payload in (pickle.dumps({"w": _Evil(marker)}, protocol=2), pickle.dumps(_Evil(marker), protocol=4)):
        paths.weights.write_bytes(payload)
        with pytest.raises(CheckpointError, match="pickle"):
            load_model(tmp_path / "m")
        assert not marker.exists()
    torch.save({"w": _Evil(marker)}, paths.weights)  # a torch.save zip
    with pytest.raises(CheckpointError, match="refusing"):
        load_model(tmp_path / "m")
    assert not marker.exists()


def test_train_state_round_trip(tmp_path, lite):
    model = build_interactive("lite", encoding="distance", use_mask=False)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 5, 64, 64)).mean().backward()
    opt.step()
    rng = torch.get_rng_state()
    save_checkpoint(tmp_path / "last", model, {}, step=1, optimizer_state=opt.state_dict(), rng_state=rng,
                    train_extra={"stage": 1})
    ts = load_train_state(tmp_path / "last")
    assert ts is not None and ts.extra == {"stage": 1}
    assert torch.equal(ts.rng_torch, rng)
    opt2 = torch.optim.AdamW(model.parameters(), lr=5.0)
    opt2.load_state_dict(ts.optimizer_state)
    assert opt2.param_groups[0]["lr"] == pytest.approx(1e-3)
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert s1.keys() == s2.keys()
    for i in s1:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            torch.testing.assert_close(s1[i][name], s2[i][name])
    assert load_train_state(save_checkpoint(tmp_path / "plain", model, {}).base) is None
