"""Interchange: COCO RLE vs pycocotools, COCO / YouTube-VIS / DAVIS / CVAT / Label Studio out and in,
session logs seeded from an imported mask, bad input."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from ivos_core.export import write_mask_png
from ivos_core.interactions import load_session, parse_session, save_session
from ivos_core.interchange import InterchangeError, export_job, import_mask, read_job
from ivos_core.interchange.coco import decode_rle, encode_rle
from ivos_core.interchange.labelstudio import brush_decode, brush_encode, brush_to_mask, mask_to_brush
from ivos_core.interchange.sessions import mask_session, parse_click, video_ref

H, W, N = 24, 32, 3


def _label_maps() -> list[np.ndarray]:
    out = []
    for i in range(N):
        lab = np.zeros((H, W), np.uint8)
        lab[4 + i:14 + i, 3:12] = 1
        lab[10:20, 18 + i:28] = 2
        out.append(lab)
    out[2][:] = 0  # an empty frame
    out[2][5:8, 5:8] = 1
    return out


@pytest.fixture()
def job(tmp_path) -> Path:
    """A job folder as write_outputs leaves it (two objects, a frame folder video)."""
    vid = tmp_path / "data" / "clip"
    vid.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(N):
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(vid / f"{i:05d}.png")
    d = tmp_path / "jobs" / "m-1234" / "s1"
    for i, lab in enumerate(_label_maps()):
        write_mask_png(d / "masks" / f"{i:05d}.png", lab)
    (d / "results.json").write_text(json.dumps({
        "schema": "ivos-job-results/1", "session_id": "s1", "model_version": "m-1234",
        "video": {"uri": "clip", "path": str(vid), "n_frames": N, "width": W, "height": H},
    }))
    (d / "DONE").write_text("x\n")
    return d


# ----------------------------------------------------------------------------------- COCO RLE
def test_coco_rle_round_trips_with_pycocotools():
    rng = np.random.default_rng(1)
    cases = [np.zeros((5, 7), bool), np.ones((5, 7), bool)]
    cases += [rng.random(tuple(rng.integers(1, 30, 2))) < rng.random() for _ in range(60)]
    for m in cases:
        r = encode_rle(m)
        assert isinstance(r["counts"], str) and r["size"] == list(m.shape)
        json.dumps(r)
        ref = mask_utils.decode({"size": r["size"], "counts": r["counts"].encode()})
        assert ref.dtype == np.uint8 and (ref.astype(bool) == m).all()
        assert (decode_rle(r) == m).all()
        # ours reads what pycocotools writes, including uncompressed RLE
        theirs = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        assert (decode_rle({"size": theirs["size"], "counts": theirs["counts"].decode()}) == m).all()
        from ivos_core.export import rle_encode

        assert (decode_rle(rle_encode(m)) == m).all()


def test_coco_rle_bad_counts_are_clear_errors():
    good = encode_rle(np.eye(6, dtype=bool))
    with pytest.raises(InterchangeError, match="sum to 35, expected 6x6=36"):
        decode_rle({"size": [6, 6], "counts": [1, 34]})
    with pytest.raises(InterchangeError, match="expected 6x7=42"):
        decode_rle({"size": [6, 7], "counts": good["counts"]})
    with pytest.raises(InterchangeError, match="not an RLE character|truncated|sum to"):
        decode_rle({"size": [6, 6], "counts": good["counts"][:-2] + "\x7f"})
    with pytest.raises(InterchangeError, match="size"):
        decode_rle({"counts": []})


# ----------------------------------------------------------------------------------- exports
def test_export_coco_opens_with_pycocotools(job, tmp_path):
    from pycocotools.coco import COCO

    out = export_job(job, tmp_path / "coco", "coco")
    coco = COCO(str(out / "instances.json"))
    labs = _label_maps()
    assert len(coco.getImgIds()) == N and sorted(coco.getCatIds()) == [1, 2]
    for img in coco.loadImgs(coco.getImgIds()):
        lab = labs[img["frame_index"]]
        for a in coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]])):
            assert (coco.annToMask(a).astype(bool) == (lab == a["category_id"])).all()
            assert a["area"] == int((lab == a["category_id"]).sum())
    assert len(coco.getAnnIds(imgIds=[3])) == 1  # frame 2 holds object 1 only
    vis = json.loads((out / "ytvis.json").read_text())
    assert vis["videos"][0]["length"] == N and len(vis["videos"][0]["file_names"]) == N
    tracks = {a["category_id"]: a for a in vis["annotations"]}
    assert tracks[2]["segmentations"][2] is None
    seg = tracks[1]["segmentations"][0]
    assert (mask_utils.decode({"size": seg["size"], "counts": seg["counts"].encode()}).astype(bool) == (labs[0] == 1)).all()
    # and back in: the import reads both files
    got = import_mask("coco", out / "instances.json", label="object_2", frame=1, size=(H, W))
    assert (got.mask == (labs[1] == 2)).all() and got.frame_index == 1
    got = import_mask("coco", out / "ytvis.json", size=(H, W))
    assert (got.mask == (labs[0] > 0)).all() and got.frame_index == 0


def test_export_davis_round_trip(job, tmp_path):
    out = export_job(job, tmp_path / "davis", "davis", frames=True)
    ann = out / "Annotations" / "480p" / "clip"
    assert sorted(p.name for p in ann.iterdir()) == [f"{i:05d}.png" for i in range(N)]
    assert (out / "ImageSets" / "2017" / "val.txt").read_text().strip() == "clip"
    assert len(list((out / "JPEGImages" / "480p" / "clip").glob("*.jpg"))) == N
    with Image.open(ann / "00000.png") as im:
        assert im.mode == "P" and (np.array(im) == _label_maps()[0]).all()
    got = import_mask("davis", ann, label="2", size=(H, W))
    assert (got.mask == (_label_maps()[0] == 2)).all()
    with pytest.raises(InterchangeError, match="objects in this annotation are \\[1\\]"):
        import_mask("davis", ann / "00002.png", label="2")


def test_export_cvat_layout_and_round_trip(job, tmp_path):
    out = export_job(job, tmp_path / "cvat", "cvat")
    lm = (out / "labelmap.txt").read_text().splitlines()
    assert lm[0] == "# label:color_rgb:parts:actions" and lm[1] == "background:0,0,0::"
    assert lm[2] == "object:128,0,0::" and lm[3] == "object_2:0,128,0::"
    names = (out / "ImageSets" / "Segmentation" / "default.txt").read_text().split()
    assert names == ["00000", "00001", "00002"]  # the source frames' names
    with Image.open(out / "SegmentationClass" / "00000.png") as im:
        rgb = np.array(im.convert("RGB"))
    assert (rgb[_label_maps()[0] == 2] == [0, 128, 0]).all()
    with Image.open(out / "SegmentationObject" / "00000.png") as im:
        assert im.mode == "P" and (np.array(im) == _label_maps()[0]).all()
    for label, k in (("object", 1), ("object_2", 2)):
        got = import_mask("cvat", out, label=label, size=(H, W))
        assert (got.mask == (_label_maps()[0] == k)).all() and got.frame_name == "00000"
    # the same as a zip, as CVAT hands it out (files at the archive's top level)
    z = tmp_path / "cvat.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in out.rglob("*"):
            if p.is_file():
                zf.write(p, p.relative_to(out).as_posix())
    got = import_mask("cvat", z, label="object_2", frame="00001", size=(H, W))
    assert (got.mask == (_label_maps()[1] == 2)).all() and got.frame_index == 1


def test_cvat_bad_input(job, tmp_path):
    out = export_job(job, tmp_path / "cvat", "cvat")
    with pytest.raises(InterchangeError, match="several labels"):
        import_mask("cvat", out)
    with pytest.raises(InterchangeError, match="unknown label 'cat'.*background, object, object_2"):
        import_mask("cvat", out, label="cat")
    with pytest.raises(InterchangeError, match="mask is 32x24 \\(WxH\\) but the video is 40x24"):
        import_mask("cvat", out, label="object", size=(24, 40))
    Image.fromarray(np.full((H, W, 3), 7, np.uint8)).save(out / "SegmentationClass" / "00000.png")
    with pytest.raises(InterchangeError, match="00000.png: colours not in labelmap.txt: \\(7,7,7\\)"):
        import_mask("cvat", out, label="object")
    (out / "labelmap.txt").unlink()
    with pytest.raises(InterchangeError, match="no labelmap.txt"):
        import_mask("cvat", out, label="object")
    (tmp_path / "not.zip").write_text("hello")
    with pytest.raises(InterchangeError, match="not a zip archive"):
        import_mask("cvat", tmp_path / "not.zip")


# ----------------------------------------------------------------------------------- Label Studio
def _reference_decode(rle: list[int]) -> np.ndarray:
    """The documented decoding, written the slow way (bit strings), independent of ours."""
    bits = "".join(f"{b:08b}" for b in rle)
    pos = 0

    def read(n):
        nonlocal pos
        v = int(bits[pos:pos + n], 2)
        pos += n
        return v

    num, ws = read(32), read(5) + 1
    sizes = [read(4) + 1 for _ in range(4)]
    out, i = [], 0
    while i < num:
        x = read(1)
        j = i + 1 + read(sizes[read(2)])
        if x:
            out += [read(ws)] * (j - i)
        else:
            out += [read(ws) for _ in range(j - i)]
        i = j
    return np.array(out, np.uint8)


def _reference_encode(arr: np.ndarray) -> list[int]:
    """The converter's way: every run a repeat chunk, singletons as 1-long literals, sizes 3/4/8/16."""
    s = f"{arr.size:032b}" + f"{7:05b}" + "".join(f"{x - 1:04b}" for x in (3, 4, 8, 16))
    change = np.flatnonzero(np.diff(arr)) + 1
    starts = np.concatenate([[0], change])
    for st, ln in zip(starts, np.diff(np.concatenate([starts, [arr.size]]))):
        v = int(arr[st])
        while ln > 0:
            n = min(ln, 2**16)
            if n == 1:
                s += "0" + "00" + "000" + f"{v:08b}"
            else:
                idx = next(k for k, b in enumerate((3, 4, 8, 16)) if n - 1 < 2**b)
                s += "1" + f"{idx:02b}" + format(n - 1, f"0{(3, 4, 8, 16)[idx]}b") + f"{v:08b}"
            ln -= n
    s += "0" * (-len(s) % 8)
    return [int(s[k:k + 8], 2) for k in range(0, len(s), 8)]


