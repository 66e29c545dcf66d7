"""``ivos jobs ...``, ``ivos deploy`` and ``ivos reprocess``: mounted by :func:`register`."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from flows.cli_common import (
    EXIT_ITEM_FAILED,
    EXIT_USAGE,
    JSON_HELP,
    console,
    emit_json,
    human_to_stderr,
    prefect_defaults,
    print_rows,
)
from ivos_core.shipped import DEFAULT_MODEL

jobs_app = typer.Typer(help="Queued segmentation jobs on the ivos-gpu work pool.", no_args_is_help=True)

NOT_CONFIGURED_EXIT = EXIT_USAGE
#: ``jobs submit``: a refused session log (invalid; nothing enqueued for it) exits 2, as it always has
#: (bad input); the valid sessions of the same call are still queued and listed.
REFUSED_EXIT = EXIT_USAGE


class Priority(str, Enum):
    """Work queue of the ivos-gpu pool (flows.jobs.PRIORITIES); high is served first."""

    high = "high"
    normal = "normal"
    low = "low"


class Interactive(str, Enum):
    """Interactive method of a job's model: its checkpoint ('deep') or classical GrabCut (no weights)."""

    deep = "deep"
    grabcut = "grabcut"


class TaskRunner(str, Enum):
    """How ``ivos reprocess`` fans sessions out (flows.reprocess._runner)."""

    threads = "threads"
    processes = "processes"
    dask = "dask"


def _value(e: Optional[Enum]) -> Optional[str]:
    return None if e is None else str(e.value)


def _not_configured(exc: Exception) -> typer.Exit:
    """One paragraph on stderr (what to run instead), no traceback; the caller raises the result."""
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=NOT_CONFIGURED_EXIT)


def _params(out: Optional[Path], roots: Optional[str], models_dir: Optional[Path], interactive: Optional[str],
            interactive_checkpoint: Optional[Path], finetune_steps: Optional[int]) -> dict:
    from ivos_core.paths import parse_roots

    p: dict = {}
    if out:
        p["out"] = str(out.resolve())
    if roots:
        p["video_roots"] = [str(r.resolve()) for r in parse_roots(roots)]
    if models_dir:
        p["models_dir"] = str(models_dir.resolve())
    if interactive:
        p["interactive"] = interactive
    if interactive_checkpoint:
        p["interactive_checkpoint"] = str(interactive_checkpoint.resolve())
    if finetune_steps is not None:
        p["finetune_steps"] = finetune_steps
    return p


@jobs_app.command("submit")
def submit(
    sessions: list[Path] = typer.Argument(..., help="session log files (JSON)"),
    priority: Priority = typer.Option(Priority.normal, help="work queue; high is served first"),
    model: str = typer.Option(DEFAULT_MODEL, help="model name (folder under $IVOS_HOME/models, else the shipped models/)"),
    out: Optional[Path] = typer.Option(None, help="output root (default $IVOS_HOME/jobs or outputs/jobs)"),
    roots: Optional[str] = typer.Option(None, "--roots", help="allowed video roots, colon-separated (default $IVOS_DATA)"),
    models_dir: Optional[Path] = typer.Option(None, help="folder of named models"),
    interactive: Optional[Interactive] = typer.Option(None, help="the model's checkpoint (deep) or classical GrabCut"),
    interactive_checkpoint: Optional[Path] = typer.Option(None, help="override the model's interactive checkpoint"),
    finetune_steps: Optional[int] = typer.Option(None, help="override OSVOS fine-tuning steps"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP + ": {submitted: [{path, session_id, flow_run_id}], "
                                                                   "refused: [{path, reason}], n_submitted, n_refused}"),
) -> None:
    """Validate each session log and enqueue the valid ones as segment-video runs.

    Exit codes: 0 every session queued; 2 any session refused (an invalid log: nothing is enqueued
    for it, the valid ones are still queued and listed), no Prefect server or deployment configured
    (one line on stderr says what to run; nothing on stdout), or bad usage.
    """
    prefect_defaults()
    from flows.jobs import PrefectNotConfigured, require_api, submit_sessions

    prio = priority.value
    with human_to_stderr(as_json):
        try:
            require_api()  # before anything else: without a server Prefect would start a temporary, empty one
            res = submit_sessions(sessions, priority=prio, model=model,
                                  parameters=_params(out, roots, models_dir, _value(interactive), interactive_checkpoint,
                                                     finetune_steps))
        except PrefectNotConfigured as exc:
            raise _not_configured(exc) from None
        for r in res:
            if r.ok:
                console.print(f"[green]queued[/green] {r.path}: session {r.session_id} -> flow run {r.flow_run_id} ({prio})")
            else:
                console.print(f"[red]refused[/red] {r.path}: nothing enqueued")
                console.print(r.error, markup=False, highlight=False)
    if as_json:
        submitted = [{"path": r.path, "session_id": r.session_id, "flow_run_id": r.flow_run_id} for r in res if r.ok]
        refused = [{"path": r.path, "reason": r.error} for r in res if not r.ok]
        emit_json({"priority": prio, "model": model, "submitted": submitted, "refused": refused,
                   "n_submitted": len(submitted), "n_refused": len(refused)})
    if not all(r.ok for r in res):
        raise typer.Exit(code=REFUSED_EXIT)


