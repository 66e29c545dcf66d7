"""The annotation app's request bodies and path parameters.

Strict pydantic models (unknown fields refused) so that every route validates its input the same
way and a bad request is a 422 before any model code runs.
"""

from __future__ import annotations

from typing import Literal

from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from ivos_core.annotation.store import SESSION_ID_PATTERN
from ivos_core.interactions import UserInput

SID = PathParam(..., pattern=SESSION_ID_PATTERN, max_length=128)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenBody(_Body):
    uri: str = Field(min_length=1, max_length=4096)
    user_id: str | None = Field(default=None, min_length=1, max_length=200)
    session_id: str | None = Field(default=None, pattern=SESSION_ID_PATTERN, max_length=128)


class FrameBody(_Body):
    frame_index: int = Field(ge=0, strict=True)


class InteractBody(_Body):
    frame_index: int = Field(ge=0, strict=True)
    inputs: list[UserInput] = Field(min_length=1, max_length=64)


class PropagateBody(_Body):
    steps: int | None = Field(default=None, ge=0, le=100_000)


class SubmitBody(_Body):
    priority: Literal["high", "normal", "low"] = "normal"
