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
    assert s.schema_version == SCHEMA_VERSION
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
