"""Validation of session documents against the ivos_core session model, in bulk.

Kept apart from the store so worker processes import pydantic and ivos_core only (never DuckDB).
Documents reach this module only when the set-based fast path in DuckDB
(:mod:`analytics.prevalidate`) did not accept them. The first try is ``Session.model_validate_json`` (the same model ``parse_session`` applies, in
pydantic's JSON mode, ~40% cheaper than ``json.loads`` + ``model_validate``); a document it rejects
is passed to :func:`ivos_core.interactions.parse_session`, which is the authority and also
formats the reason stored in the quarantine table.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

from ivos_core.interactions import Session, SessionValidationError, parse_session

PARALLEL_MIN_RECORDS = 20_000
CHUNK = 10_000


@dataclass(frozen=True)
class Verdict:
    """The outcome for one document: accepted (session_id, created_at and the document as the model
    read it, ``canonical``) or the reason it is not."""

    position: int
    ok: bool
    session_id: str | None
    created_at: datetime | None
    reason: str | None
    canonical: str | None = None


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _reason(exc: SessionValidationError) -> str:
    return "; ".join(f"{loc}: {msg}" for loc, _val, msg in exc.errors)[:2000]


def validate_one(position: int, text: str, source: str = "<session>") -> Verdict:
    """Validate one JSON document; never raises for bad input."""
    try:
        s = Session.model_validate_json(text)
    except Exception:
        try:
            s = parse_session(text, source=f"{source}:{position}")
        except SessionValidationError as exc:
            return Verdict(position, False, None, None, _reason(exc))
    # the model's reading (defaults filled, the last of duplicate keys, coerced values) is what gets
    # flattened, so the stored rows match what was validated
    return Verdict(position, True, s.session_id, _utc(s.created_at), None, s.model_dump_json(by_alias=True))


def validate_many(items: Sequence[tuple[int, str]], source: str = "<session>") -> list[Verdict]:
    """Validate documents in order (the unit of work a worker process runs)."""
    return [validate_one(p, t, source) for p, t in items]


def validate_batch(items: Sequence[tuple[int, str]], source: str, executor: Executor | None) -> list[Verdict]:
    """Validate a batch, fanning out to ``executor`` when it is large enough to pay for the IPC."""
    if executor is None or len(items) < PARALLEL_MIN_RECORDS:
        return validate_many(items, source)
    chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
    out: list[Verdict] = []
    for part in executor.map(validate_many, chunks, [source] * len(chunks)):
        out.extend(part)
    return out