def test_brush_rle_matches_the_documented_format():
    rng = np.random.default_rng(2)
    for _ in range(40):
        h, w = rng.integers(1, 25, 2)
        m = rng.random((h, w)) < rng.random()
        rle = mask_to_brush(m)
        assert all(0 <= b <= 255 for b in rle)
        ref = _reference_decode(rle)
        assert ref.size == h * w * 4 and (ref.reshape(h, w, 4)[..., 3] > 0).tolist() == m.tolist()
        theirs = _reference_encode(np.repeat(np.where(m, 255, 0).ravel(), 4))
        assert (brush_to_mask(theirs, h, w) == m).all()
    vals = np.repeat(rng.integers(0, 256, 50), rng.integers(1, 400, 50))
    assert (brush_decode(brush_encode(vals)) == vals).all()
    big = np.zeros(70000 * 4, np.uint8)  # a run longer than 2**16
    assert (brush_decode(brush_encode(big)) == big).all()
    # a hand-checked stream: 4 values [5, 5, 5, 9]: run of 3 fives then a literal 9
    bits = f"{4:032b}{7:05b}" + "0010001101111111" + "1" + "00" + "010" + f"{5:08b}" + "0" + "00" + "000" + f"{9:08b}"
    bits += "0" * (-len(bits) % 8)
    assert brush_encode(np.array([5, 5, 5, 9])) == [int(bits[k:k + 8], 2) for k in range(0, len(bits), 8)]


