"""The paper's analyses inside the database: every named query of ``sql/queries`` as a view and a
table macro, so analysts get them in any DuckDB client (and in the published snapshot).

For a query ``NAME`` (``sql/queries/NAME.sql``, one statement):

* view ``NAME``: the query with its default parameters (``select * from refine_share``);
* table macro ``NAME_with(p_param := value, ...)`` when it has parameters, every one optional with
  the query's default (``select * from refine_share_with(p_source := 'recorded')``).

The macro's parameters carry a ``p_`` prefix: queries have parameters named like columns
(``source``, ``method``, ``metric``) and inside a DuckDB macro a parameter hides a column of the
same name.
Created (``create or replace``) by :func:`analytics.store.init_schema` whenever the writer opens
the file, so they always match ``sql/queries``. Each view carries the query's description as its
``COMMENT``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from analytics.queries import NamedQuery, registry

if TYPE_CHECKING:
    import duckdb

__all__ = ["view_statements", "create_query_views", "MACRO_SUFFIX", "PARAM_PREFIX"]

MACRO_SUFFIX = "_with"
#: macro parameters are the query's parameters with this prefix (a macro parameter hides a column
#: of the same name, and the queries have parameters named like columns: source, method, metric)
PARAM_PREFIX = "p_"
_PARAM_REF = re.compile(r"\$(\w+)")


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if value is None:
        return "null"
    return "'" + str(value).replace("'", "''") + "'"


def _body(q: NamedQuery) -> str:
    sql = q.sql.strip().rstrip(";").rstrip()
    return _PARAM_REF.sub(lambda m: f"{PARAM_PREFIX}{m.group(1)}" if m.group(1) in q.parameters else m.group(0), sql)


def _comment(q: NamedQuery) -> str:
    text = q.description or f"Named query {q.name} (sql/queries/{q.name}.sql)."
    if q.defaults:
        params = ", ".join(f"{PARAM_PREFIX}{k} := {_literal(v)}" for k, v in q.defaults.items())
        text += f" Defaults; other parameters: select * from {q.name}{MACRO_SUFFIX}({params})."
    return text


def view_statements(q: NamedQuery) -> list[str]:
    """The statements that create ``q``'s view (and its table macros when it has parameters)."""
    stmts: list[str] = []
    names = [k for k in q.defaults if k in q.parameters]
    if names:
        args = ", ".join(f"{PARAM_PREFIX}{k} := {_literal(q.defaults[k])}" for k in names)
        stmts.append(f"create or replace macro {q.name}{MACRO_SUFFIX}({args}) as table\n{_body(q)}")
        stmts.append(f"create or replace view {q.name} as select * from {q.name}{MACRO_SUFFIX}()")
    else:
        stmts.append(f"create or replace view {q.name} as\n{_body(q)}")
    stmts.append(f"comment on view {q.name} is {_literal(_comment(q))}")
    return stmts


def create_query_views(con: "duckdb.DuckDBPyConnection") -> list[str]:
    """Create or replace the view (and macros) of every named query; returns the view names."""
    tables = {r[0] for r in con.execute(
        "select table_name from duckdb_tables() where database_name = current_database()").fetchall()}
    columns = {r[0] for r in con.execute(
        "select column_name from duckdb_columns() where database_name = current_database()").fetchall()}
    made = []
    for q in registry().values():
        if q.name in tables:
            raise ValueError(f"query {q.name!r} is named like a table; rename sql/queries/{q.name}.sql")
        clash = {f"{PARAM_PREFIX}{k}" for k in q.parameters} & columns
        if clash:
            raise ValueError(f"query {q.name!r}: macro parameter(s) {sorted(clash)} are named like columns")
        for st in view_statements(q):
            con.execute(st)
        made.append(q.name)
    return made
