"""Progress reporting that works in a terminal (rich) and in the Prefect UI (progress artifact)."""

from __future__ import annotations

import time
from typing import Any


class FlowProgress:
    """A callable ``(done, total, label)`` that updates a Prefect progress artifact.

    Updates are throttled (at most one API call per ``min_interval`` seconds, plus the last one)
    so a 10,000-item loop does not turn into 10,000 server round trips.
    """

    def __init__(self, key: str, description: str, *, min_interval: float = 2.0, terminal: bool = True) -> None:
        from prefect.artifacts import create_progress_artifact

        self.description = description
        self.min_interval = min_interval
        self._last = 0.0
        self._id = create_progress_artifact(progress=0.0, key=key, description=description)
        self._bar = None
        if terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=False
            )
            self._task = self._bar.add_task(description, total=None)
            self._bar.start()

    def __call__(self, done: int, total: int, label: str = "") -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total)
            if done >= total:
                self._bar.stop()
        now = time.monotonic()
        if done < total and now - self._last < self.min_interval:
            return
        self._last = now
        from prefect.artifacts import update_progress_artifact

        pct = 100.0 * done / max(total, 1)
        update_progress_artifact(self._id, progress=pct, description=f"{self.description}: {done}/{total} {label}")


def artifact_key(*parts: Any) -> str:
    """Artifact keys allow only lowercase letters, digits and dashes."""
    import re

    raw = "-".join(str(p) for p in parts if p not in (None, ""))
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", raw.lower())).strip("-")[:100] or "ivos"
