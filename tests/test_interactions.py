"""Session log schema: round trips and validation errors that name the field and the value."""

from __future__ import annotations

import copy
import json

import pytest

from ivos_core.interactions import (
    SCHEMA_VERSION,
    Click,
    Session,
    SessionValidationError,
    Stroke,
    load_session,
    parse_session,
    save_session,
    session_json_schema,
)


def good_doc() -> dict:
    return {
        "schema_version": "1.0",
        "session_id": "s-1",
        "user_id": "u-1",
        "created_at": "2026-11-26T10:00:00Z",
        "video": {"uri": "davis/bear", "width": 854, "height": 480, "n_frames": 82},
        "frames": [
            {
                "frame_index": 0,
                "stage": "first_frame",
                "iterations": [
                    {"index": 0, "inputs": [{"kind": "click", "x": 400, "y": 200, "positive": True, "t": 1.5}]},
                    {
                        "index": 1,
                        "inputs": [
                            {"kind": "click", "x": 10, "y": 20, "positive": False},
                            {"kind": "stroke", "points": [[100, 100], [120, 110]], "positive": True, "radius": 4},
                        ],
                    },
                ],
            },
            {
                "frame_index": 81,
                "stage": "refinement",
                "iterations": [{"index": 0, "inputs": [{"kind": "click", "x": 853, "y": 479}]}],
            },
        ],
    }


def errors_of(doc) -> list[tuple[str, object, str]]:
    with pytest.raises(SessionValidationError) as ei:
        parse_session(doc)
    return ei.value.errors


def test_round_trip(tmp_path):
    s = parse_session(good_doc())
    assert s.schema_version == "1.0" and SCHEMA_VERSION == "2.0"  # a 1.0 log keeps its version
    assert len(s.frames) == 2 and s.refinement_frames[0].frame_index == 81
    it = s.first_frame.iterations[1]
    assert len(it.clicks) == 1 and len(it.strokes) == 1 and it.clicks[0].positive is False
    path = save_session(s, tmp_path / "s.json")
    again = load_session(path)
    assert again == s
    assert json.loads(path.read_text())["frames"][0]["iterations"][1]["inputs"][1]["points"] == [[100, 100], [120, 110]]


def test_border_click_is_valid():
    # x = width - 1 and y = height - 1 is the bottom-right pixel: inside.
    s = parse_session(good_doc())
    assert s.frames[1].iterations[0].inputs[0].x == 853


@pytest.mark.parametrize(
    "mutate, field, needle",
    [
        (lambda d: d["frames"][0]["iterations"][0]["inputs"][0].update(x=854), "frames", "outside the 854x480 frame"),
        (lambda d: d["frames"][1].update(frame_index=-1), "frames.1.frame_index", "greater than or equal to 0"),
        (lambda d: d["frames"][1].update(frame_index=82), "<document>", "past the video's last frame (81)"),
        (lambda d: d["frames"][1].update(stage="middle"), "frames.1.stage", "first_frame"),
        (lambda d: d["frames"][0]["iterations"][0]["inputs"][0].update(y=float("nan")), "y", "finite"),
        (lambda d: d["frames"][0]["iterations"][1]["inputs"][1].update(points=[]), "points", "at least 1"),
        (lambda d: d.update(schema_version="9.9"), "schema_version", "unsupported schema_version '9.9'"),
        (lambda d: d["frames"][0]["iterations"][1].update(index=2), "iterations", "0..1 in order, got [0, 2]"),
        (lambda d: d["video"].update(width="wide"), "video.width", "integer"),
    ],
)
def test_validation_errors_name_field_and_value(mutate, field, needle):
    doc = copy.deepcopy(good_doc())
    mutate(doc)
    errs = errors_of(doc)
    text = "\n".join(f"{loc}: {msg} (got {val!r})" for loc, val, msg in errs)
    assert any(field in loc or field in msg for loc, _, msg in errs), text
    assert needle in text


def test_outside_click_message_names_point_and_path():
    doc = good_doc()
    doc["frames"][0]["iterations"][0]["inputs"][0]["x"] = 900
    with pytest.raises(SessionValidationError) as ei:
        parse_session(doc, source="logs/a.json")
    msg = str(ei.value)
    assert "logs/a.json" in msg and "frames[0].iterations[0].inputs[0]" in msg and "(900.0, 200.0)" in msg


def test_truncated_and_non_utf8_files(tmp_path):
    p = tmp_path / "t.json"
    p.write_text(json.dumps(good_doc())[:-10])
    with pytest.raises(SessionValidationError, match="not valid JSON"):
        load_session(p)
    p.write_bytes(b"\xff\xfe{bad")
    with pytest.raises(SessionValidationError, match="not UTF-8"):
        load_session(p)


