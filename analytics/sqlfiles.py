"""Where the SQL lives and how it is read: ``sql/`` next to the packages (one statement a file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"


@lru_cache(maxsize=None)
def read_sql(relative: str) -> str:
    """The text of ``sql/<relative>``; cached because statements are reused per batch."""
    return (SQL_DIR / relative).read_text(encoding="utf-8")


def sql_files(folder: str) -> list[Path]:
    """Sorted ``*.sql`` files of one ``sql/`` sub-folder."""
    return sorted((SQL_DIR / folder).glob("*.sql"))
