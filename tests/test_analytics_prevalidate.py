"""The SQL fast path of session validation never accepts a document the session model rejects.

A corpus of deliberately broken variants (every key removed, nulled, retyped, out of range,
duplicated, unknown keys, structural rule breaks, JSON the standard forbids) goes through both
``analytics.prevalidate.fast_accepts`` and ``ivos_core.interactions.parse_session``.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Iterator

import duckdb
import pytest

from analytics.prevalidate import fast_accepts, structure_fits
from analytics.store import init_schema
from ivos_core.interactions import SessionValidationError, parse_session

STROKE = {"kind": "stroke", "points": [[100, 100], [150.5, 120], [200, 130]], "positive": False, "radius": 3.5,
          "t": 1.25}
CLICK = {"kind": "click", "x": 853, "y": 0, "positive": True, "t": 0}


def base_docs() -> list[dict[str, Any]]:
    full = {
        "schema_version": "1.0", "session_id": "s-full", "user_id": "u1", "created_at": "2026-03-01T10:00:00.25+02:00",
        "video": {"uri": "v/a.mp4", "width": 854, "height": 480, "n_frames": 50, "fps": 24, "dataset": "davis",
                  "sequence": "bear"},
        "frames": [
            {"frame_index": 0, "stage": "first_frame", "iterations": [
                {"index": 0, "inputs": [CLICK, STROKE], "duration_s": 0.5},
                {"index": 1, "inputs": [{"kind": "click", "x": 0.0, "y": 479}]}]},
            {"frame_index": 49, "stage": "refinement", "iterations": [
                {"index": 0, "inputs": [{"kind": "stroke", "points": [[853, 479]]}]}]},
        ],
        "source": "simulated", "meta": {"pattern": "clicks", "n": [1, 2], "nested": {"a": True}},
    }
    minimal = {"session_id": "s-min", "user_id": "u", "created_at": "2026-03-01T10:00:00",
               "video": {"uri": "x", "width": 1, "height": 1, "n_frames": 1},
               "frames": [{"frame_index": 0, "stage": "first_frame", "iterations": [
                   {"index": 0, "inputs": [{"kind": "click", "x": 0, "y": 0}]}]}]}
    two_objects = {  # schema 2.0: declared objects, every input names one
        "schema_version": "2.0", "session_id": "s-obj", "user_id": "u2", "created_at": "2026-03-01T10:00:00Z",
        "video": {"uri": "v/b.mp4", "width": 64, "height": 48, "n_frames": 5},
        "objects": [{"id": 1, "name": "dog"}, {"id": 7}],
        "frames": [{"frame_index": 0, "stage": "first_frame", "iterations": [
            {"index": 0, "inputs": [{"kind": "click", "x": 3, "y": 4, "object_id": 7},
                                    {"kind": "stroke", "points": [[1, 2]], "object_id": 1}]}]}],
    }
    return [full, minimal, two_objects]


def _paths(node: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, path + (i,))


def _get(doc: Any, path: tuple) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def _set(doc: Any, path: tuple, value: Any) -> Any:
    out = copy.deepcopy(doc)
    _get(out, path[:-1])[path[-1]] = value
    return out


def _delete(doc: Any, path: tuple) -> Any:
    out = copy.deepcopy(doc)
    del _get(out, path[:-1])[path[-1]]
    return out


REPLACEMENTS: list[Any] = [
    None, "", "10", "1.0", "true", True, False, 0, -1, 1, 1.5, 1.0, 0.5, -0.0, 16384, 16385, 853, 854, 479.0001, 480,
    200, 256, 256.5, 10**30, [], [1], [1, 2], [1, 2, 3], [[1, 2]], {}, {"a": 1}, "x" * 201, "é" * 150, "first_frame",
    "refinement", "click", "stroke", "recorded", "1.1", "2026-02-30T10:00:00Z", "2026-03-01 10:00:00", "2026-03-01",
    "2026-03-01T24:00:00Z", "2026-03-01T10:00:00+25:00", "0001-01-01T00:00:00Z", "2.0", 7, 254, 255,
    [{"id": 1}], [{"id": 2}], [{"id": 1}, {"id": 1}], [{"id": 0}], [{"id": 1, "name": ""}],
]
TEXT_VALUES = ["NaN", "Infinity", "-Infinity", "1e999", "1E2", "2.0e0", "[1,2,]", "{}", '"\\u0031"', '"a\\u0000"']


def variants() -> Iterator[str]:
    for doc in base_docs():
        yield json.dumps(doc)
        yield json.dumps(doc, indent=2)
        yield json.dumps(doc, separators=(",", ":"))
        for path in _paths(doc):
            if not path:
                continue
            node = _get(doc, path)
            yield json.dumps(_delete(doc, path))
            for value in REPLACEMENTS:
                yield json.dumps(_set(doc, path, value))
            marker = "__MARK__"
            text = json.dumps(_set(doc, path, marker), separators=(",", ":"))
            for raw in TEXT_VALUES:
                yield text.replace(json.dumps(marker), raw)
            if isinstance(path[-1], str):
                key = json.dumps(path[-1])
                # duplicate keys: DuckDB reads the first, the model the last
                for dup in (0, -1, 10**6, "\"x\"", json.dumps(node)):
                    yield text.replace(f"{key}:{json.dumps(marker)}", f"{key}:{json.dumps(node)},{key}:{dup}")
                    yield text.replace(f"{key}:{json.dumps(marker)}", f"{key}:{dup},{key}:{json.dumps(node)}")
                # unknown / misspelt / other-case keys, whitespace before the colon
                yield text.replace(f"{key}:{json.dumps(marker)}", f"{key}:{json.dumps(node)},\"zz\":1")
                yield text.replace(f"{key}:{json.dumps(marker)}", f"{key.upper()}:{json.dumps(node)}")
                yield text.replace(f"{key}:{json.dumps(marker)}", f"{key} :{json.dumps(node)}")
                yield text.replace(f"{key}:{json.dumps(marker)}", f"{key}:{json.dumps(node)},")
            if isinstance(node, dict):
                for extra in ("radius", "x", "y", "points", "kind", "positive", "t", "meta", "index", "object_id",
                              "objects"):
                    if extra not in node:
                        yield json.dumps(_set(doc, path, {**node, extra: 1}))
                        yield json.dumps(_set(doc, path, {**node, extra: [[1, 2]]}))
            if isinstance(node, list) and node:
                yield json.dumps(_set(doc, path, node + node))
                yield json.dumps(_set(doc, path, node[::-1]))
    # whole-document breakage
    good = json.dumps(base_docs()[0])
    yield good[:-1]
    yield good + ","
    yield good + " x"
    yield "[" + good + "]"
    yield good.replace('"x"', '"\\u0078"')
    yield "1"
    yield "null"
    yield '"text"'


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    c.execute("set TimeZone = 'UTC'")
    init_schema(c)
    yield c
    c.close()


def _model_accepts(text: str) -> bool:
    try:
        parse_session(text)
    except SessionValidationError:
        return False
    return True


def test_fast_path_is_never_more_lenient_than_the_model(con) -> None:
    docs = list(dict.fromkeys(variants()))
    fast = fast_accepts(con, docs)
    model = [_model_accepts(d) for d in docs]
    too_lenient = [d for d, f, m in zip(docs, fast, model) if f and not m]
    assert not too_lenient, f"{len(too_lenient)} accepted by SQL, rejected by the model, e.g. {too_lenient[:3]}"
    # the corpus is not vacuous: many broken variants, and the fast path does accept plain valid ones
    assert len(docs) > 2000 and sum(model) > 100 and model.count(False) > 1000
    assert sum(fast) > 50
    for doc in base_docs():
        for text in (json.dumps(doc), json.dumps(doc, indent=2)):
            assert fast_accepts(con, [text]) == [True]


def test_fast_path_accepts_the_synthetic_logs(con) -> None:
    from analytics.synthlogs import SynthConfig, generate_documents

    docs = [r[0] for r in generate_documents(SynthConfig(n_sessions=200, seed=3)).fetchall()]
    assert all(fast_accepts(con, docs))


def test_structure_check() -> None:
    assert structure_fits('{"session_id":"VARCHAR","video":{"width":"UBIGINT"},"meta":"JSON"}')
    assert not structure_fits('{"session_id":"UBIGINT"}')
    assert not structure_fits('{"video":{"width":"DOUBLE"}}')
    assert not structure_fits('{"zz":"VARCHAR"}')
    assert not structure_fits('["VARCHAR"]')
    assert not structure_fits(None)


def test_sessions_written_by_ivos_take_the_fast_path(con) -> None:
    """``Session.to_json`` leaves unset optional fields out, so ivos's own logs need no model pass."""
    sessions = [parse_session(json.dumps(doc)) for doc in base_docs()]
    texts = [s.to_json() for s in sessions] + [s.to_json(indent=None) for s in sessions]
    assert all("null" not in t for t in texts)
    assert fast_accepts(con, texts) == [True] * len(texts)
    assert [parse_session(t) for t in texts[: len(sessions)]] == sessions  # the round trip loses nothing
