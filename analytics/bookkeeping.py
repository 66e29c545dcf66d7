"""The loader's bookkeeping: load counts, the quarantine, which files are loaded and how far a
session file's committed batches got (``loaded_files``, ``load_progress``, ``quarantine``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from analytics.sqlfiles import read_sql, registered

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "SNIPPET_CHARS", "LoadReport", "Progress", "now", "quarantine_row", "insert_quarantine", "already_loaded",
    "mark_loaded", "read_progress", "write_progress", "clear_progress",
]

SNIPPET_CHARS = 300
QUARANTINE_COLUMNS = ["source_file", "source_sha256", "position", "record_kind", "session_id", "reason",
                      "raw_snippet", "loaded_at"]


@dataclass
class LoadReport:
    """Counts of one ``load`` call (records, except ``files_*``)."""

    loaded: int = 0
    unchanged: int = 0
    quarantined: int = 0
    files_loaded: int = 0
    files_skipped: int = 0

    def __add__(self, other: "LoadReport") -> "LoadReport":
        return LoadReport(
            self.loaded + other.loaded,
            self.unchanged + other.unchanged,
            self.quarantined + other.quarantined,
            self.files_loaded + other.files_loaded,
            self.files_skipped + other.files_skipped,
        )


@dataclass
class Progress:
    """How far a session file's committed batches got: the last record position and the counts."""

    position: int = 0
    n_records: int = 0
    report: LoadReport | None = None


def now() -> datetime:
    return datetime.now(timezone.utc)


def quarantine_row(path: Path, sha: str, position: int, kind: str, session_id: str | None, reason: str,
                   snippet: str | None, loaded_at: datetime) -> dict[str, Any]:
    """One quarantine row (see :func:`insert_quarantine`)."""
    return {
        "source_file": str(path), "source_sha256": sha, "position": position, "record_kind": kind,
        "session_id": session_id, "reason": reason, "raw_snippet": snippet, "loaded_at": loaded_at,
    }


def insert_quarantine(con: "duckdb.DuckDBPyConnection", rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    df = pd.DataFrame(rows, columns=QUARANTINE_COLUMNS)
    df["position"] = df["position"].astype("int64")
    df["session_id"] = df["session_id"].astype(object)
    df["raw_snippet"] = df["raw_snippet"].astype(object)
    with registered(con, "_q_df", df):
        con.execute(read_sql("load/insert_quarantine.sql"))


def already_loaded(con: "duckdb.DuckDBPyConnection", sha: str) -> bool:
    """Whether a file with this content is in ``loaded_files`` (then it is skipped unread)."""
    return bool(con.execute(read_sql("load/file_loaded.sql"), {"sha256": sha}).fetchall()[0][0])


def mark_loaded(con: "duckdb.DuckDBPyConnection", path: Path, sha: str, kind: str, n_records: int,
                rep: LoadReport) -> None:
    con.execute(read_sql("load/insert_loaded_file.sql"), {
        "sha256": sha, "source_file": str(path), "record_kind": kind, "n_records": n_records,
        "n_loaded": rep.loaded, "n_unchanged": rep.unchanged, "n_quarantined": rep.quarantined, "loaded_at": now(),
    })


def read_progress(con: "duckdb.DuckDBPyConnection", sha: str) -> Progress:
    """Where the committed batches of a session file ended (nothing committed: position 0)."""
    rows = con.execute(read_sql("load/read_progress.sql"), {"sha256": sha}).fetchall()
    if not rows:
        return Progress(report=LoadReport(files_loaded=1))
    position, n_records, n_loaded, n_unchanged, n_quarantined = rows[0]
    return Progress(int(position), int(n_records),
                    LoadReport(int(n_loaded), int(n_unchanged), int(n_quarantined), files_loaded=1))


def write_progress(con: "duckdb.DuckDBPyConnection", path: Path, sha: str, progress: Progress) -> None:
    """Record a committed batch (call inside the batch's transaction)."""
    rep = progress.report or LoadReport()
    con.execute(read_sql("load/write_progress.sql"), {
        "sha256": sha, "path": str(path), "position": progress.position, "n_records": progress.n_records,
        "n_loaded": rep.loaded, "n_unchanged": rep.unchanged, "n_quarantined": rep.quarantined, "updated_at": now(),
    })


def clear_progress(con: "duckdb.DuckDBPyConnection", sha: str) -> None:
    con.execute(read_sql("load/clear_progress.sql"), {"sha256": sha})
