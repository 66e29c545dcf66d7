"""Test/development roles and the selection guard: choosing on a test set is refused."""

from __future__ import annotations

import json

import pytest

from ivos_core.selection import choose_best, load_run, main, record_stage
from ivos_core import splits
from ivos_core.splits import require_development, role_of

_TestSetError = splits.TestSetError  # not bound as Test*: pytest would try to collect it


@pytest.mark.parametrize(
    "dataset, split, role",
    [
        ("grabcut", None, "test"),
        ("GrabCut", "dev", "test"),  # GrabCut is a test set whatever the split says
        ("davis", "val", "test"),
        ("davis", None, "test"),
        ("davis", "train", "training"),
        ("davis", "hockey", "development"),
        ("davis", "video_dev", "development"),
        ("coco_mval", "dev", "development"),
        ("coco-mval", "DEV", "development"),
        ("coco_mval", "train", "training"),
        ("coco_mval", None, "test"),  # unknown split: fail closed
        ("bsds", "train", "training"),
        ("somethingnew", "dev", "test"),
    ],
)
def test_role_of(dataset, split, role):
    assert role_of(dataset, split) == role


def test_require_development():
    require_development("coco_mval", "dev")
    require_development("davis", "lucia")
    for ds, sp in (("grabcut", None), ("davis", "val"), ("coco_mval", "train")):
        with pytest.raises(_TestSetError, match="development set") as e:
            require_development(ds, sp, what="choosing the CRF weights")
        assert "choosing the CRF weights" in str(e.value) and "COCO_MVal dev.txt" in str(e.value)


def _summary(tmp_path, name, dataset, split, noc90, noc85, n=100, method="ours+crf", checkpoint=None):
    d = tmp_path / name
    d.mkdir()
    doc = {"dataset": dataset, "split": split, "role": role_of(dataset, split), "method": method, "n": n,
           "max_clicks": 20, "noc": {"0.85": noc85, "0.9": noc90}, "miou_at": {"1": 0.5},
           "checkpoint": checkpoint, "command": "ivos eval interactive ..."}
    (d / "summary.json").write_text(json.dumps(doc))
    return d


def test_chooser_picks_lowest_noc90_ties_noc85(tmp_path):
    runs = [
        _summary(tmp_path, "a", "coco_mval", "dev", 9.0, 7.0, checkpoint="ck/a"),
        _summary(tmp_path, "b", "coco_mval", "dev", 8.0, 7.5, checkpoint="ck/b"),
        _summary(tmp_path, "c", "coco_mval", "dev", 8.0, 7.2, checkpoint="ck/c"),
    ]
    best = choose_best([load_run(r) for r in runs])
    assert best["checkpoint"] == "ck/c"


def test_chooser_refuses_grabcut_and_davis_val(tmp_path, capsys):
    dev = _summary(tmp_path, "dev", "coco_mval", "dev", 5.0, 4.0)
    gc = _summary(tmp_path, "gc", "grabcut", None, 4.0, 3.0)
    dv = _summary(tmp_path, "dv", "davis", "val", 4.0, 3.0)
    with pytest.raises(_TestSetError, match="grabcut is a test set"):
        choose_best([load_run(dev), load_run(gc)])
    with pytest.raises(_TestSetError, match="davis/val is a test set"):
        choose_best([load_run(dv)])
    # the command line the scripts use: exit 2 with the reason, nothing chosen, nothing recorded
    record = tmp_path / "sel.json"
    assert main(["choose", "--record", str(record), str(gc)]) == 2
    assert "refused" in capsys.readouterr().err and not record.exists()
    assert main(["guard", "grabcut"]) == 2 and main(["guard", "davis", "val"]) == 2
    assert main(["guard", "coco_mval", "dev"]) == 0


def test_chooser_refuses_a_summary_without_split(tmp_path):
    old = _summary(tmp_path, "old", "coco_mval", None, 5.0, 4.0)  # a run from before splits were recorded
    with pytest.raises(_TestSetError):
        choose_best([load_run(old)])


def test_chooser_refuses_runs_on_different_items(tmp_path):
    a = _summary(tmp_path, "a", "coco_mval", "dev", 5.0, 4.0, n=100)
    b = _summary(tmp_path, "b", "coco_mval", "dev", 4.0, 3.0, n=50)
    with pytest.raises(ValueError, match="same items"):
        choose_best([load_run(a), load_run(b)])


def test_record_and_cli_print_the_choice(tmp_path, capsys):
    runs = [
        _summary(tmp_path, "colour0", "coco_mval", "dev", 6.0, 5.0, method="ours+crf"),
        _summary(tmp_path, "colour0.5", "coco_mval", "dev", 5.5, 5.0, method="ours+colour0.5+cc+crf"),
    ]
    record = tmp_path / "docs" / "sel.json"
    assert main(["choose", "--stage", "colour", "--record", str(record), "--field", "colour", *map(str, runs)]) == 0
    assert capsys.readouterr().out.strip() == "0.5"
    doc = json.loads(record.read_text())
    assert doc["chosen"]["colour"]["colour"] == 0.5 and len(doc["stages"]["colour"]["runs"]) == 2
    assert {r["noc@90"] for r in doc["stages"]["colour"]["runs"]} == {6.0, 5.5}
    record_stage(record, "checkpoint", [load_run(runs[0])], load_run(runs[0]))
    doc = json.loads(record.read_text())
    assert set(doc["stages"]) == {"colour", "checkpoint"}
    zoom = _summary(tmp_path, "zoom", "coco_mval", "dev", 5.0, 4.5, method="ours+zoom+colour1+cc+crf+grabcut0.05")
    assert main(["choose", "--stage", "inference", "--record", str(record), "--field", "method", str(zoom)]) == 0
    chosen = json.loads(record.read_text())["chosen"]["inference"]
    assert (chosen["zoom_in"], chosen["flip_tta"], chosen["grabcut_band"]) == (True, False, 0.05)
    assert chosen["input_size"] is None
    big = _summary(tmp_path, "in480", "coco_mval", "dev", 4.0, 4.0, method="ours+in480+flip+colour1+cc+crf+grabcut0.05")
    assert main(["choose", "--stage", "input", "--record", str(record), "--field", "method", str(big)]) == 0
    chosen = json.loads(record.read_text())["chosen"]["input"]
    assert (chosen["input_size"], chosen["flip_tta"], chosen["colour"]) == (480, True, 1.0)


def test_cli_select_flag_refuses_test_sets(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    for args in (["--dataset", "grabcut"], ["--dataset", "davis", "--split", "val"],
                 ["--dataset", "coco_mval", "--split", "train"]):
        res = CliRunner().invoke(app, ["eval", "interactive", *args, "--root", str(tmp_path), "--select"])
        assert res.exit_code == 2, res.output
        assert "refused" in res.output and "development set" in res.output
