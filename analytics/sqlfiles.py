"""Where the SQL lives and how it is read: ``sql/`` next to the packages (one statement a file),
and how a statement is handed a table (:func:`registered`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"


@lru_cache(maxsize=None)
def read_sql(relative: str) -> str:
    """The text of ``sql/<relative>``; cached because statements are reused per batch."""
    return (SQL_DIR / relative).read_text(encoding="utf-8")


def sql_files(folder: str) -> list[Path]:
    """Sorted ``*.sql`` files of one ``sql/`` sub-folder."""
    return sorted((SQL_DIR / folder).glob("*.sql"))


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: Any) -> Iterator[None]:
    """``table`` (a DataFrame or Arrow table) visible to SQL as the view ``name`` inside the
    ``with`` block; unregistered when it ends, also on an error."""
    con.register(name, table)
    try:
        yield
    finally:
        con.unregister(name)
