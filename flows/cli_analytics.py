"""``ivos analytics ...``: load logs, run named queries and analyst SQL, write the report.

A Typer sub-app (``analytics_app``) that the main CLI mounts; it imports no Prefect, so it stays
fast to start. Writes go through :class:`analytics.store.AnalyticsStore` (the one writer).
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from flows.cli_common import (
    EXIT_ITEM_FAILED,
    JSON_HELP,
    console,
    emit_json,
    human_to_stderr,
)

analytics_app = typer.Typer(help="Usage analytics: DuckDB store of session logs and results.", no_args_is_help=True)


class Kind(str, Enum):
    sessions = "sessions"
    jobs = "jobs"
    evals = "evals"


class Fmt(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def _print_df(df, fmt: Fmt, out: Optional[Path]) -> None:
    if fmt is Fmt.parquet:
        if out is None:
            raise typer.BadParameter("--format parquet needs --out FILE")
        df.to_parquet(out, index=False)
        console.print(f"wrote {len(df)} rows to {out}")
        return
    if fmt is Fmt.csv:
        text = df.to_csv(index=False)
    elif fmt is Fmt.json:
        text = df.to_json(orient="records", date_format="iso", indent=1)
    else:
        if out is None:
            t = Table(show_lines=False)
            for c in df.columns:
                t.add_column(str(c))
            for row in df.head(200).itertuples(index=False):
                t.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
            console.print(t)
            if len(df) > 200:
                console.print(f"... {len(df) - 200} more rows")
            return
        text = df.to_string(index=False)
    if out is None:
        sys.stdout.write(text + ("\n" if not text.endswith("\n") else ""))
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {len(df)} rows to {out}")


@analytics_app.command("load")
def load_cmd(
    paths: List[Path] = typer.Argument(..., help="files or folders (JSON, JSONL, Parquet)"),
    db: Path = typer.Option(..., "--db", help="DuckDB file (created if absent)"),
    kind: Kind = typer.Option(Kind.sessions, "--kind", help="what the files hold"),
    workers: Optional[int] = typer.Option(None, help="validation processes (default: CPU count)"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP + ": {db, kind, loaded, unchanged, quarantined, "
                                                                   "files_loaded, files_skipped, snapshot}"),
    snapshot: bool = typer.Option(True, "--snapshot/--no-snapshot",
                                  help="then publish the read-only analysts' copy <stem>.snapshot.duckdb beside --db"),
) -> None:
    """Load session logs (or job / evaluation results) idempotently and incrementally.

    Exit codes: 0 every record loaded (or already there); 1 any record quarantined (the valid
    ones are loaded and committed; the refused ones and their reasons are in the quarantine
    table); 2 bad usage.
    """
    from analytics.store import AnalyticsStore

    with human_to_stderr(as_json):
        with AnalyticsStore(db, workers=workers) as store:
            if kind is Kind.sessions:
                rep = store.load(paths)
            elif kind is Kind.jobs:
                rep = store.load_job_results(paths)
            else:
                rep = store.load_eval_results(paths)
            snap = store.publish_snapshot() if snapshot else None
        t = Table(title=f"load into {db}")
        for c in ("loaded", "unchanged", "quarantined", "files loaded", "files skipped"):
            t.add_column(c, justify="right")
        t.add_row(*(str(v) for v in (rep.loaded, rep.unchanged, rep.quarantined, rep.files_loaded, rep.files_skipped)))
        console.print(t)
        if snap is not None:
            console.print(f"analysts' snapshot: {snap}")
    if as_json:
        emit_json({"db": str(db), "kind": kind.value, "loaded": rep.loaded, "unchanged": rep.unchanged,
                   "quarantined": rep.quarantined, "files_loaded": rep.files_loaded, "files_skipped": rep.files_skipped,
                   "snapshot": None if snap is None else str(snap)})
    if rep.quarantined:
        raise typer.Exit(code=EXIT_ITEM_FAILED)


@analytics_app.command("query")
def query_cmd(
    name: str = typer.Argument(..., help="a query of sql/queries (see `queries`)"),
    db: Path = typer.Option(..., "--db"),
    param: List[str] = typer.Option([], "--param", help="k=v, repeatable; bound, never spliced"),
    fmt: Fmt = typer.Option(Fmt.table, "--format"),
    out: Optional[Path] = typer.Option(None, "--out"),
) -> None:
    """Run a named query with bound parameters."""
    from analytics.queries import QueryError, coerce_param, registry, run_query
    from analytics.store import connect_readonly

    if name not in registry():
        raise typer.BadParameter(f"unknown query {name!r}; known: {', '.join(sorted(registry()))}")
    params = {}
    for p in param:
        if "=" not in p:
            raise typer.BadParameter(f"--param wants k=v, got {p!r}")
        k, v = p.split("=", 1)
        params[k] = coerce_param(k, v, name)
    con = connect_readonly(db)
    try:
        df = run_query(con, name, params)
    except QueryError as exc:
        raise typer.BadParameter(str(exc)) from exc
    finally:
        con.close()
    _print_df(df, fmt, out)


@analytics_app.command("queries")
def queries_cmd() -> None:
    """List the named queries and their parameters."""
    from analytics.queries import registry

    t = Table()
    t.add_column("name")
    t.add_column("parameters (defaults)")
    t.add_column("what")
    for q in registry().values():
        t.add_row(q.name, ", ".join(f"{k}={v}" for k, v in q.defaults.items()), q.description[:90])
    console.print(t)


@analytics_app.command("sql")
def sql_cmd(
    sql: str = typer.Argument(..., help="SELECT statement(s); writes, ATTACH, COPY, SET ... are refused"),
    db: Path = typer.Option(..., "--db"),
    fmt: Fmt = typer.Option(Fmt.table, "--format"),
    out: Optional[Path] = typer.Option(None, "--out"),
) -> None:
    """Run read-only SQL for analysts."""
    from analytics.queries import QueryError, run_readonly_sql

    try:
        df = run_readonly_sql(db, sql)
    except QueryError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    _print_df(df, fmt, out)


@analytics_app.command("report")
def report_cmd(db: Path = typer.Option(..., "--db"), out: Path = typer.Option(..., "--out")) -> None:
    """Write the figures (PNG) and a self-contained HTML report."""
    from analytics.report import write_report

    path = write_report(db, out)
    console.print(f"report: {path}")


@analytics_app.command("check")
def check_cmd(db: Path = typer.Option(..., "--db")) -> None:
    """Run the SQL column tests (sql/tests); exit 1 if any returns rows."""
    from analytics.queries import run_sql_tests
    from analytics.store import connect_readonly

    con = connect_readonly(db)
    try:
        failures = run_sql_tests(con)
    finally:
        con.close()
    for name, df in failures.items():
        console.print(f"[red]FAIL {name}: {len(df)} offending rows[/red]")
    if failures:
        raise typer.Exit(1)
    console.print("[green]all SQL column tests pass[/green]")


@analytics_app.command("generate")
def generate_cmd(
    n: int = typer.Option(1000, "--n", help="sessions"),
    out: Path = typer.Option(..., "--out", help=".parquet or .jsonl"),
    seed: int = typer.Option(0),
) -> None:
    """Write synthetic session logs (source = simulated) for tests and scale runs."""
    from analytics.synthlogs import SynthConfig, write_logs

    path = write_logs(out, SynthConfig(n_sessions=n, seed=seed))
    console.print(f"wrote {n} sessions to {path}")


@analytics_app.command("davis-stats")
def davis_stats_cmd(
    annotations: Path = typer.Argument(..., help="DAVIS Annotations/480p folder"),
    db: Path = typer.Option(..., "--db"),
    dataset: str = typer.Option("davis2016", help="the dataset name `ivos eval davis` writes its results under"),
) -> None:
    """Compute ground-truth consecutive-mask IoU per sequence into sequence_stats (Fig. 10)."""
    from analytics.difficulty import davis_sequence_stats
    from analytics.store import AnalyticsStore

    df = davis_sequence_stats(annotations, dataset)
    with AnalyticsStore(db, workers=1) as store:
        n = store.load_sequence_stats(df)
    console.print(f"{n} sequences written to sequence_stats")


if __name__ == "__main__":
    analytics_app()
