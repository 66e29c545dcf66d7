"""The NoC protocol loop: oracle methods give known numbers; broken samples are skipped and counted."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ivos_core.evaluation import evaluate_interactive, evaluate_sample, write_eval_outputs


def disk(h=60, w=80, cy=30, cx=40, r=15):
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


class Oracle:
    """Returns the ground truth: NoC of a perfect method is 1."""

    name = "oracle"

    def __init__(self, gts):
        self.gts = gts
        self.gt = None

    def set_image(self, image):
        self.gt = self.gts[image[0, 0, 0]]

    def predict(self, inputs, prev_mask):
        return self.gt.copy()


class Painter:
    """Adds a disk of radius 6 per positive click, removes one per negative: needs several clicks."""

    name = "painter"

    def set_image(self, image):
        self.shape = image.shape[:2]

    def predict(self, inputs, prev_mask):
        out = np.zeros(self.shape, bool) if prev_mask is None else prev_mask.copy()
        c = inputs[-1]
        d = disk(*self.shape, int(c.y), int(c.x), 6)
        out[d] = c.positive
        return out


class FakeDataset:
    def __init__(self, n_good=3, broken=("bad",)):
        from ivos_core.data import Sample

        self.samples = {}
        for i in range(n_good):
            img = np.full((60, 80, 3), i, np.uint8)
            self.samples[f"s{i}"] = Sample(
                sample_id=f"s{i}", image=img, mask=disk(r=10 + 3 * i), ignore=None, source=f"/x/s{i}.png", meta={}
            )
        self.broken = list(broken)

    def ids(self):
        return list(self.samples) + self.broken

    def load(self, sid):
        from ivos_core.data import SampleError

        if sid in self.broken:
            raise SampleError(f"/x/{sid}.png", "truncated JPEG")
        return self.samples[sid]


def test_perfect_oracle_needs_one_click():
    ds = FakeDataset()
    gts = {i: ds.samples[f"s{i}"].mask for i in range(3)}
    res = evaluate_interactive(ds, Oracle(gts), dataset_name="fake")
    s = res.summary()
    assert s["n"] == 3 and s["n_skipped"] == 1
    assert s["noc"] == {"0.85": 1.0, "0.9": 1.0}
    assert s["n_failed"] == {"0.85": 0, "0.9": 0}
    assert s["miou_at"]["1"] == 1.0 and s["miou_at"]["20"] == 1.0
    assert s["skipped"][0] == {"item": "/x/bad.png", "reason": "truncated JPEG"}
    # the robot stops once nothing is left to fix: one click per image
    assert all(len(smp.clicks) == 1 and smp.stopped_early for smp in res.samples)


def test_first_click_is_disk_centre_and_curve_is_monotone():
    gt = disk()
    r = evaluate_sample(Painter(), np.zeros((60, 80, 3), np.uint8), gt, max_clicks=20)
    assert r.clicks[0] == (40, 30, True)
    assert r.ious[0] == pytest.approx((disk(r=6)).sum() / gt.sum(), rel=1e-6)
    assert np.all(np.diff(r.ious[:5]) >= -1e-9)


def test_cap_counts_for_failures():
    class Nothing:
        name = "nothing"

        def set_image(self, image):
            self.shape = image.shape[:2]

        def predict(self, inputs, prev_mask):
            return np.zeros(self.shape, bool)

    ds = FakeDataset(n_good=2, broken=())
    res = evaluate_interactive(ds, Nothing(), max_clicks=5)
    s = res.summary()
    assert s["noc"]["0.9"] == 5.0 and s["n_failed"]["0.9"] == 2
    assert s["miou_at"]["5"] == 0.0


def test_method_returning_wrong_shape_is_a_failed_item_not_fatal():
    class Wrong:
        name = "wrong"

        def set_image(self, image):
            pass

        def predict(self, inputs, prev_mask):
            return np.zeros((3, 3), bool)

    res = evaluate_interactive(FakeDataset(n_good=2, broken=()), Wrong(), max_clicks=7)
    s = res.summary()
    assert s["n"] == 2 and s["n_skipped"] == 0 and s["n_failed_items"] == 2
    assert s["noc"] == {"0.85": 7.0, "0.9": 7.0}
    assert "shape" in s["failed_items"][0]["error"]


class RaisesOn:
    """Painter that raises on one image (picked by its fill value) at a given click."""

    name = "raises-on"

    def __init__(self, bad_value, at_click=2):
        self.bad_value, self.at_click = bad_value, at_click
        self.painter = Painter()

    def set_image(self, image):
        self.bad = image[0, 0, 0] == self.bad_value
        self.painter.set_image(image)

    def predict(self, inputs, prev_mask):
        if self.bad and len(inputs) >= self.at_click:
            raise RuntimeError("out of memory on this one")
        return self.painter.predict(inputs, prev_mask)


def test_failed_image_counts_at_the_cap_and_is_listed(tmp_path):
    ds = FakeDataset(n_good=3, broken=())
    cap = 10
    ok = evaluate_interactive(ds, Painter(), max_clicks=cap)
    res = evaluate_interactive(ds, RaisesOn(bad_value=1), max_clicks=cap, dataset_name="fake")
    s = res.summary()
    # the failing image stays in the mean (n = 3) at the cap, IoU 0 after every click
    assert s["n"] == 3 and s["n_skipped"] == 0 and s["n_failed_items"] == 1
    fi = s["failed_items"][0]
    assert fi["item"] == "s1" and "RuntimeError" in fi["error"] and "out of memory" in fi["error"]
    assert fi["clicks_done"] == 1  # the first click worked, the second raised
    per_ok = {r["item"]: r["noc@90"] for r in ok.rows()}
    per = {r["item"]: r["noc@90"] for r in res.rows()}
    assert per["s1"] == cap and per["s0"] == per_ok["s0"] and per["s2"] == per_ok["s2"]
    assert s["noc"]["0.9"] == pytest.approx(np.mean([per_ok["s0"], cap, per_ok["s2"]]))
    ok_curve = ok.summary()["miou_at"]
    assert s["miou_at"]["1"] == pytest.approx(
        (ok.samples[0].ious[0] + 0.0 + ok.samples[2].ious[0]) / 3, abs=1e-4
    )
    assert s["miou_at"]["1"] < ok_curve["1"]
    # and the files say so
    paths = write_eval_outputs(res, tmp_path)
    written = json.loads(paths["summary"].read_text())
    assert written["failed_items"] == s["failed_items"]
    df = pd.read_parquet(paths["per_image"])
    assert df.set_index("item").loc["s1", "failed"] and df.set_index("item").loc["s1", "noc@90"] == cap


def test_set_image_raising_is_a_failed_item():
    class Broken(Painter):
        name = "broken"

        def set_image(self, image):
            raise OSError("weights missing")

    s = evaluate_interactive(FakeDataset(n_good=2, broken=()), Broken(), max_clicks=4).summary()
    assert s["n"] == 2 and s["n_failed_items"] == 2 and s["noc"]["0.9"] == 4.0
    assert "set_image" in s["failed_items"][0]["error"] and s["failed_items"][0]["clicks_done"] == 0


def test_summary_records_dataset_split_role_and_command(tmp_path):
    from ivos_core.evaluation import evaluate_sample as _  # noqa: F401 (import check)

    ds = FakeDataset(n_good=1, broken=())
    ds.split = "dev"
    s = evaluate_interactive(ds, Painter(), dataset_name="coco_mval", max_clicks=3, command="ivos eval x").summary()
    assert (s["dataset"], s["split"], s["role"], s["command"]) == ("coco_mval", "dev", "development", "ivos eval x")
    assert s["parameters"]["max_clicks"] == 3 and s["parameters"]["method"] == "painter"
    s = evaluate_interactive(FakeDataset(n_good=1, broken=()), Painter(), dataset_name="grabcut", max_clicks=3).summary()
    assert s["split"] is None and s["role"] == "test" and s["command"]  # sys.argv by default
    s = evaluate_interactive(ds, Painter(), dataset_name="coco_mval", split="train", max_clicks=3).summary()
    assert s["split"] == "train" and s["role"] == "training"


def test_outputs_written(tmp_path):
    ds = FakeDataset()
    res = evaluate_interactive(ds, Painter(), dataset_name="fake", max_clicks=8)
    paths = write_eval_outputs(res, tmp_path)
    summary = json.loads(paths["summary"].read_text())
    for key in ("dataset", "method", "n", "noc", "n_failed", "miou_at", "seconds_per_click"):
        assert key in summary
    assert set(summary["miou_at"]) == {str(k) for k in range(1, 9)}
    df = pd.read_parquet(paths["per_image"])
    assert len(df) == 3 and list(df["ious"].iloc[0])[0] > 0
    assert paths["figure"].stat().st_size > 5000


def test_empty_object_mask_is_skipped_with_reason():
    ds = FakeDataset(n_good=2, broken=())
    ds.samples["s1"].mask[:] = False
    res = evaluate_interactive(ds, Painter(), max_clicks=3)
    s = res.summary()
    assert s["n"] == 1 and s["n_skipped"] == 1
    assert "empty object mask" in s["skipped"][0]["reason"]


def test_cli_compare_two_runs(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    ds = FakeDataset()
    for name in ("a", "b"):
        write_eval_outputs(evaluate_interactive(ds, Painter(), dataset_name="fake", max_clicks=5), tmp_path / name)
    out = tmp_path / "cmp.png"
    res = CliRunner().invoke(app, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b" / "summary.json"),
                                   "--label", "first", "--label", "second", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 5000 and "first" in res.output and "second" in res.output
    bad = CliRunner().invoke(app, ["eval", "compare", str(tmp_path / "missing"), "--out", str(out)])
    import re

    assert bad.exit_code != 0 and "no summary.json" in re.sub(r"[│╭╮╰╯─\s]+", " ", bad.output)