def test_labelstudio_round_trip_and_bad_records(job, tmp_path):
    out = export_job(job, tmp_path / "ls", "labelstudio", image_prefix="/data/local-files/?d=clip/")
    tasks = json.loads((out / "tasks.json").read_text())
    assert "BrushLabels" in (out / "labeling_config.xml").read_text()
    assert len(tasks) == N and tasks[0]["data"]["image"] == "/data/local-files/?d=clip/00000.jpg"
    res = tasks[1]["predictions"][0]["result"]
    assert {r["value"]["brushlabels"][0] for r in res} == {"object", "object_2"}
    r0 = res[0]
    assert r0["type"] == "brushlabels" and r0["value"]["format"] == "rle"
    assert (brush_to_mask(r0["value"]["rle"], H, W) == (_label_maps()[1] == 1)).all()
    got = import_mask("labelstudio", out / "tasks.json", frame="00001", label="object_2", size=(H, W))
    assert (got.mask == (_label_maps()[1] == 2)).all() and got.frame_index == 1
    # a broken result beside a good one: the good one is kept, the broken one named
    tasks[0]["predictions"][0]["result"][1]["value"]["rle"] = r0["value"]["rle"][:5]
    tasks[0]["predictions"][0]["result"].append({"type": "polygonlabels", "original_width": W, "original_height": H,
                                                 "value": {"points": [[0, 0], [50, 0], [50, 50]], "polygonlabels": ["object"]}})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(tasks))
    got = import_mask("labelstudio", bad, frame=0, size=(H, W))
    poly = np.zeros((H, W), bool)
    import cv2

    p = np.zeros((H, W), np.uint8)
    cv2.fillPoly(p, [np.round(np.array([[0, 0], [W / 2, 0], [W / 2, H / 2]]) - 0.5).astype(np.int32)], 1)
    poly = p.astype(bool)
    assert (got.mask == ((_label_maps()[0] == 1) | poly)).all()
    assert len(got.skipped) == 1 and "ends early" in got.skipped[0] and "result[1]" in got.skipped[0]
    with pytest.raises(InterchangeError, match="unknown label 'dog'"):
        import_mask("labelstudio", out / "tasks.json", label="dog")
    with pytest.raises(InterchangeError, match="not Label Studio tasks"):
        (tmp_path / "x.json").write_text('{"images": []}')
        import_mask("labelstudio", tmp_path / "x.json")
    with pytest.raises(InterchangeError, match="holds 3072 values, expected 4"):
        brush_decode(r0["value"]["rle"], expected=4, source="r0")