def test_stroke_dense_points_and_length():
    s = Stroke(points=[(0, 0), (10, 0)], positive=True)
    pts = s.dense_points(step=1.0)
    assert len(pts) == 11 and pts[-1] == (10.0, 0.0)
    assert s.path_length() == pytest.approx(10.0)
    assert Click(x=1, y=2).points() == [(1.0, 2.0)]


def test_json_schema_is_versioned():
    schema = session_json_schema()
    assert schema["x-schema-version"] == SCHEMA_VERSION
    assert "frames" in schema["properties"] and "session_id" in schema["required"]


def test_cli_prints_schema():
    from typer.testing import CliRunner

    from flows.cli import app

    res = CliRunner().invoke(app, ["schema", "session"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["x-schema-version"] == SCHEMA_VERSION


def test_session_is_immutable():
    s = parse_session(good_doc())
    with pytest.raises(Exception):
        s.session_id = "other"  # type: ignore[misc]
    assert isinstance(s, Session)


# ---- objects (schema 2.0) ----------------------------------------------------------------------


def two_object_doc() -> dict:
    doc = good_doc()
    doc["schema_version"] = "2.0"
    doc["objects"] = [{"id": 1, "name": "bear"}, {"id": 2}]
    doc["frames"][0]["iterations"][1]["inputs"][1]["object_id"] = 2
    for inp in (doc["frames"][0]["iterations"][0]["inputs"][0], doc["frames"][1]["iterations"][0]["inputs"][0]):
        inp["object_id"] = 1
    doc["frames"][0]["iterations"][1]["inputs"][0]["object_id"] = 1
    return doc


def test_v1_log_loads_as_object_1_and_stays_v1(tmp_path):
    s = parse_session(good_doc())
    assert s.object_ids == [1] and all(i.object_id == 1 for f in s.frames for i in f.all_inputs())
    text = s.to_json()
    assert "object_id" not in text and '"objects"' not in text  # still a valid 1.0 document
    assert parse_session(text) == s


def test_two_object_round_trip(tmp_path):
    s = parse_session(two_object_doc())
    assert s.schema_version == "2.0" and s.object_ids == [1, 2] and s.objects[0].name == "bear"
    assert [i.object_id for i in s.first_frame.iterations[1].inputs] == [1, 2]
    again = load_session(save_session(s, tmp_path / "s.json"))
    assert again == s
    written = json.loads((tmp_path / "s.json").read_text())
    assert all("object_id" in i for f in written["frames"] for it in f["iterations"] for i in it["inputs"])
    # sessions built in code default to schema 2.0, object 1
    from ivos_core.interactions import AnnotatedFrame, Interaction

    fr = AnnotatedFrame(frame_index=0, stage="first_frame", iterations=[Interaction(index=0, inputs=[Click(x=1, y=2)])])
    built = Session(session_id="a", user_id="u", created_at="2026-01-01T00:00:00Z", video=s.video, frames=[fr])
    assert built.schema_version == "2.0" and built.object_ids == [1] and fr.iterations[0].inputs[0].object_id == 1


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (lambda d: d["frames"][1]["iterations"][0]["inputs"][0].update(object_id=3),
         "frames[1].iterations[0].inputs[0].object_id=3 is not a declared object (objects: [1, 2])"),
        (lambda d: d["frames"][1]["iterations"][0]["inputs"][0].update(object_id=0), "object ids are integers 1..254"),
        (lambda d: d["frames"][1]["iterations"][0]["inputs"][0].update(object_id=255), "got 255"),
        (lambda d: d["frames"][1]["iterations"][0]["inputs"][0].update(object_id=1.0), "got 1.0"),
        (lambda d: d["frames"][1]["iterations"][0]["inputs"][0].update(object_id="2"), "got '2'"),
        (lambda d: d["frames"][1]["iterations"][0]["inputs"][0].update(object_id=True), "got True"),
        (lambda d: d.update(objects=[{"id": 1}, {"id": 1}, {"id": 2}]), "ids must be unique, got [1, 1, 2]"),
        (lambda d: d.update(objects=[]), "at least 1"),
        (lambda d: d.update(objects=[{"id": 1}, {"id": 2, "colour": "red"}]), "Extra inputs are not permitted"),
        (lambda d: d.update(schema_version="1.0"), "a schema_version 1.0 log has one object (id 1)"),
    ],
)
def test_bad_object_ids_are_named(mutate, needle):
    doc = two_object_doc()
    mutate(doc)
    with pytest.raises(SessionValidationError) as ei:
        parse_session(json.dumps(doc), source="logs/two.json")
    assert "logs/two.json" in str(ei.value) and needle in str(ei.value), str(ei.value)


def test_v1_log_naming_another_object_is_refused():
    doc = good_doc()
    doc["frames"][0]["iterations"][0]["inputs"][0]["object_id"] = 2
    with pytest.raises(SessionValidationError, match=r"inputs\[0\].object_id=2: a schema_version 1.0 log"):
        parse_session(doc)
