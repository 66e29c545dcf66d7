"""Named queries (``sql/queries/*.sql``), bound parameters, SQL column tests and analyst SQL.

A query file declares its parameters and defaults in header lines ``-- param NAME = JSON``;
:func:`run_query` fills the defaults, refuses unknown names and binds values with ``$name``
(never string formatting), so a parameter carrying SQL is just a string that matches nothing.

:func:`run_readonly_sql` is for analysts: it accepts only statements DuckDB classifies as
``SELECT`` / ``EXPLAIN`` (``extract_statements``), and runs them on a connection opened with
``read_only=True`` and external access disabled, which is the real guard.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import duckdb
import pandas as pd

from analytics.sqlfiles import SQL_DIR, sql_files

_PARAM_LINE = re.compile(r"^--\s*param\s+(\w+)\s*=\s*(.+?)\s*$")
_ALLOWED_STATEMENTS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class QueryError(ValueError):
    """Unknown query, unknown or missing parameter, or a refused analyst statement."""


@dataclass(frozen=True)
class NamedQuery:
    name: str
    path: Path
    sql: str
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    parameters: frozenset[str] = frozenset()


def _parse(path: Path) -> NamedQuery:
    text = path.read_text(encoding="utf-8")
    defaults: dict[str, Any] = {}
    desc: list[str] = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        m = _PARAM_LINE.match(line)
        if m:
            defaults[m.group(1)] = json.loads(m.group(2))
        else:
            desc.append(line.lstrip("- ").rstrip())
    con = duckdb.connect()
    try:
        stmts = con.extract_statements(text)
    finally:
        con.close()
    if len(stmts) != 1:
        raise QueryError(f"{path.name}: one statement per file, found {len(stmts)}")
    params = frozenset(stmts[0].named_parameters)
    undeclared = params - set(defaults)
    if undeclared:
        raise QueryError(f"{path.name}: parameters {sorted(undeclared)} have no '-- param' default line")
    return NamedQuery(path.stem, path, text, " ".join(d for d in desc if d), defaults, params)


@lru_cache(maxsize=1)
def registry() -> dict[str, NamedQuery]:
    """Every query of ``sql/queries`` by name (file stem)."""
    return {p.stem: _parse(p) for p in sql_files("queries")}


def run_query(con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Run a named query with bound parameters (defaults filled in) and return a DataFrame."""
    queries = registry()
    if name not in queries:
        raise QueryError(f"unknown query {name!r}; known: {sorted(queries)}")
    q = queries[name]
    given = dict(params or {})
    unknown = set(given) - q.parameters
    if unknown:
        raise QueryError(f"query {name!r} has no parameter(s) {sorted(unknown)}; it takes {sorted(q.parameters)}")
    bound = {k: given.get(k, q.defaults[k]) for k in q.parameters}
    return con.execute(q.sql, bound).df() if bound else con.execute(q.sql).df()


def coerce_param(name: str, value: str, query: str) -> Any:
    """CLI helper: convert ``k=v`` text to the type of the query's default for ``k``."""
    default = registry()[query].defaults.get(name)
    if isinstance(default, bool):
        return value.lower() in ("1", "true", "yes")
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value


def run_sql_tests(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    """Run ``sql/tests/*.sql`` (each returns offending rows); return the failing ones by name."""
    failures: dict[str, pd.DataFrame] = {}
    for path in sql_files("tests"):
        df = con.execute(path.read_text(encoding="utf-8")).df()
        if len(df):
            failures[path.stem] = df
    return failures


def check_readonly_sql(sql: str) -> None:
    """Raise :class:`QueryError` unless ``sql`` is one or more SELECT / EXPLAIN statements."""
    con = duckdb.connect()
    try:
        try:
            stmts = con.extract_statements(sql)
        except duckdb.Error as exc:
            raise QueryError(f"cannot parse SQL: {exc}") from exc
    finally:
        con.close()
    if not stmts:
        raise QueryError("no SQL statement given")
    for st in stmts:
        if st.type not in _ALLOWED_STATEMENTS:
            raise QueryError(f"refused: only read-only queries (SELECT) are allowed, got {st.type.name}")


def run_readonly_sql(db_path: str | Path, sql: str) -> pd.DataFrame:
    """Run analyst SQL on a read-only connection; returns the last statement's result."""
    check_readonly_sql(sql)
    p = Path(db_path)
    if not p.exists():
        raise FileNotFoundError(f"no analytics database at {p}")
    con = duckdb.connect(str(p), read_only=True, config={"enable_external_access": False})
    try:
        stmts = con.extract_statements(sql)
        for st in stmts[:-1]:
            con.execute(st.query).fetchall()
        return con.execute(stmts[-1].query).df()
    finally:
        con.close()


__all__ = [
    "NamedQuery", "QueryError", "SQL_DIR", "registry", "run_query", "coerce_param", "run_sql_tests",
    "check_readonly_sql", "run_readonly_sql",
]
