"""Real Prefect parts for the integration tests: processes, a server, a throwaway PostgreSQL cluster.

Used by tests/test_jobs_integration.py (SQLite-backed server, one worker at a time) and
tests/test_scaleout_postgres.py (PostgreSQL-backed server, two workers). The parts themselves live
in :mod:`flows.devstack` (the scale-out benchmark starts the same stack); what stays here is the
test-only ``ivos`` runner, which fails the test with the command's output.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from flows.devstack import (  # noqa: F401 - re-exported for the tests
    PG_BIN,
    REPO,
    RETRYABLE,
    api,
    api_status,
    descendants,
    free_port,
    kill_tree,
    log_counts,
    postgres_cluster,
    postgres_missing,
    prefect_env,
    start_server,
    start_worker,
    wait_for_workers,
)

# `ivos jobs ...` / `ivos deploy` without importing the whole CLI (seconds on 2 loaded cores)
CLI = """
import sys, typer
from flows.cli_jobs import register
app = typer.Typer()
register(app)
app(prog_name="ivos")
"""


def ivos_runner(env: dict[str, str], *, timeout: float = 300) -> Callable[..., subprocess.CompletedProcess]:
    """``ivos(*args, check=True)``: the jobs/deploy CLI in a subprocess with ``env``."""

    def ivos(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run([sys.executable, "-c", CLI, *args], check=False, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"ivos {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr[-3000:]}")
        return p

    return ivos
