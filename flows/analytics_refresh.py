"""Prefect flow ``analytics-refresh``: load new logs and results into DuckDB, rebuild the report.

Scheduled (cron, see deployments/prefect.yaml). DuckDB allows one writing process, so this flow
is the single writer: jobs and evaluations write files, this flow ingests them incrementally, then
publishes the read-only snapshot analysts open (``<db stem>.snapshot.duckdb``, analytics.snapshot).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact


@task(name="load-logs", retries=2, retry_delay_seconds=5)
def load_logs(db: str, sessions: list[str], job_results: list[str], eval_results: list[str]) -> dict[str, Any]:
    from analytics.store import AnalyticsStore

    sessions, job_results, eval_results = (_existing(ps) for ps in (sessions, job_results, eval_results))
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    with AnalyticsStore(db) as store:
        if sessions:
            out["sessions"] = _as_dict(store.load([Path(p) for p in sessions]))
        if job_results:
            out["job_results"] = _as_dict(store.load_job_results([Path(p) for p in job_results]))
        if eval_results:
            out["eval_results"] = _as_dict(store.load_eval_results([Path(p) for p in eval_results]))
        # analysts read this copy while the next refresh writes (analytics.snapshot)
        print(f"analysts' snapshot: {store.publish_snapshot()}")
    return out


def _existing(paths: list[str]) -> list[str]:
    """The paths that exist; the others are skipped with a warning (a deployment's folders under
    $IVOS_HOME appear once something is written there: no failed hourly runs before that)."""
    keep = [p for p in paths if Path(p).exists()]
    for p in paths:
        if p not in keep:
            print(f"warning: {p} does not exist (yet); skipped")  # the flow logs prints
    return keep


def _as_dict(report: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    return asdict(report) if is_dataclass(report) else report


@task(name="write-report", retries=1)
def report_task(db: str, out: str) -> str:
    from analytics.report import write_report

    return str(write_report(db, out))


@flow(name="analytics-refresh", log_prints=True)
def analytics_refresh_flow(
    db: str = "outputs/ivos.duckdb",
    sessions: list[str] | None = None,
    job_results: list[str] | None = None,
    eval_results: list[str] | None = None,
    report_out: str = "outputs/report",
) -> dict[str, Any]:
    """Ingest whatever is new under the given paths, then write the HTML report and figures."""
    counts = load_logs(db, sessions or [], job_results or [], eval_results or [])
    report = report_task(db, report_out)
    create_markdown_artifact(
        f"analytics refreshed: `{db}`\n\n```\n{counts}\n```\n\nreport: `{report}`", key="analytics-refresh"
    )
    print(f"loaded {counts}; report at {report}")
    return {"counts": counts, "report": report}
