"""Reading raw records out of log files, without judging them.

The loader validates and stores; this module only turns files into ``(position, payload)`` pairs
so every kind of source (one JSON document, a JSON array, JSONL, Parquet with a ``document``
column) reaches validation the same way. Payloads that cannot even be decoded (bad UTF-8,
truncated JSON documents) come out as :class:`RawRecord` with ``error`` set, so the loader can
quarantine them with their position while the rest of the file loads.

Positions are 1-based record numbers: the line of a JSONL file, the element of a JSON array, the
row of a Parquet file, and 1 for a file holding one document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal, Sequence

SourceKind = Literal["auto", "json", "jsonl", "parquet"]
SUFFIX_KIND: dict[str, str] = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
DOCUMENT_COLUMN = "document"


@dataclass(frozen=True)
class RawRecord:
    """One record as read: its text, or why it could not be read as text."""

    position: int
    text: str | None
    error: str | None = None
    snippet: str | None = None


def expand_paths(paths: Sequence[Path | str], source_kind: SourceKind = "auto") -> list[tuple[Path, str]]:
    """Files to read with their kind; directories are walked recursively in sorted order."""
    out: list[tuple[Path, str]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for child in sorted(c for c in p.rglob("*") if c.is_file()):
                kind = SUFFIX_KIND.get(child.suffix.lower())
                if kind is not None and (source_kind == "auto" or source_kind == kind):
                    out.append((child, kind))
        elif p.is_file():
            kind = source_kind if source_kind != "auto" else SUFFIX_KIND.get(p.suffix.lower(), "json")
            out.append((p, kind))
        else:
            raise FileNotFoundError(f"no such file or directory: {p}")
    return out


def _snippet(data: bytes | str, n: int = 300) -> str:
    if isinstance(data, bytes):
        data = data[: n * 4].decode("utf-8", errors="replace")
    return data[:n]


def decode_record(position: int, data: bytes) -> RawRecord:
    """A record of raw bytes: its UTF-8 text, or unreadable (with a snippet) when it is not UTF-8."""
    try:
        return RawRecord(position, data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return RawRecord(position, None, f"not UTF-8 text: {exc}", _snippet(data))



def iter_records(path: Path, kind: str, batch_size: int = 100_000, start_after: int = 0) -> Iterator[list[RawRecord]]:
    """Yield batches of records of one file (batches bound memory on large files); records at
    positions up to ``start_after`` are skipped (a load resuming after its committed batches).

    JSONL and Parquet files are streamed; a JSON file (one document or an array) is read whole."""
    if kind == "parquet":
        yield from _skip(_iter_parquet(path, batch_size), start_after)
        return
    if kind == "jsonl":
        yield from _iter_jsonl(path, batch_size, start_after)
        return
    data = path.read_bytes()
    rec = decode_record(1, data)
    if rec.text is None:
        yield from _skip(iter([[rec]]), start_after)
        return
    stripped = rec.text.lstrip()
    if stripped.startswith("["):
        # a JSON array of documents: each element is a record; a broken array is one bad record
        try:
            items = json.loads(rec.text)
        except json.JSONDecodeError as exc:
            yield from _skip(iter([[RawRecord(1, None, f"not valid JSON: {exc}", _snippet(rec.text))]]), start_after)
            return
        del rec, stripped, data
        recs = [RawRecord(i, json.dumps(item)) for i, item in enumerate(items, start=1) if i > start_after]
        for i in range(0, len(recs), batch_size):
            yield recs[i : i + batch_size]
        return
    yield from _skip(iter([[rec]]), start_after)


def _skip(batches: Iterator[list[RawRecord]], start_after: int) -> Iterator[list[RawRecord]]:
    for batch in batches:
        kept = [r for r in batch if r.position > start_after] if start_after else batch
        if kept:
            yield kept


def _iter_jsonl(path: Path, batch_size: int, start_after: int = 0) -> Iterator[list[RawRecord]]:
    """One record per non-blank line (positions are line numbers), read line by line."""
    batch: list[RawRecord] = []
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno <= start_after or not raw.strip():
                continue
            line = raw[:-1] if raw.endswith(b"\n") else raw
            batch.append(decode_record(lineno, line.rstrip(b"\r")))
            if len(batch) >= batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def _iter_parquet(path: Path, batch_size: int) -> Iterator[list[RawRecord]]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path, pre_buffer=False)  # see analytics.staging: pre-buffering keeps what it read
    if DOCUMENT_COLUMN not in pf.schema_arrow.names:
        yield [RawRecord(1, None, f"parquet file has no {DOCUMENT_COLUMN!r} column "
                                  f"(columns: {pf.schema_arrow.names})", None)]
        return
    position = 1
    for batch in pf.iter_batches(batch_size=batch_size, columns=[DOCUMENT_COLUMN]):
        col = batch.column(0)
        values = col.to_pylist()
        out: list[RawRecord] = []
        for v in values:
            if v is None:
                out.append(RawRecord(position, None, "document is null", None))
            elif isinstance(v, bytes):
                out.append(decode_record(position, v))
            else:
                out.append(RawRecord(position, v))
            position += 1
        yield out
