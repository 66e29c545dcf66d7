"""Replay jobs: model versions, the replay of a session in steps, outputs, the job-result record.

* :mod:`~ivos_core.jobs.models`: :class:`ModelVersion`, :func:`resolve_model`, :class:`JobError`;
* :mod:`~ivos_core.jobs.backends`: :class:`ReplayBackend` and the :class:`VideoSegmenterBackend`;
* :mod:`~ivos_core.jobs.replay`: :func:`replay_session` (frame, fit/propagate, score, record);
* :mod:`~ivos_core.jobs.record`: :class:`JobResult` / :class:`JobRecord`, the ONE record
  (``results.json``) that analytics imports;
* :mod:`~ivos_core.jobs.outputs`: :func:`write_outputs` (atomic, versioned), :func:`is_done`;
* :mod:`~ivos_core.jobs.objects`: several objects: their inputs, overlaps resolved the DAVIS way;
* :mod:`~ivos_core.jobs.scoring`: ground truth, frame rows, per-object summaries;
* :mod:`~ivos_core.jobs.sessions`: :func:`robot_session` / :func:`robot_objects_session`, logs made
  by the NoC robot.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {  # name -> submodule; imported on first use, so `ivos_core.jobs.record` stays light
    "backends": ("FrameOut", "MultiObjectBackend", "ReplayBackend", "VideoSegmenterBackend", "load_interactive", "load_osvos"),
    "models": ("INTERACTIVE_OPTIONS", "JobError", "ModelVersion", "default_models_dir", "resolve_model"),
    "outputs": ("DONE", "RESULTS", "is_done", "output_dir", "write_outputs"),
    "record": ("JOB_COLUMNS", "JobRecord", "JobResult"),
    "replay": ("ReplayResult", "load_ground_truth", "load_ground_truth_labels", "replay_session", "score_frames"),
    "sessions": ("robot_objects_session", "robot_session"),
}
_WHERE = {name: module for module, names in _HOME.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'ivos_core.jobs' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ivos_core.jobs.{_WHERE[name]}"), name)
