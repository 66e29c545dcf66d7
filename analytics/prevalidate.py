"""The set-based fast path of session validation: DuckDB accepts the documents that are clearly
valid, and only the rest go through the pydantic model (:mod:`analytics.validation`).

The model (:class:`ivos_core.interactions.Session`) stays the authority: the fast path may send a
valid document to the model (it then loads as before), but must never accept a document the model
rejects. ``tests/test_analytics_prevalidate.py`` checks that on a corpus of broken variants.
A document is accepted here only when all of these hold:

1. it is *plain* (``sql/load/prevalidate.sql``): valid JSON with no backslash escapes, no JSON
   ``null`` / ``NaN`` / ``Infinity`` and no trailing comma;
2. its ``json_structure`` (keys and JSON types, merged over list elements) fits :data:`SPEC`:
   only the model's keys, strings where the model wants ``str``, JSON integers where it wants
   ``int``, numbers where it wants ``float``, booleans where it wants ``bool`` (so none of pydantic's
   lax coercions — ``"10"`` for a number, ``1.0`` for an int — is ever needed);
3. every value rule holds (``sql/macros/session_doc_keys.sql``: ranges, frame geometry, stages,
   contiguous iteration indices, non-empty lists, finite numbers, the timestamp format);
4. the number of keys in the text equals the number of fields the typed struct holds, which rules
   out duplicate keys (the model keeps the last, DuckDB the first), keys the struct dropped, values
   that did not cast and keys of the other input kind (a click with ``radius``).

Structures are checked in Python once per distinct structure (a batch has a handful).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from analytics.batch_tables import BatchTables

INT = frozenset({"UBIGINT", "BIGINT"})
NUM = frozenset({"UBIGINT", "BIGINT", "DOUBLE"})
STR = frozenset({"VARCHAR"})
BOOL = frozenset({"BOOLEAN"})
ANY_OBJECT = "ANY_OBJECT"  # meta: any object (json_structure of {} is "JSON")

SPEC: dict[str, Any] = {
    "schema_version": STR, "session_id": STR, "user_id": STR, "created_at": STR, "source": STR,
    "meta": ANY_OBJECT,
    "video": {"uri": STR, "width": INT, "height": INT, "n_frames": INT, "fps": NUM, "dataset": STR, "sequence": STR},
    "frames": [{
        "frame_index": INT, "stage": STR,
        "iterations": [{
            "index": INT, "duration_s": NUM,
            "inputs": [{"kind": STR, "x": NUM, "y": NUM, "positive": BOOL, "t": NUM, "radius": NUM,
                        "points": [[NUM]], "object_id": INT}],
        }],
    }],
    "objects": [{"id": INT, "name": STR}],
}


def _fits(s: Any, spec: Any) -> bool:
    if spec is ANY_OBJECT:
        return isinstance(s, dict) or s == "JSON"
    if isinstance(spec, dict):
        return isinstance(s, dict) and all(k in spec and _fits(v, spec[k]) for k, v in s.items())
    if isinstance(spec, list):
        # an empty list has element type "NULL"; the value rules then reject it where lists must be non-empty
        return isinstance(s, list) and len(s) == 1 and (s[0] == "NULL" or _fits(s[0], spec[0]))
    return isinstance(s, str) and s in spec


def structure_fits(structure: str | None) -> bool:
    """Whether a ``json_structure`` string has only the session model's keys with exact JSON types."""
    if structure is None:
        return False
    try:
        s = json.loads(structure)
    except (ValueError, TypeError):
        return False
    return _fits(s, SPEC)


def fitting_structures(structures: list[str | None]) -> list[str]:
    """The structures of ``structures`` that fit :data:`SPEC`."""
    return [s for s in structures if s is not None and structure_fits(s)]


def run_fast_path(con: "duckdb.DuckDBPyConnection", tables: "BatchTables") -> int:
    """Parse and pre-validate ``_raw_batch`` (position, document) into the batch table ``_checked``
    and list the accepted positions in ``_fast``; returns how many were accepted."""
    import pyarrow as pa

    from analytics.sqlfiles import read_sql, registered

    tables.create("_checked", read_sql("load/prevalidate.sql"))
    structures = [r[0] for r in con.execute(read_sql("load/fast_structures.sql")).fetchall()]
    good = pa.table({"structure": pa.array(fitting_structures(structures), pa.string())})
    with registered(con, "_good_structures", good):
        return tables.create("_fast", read_sql("load/fast_accepted.sql"))


def fast_accepts(con: "duckdb.DuckDBPyConnection", documents: list[str]) -> list[bool]:
    """For each document, whether the fast path accepts it (tests; needs the store's macros)."""
    import pyarrow as pa

    from analytics.batch_tables import BatchTables
    from analytics.sqlfiles import registered

    raw = pa.table({"position": pa.array(range(1, len(documents) + 1), pa.int64()),
                    "document": pa.array(documents, pa.string())})
    with BatchTables(con) as tables, registered(con, "_raw_batch", raw):
        run_fast_path(con, tables)
        accepted = {r[0] for r in con.execute("select position from _fast").fetchall()}
    return [i + 1 in accepted for i in range(len(documents))]
