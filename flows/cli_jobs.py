"""``ivos jobs ...``, ``ivos deploy`` and ``ivos reprocess``: mounted by :func:`register`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from flows.cli_common import console, prefect_defaults, print_rows
from ivos_core.shipped import DEFAULT_MODEL

jobs_app = typer.Typer(help="Queued segmentation jobs on the ivos-gpu work pool.", no_args_is_help=True)

NOT_CONFIGURED_EXIT = 2


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
    priority: str = typer.Option("normal", help="high | normal | low (work queue; high is served first)"),
    model: str = typer.Option(DEFAULT_MODEL, help="model name (folder under $IVOS_HOME/models, else the shipped models/)"),
    out: Optional[Path] = typer.Option(None, help="output root (default $IVOS_HOME/jobs or outputs/jobs)"),
    roots: Optional[str] = typer.Option(None, "--roots", help="allowed video roots, colon-separated (default $IVOS_DATA)"),
    models_dir: Optional[Path] = typer.Option(None, help="folder of named models"),
    interactive: Optional[str] = typer.Option(None, help="'deep' (checkpoint) or 'grabcut'"),
    interactive_checkpoint: Optional[Path] = typer.Option(None, help="override the model's interactive checkpoint"),
    finetune_steps: Optional[int] = typer.Option(None, help="override OSVOS fine-tuning steps"),
) -> None:
    """Validate each session log and enqueue the valid ones as segment-video runs."""
    prefect_defaults()
    from flows.jobs import PRIORITIES, PrefectNotConfigured, require_api, submit_sessions

    if priority not in PRIORITIES:
        raise typer.BadParameter(f"priority must be one of {', '.join(PRIORITIES)}")
    try:
        require_api()  # before anything else: without a server Prefect would start a temporary, empty one
        res = submit_sessions(sessions, priority=priority, model=model,
                              parameters=_params(out, roots, models_dir, interactive, interactive_checkpoint, finetune_steps))
    except PrefectNotConfigured as exc:
        raise _not_configured(exc) from None
    for r in res:
        if r.ok:
            console.print(f"[green]queued[/green] {r.path}: session {r.session_id} -> flow run {r.flow_run_id} ({priority})")
        else:
            console.print(f"[red]refused[/red] {r.path}: nothing enqueued")
            console.print(r.error, markup=False, highlight=False)
    if not all(r.ok for r in res):
        raise typer.Exit(code=2)


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
) -> None:
    """The results record(s) of a finished session (one per model version)."""
    from flows.jobs import job_results

    recs = job_results(session_id, out, model_version=model_version)
    if not recs:
        console.print(f"[yellow]no finished outputs for session {session_id!r}[/yellow] (see `ivos jobs status --session {session_id}`)")
        raise typer.Exit(code=1)
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
    console.print("start workers: prefect worker start --pool ivos-gpu --limit 1 (one per GPU) "
                  "and prefect worker start --pool ivos-cpu (data preparation, evaluation, analytics-refresh)")


def reprocess_cmd(
    sessions: list[str] = typer.Option(..., "--sessions", help="folder or glob of session logs (repeatable)"),
    model: str = typer.Option(..., "--model", help="model name"),
    compare_to: Optional[str] = typer.Option(None, "--compare-to", help="model name or version folder to compare with"),
    max_concurrency: int = typer.Option(2, "--max-concurrency", help="sessions in parallel"),
    task_runner: str = typer.Option("threads", "--task-runner", help="threads | dask"),
    out: Optional[Path] = typer.Option(None, help="output root"),
    roots: Optional[str] = typer.Option(None, "--roots", help="allowed video roots, colon-separated"),
    models_dir: Optional[Path] = typer.Option(None, help="folder of named models"),
    interactive: Optional[str] = typer.Option(None, help="'deep' or 'grabcut'"),
    finetune_steps: Optional[int] = typer.Option(None, help="override OSVOS fine-tuning steps"),
) -> None:
    """Re-run stored sessions with a model (skips done ones) and write a comparison report."""
    prefect_defaults()
    from flows.reprocess import reprocess_flow
    from ivos_core.paths import parse_roots

    rep = reprocess_flow(
        sessions=sessions, model=model, compare_to=compare_to, max_concurrency=max_concurrency, task_runner=task_runner,
        out=str(out) if out else None, video_roots=[str(r) for r in parse_roots(roots)] if roots else None,
        models_dir=str(models_dir) if models_dir else None, interactive=interactive, finetune_steps=finetune_steps,
    )
    console.print(f"{rep['n_done']} done, {rep['n_skipped']} skipped, {rep['n_failed']} failed; report: {rep['report']}")
    for r in rep["sessions"]:
        if r["status"] == "failed":
            console.print(f"[red]failed[/red] {r['session']}: {r.get('reason')}")


def register(app: typer.Typer) -> None:
    """Mount ``jobs`` (sub-app), ``deploy`` and ``reprocess`` on the main ``ivos`` app."""
    app.add_typer(jobs_app, name="jobs")
    app.command("deploy")(deploy_cmd)
    app.command("reprocess")(reprocess_cmd)
