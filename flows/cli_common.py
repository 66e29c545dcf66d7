"""What every ``ivos`` CLI module shares: the console, Prefect's environment defaults, tables.

Sub-command modules (``cli_jobs``, ``cli_video``, ``cli_analytics``, ``cli_simulate``) import from
here, never from :mod:`flows.cli`, which only mounts them: no import circle.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["EXIT_ITEM_FAILED", "EXIT_USAGE", "JSON_HELP", "console", "emit_json", "human_to_stderr", "prefect_defaults",
           "print_rows"]

#: Exit codes a script can rely on: 0 everything succeeded; 1 the command ran but an item failed
#: (a failed job or session, a quarantined record, a failed evaluation item, nothing found);
#: 2 usage or configuration (bad option, no Prefect server or deployment) - Click's own code for
#: usage errors.
EXIT_ITEM_FAILED = 1
EXIT_USAGE = 2

JSON_HELP = "print one JSON document on stdout and nothing else (the human text goes to stderr)"

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


@contextlib.contextmanager
def human_to_stderr(enabled: bool = True) -> Iterator[None]:
    """While ``enabled``: everything printed to stdout (the rich console, ``print``, Prefect's
    ``log_prints``) goes to stderr, so that ``--json`` leaves stdout to the one JSON document."""
    if not enabled:
        yield
        return
    saved = None
    try:  # a real process: also file descriptor 1, for subprocesses (Prefect's temporary server) and C code
        if sys.stdout.fileno() == 1 and sys.stderr.fileno() == 2:
            sys.stdout.flush()
            saved = os.dup(1)
            os.dup2(2, 1)
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            sys.stderr.flush()
            os.dup2(saved, 1)
            os.close(saved)


def emit_json(doc: Any) -> None:
    """``doc`` as one JSON document on stdout (paths and other non-JSON values as strings)."""
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    sys.stdout.flush()


def segmenter_options(items: list[str] | None) -> dict:
    """``--seg-option`` values, ``["a=5", "b=x"]`` -> ``{"a": 5, "b": "x"}`` (values read as JSON where
    they parse; only the segmenter options a model version may set)."""
    import typer

    from ivos_core.interactive.options import MODEL_OPTION_NAMES

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="'--seg-option'")
        if key.strip() not in MODEL_OPTION_NAMES:
            raise typer.BadParameter(f"unknown segmenter option {key.strip()!r}; known: {', '.join(MODEL_OPTION_NAMES)}",
                                     param_hint="'--seg-option'")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out