def test_coco_import_keeps_good_records(tmp_path):
    m = np.zeros((10, 12), bool)
    m[2:6, 3:9] = True
    doc = {"images": [{"id": 7, "file_name": "a.jpg", "width": 12, "height": 10}],
           "categories": [{"id": 1, "name": "cat"}],
           "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "segmentation": encode_rle(m)},
                           {"id": 2, "image_id": 7, "category_id": 1, "segmentation": {"size": [10, 12], "counts": [5]}},
                           {"id": 3, "image_id": 99, "category_id": 1, "segmentation": [[0, 0, 1, 0, 1, 1]]},
                           {"id": 4, "image_id": 7, "category_id": 1,
                            "segmentation": [[9.5, 6.5, 11.5, 6.5, 11.5, 9.5, 9.5, 9.5]]}]}
    f = tmp_path / "c.json"
    f.write_text(json.dumps(doc))
    got = import_mask("coco", f, label="cat", size=(10, 12))
    assert got.mask[2:6, 3:9].all() and got.mask[7:9, 10:12].all() and got.mask.sum() == 24 + 6
    assert any("sum to 5" in s for s in got.skipped) and any("unknown image_id 99" in s for s in got.skipped)
    with pytest.raises(InterchangeError, match="unknown label 'dog'; the file's categories are \\['cat'\\]"):
        import_mask("coco", f, label="dog")
    with pytest.raises(InterchangeError, match="mask is 12x10 \\(WxH\\) but the video is 13x10"):
        import_mask("coco", f, size=(10, 13))
    f.write_text("{not json")
    with pytest.raises(InterchangeError, match="c.json: not valid JSON"):
        import_mask("coco", f)


# ----------------------------------------------------------------------------------- sessions
def test_session_seeded_from_a_mask(job, tmp_path):
    vid = Path(json.loads((job / "results.json").read_text())["video"]["path"])
    vref = video_ref(vid, root=vid.parent)
    assert (vref.uri, vref.width, vref.height, vref.n_frames) == ("clip", W, H, N)
    m = _label_maps()[0] == 1
    s = mask_session(m, vref, session_id="imp", frame_index=1, source="x.json#image=1", clicks=[parse_click("5,6,-")])
    p = save_session(s, tmp_path / "imp.json")
    back = load_session(p)
    assert back.first_frame.frame_index == 1 and (back.first_frame.initial_mask.decode() == m).all()
    assert back.first_frame.iterations[0].inputs[0].positive is False
    doc = json.loads(p.read_text())
    assert doc["frames"][0]["initial_mask"]["size"] == [H, W]
    # no clicks at all: the mask alone is a valid first frame
    bare = mask_session(m, vref, session_id="bare")
    assert parse_session(bare.to_json()).first_frame.iterations == []
    # bad: wrong size, runs that do not cover the frame, a frame with neither, a mask on a refinement frame
    bad = json.loads(bare.to_json())
    bad["frames"][0]["initial_mask"]["size"] = [H, W + 1]
    with pytest.raises(ValueError, match="initial_mask.size \\[24, 33\\] is not the video's \\[height, width\\] \\[24, 32\\]"):
        parse_session(bad)
    bad = json.loads(bare.to_json())
    bad["frames"][0]["initial_mask"]["counts"] = [3, 4]
    with pytest.raises(ValueError, match="sum to 7, expected 24x32=768"):
        parse_session(bad)
    bad = json.loads(bare.to_json())
    del bad["frames"][0]["initial_mask"]
    with pytest.raises(ValueError, match="at least 1 iteration"):
        parse_session(bad)
    bad = json.loads(s.to_json())
    bad["frames"].append({**bad["frames"][0], "stage": "refinement", "frame_index": 2})
    with pytest.raises(ValueError, match="frames\\[1\\].initial_mask: only frames\\[0\\]"):
        parse_session(bad)
    with pytest.raises(ValueError, match="is not X,Y"):
        parse_click("3;4")


