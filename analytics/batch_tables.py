"""A batch's intermediate tables, held as Arrow and registered as views instead of DuckDB temp tables.

Why: DuckDB scans a table in parallel by row group (122,880 rows), so a temp table of one 50k-record
batch is one row group and every statement over it runs on one thread; a registered Arrow table is
scanned one record batch per thread. On the 1M-session load (2-core build machine) the statements
after the fast-path parse (hashing, staging, flattening into frames / iterations / inputs) ran at
one core with temp tables; as Arrow tables of :data:`CHUNK_ROWS`-row chunks they use both
(``docs/results/bench/analytics-1m-arrow-batch-tables-*.json``).

A batch's tables live only as long as the batch: :class:`BatchTables` unregisters them (and drops
the Arrow data) when its ``with`` block ends, also on an error, so memory stays one batch deep.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from analytics.staging import RAW_CHUNK_ROWS

if TYPE_CHECKING:
    import duckdb

__all__ = ["BatchTables", "CHUNK_ROWS"]

#: rows per Arrow record batch of a batch table (the unit of DuckDB's parallel scan over it): the
#: same chunking as the staged raw documents, for the same reason
CHUNK_ROWS = RAW_CHUNK_ROWS


class BatchTables:
    """Named results of ``SELECT`` statements, visible to later statements of the same batch."""

    def __init__(self, con: "duckdb.DuckDBPyConnection"):
        self.con = con
        self._tables: dict[str, pa.Table] = {}

    def create(self, name: str, select: str, params: dict[str, Any] | None = None) -> int:
        """Run ``select`` and register its rows as ``name`` (replacing an earlier one); returns the row count."""
        table = self.con.sql(select, params=params).to_arrow_table(CHUNK_ROWS)
        if name in self._tables:
            self.con.unregister(name)
        self.con.register(name, table)
        self._tables[name] = table
        return table.num_rows

    def rows(self, name: str) -> int:
        return self._tables[name].num_rows

    def close(self) -> None:
        for name in reversed(list(self._tables)):
            self.con.unregister(name)
        self._tables.clear()

    def __enter__(self) -> "BatchTables":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
