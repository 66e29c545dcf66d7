"""Schema migrations of the analytics database: an old DuckDB file keeps loading after the schema grows.

``sql/schema.sql`` always describes the newest schema (``create table if not exists``), so a new
database needs nothing more; a database made by an older ivos has the old tables, which
``create table if not exists`` leaves alone. Each :data:`MIGRATIONS` step brings such a table up
to date (``sql/migrations/NNN_*.sql``: idempotent statements, so running one on a new database is
a no-op) and is recorded in ``schema_migrations``; :func:`migrate` runs the steps not recorded yet,
all in one transaction, so a database is either migrated or left as it was.

Readers (:func:`analytics.store.connect_readonly`) do not migrate: open the file once with the
writer (:class:`analytics.store.AnalyticsStore`, e.g. ``ivos analytics load``) first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from analytics.sqlfiles import read_sql

if TYPE_CHECKING:
    import duckdb

__all__ = ["Migration", "MIGRATIONS", "LATEST", "applied_versions", "migrate"]


@dataclass(frozen=True)
class Migration:
    """One step: ``version`` (ascending), what it changes, and its SQL file under ``sql/``."""

    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "object ids: sessions.n_objects, inputs.object_id, job_object_results backfill",
              "migrations/002_object_ids.sql"),
    Migration(3, "COMMENT ON every table and column", "migrations/003_comments.sql"),
    Migration(4, "load_progress: session files commit batch by batch and resume", "migrations/004_load_progress.sql"),
)
#: the schema version a migrated database has (1: the schema before any migration)
LATEST = max((m.version for m in MIGRATIONS), default=1)


def applied_versions(con: "duckdb.DuckDBPyConnection") -> set[int]:
    """The migration versions recorded in ``schema_migrations`` (empty when it does not exist)."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_name = 'schema_migrations'"
    ).fetchall()[0][0]
    if not exists:
        return set()
    return {int(r[0]) for r in con.execute("select version from schema_migrations").fetchall()}


def migrate(con: "duckdb.DuckDBPyConnection") -> list[int]:
    """Apply the pending migrations (after ``sql/schema.sql`` ran); returns the versions applied."""
    done = applied_versions(con)
    pending = [m for m in MIGRATIONS if m.version not in done]
    if not pending:
        return []
    con.begin()
    try:
        for m in pending:
            con.execute(read_sql(m.sql))
            con.execute(
                "insert into schema_migrations (version, description, applied_at) values (?, ?, ?)",
                [m.version, m.description, datetime.now(timezone.utc)],
            )
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return [m.version for m in pending]
