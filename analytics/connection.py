"""DuckDB connections of the analytics store and their settings: the writer's and the readers'.

Both take ``memory_limit`` and ``threads`` (arguments, else ``$IVOS_DUCKDB_MEMORY_LIMIT`` /
``$IVOS_DUCKDB_THREADS``, else 1GB / DuckDB's default). The writer (:func:`connect_writer`, used
by :class:`analytics.store.AnalyticsStore`) also runs in bounded memory on large loads:

* ``temp_directory``: where DuckDB spills what does not fit in ``memory_limit``; by default a
  folder next to the database file, ``<db>.tmp/`` (``$IVOS_DUCKDB_TEMP_DIRECTORY`` or
  ``temp_directory=``);
* ``preserve_insertion_order = false``: DuckDB need not keep row order in inserts and scans
  without ``ORDER BY``, which lets large inserts stream instead of buffering (the loader never
  relies on insertion order: every statement that needs an order says so).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb

from analytics.migrations import migrate
from analytics.sqlfiles import read_sql, sql_files
from analytics.views import create_query_views

__all__ = [
    "DEFAULT_MEMORY_LIMIT", "MEMORY_LIMIT_ENV", "THREADS_ENV", "TEMP_DIRECTORY_ENV",
    "duckdb_config", "writer_config", "default_temp_directory", "connect_readonly", "connect_writer", "init_schema",
]

#: DuckDB memory cap of the store's connections (beyond it the writer spills to ``<db>.tmp/``);
#: override with the ``IVOS_DUCKDB_MEMORY_LIMIT`` environment variable or ``memory_limit=``.
#: 1GB, not more: the process's peak also holds a batch on the Python/Arrow side, and the whole
#: load of 1M sessions stays under 2 GB of RSS with 1GB here and 50k-record batches (1614 MiB;
#: 2734 MiB with 2GB and 100k and the old reader: docs/results/bench/analytics-1m-*.json).
DEFAULT_MEMORY_LIMIT = "1GB"
MEMORY_LIMIT_ENV = "IVOS_DUCKDB_MEMORY_LIMIT"
#: DuckDB worker threads (default: DuckDB's, one per core); ``IVOS_DUCKDB_THREADS`` or ``threads=``.
THREADS_ENV = "IVOS_DUCKDB_THREADS"
#: the writer's spill folder (default ``<db>.tmp/`` beside the database); or ``temp_directory=``.
TEMP_DIRECTORY_ENV = "IVOS_DUCKDB_TEMP_DIRECTORY"


def duckdb_config(memory_limit: str | None = None, threads: int | None = None) -> dict[str, Any]:
    """``memory_limit`` and ``threads`` for ``duckdb.connect(config=...)``: the arguments, else
    ``$IVOS_DUCKDB_MEMORY_LIMIT`` / ``$IVOS_DUCKDB_THREADS``, else 1GB / DuckDB's default."""
    cfg: dict[str, Any] = {"memory_limit": memory_limit or os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT}
    raw_threads = threads if threads is not None else os.environ.get(THREADS_ENV)
    if raw_threads not in (None, ""):
        try:
            n = int(raw_threads)
        except ValueError:
            raise ValueError(f"{THREADS_ENV} / threads must be a positive integer, got {raw_threads!r}") from None
        if n < 1:
            raise ValueError(f"{THREADS_ENV} / threads must be a positive integer, got {raw_threads!r}")
        cfg["threads"] = n
    return cfg


def default_temp_directory(db: str | Path) -> Path:
    """The writer's default spill folder: ``<db>.tmp`` beside the database file."""
    p = Path(db)
    return p.with_name(p.name + ".tmp")


def writer_config(db: str | Path, memory_limit: str | None = None, threads: int | None = None,
                  temp_directory: str | Path | None = None) -> dict[str, Any]:
    """The writer's settings: :func:`duckdb_config` plus ``temp_directory`` (the argument, else
    ``$IVOS_DUCKDB_TEMP_DIRECTORY``, else ``<db>.tmp``) and ``preserve_insertion_order = false``."""
    cfg = duckdb_config(memory_limit, threads)
    tmp = temp_directory or os.environ.get(TEMP_DIRECTORY_ENV) or default_temp_directory(db)
    cfg["temp_directory"] = str(tmp)
    cfg["preserve_insertion_order"] = False
    return cfg


def _connect(path: str | Path, cfg: dict[str, Any], read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only, config=cfg)
    except (duckdb.ParserException, duckdb.InvalidInputException) as exc:  # e.g. memory_limit "lots"
        raise ValueError(f"bad DuckDB setting {cfg} (from {MEMORY_LIMIT_ENV} / {THREADS_ENV} / "
                         f"{TEMP_DIRECTORY_ENV} or the arguments): {exc}") from None


def connect_readonly(path: str | Path, *, memory_limit: str | None = None, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection for readers (reports, analysts); fails if the file does not exist.
    Memory and threads as :func:`duckdb_config`."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no analytics database at {p}")
    return _connect(p, duckdb_config(memory_limit, threads), read_only=True)


def connect_writer(path: str | Path, *, memory_limit: str | None = None, threads: int | None = None,
                   temp_directory: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """The writer's connection (settings of :func:`writer_config`), schema created and migrated."""
    con = _connect(path, writer_config(path, memory_limit, threads, temp_directory), read_only=False)
    # naive created_at timestamps are UTC (as the session model reads them)
    con.execute("set TimeZone = 'UTC'")
    init_schema(con)
    return con


def init_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables and macros, migrate a database made by an older ivos, and (re)create the
    views and table macros of the named queries (:mod:`analytics.views`); idempotent."""
    con.execute(read_sql("schema.sql"))
    migrate(con)
    for f in sql_files("macros"):
        con.execute(f.read_text(encoding="utf-8"))
    create_query_views(con)