def test_replay_starts_from_the_initial_mask(job):
    """The replay hands the imported mask to the first iteration, or keeps it when there is none."""
    from ivos_core.jobs import FrameOut, replay_session

    vid = Path(json.loads((job / "results.json").read_text())["video"]["path"])
    m = _label_maps()[0] == 1

    class Rec:
        version = "rec-1"

        def __init__(self):
            self.prev, self.ann = [], {}

        def open(self, source):
            pass

        def interact(self, frame_index, inputs, prev_mask, *, correction=False):
            self.prev.append(None if prev_mask is None else prev_mask.copy())
            return np.zeros((H, W), bool) if prev_mask is None else prev_mask

        def add_annotation(self, i, mask):
            self.ann[i] = mask

        def fit(self, steps):
            pass

        def propagate(self):
            for i in range(N):
                yield FrameOut(i, self.ann[min(self.ann)], 0.5)

    vref = video_ref(vid, root=vid.parent)
    be = Rec()
    r = replay_session(mask_session(m, vref, session_id="a", clicks=[parse_click("1,1")]), video_roots=[vid.parent], backend=be)
    assert len(be.prev) == 1 and (be.prev[0] == m).all() and (r.masks[0] == m).all()
    be = Rec()
    r = replay_session(mask_session(m, vref, session_id="b"), video_roots=[vid.parent], backend=be)
    assert be.prev == [] and all((x == m).all() for x in r.masks)


# ----------------------------------------------------------------------------------- job folder / CLI
def test_export_is_atomic_and_refuses_bad_targets(job, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(InterchangeError, match="not empty"):
        export_job(job, busy, "coco")
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    export_job(job, busy, "coco", overwrite=True)
    assert sorted(p.name for p in busy.iterdir()) == ["instances.json", "ytvis.json"]
    rec = json.loads((job / "results.json").read_text())
    rec["video"]["path"] = str(tmp_path / "gone")
    (job / "results.json").write_text(json.dumps(rec))
    with pytest.raises(InterchangeError, match="not readable here"):
        export_job(job, tmp_path / "new", "davis", frames=True)
    assert not (tmp_path / "new").exists() and not list(tmp_path.glob(".new.tmp-*"))
    with pytest.raises(InterchangeError, match="no results.json"):
        read_job(tmp_path)
    with pytest.raises(InterchangeError, match="unknown format"):
        export_job(job, tmp_path / "z", "voc")


def test_cli_export_and_import(job, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["export", "--format", "cvat", str(job), str(tmp_path / "cv")])
    assert r.exit_code == 0, r.output
    vid = json.loads((job / "results.json").read_text())["video"]["path"]
    r = runner.invoke(app, ["import", "--format", "cvat", str(tmp_path / "cv"), "--video", vid, "--label", "object_2",
                            "--out", str(tmp_path / "s.json"), "--root", str(Path(vid).parent), "--click", "20,12"])
    assert r.exit_code == 0, r.output
    s = load_session(tmp_path / "s.json")
    assert s.video.uri == "clip" and (s.first_frame.initial_mask.decode() == (_label_maps()[0] == 2)).all()
    assert s.first_frame.iterations[0].inputs[0].x == 20
    r = runner.invoke(app, ["import", "--format", "cvat", str(tmp_path / "cv"), "--video", vid, "--label", "nope",
                            "--out", str(tmp_path / "t.json")])
    assert r.exit_code == 2 and "unknown label 'nope'" in r.output and not (tmp_path / "t.json").exists()