@jobs_app.command("status")
def status(
    session: Optional[str] = typer.Option(None, "--session", help="only this session id"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Submitted jobs and their state, from the Prefect API."""
    prefect_defaults()
    from flows.jobs import PrefectNotConfigured, job_status, require_api

    try:
        require_api()
    except PrefectNotConfigured as exc:
        raise _not_configured(exc) from None
    rows = job_status(session)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    print_rows([{k: r[k] for k in ("session_id", "model", "priority", "state", "run_count", "flow_run_id", "message")} for r in rows], title="jobs")


@jobs_app.command("results")
def results(
    session_id: str = typer.Argument(..., help="session id"),
    out: Optional[Path] = typer.Option(None, help="output root"),
    model_version: Optional[str] = typer.Option(None, help="only this model version"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP + ": {session_id, n_results, results: [the results.json "
                                                                   "record + output_dir, one per model version]}"),
) -> None:
    """The results record(s) of a finished session (one per model version).

    Exit codes: 0 at least one finished output; 1 none (not finished, failed, or unknown session;
    with --json the document lists no results); 2 bad usage.
    """
    from flows.jobs import job_results

    recs = job_results(session_id, out, model_version=model_version)
    if as_json:
        emit_json({"session_id": session_id, "model_version": model_version, "n_results": len(recs), "results": recs})
    with human_to_stderr(as_json):
        if not recs:
            console.print(f"[yellow]no finished outputs for session {session_id!r}[/yellow] (see `ivos jobs status --session {session_id}`)")
            raise typer.Exit(code=EXIT_ITEM_FAILED)
        if as_json:
            return
        for r in recs:
            console.print(f"[bold]{r['model_version']}[/bold]: {r['output_dir']}")
            console.print(json.dumps({"summary": r.get("summary"), "timings": r.get("timings"), "files": r.get("files")}, indent=2))


@jobs_app.command("recover")
def recover(max_attempts: int = typer.Option(3, help="give up on a run after this many attempts")) -> None:
    """Re-queue crashed jobs (worker or host died); see flows/jobs.py for the mechanism."""
    prefect_defaults()
    from flows.jobs import PrefectNotConfigured, recover_runs, require_api

    try:
        require_api()
    except PrefectNotConfigured as exc:
        raise _not_configured(exc) from None
    for r in recover_runs(max_attempts=max_attempts):
        console.print(f"{r['name']} ({r['flow_run_id']}): {r['action']}")


def deploy_cmd(
    prefect_file: Path = typer.Option(Path("deployments/prefect.yaml"), help="the deployments file"),
    gpu_slots: int = typer.Option(1, help="size of the `gpu` concurrency limit (total GPUs of all workers)"),
    cpu_slots: int = typer.Option(0, help="concurrency limit of the ivos-cpu pool (data, evaluation, analytics); 0 = none"),
    name: Optional[list[str]] = typer.Option(None, "--name", help="deploy only these deployments"),
) -> None:
    """Create the ivos-gpu and ivos-cpu pools, priority queues, gpu limit and zombie automation; deploy the flows."""
    prefect_defaults()
    from flows.deploy import deploy
    from flows.jobs import PrefectNotConfigured, require_api

    try:
        require_api()  # deploying into a temporary server would be lost when the command exits
    except PrefectNotConfigured as exc:
        raise _not_configured(exc) from None
    res = deploy(prefect_file=prefect_file.resolve(), gpu_slots=gpu_slots, cpu_slots=cpu_slots or None, names=name)
    for d in res["deployed"]:
        console.print(f"[green]deployed[/green] {d}")
    for s in res["skipped"]:
        console.print(f"[yellow]skipped[/yellow] {s}")
    console.print("start workers: ivos worker --pool ivos-gpu --limit 1 (one per GPU) "
                  "and ivos worker --pool ivos-cpu (data preparation, evaluation, analytics-refresh)")


def worker_cmd(
    pool: str = typer.Option("ivos-gpu", help="work pool: ivos-gpu (jobs, training) or ivos-cpu (data, evaluation, analytics)"),
    limit: Optional[int] = typer.Option(None, help="runs at once on this worker (ivos-gpu: 1 per GPU)"),
    name: Optional[str] = typer.Option(None, help="worker name (default: Prefect's)"),
) -> None:
    """Start a process worker (`prefect worker start`) whose API calls, and its runs', ride out a database outage.

    The process is replaced by the Prefect worker (same pid: a supervisor's signals reach it). It
    retries HTTP 500 with backoff (PREFECT_CLIENT_RETRY_EXTRA_CODES=500, PREFECT_CLIENT_MAX_RETRIES=7
    unless set), which Prefect's server answers while its PostgreSQL is restarting.
    """
    import os

    from flows.deploy import worker_command, worker_env

    cmd = worker_command(pool, limit=limit, name=name)
    os.execve(cmd[0], cmd, worker_env(dict(os.environ)))


def reprocess_cmd(
    sessions: list[str] = typer.Option(..., "--sessions", help="folder or glob of session logs (repeatable)"),
    model: str = typer.Option(..., "--model", help="model name"),
    compare_to: Optional[str] = typer.Option(None, "--compare-to", help="model name or version folder to compare with"),
    max_concurrency: int = typer.Option(2, "--max-concurrency", help="sessions in parallel"),
    task_runner: TaskRunner = typer.Option(TaskRunner.threads, "--task-runner", help="how sessions fan out"),
    out: Optional[Path] = typer.Option(None, help="output root"),
    roots: Optional[str] = typer.Option(None, "--roots", help="allowed video roots, colon-separated"),
    models_dir: Optional[Path] = typer.Option(None, help="folder of named models"),
    interactive: Optional[Interactive] = typer.Option(None, help="the model's checkpoint (deep) or classical GrabCut"),
    finetune_steps: Optional[int] = typer.Option(None, help="override OSVOS fine-tuning steps"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP + ": the report {model_version, compare_to, n_sessions, "
                                                                   "n_done, n_skipped, n_failed, sessions: [...], report}"),
) -> None:
    """Re-run stored sessions with a model (skips done ones) and write a comparison report.

    Exit codes: 0 every session done or already done (skipped); 1 any session failed (an invalid
    log or a failed replay; listed, the others complete); 2 bad usage.
    """
    prefect_defaults()
    from flows.reprocess import reprocess_flow
    from ivos_core.paths import parse_roots

    with human_to_stderr(as_json):
        rep = reprocess_flow(
            sessions=sessions, model=model, compare_to=compare_to, max_concurrency=max_concurrency,
            task_runner=task_runner.value, out=str(out) if out else None,
            video_roots=[str(r) for r in parse_roots(roots)] if roots else None,
            models_dir=str(models_dir) if models_dir else None, interactive=_value(interactive),
            finetune_steps=finetune_steps,
        )
        console.print(f"{rep['n_done']} done, {rep['n_skipped']} skipped, {rep['n_failed']} failed; report: {rep['report']}")
        for r in rep["sessions"]:
            if r["status"] == "failed":
                console.print(f"[red]failed[/red] {r['session']}: {r.get('reason')}")
    if as_json:
        emit_json(rep)
    if rep["n_failed"]:
        raise typer.Exit(code=EXIT_ITEM_FAILED)


def register(app: typer.Typer) -> None:
    """Mount ``jobs`` (sub-app), ``deploy``, ``worker`` and ``reprocess`` on the main ``ivos`` app."""
    app.add_typer(jobs_app, name="jobs")
    app.command("deploy")(deploy_cmd)
    app.command("worker")(worker_cmd)
    app.command("reprocess")(reprocess_cmd)
