"""What every ``ivos`` CLI module shares: the console, Prefect's environment defaults, tables.

Sub-command modules (``cli_jobs``, ``cli_video``, ``cli_analytics``, ``cli_simulate``) import from
here, never from :mod:`flows.cli`, which only mounts them: no import circle.
"""

from __future__ import annotations

import os

from rich.console import Console
from rich.table import Table

__all__ = ["console", "prefect_defaults", "print_rows"]

console = Console(width=max(Console().width, 140), soft_wrap=True)  # tables fit 140 columns; text lines never wrap


def prefect_defaults() -> None:
    """Environment defaults that make a laptop / offline Prefect pleasant; user settings win."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def print_rows(rows: list[dict], title: str = "") -> None:
    """``rows`` (dicts with the same keys) as a table; floats with three decimals."""
    if not rows:
        console.print(f"[yellow]{title}: no rows[/yellow]")
        return
    table = Table(title=title or None)
    for col in rows[0]:
        table.add_column(str(col))
    for r in rows:
        table.add_row(*["" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v)) for v in r.values()])
    console.print(table)
