"""The ONE job-result record: what a replay job writes to ``results.json`` and what analytics loads.

:class:`JobResult` is the flat contract (one row of the analytics ``job_results`` table, keyed by
``(session_id, model_version)``); analytics validates records against it and derives its columns
from it (:data:`JOB_COLUMNS`). :class:`JobRecord` is the whole record a replay writes: the flat
contract plus the per-iteration and per-frame details, timings and the model version's
description. Extra keys are ignored when reading, so writers may add more.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["JobResult", "JobRecord", "JobObjectResult", "JOB_COLUMNS", "OBJECT_COLUMNS", "SCHEMA"]

SCHEMA = "ivos-job-results/1"


class JobResult(BaseModel):
    """One job result record (unknown extra keys are ignored: writers may add more)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    session_id: str = Field(min_length=1, max_length=200)
    model_version: str = Field(min_length=1, max_length=200)
    job_id: str | None = None
    status: Literal["ok", "failed"] = "ok"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    runtime_s: float | None = Field(default=None, ge=0)
    device: str | None = None
    n_frames: int | None = Field(default=None, ge=0)
    n_iterations: int | None = Field(default=None, ge=0)
    mean_iteration_s: float | None = Field(default=None, ge=0)
    mask_area_mean: float | None = Field(default=None, ge=0, le=1)
    consecutive_iou_mean: float | None = Field(default=None, ge=0, le=1)
    final_iou: float | None = Field(default=None, ge=0, le=1)


JOB_COLUMNS: list[str] = list(JobResult.model_fields)
"""The flat columns of a job result, in order (the analytics ``job_results`` contract)."""


class JobObjectResult(BaseModel):
    """One object's results in a job (an entry of ``results.json`` ``objects``; one row of the
    analytics ``job_object_results`` table). A record without ``objects`` (written before objects
    existed) is object 1 with the job's own values. Extra keys (``frames``) are ignored."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    object_id: int = Field(ge=1, le=254)
    name: str | None = Field(default=None, max_length=200)
    n_iterations: int | None = Field(default=None, ge=0)
    n_annotated_frames: int | None = Field(default=None, ge=0)
    mask_area_mean: float | None = Field(default=None, ge=0, le=1)
    consecutive_iou_mean: float | None = Field(default=None, ge=0, le=1)
    mean_confidence: float | None = Field(default=None, ge=0, le=1)
    final_iou: float | None = Field(default=None, ge=0, le=1)


OBJECT_COLUMNS: list[str] = list(JobObjectResult.model_fields)
"""The columns of one object's results (the analytics ``job_object_results`` contract, after the job key)."""


class JobRecord(JobResult):
    """A replay job's whole record (``results.json``): the flat contract plus details.

    ``iterations``: one row per replayed interactive iteration (``frame_index``, ``stage``,
    ``iteration``, ``n_inputs``, ``mask_area``, ``iou_prev``, ``seconds``); ``frames``: one row per
    output frame (``frame_index``, ``annotated``, ``confidence``, ``mask_area``,
    ``iou_prev_frame``, and ``iou_gt`` where ground truth exists) of all objects together;
    ``objects``: one :class:`JobObjectResult` per object (with several objects also its own
    ``frames`` rows, scored on the resolved label maps); ``timings`` in seconds (flows add their
    own stamps); ``files``: the output files, set when the folder is written.
    """

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, populate_by_name=True)

    schema_id: str = Field(default=SCHEMA, alias="schema")
    user_id: str
    model: dict[str, Any]
    video: dict[str, Any]
    iterations: list[dict[str, Any]]
    frames: list[dict[str, Any]]
    objects: list[dict[str, Any]] = Field(default_factory=list)
    summary: dict[str, Any]
    timings: dict[str, float] = Field(default_factory=dict)
    host: str
    files: dict[str, str] | None = None

    def to_json(self) -> str:
        """The record as ``results.json`` text (the ``schema`` key under its name)."""
        return self.model_dump_json(by_alias=True, indent=2, exclude_none=False)
