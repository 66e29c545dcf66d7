"""Read-only snapshots for analysts: a consistent copy of the analytics database, published
atomically beside it after each load, that analysts open with their own tools while the next
load runs.

DuckDB lets one process hold a database file for writing, and a reader of the live file blocks
the writer (and the other way round). So the writer (:class:`analytics.store.AnalyticsStore`),
after its load committed, copies the whole database (tables with their rows and comments, the
macros, the query views of :mod:`analytics.views`; COPY FROM DATABASE carries the
COMMENT ON descriptions too) with ``ATTACH '<tmp>'; COPY FROM DATABASE``
into a temporary file next to the snapshot, checkpoints and detaches it, and renames it over the
snapshot (``os.replace``: atomic on one filesystem). An analyst who has the old snapshot open keeps
reading the old file (on Linux/macOS the renamed-over file lives on while it is open); a new
connection opens the new one. The writer never touches a file an analyst holds, and an analyst
never holds the live database.

Default location: ``<db stem>.snapshot.duckdb`` beside the database (``outputs/ivos.duckdb`` ->
``outputs/ivos.snapshot.duckdb``). Open it read-only: ``duckdb -readonly outputs/ivos.snapshot.duckdb``
or ``duckdb.connect(path, read_only=True)``.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb

__all__ = ["snapshot_path", "publish_snapshot", "SNAPSHOT_SUFFIX"]

SNAPSHOT_SUFFIX = ".snapshot"


def snapshot_path(db: str | Path) -> Path:
    """Where the snapshot of ``db`` goes: ``<stem>.snapshot<suffix>`` beside it."""
    p = Path(db)
    return p.with_name(f"{p.stem}{SNAPSHOT_SUFFIX}{p.suffix or '.duckdb'}")


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def publish_snapshot(con: duckdb.DuckDBPyConnection, target: str | Path) -> Path:
    """Copy the database of ``con`` (its committed state) to ``target`` atomically; returns ``target``.

    ``con`` must not be inside an open transaction (the copy is one transaction of its own, so it
    sees one consistent state). Temporary objects are not copied.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    alias = f"_ivos_snapshot_{uuid.uuid4().hex[:8]}"
    source = con.execute("select current_database()").fetchall()[0][0]
    attached = False
    try:
        con.execute(f"attach '{str(tmp).replace(chr(39), chr(39) * 2)}' as {alias}")
        attached = True
        con.execute(f"copy from database {_quote_ident(source)} to {alias}")
        con.execute(f"checkpoint {alias}")
        con.execute(f"detach {alias}")
        attached = False
        os.replace(tmp, target)
    except BaseException:
        if attached:
            try:
                con.execute(f"detach {alias}")
            except duckdb.Error:
                pass
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        raise
    return target

