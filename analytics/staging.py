"""Staging of session files: a file streams in as batches of raw records, one batch in memory at a time.

Each :class:`RawBatch` holds an Arrow table ``(position, document)`` of the batch's readable
records (the loader registers it in DuckDB as ``_raw_batch``) and the records that could not be
read as text (quarantined with their position). A batch is the loader's unit of work and of
commit (:class:`analytics.store.AnalyticsStore`), so a file's size bounds neither memory nor the
work a killed load loses.

* Parquet: the ``document`` column streams through ``pyarrow`` record batches (one row group
  decoded at a time); a string column goes to DuckDB as Arrow without a per-record Python step, a
  binary column is decoded record by record (its bytes may not be UTF-8).
* JSONL: read line by line (:func:`analytics.sources.iter_records`).
* JSON (one document or an array): read whole, as there is no record boundary to stream on.

``start_after`` skips the records a resumed load already committed (positions up to it); for
Parquet whole row groups before it are not even read.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analytics.sources import DOCUMENT_COLUMN, RawRecord, decode_record, iter_records

__all__ = ["RawBatch", "read_ahead", "stream_batches"]

T = TypeVar("T")


@dataclass
class RawBatch:
    """One batch of a file: its readable records as Arrow, the unreadable ones, how many records
    it covers and the position of its last record (where a resumed load continues)."""

    raw: pa.Table
    unreadable: list[RawRecord] = field(default_factory=list)
    n_records: int = 0
    last_position: int = 0


#: rows per Arrow record batch of a staged batch: DuckDB scans a registered Arrow table one record
#: batch per thread, so a batch held as one chunk is parsed by one thread however many cores there are
RAW_CHUNK_ROWS = 4096


def _raw_table(positions: pa.Array, documents: pa.Array) -> pa.Table:
    table = pa.table({"position": positions.cast(pa.int64()), "document": documents.cast(pa.string())})
    return pa.Table.from_batches(table.to_batches(max_chunksize=RAW_CHUNK_ROWS), schema=table.schema)


def from_records(records: list[RawRecord]) -> RawBatch:
    """A batch of records read in Python (JSON / JSONL sources, binary Parquet columns)."""
    good = [r for r in records if r.text is not None]
    raw = _raw_table(pa.array([r.position for r in good], pa.int64()), pa.array([r.text for r in good], pa.string()))
    return RawBatch(raw, [r for r in records if r.text is None], len(records),
                    max((r.position for r in records), default=0))


def _from_arrow(col: pa.Array, first: int) -> RawBatch:
    """A batch of a Parquet ``document`` column whose first row is record ``first``."""
    n = len(col)
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return _from_values(col, first)
    positions = pa.array(np.arange(first, first + n, dtype=np.int64))
    unreadable: list[RawRecord] = []
    if col.null_count:
        valid = pc.is_valid(col)
        unreadable = [RawRecord(int(p), None, "document is null", None)
                      for p in pc.filter(positions, pc.invert(valid)).to_pylist()]
        col, positions = pc.filter(col, valid), pc.filter(positions, valid)
    return RawBatch(_raw_table(positions, col), unreadable, n, first + n - 1)


def _from_values(col: pa.Array, first: int) -> RawBatch:
    """A non-string ``document`` column, record by record: bytes are decoded (UTF-8 or
    unreadable), nulls and other types are unreadable."""
    recs: list[RawRecord] = []
    for i, v in enumerate(col.to_pylist()):
        pos = first + i
        if v is None:
            recs.append(RawRecord(pos, None, "document is null", None))
        elif isinstance(v, (bytes, bytearray)):
            recs.append(decode_record(pos, bytes(v)))
        elif isinstance(v, str):
            recs.append(RawRecord(pos, v))
        else:
            recs.append(RawRecord(pos, None, f"document is {col.type}, not text", str(v)[:300]))
    return from_records(recs)


def _parquet_batches(path: Path, batch_size: int, start_after: int) -> Iterator[RawBatch]:
    import pyarrow.parquet as pq

    # pre_buffer=False: with pre-buffering the reader keeps every coalesced byte range it read until
    # it is closed, so a file's whole document column ends up in memory (10M sessions: RSS +3 GB,
    # growing linearly; without it, flat at 0.4 GB and twice as fast to iterate)
    pf = pq.ParquetFile(path, pre_buffer=False)
    if DOCUMENT_COLUMN not in pf.schema_arrow.names:
        if start_after < 1:
            yield from_records([RawRecord(1, None, f"parquet file has no {DOCUMENT_COLUMN!r} column "
                                                   f"(columns: {pf.schema_arrow.names})", None)])
        return
    meta = pf.metadata
    sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    groups = [g for g in range(len(sizes)) if starts[g + 1] > start_after]
    if not groups:
        return
    position = int(starts[groups[0]]) + 1  # of the next row read
    pending: list[pa.Array] = []
    n_pending = 0
    first = max(position, start_after + 1)  # of the first pending row
    for rb in pf.iter_batches(batch_size=batch_size, row_groups=groups, columns=[DOCUMENT_COLUMN]):
        col = rb.column(0)
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        if position <= start_after:  # the committed rows of the first row group
            skip = min(len(col), start_after - position + 1)
            col, position = col.slice(skip), position + skip
        position += len(col)
        if len(col):
            pending.append(col)
            n_pending += len(col)
        while n_pending >= batch_size:
            joined = pa.concat_arrays(pending)
            yield _from_arrow(joined.slice(0, batch_size), first)
            first += batch_size
            rest = joined.slice(batch_size)
            pending, n_pending = ([rest] if len(rest) else []), len(rest)
    if n_pending:
        yield _from_arrow(pa.concat_arrays(pending), first)


def stream_batches(path: Path, kind: str, batch_size: int, start_after: int = 0) -> Iterator[RawBatch]:
    """The file's records after position ``start_after`` in batches of ``batch_size`` records."""
    if kind == "parquet":
        yield from _parquet_batches(path, batch_size, start_after)
        return
    for records in iter_records(path, kind, batch_size, start_after=start_after):
        yield from_records(records)


_DONE = object()


def read_ahead(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """``items``, produced by a background thread up to ``depth`` items ahead of the consumer.

    Why: reading and decoding the next batch (Parquet pages, Arrow arrays: C++ code that releases
    the GIL) overlaps the current batch's DuckDB statements, which leave a core idle in their
    single-threaded parts. Memory grows by ``depth`` batches. An exception of the producer is raised
    in the consumer at the point it happened; a consumer that stops early (an error while loading a
    batch) stops the producer."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer
            put(exc)

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
