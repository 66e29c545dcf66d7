"""The annotation app through its HTTP API (FastAPI TestClient): open, click, undo, propagate,
refine, save, submit, and every bad input the issue lists."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from tests._annotate_fixtures import make_config, make_root, make_spec  # noqa: E402

URI = "davis/JPEGImages/480p/synth"
H, W = 96, 128


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("annot")
    root = make_root(tmp / "data", height=H, width=W)
    spec = make_spec(tmp)
    return tmp, root, spec


@pytest.fixture
def client(env, tmp_path):
    from flows.annotate.app import create_app

    _, root, spec = env
    app = create_app(make_config(tmp_path, root, spec=spec))
    with TestClient(app) as c:
        yield c


def rle_decode(rle):
    h, w = rle["size"]
    flat = np.zeros(h * w, bool)
    pos, on = 0, False
    for n in rle["counts"]:
        if on:
            flat[pos : pos + n] = True
        pos += n
        on = not on
    return flat.reshape(h, w)


def open_session(client, **kw):
    r = client.post("/api/sessions", json={"uri": URI, **kw})
    assert r.status_code == 201, r.text
    return r.json()["session_id"]


def click(client, sid, x, y, positive=True, frame=0):
    return client.post(f"/api/sessions/{sid}/interact",
                       json={"frame_index": frame, "inputs": [{"kind": "click", "x": x, "y": y, "positive": positive}]})


# ------------------------------------------------------------------------------------ videos
def test_video_list_and_thumbnails(client):
    vids = {v["uri"]: v for v in client.get("/api/videos").json()["videos"]}
    assert URI in vids and vids[URI]["kind"] == "davis"
    assert vids[URI]["n_frames"] == 6 and (vids[URI]["width"], vids[URI]["height"]) == (W, H)
    assert "clips/clip.mp4" in vids and vids["clips/clip.mp4"]["kind"] == "file"
    assert not any(u.startswith("escape") for u in vids), "a symlink out of the root is never offered"
    assert not any("Annotations" in u for u in vids)
    r = client.get("/api/videos/thumbnail", params={"uri": URI})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"


@pytest.mark.parametrize(
    "uri,status",
    [
        ("../data-outside/secret.mp4", 400),
        ("davis/../../data-outside/secret.mp4", 400),
        ("/etc/passwd", 400),
        ("http://example.com/v.mp4", 400),
        ("s3://bucket/v.mp4", 400),
        ("file://evil.host/x.mp4", 400),
        ("escape/secret.mp4", 400),
        ("nope/missing.mp4", 404),
        ("", 422),
    ],
)
def test_bad_video_paths_are_4xx_with_a_message(client, uri, status):
    r = client.post("/api/sessions", json={"uri": uri})
    assert r.status_code == status, r.text
    assert r.json()["detail"]
    if status == 400 and uri:
        r2 = client.get("/api/videos/thumbnail", params={"uri": uri})
        assert r2.status_code == 400 and "roots" in r2.json()["detail"]


@pytest.mark.parametrize("sid", ["../x", "a/b", ".hidden", "-dash", "x" * 200, "a b", "ä"])
def test_unsafe_session_ids_are_refused(client, sid):
    r = client.post("/api/sessions", json={"uri": URI, "session_id": sid})
    assert r.status_code == 422, r.text


def test_unknown_and_malformed_session_in_path(client):
    assert client.get("/api/sessions/nosuch").status_code == 404
    assert click(client, "nosuch", 1, 1).status_code == 404
    assert client.get("/api/sessions/bad..id%20x").status_code in (404, 422)
    assert client.post("/api/sessions/.hidden/save").status_code in (404, 422)


# ------------------------------------------------------------------------------------ clicks
def test_click_mask_undo_reset_and_stroke(client):
    sid = open_session(client)
    assert client.post(f"/api/sessions/{sid}/select", json={"frame_index": 0}).json()["mask"] is None
    r = click(client, sid, 60, 45)
    assert r.status_code == 200, r.text
    m1 = rle_decode(r.json()["mask"])
    assert m1.shape == (H, W) and m1[45, 60], "the clicked pixel is in the mask (hard constraint)"
    assert r.json()["iterations"] == 1 and r.json()["stage"] == "first_frame"
    r = click(client, sid, 5, 5, positive=False)
    m2 = rle_decode(r.json()["mask"])
    assert not m2[5, 5] and r.json()["iterations"] == 2
    stroke = {"kind": "stroke", "points": [[20, 20], [40, 30], [60, 30]], "positive": True, "radius": 2}
    r = client.post(f"/api/sessions/{sid}/interact", json={"frame_index": 0, "inputs": [stroke]})
    assert r.status_code == 200 and rle_decode(r.json()["mask"])[30, 40]
    r = client.post(f"/api/sessions/{sid}/undo", json={"frame_index": 0})
    assert r.json()["iterations"] == 2 and np.array_equal(rle_decode(r.json()["mask"]), m2)
    r = client.post(f"/api/sessions/{sid}/reset", json={"frame_index": 0})
    assert r.json()["iterations"] == 0 and r.json()["mask"] is None
    assert client.post(f"/api/sessions/{sid}/undo", json={"frame_index": 0}).status_code == 409
    assert client.post(f"/api/sessions/{sid}/save").status_code == 409  # nothing to save


@pytest.mark.parametrize(
    "body",
    [
        {"frame_index": 0, "inputs": [{"kind": "click", "x": W, "y": 10}]},
        {"frame_index": 0, "inputs": [{"kind": "click", "x": -1, "y": 10}]},
        {"frame_index": 0, "inputs": [{"kind": "click", "x": 10, "y": H + 5}]},
        {"frame_index": 0, "inputs": [{"kind": "stroke", "points": [[1, 1], [W + 10, 1]]}]},
        {"frame_index": 0, "inputs": [{"kind": "scribble", "x": 1, "y": 1}]},
        {"frame_index": 0, "inputs": [{"kind": "click", "x": "a", "y": 1}]},
        {"frame_index": 0, "inputs": [{"kind": "click", "x": 1, "y": 1, "extra": 1}]},
        {"frame_index": 0, "inputs": []},
        {"frame_index": 0, "inputs": [{"kind": "click", "x": 1, "y": 1}] * 65},
        {"frame_index": 0, "inputs": [{"kind": "stroke", "points": []}]},
        {"frame_index": 0, "inputs": [{"kind": "stroke", "points": [[1, 1]] * 5000}]},
        {"frame_index": 99, "inputs": [{"kind": "click", "x": 1, "y": 1}]},
        {"frame_index": -1, "inputs": [{"kind": "click", "x": 1, "y": 1}]},
        {"frame_index": "0", "inputs": [{"kind": "click", "x": 1, "y": 1}]},
        {"inputs": [{"kind": "click", "x": 1, "y": 1}]},
        {"frame_index": 0, "inputs": [{"kind": "click", "x": 1, "y": 1}], "surprise": True},
    ],
)
def test_malformed_interactions_are_422(client, body):
    sid = open_session(client)
    r = client.post(f"/api/sessions/{sid}/interact", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]
    assert client.get(f"/api/sessions/{sid}").json()["n_iterations"] == 0


def test_non_json_nan_and_huge_payloads(client):
    sid = open_session(client)
    url = f"/api/sessions/{sid}/interact"
    hdr = {"content-type": "application/json"}
    assert client.post(url, content=b"{not json", headers=hdr).status_code == 422
    nan = b'{"frame_index": 0, "inputs": [{"kind": "click", "x": NaN, "y": 1}]}'
    assert client.post(url, content=nan, headers=hdr).status_code == 422
    huge = json.dumps({"frame_index": 0, "inputs": [{"kind": "click", "x": 1, "y": 1, "pad": "x" * (2 << 20)}]})
    r = client.post(url, content=huge.encode(), headers=hdr)
    assert r.status_code == 413 and "too large" in r.json()["detail"]
    r = client.post("/api/sessions", content=b"x" * (2 << 20), headers=hdr)
    assert r.status_code == 413
    assert client.get("/api/info").status_code == 200


def test_second_frame_needs_a_propagation(client):
    sid = open_session(client)
    assert click(client, sid, 60, 45).status_code == 200
    r = click(client, sid, 60, 45, frame=3)
    assert r.status_code == 409 and "propagate" in r.json()["detail"]


def test_model_crash_is_a_500_and_the_app_keeps_serving(env, tmp_path):
    from flows.annotate.app import create_app
    from ivos_core.interactive.methods import GrabCutMethod

    _, root, spec = env

    class Flaky(GrabCutMethod):
        fail = True

        def predict(self, inputs, prev_mask):
            if Flaky.fail:
                raise RuntimeError("CUDA error: simulated")
            return super().predict(inputs, prev_mask)

    app = create_app(make_config(tmp_path, root, spec=spec, method=Flaky()))
    with TestClient(app, raise_server_exceptions=False) as c:
        sid = open_session(c)
        r = click(c, sid, 60, 45)
        assert r.status_code == 500 and "simulated" in r.json()["detail"]
        assert c.get(f"/api/sessions/{sid}").json()["n_iterations"] == 0, "a failed click is not recorded"
        Flaky.fail = False
        assert click(c, sid, 60, 45).status_code == 200
        assert c.get("/api/videos").status_code == 200


# ------------------------------------------------------------------------------------ the whole chain
def test_propagate_refine_save_validate_load_submit(client, env, tmp_path):
    from analytics.store import AnalyticsStore
    from flows.segment_video import check_video, validate_session
    from ivos_core.interactions import load_session

    _, root, _ = env
    sid = open_session(client, user_id="alice", session_id="alice-test-1")
    assert sid == "alice-test-1"
    assert click(client, sid, 64, 48).status_code == 200
    assert click(client, sid, 70, 50).status_code == 200
    assert client.get(f"/api/sessions/{sid}/worst").status_code == 409  # nothing propagated yet
    r = client.post(f"/api/sessions/{sid}/propagate", json={"steps": 2})
    assert r.status_code == 202, r.text
    assert client.post(f"/api/sessions/{sid}/propagate", json={}).status_code in (409, 202)
    events = []
    with client.stream("GET", f"/api/sessions/{sid}/events") as s:
        for line in s.iter_lines():
            if line.startswith("data: ") and line != "data: {}":
                events.append(json.loads(line[6:]))
            if line.startswith("event: end"):
                break
    assert events and events[-1]["state"] == "done", events[-3:]
    assert any(e["phase"] == "propagating" for e in events) or events[-1]["done"] == events[-1]["total"]
    st = client.get(f"/api/sessions/{sid}").json()
    assert st["propagated"] == list(range(6)) and st["round"] == 1 and not st["stale"]
    worst = client.get(f"/api/sessions/{sid}/worst", params={"k": 2}).json()["frames"]
    assert len(worst) == 2 and 0 not in worst
    f = worst[0]
    sel = client.post(f"/api/sessions/{sid}/select", json={"frame_index": f}).json()
    assert sel["mask"] is not None and sel["stage"] is None  # the propagated mask, not annotated yet
    r = click(client, sid, 30, 30, positive=False, frame=f)
    assert r.status_code == 200 and r.json()["stage"] == "refinement"
    assert client.get(f"/api/sessions/{sid}").json()["stale"]
    r = client.post(f"/api/sessions/{sid}/propagate", json={"steps": 1})
    assert r.status_code == 202
    for _ in range(600):
        p = client.get(f"/api/sessions/{sid}/progress").json()
        if p["state"] != "running":
            break
        import time

        time.sleep(0.1)
    assert p["state"] == "done" and p["round"] == 2, p
    assert client.get(f"/api/sessions/{sid}/thumbs/{f}.jpg").content[:2] == b"\xff\xd8"

    r = client.post(f"/api/sessions/{sid}/save")
    assert r.status_code == 200, r.text
    path = Path(r.json()["path"])
    assert path.name == "alice-test-1.json" and path.is_file()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")], "no temp files left"
    s = load_session(path)
    assert s.source == "recorded" and s.user_id == "alice" and s.session_id == "alice-test-1"
    assert (s.video.uri, s.video.width, s.video.height, s.video.n_frames) == (URI, W, H, 6)
    assert [(fr.frame_index, fr.stage, len(fr.iterations)) for fr in s.frames] == [(0, "first_frame", 2), (f, "refinement", 1)]
    ts = [inp.t for fr in s.frames for it in fr.iterations for inp in it.inputs]
    assert all(t is not None for t in ts) and ts == sorted(ts)
    assert all(it.duration_s is not None and it.duration_s >= 0 for fr in s.frames for it in fr.iterations)
    # what `ivos jobs submit` and the segment-video flow check before running
    assert validate_session.fn(str(path))["session_id"] == "alice-test-1"
    assert Path(check_video.fn(s.video.uri, [str(root)])) == (root / URI).resolve()
    # what `ivos analytics load` does
    with AnalyticsStore(tmp_path / "a.duckdb", workers=1) as store:
        rep = store.load([path])
        n = store.con.execute("select count(*) from sessions").fetchone()[0]
    assert n == 1, rep

    # saving again without changes: the same file; after a change: a new session, old file untouched
    before = path.read_bytes()
    assert client.post(f"/api/sessions/{sid}/save").json()["path"] == str(path)
    assert click(client, sid, 66, 49).status_code == 200
    r2 = client.post(f"/api/sessions/{sid}/save").json()
    assert r2["session_id"] == "alice-test-1-r2" and Path(r2["path"]).is_file()
    assert path.read_bytes() == before
    # the saved id cannot be reused by a new session
    assert client.post("/api/sessions", json={"uri": URI, "session_id": "alice-test-1"}).status_code == 409

    # submit: no Prefect deployment configured -> the job runs locally
    r = client.post(f"/api/sessions/{sid}/submit", json={"priority": "high"})
    assert r.status_code == 202 and r.json()["mode"] == "local", r.text
    job_id = r.json()["job_id"]
    import time

    for _ in range(1200):
        jobs = client.get("/api/jobs", params={"user_id": "alice"}).json()["jobs"]
        job = next(j for j in jobs if j["job_id"] == job_id)
        if job["state"] in ("completed", "failed"):
            break
        time.sleep(0.1)
    assert job["state"] == "completed", job
    assert job["session_id"] == "alice-test-1-r2"
    assert Path(job["output_dir"], "results.json").is_file()
    for name in list(job["files"].values()) + ["masks.zip"]:
        r = client.get(f"/api/jobs/{job_id}/files/{name}")
        assert r.status_code == 200 and r.content, name
    assert client.get(f"/api/jobs/{job_id}/files/results.json").status_code == 404
    assert client.get(f"/api/jobs/{job_id}/files/..%2F..%2Fetc").status_code in (404, 422)
    assert client.get("/api/jobs", params={"user_id": "bob"}).json()["jobs"] == []


def test_saved_sessions_are_never_overwritten(env, tmp_path):
    from ivos_core.annotation import SessionExistsError, save_new_session
    from ivos_core.jobs import robot_session

    gts = [np.pad(np.ones((20, 20), bool), 20)] * 3
    s = robot_session(gts, uri=URI, session_id="same-id", clicks_first=1)
    p = save_new_session(s, tmp_path)
    first = p.read_bytes()
    with pytest.raises(SessionExistsError, match="never overwritten"):
        save_new_session(s.model_copy(update={"user_id": "other"}), tmp_path)
    assert p.read_bytes() == first and sorted(x.name for x in tmp_path.iterdir()) == ["same-id.json"]
    with pytest.raises(ValueError, match="safe"):
        save_new_session(s.model_copy(update={"session_id": "../escape"}), tmp_path)


# ------------------------------------------------------------------------------------ access
def test_token_host_and_origin_checks(env, tmp_path):
    from flows.annotate.app import create_app

    _, root, spec = env
    app = create_app(make_config(tmp_path, root, spec=spec, token="s3cret"))
    with TestClient(app) as c:
        assert c.get("/api/info").status_code == 401
        assert c.get("/api/info", headers={"X-IVOS-Token": "wrong"}).status_code == 401
        assert c.get("/").status_code == 401
        assert c.get("/static/app.js").status_code == 200  # public code, no data
        assert c.get("/api/info", headers={"X-IVOS-Token": "s3cret"}).status_code == 200
        assert c.get("/api/videos", params={"token": "s3cret"}).status_code == 200
        assert c.get("/", params={"token": "s3cret"}).status_code == 200  # sets the cookie
        assert c.get("/api/info").status_code == 200
    app = create_app(make_config(tmp_path, root, spec=spec))
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        assert c.get("/api/info").status_code == 200
        assert c.get("/api/info", headers={"host": "evil.example:8765"}).status_code == 403
        r = c.post("/api/sessions", json={"uri": URI}, headers={"origin": "http://evil.example"})
        assert r.status_code == 403
        assert c.post("/api/sessions", json={"uri": URI}, headers={"origin": "http://127.0.0.1:8765"}).status_code == 201


def test_cli_refuses_non_loopback_without_token(monkeypatch):
    from typer.testing import CliRunner

    from flows.annotate.cli import is_loopback
    from flows.cli import app

    monkeypatch.delenv("IVOS_ANNOTATE_TOKEN", raising=False)
    r = CliRunner().invoke(app, ["annotate", "--host", "0.0.0.0", "--roots", "/tmp"])
    assert r.exit_code == 2 and "token" in r.output
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.com")
