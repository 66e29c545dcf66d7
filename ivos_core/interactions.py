"""User inputs and session logs: the contract between annotators, jobs and analytics.

A *session* is one user's work on one video: annotated frames (the first frame, then refinement
frames after propagation), each with ordered *interactions* (refinement iterations), each holding
the *inputs* the user gave in that iteration (clicks and strokes, with label and time).

Objects (schema 2.0): a session declares the ``objects`` it segments (ids 1..254: the DAVIS-2017
palette index of the object's masks, 0 being background and 255 "void") and every input names its
``object_id``. Version-1.0 logs have neither and load as one object, id 1; a 1.0 document that
names another object is refused (object ids need 2.0), and :meth:`Session.to_json` writes a 1.0
session without the object fields, so it stays a valid 1.0 document.

Coordinates are pixels of the stored video's frame size (x to the right, y down, origin at the
top-left pixel centre), which the session document records in ``video.width``/``video.height``.
Validation errors name the field and the offending value so a rejected log can be fixed by hand.
"""

from __future__ import annotations

import json
import math
import numbers
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ivos_core.utils import atomic_write

SCHEMA_VERSION = "2.0"
SUPPORTED_SCHEMA_VERSIONS = frozenset({"1.0", "2.0"})
#: the largest object id: palette PNGs keep 0 for background and 255 for DAVIS's "void"
MAX_OBJECT_ID = 254

Stage = Literal["first_frame", "refinement"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


def check_object_id(v: Any) -> int:
    """An object id as an ``int`` in 1..254; JSON ``1.0``, ``"1"`` and ``true`` are refused (not
    coerced) so that a log means exactly one thing and the analytics fast path agrees."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise ValueError(f"object ids are integers 1..{MAX_OBJECT_ID}, got {v!r}")
    if not 1 <= int(v) <= MAX_OBJECT_ID:
        raise ValueError(f"object ids are integers 1..{MAX_OBJECT_ID} (0 is background, 255 void), got {int(v)}")
    return int(v)


ObjectId = Annotated[int, BeforeValidator(check_object_id)]
_OBJECT_ID_DOC = "the object this input segments (a declared object id, 1..254; 1.0 logs: always 1)"


class Click(_Model):
    """One click: a point labelled positive (object) or negative (background)."""

    kind: Literal["click"] = "click"
    x: float = Field(description="column in pixels, 0 <= x <= width - 1")
    y: float = Field(description="row in pixels, 0 <= y <= height - 1")
    positive: bool = True
    t: float | None = Field(default=None, ge=0, description="seconds since session start")
    object_id: ObjectId = Field(default=1, description=_OBJECT_ID_DOC)

    @property
    def xy(self) -> tuple[float, float]:
        return (self.x, self.y)

    def points(self) -> list[tuple[float, float]]:
        return [(self.x, self.y)]


class Stroke(_Model):
    """A polyline drawn with a brush of ``radius`` pixels; rasterised as a dense point set."""

    kind: Literal["stroke"] = "stroke"
    points_xy: list[tuple[float, float]] = Field(
        min_length=1, alias="points", description="polyline vertices as (x, y) pixels"
    )
    positive: bool = True
    radius: float = Field(default=3.0, gt=0, le=256)
    t: float | None = Field(default=None, ge=0)
    object_id: ObjectId = Field(default=1, description=_OBJECT_ID_DOC)

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True, populate_by_name=True)

    @field_validator("points_xy")
    @classmethod
    def _finite(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for i, (x, y) in enumerate(v):
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError(f"stroke point {i} is not finite: ({x}, {y})")
        return v

    def points(self) -> list[tuple[float, float]]:
        return list(self.points_xy)

    def dense_points(self, step: float = 1.0) -> list[tuple[float, float]]:
        """Vertices plus points every ``step`` pixels along each segment."""
        pts = self.points_xy
        out: list[tuple[float, float]] = [pts[0]]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            n = max(1, int(math.ceil(math.hypot(x1 - x0, y1 - y0) / step)))
            for k in range(1, n + 1):
                out.append((x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n))
        return out

    def path_length(self) -> float:
        pts = self.points_xy
        return sum(math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(pts, pts[1:]))


UserInput = Annotated[Union[Click, Stroke], Field(discriminator="kind")]


class Interaction(_Model):
    """One refinement iteration: the inputs given before the model ran once."""

    index: int = Field(ge=0, description="0-based position within its frame")
    inputs: list[UserInput] = Field(min_length=1)
    duration_s: float | None = Field(default=None, ge=0)

    @property
    def clicks(self) -> list[Click]:
        return [i for i in self.inputs if isinstance(i, Click)]

    @property
    def strokes(self) -> list[Stroke]:
        return [i for i in self.inputs if isinstance(i, Stroke)]


Iteration = Interaction


class InitialMask(_Model):
    """A mask the first frame starts from (imported from COCO / CVAT / Label Studio / DAVIS):
    COCO RLE over the frame, ``counts`` compressed (pycocotools text) or uncompressed (a list)."""

    size: tuple[int, int] = Field(description="[height, width] of the mask: the video's frame size")
    counts: str | list[int] = Field(description="COCO RLE counts (column-major runs, background first)")
    source: str | None = Field(default=None, max_length=2000, description="where it was imported from")
    object_id: ObjectId = Field(default=1, description="the object the mask is (a declared object id)")

    def decode(self) -> Any:
        """The mask as an ``(H, W)`` bool array (checks that the runs cover the frame)."""
        from ivos_core.interchange.coco import decode_rle

        return decode_rle({"size": list(self.size), "counts": self.counts}, source=self.source or "initial_mask")


class AnnotatedFrame(_Model):
    frame_index: int = Field(ge=0)
    stage: Stage
    # empty only when initial_mask is set (an imported mask used as is)
    iterations: list[Interaction] = Field(default_factory=list)
    initial_mask: InitialMask | None = None

    @field_validator("iterations")
    @classmethod
    def _no_gaps(cls, v: list[Interaction]) -> list[Interaction]:
        got = [it.index for it in v]
        if got != list(range(len(v))):
            raise ValueError(f"iteration indices must be 0..{len(v) - 1} in order, got {got}")
        return v

    @model_validator(mode="after")
    def _some_work(self) -> "AnnotatedFrame":
        if not self.iterations and self.initial_mask is None:
            raise ValueError("iterations must hold at least 1 iteration (or the frame must carry an initial_mask)")
        return self

    def all_inputs(self) -> list[Click | Stroke]:
        return [inp for it in self.iterations for inp in it.inputs]


class VideoRef(_Model):
    """Where the video lives (resolved inside configured roots by jobs) and its frame geometry."""

    uri: str = Field(min_length=1, description="path relative to a data root, or file:// URI")
    width: int = Field(gt=0, le=16384)
    height: int = Field(gt=0, le=16384)
    n_frames: int = Field(gt=0)
    fps: float | None = Field(default=None, gt=0)
    dataset: str | None = None
    sequence: str | None = None


class SessionObject(_Model):
    """One object a session segments: ``id`` is its index in the palette PNGs (1..254)."""

    id: ObjectId
    name: str | None = Field(default=None, min_length=1, max_length=200, description="a label, e.g. 'dog'")


def _one_object() -> list[SessionObject]:
    return [SessionObject(id=1)]


class Session(_Model):
    """One user's annotation of one video (a session log document)."""

    schema_version: str = SCHEMA_VERSION
    session_id: str = Field(min_length=1, max_length=200)
    user_id: str = Field(min_length=1, max_length=200)
    created_at: datetime
    video: VideoRef
    frames: list[AnnotatedFrame] = Field(min_length=1)
    source: Literal["recorded", "simulated"] = "recorded"
    meta: dict[str, Any] = Field(default_factory=dict)
    objects: list[SessionObject] = Field(
        default_factory=_one_object, min_length=1, description="the objects segmented (2.0; 1.0: object 1)"
    )

    @field_validator("schema_version")
    @classmethod
    def _supported(cls, v: str) -> str:
        if v not in SUPPORTED_SCHEMA_VERSIONS:
            raise ValueError(
                f"unsupported schema_version {v!r}; this ivos reads {sorted(SUPPORTED_SCHEMA_VERSIONS)}"
            )
        return v

    @model_validator(mode="after")
    def _inside_video(self) -> "Session":
        w, h, n = self.video.width, self.video.height, self.video.n_frames
        if self.frames[0].stage != "first_frame":
            raise ValueError(f"frames[0].stage must be 'first_frame', got {self.frames[0].stage!r}")
        for fi, fr in enumerate(self.frames):
            if fr.frame_index >= n:
                raise ValueError(
                    f"frames[{fi}].frame_index={fr.frame_index} is past the video's last frame ({n - 1})"
                )
            if fi > 0 and fr.stage == "first_frame":
                raise ValueError(f"frames[{fi}].stage='first_frame' but only frames[0] may be the first frame")
            if fr.initial_mask is not None:
                if fi > 0:
                    raise ValueError(f"frames[{fi}].initial_mask: only frames[0] (the first frame) may start from a mask")
                if tuple(fr.initial_mask.size) != (h, w):
                    raise ValueError(
                        f"frames[0].initial_mask.size {list(fr.initial_mask.size)} is not the video's [height, width] "
                        f"[{h}, {w}]"
                    )
                fr.initial_mask.decode()  # counts must cover the frame exactly
            for ii, it in enumerate(fr.iterations):
                for ki, inp in enumerate(it.inputs):
                    for px, py in inp.points():
                        if not (0 <= px <= w - 1 and 0 <= py <= h - 1):
                            raise ValueError(
                                f"frames[{fi}].iterations[{ii}].inputs[{ki}] point ({px}, {py}) is outside "
                                f"the {w}x{h} frame (0 <= x <= {w - 1}, 0 <= y <= {h - 1})"
                            )
        return self

    @model_validator(mode="after")
    def _declared_objects(self) -> "Session":
        """Every object id used is declared (once); a 1.0 log is object 1 only (why: ids are new in
        2.0, so a 1.0 document naming another object was written against the wrong schema)."""
        ids = [o.id for o in self.objects]
        if len(set(ids)) != len(ids):
            raise ValueError(f"objects: ids must be unique, got {ids}")
        if self.schema_version == "1.0" and ids != [1]:
            raise ValueError(f"objects {ids}: a schema_version 1.0 log has one object (id 1); use schema_version 2.0")
        declared = set(ids)
        for fi, fr in enumerate(self.frames):
            if fr.initial_mask is not None and fr.initial_mask.object_id not in declared:
                raise ValueError(self._unknown(f"frames[{fi}].initial_mask", fr.initial_mask.object_id, ids))
            for ii, it in enumerate(fr.iterations):
                for ki, inp in enumerate(it.inputs):
                    if inp.object_id not in declared:
                        raise ValueError(self._unknown(f"frames[{fi}].iterations[{ii}].inputs[{ki}]", inp.object_id, ids))
        return self

    def _unknown(self, where: str, object_id: int, ids: list[int]) -> str:
        if self.schema_version == "1.0":
            return f"{where}.object_id={object_id}: a schema_version 1.0 log has one object (id 1); use schema_version 2.0"
        return f"{where}.object_id={object_id} is not a declared object (objects: {ids}); add it to 'objects'"

    @property
    def object_ids(self) -> list[int]:
        """The declared object ids, ascending (the order replays segment and overlaps resolve in)."""
        return sorted(o.id for o in self.objects)

    @property
    def first_frame(self) -> AnnotatedFrame:
        return self.frames[0]

    @property
    def refinement_frames(self) -> list[AnnotatedFrame]:
        return [f for f in self.frames if f.stage == "refinement"]

    def to_json(self, indent: int | None = 2) -> str:
        # Unset optional fields are left out rather than written as null: the document reads back
        # the same, and the analytics loader's SQL fast path only takes null-free documents. A 1.0
        # session is written without the object fields (it has object 1 only), as a 1.0 document.
        exclude = _V1_EXCLUDE if self.schema_version == "1.0" else None
        return self.model_dump_json(indent=indent, by_alias=True, exclude_none=True, exclude=exclude)


_ALL = "__all__"
#: what a 1.0 document does not have: the object declarations and every object id
_V1_EXCLUDE: dict[str, Any] = {
    "objects": True,
    "frames": {_ALL: {"initial_mask": {"object_id"}, "iterations": {_ALL: {"inputs": {_ALL: {"object_id"}}}}}},
}


class SessionValidationError(ValueError):
    """A session log failed validation; ``errors`` lists ``(field path, value, message)``."""

    def __init__(self, source: str, errors: list[tuple[str, Any, str]]):
        self.source = source
        self.errors = errors
        lines = [f"{source}: invalid session log ({len(errors)} error(s))"]
        lines += [f"  - {loc}: {msg} (got {val!r})" for loc, val, msg in errors]
        super().__init__("\n".join(lines))


def _format_errors(err: ValidationError) -> list[tuple[str, Any, str]]:
    out = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e.get("loc", ())) or "<document>"
        val = e.get("input")
        if isinstance(val, (dict, list)) and len(repr(val)) > 120:
            val = f"<{type(val).__name__} of {len(val)}>"
        out.append((loc, val, e.get("msg", "")))
    return out


def parse_session(data: dict[str, Any] | str | bytes, source: str = "<session>") -> Session:
    """Validate a session document (dict or JSON text); raise :class:`SessionValidationError`."""
    try:
        if isinstance(data, (str, bytes)):
            data = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SessionValidationError(source, [("<document>", None, f"not valid JSON: {exc}")]) from exc
    if not isinstance(data, dict):
        raise SessionValidationError(source, [("<document>", type(data).__name__, "expected a JSON object")])
    try:
        return Session.model_validate(data)
    except ValidationError as exc:
        raise SessionValidationError(source, _format_errors(exc)) from exc


def load_session(path: str | Path) -> Session:
    """Read and validate one session log file (UTF-8 JSON)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise SessionValidationError(str(p), [("<file>", None, f"cannot read: {exc.strerror}")]) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SessionValidationError(str(p), [("<file>", None, f"not UTF-8 text: {exc}")]) from exc
    return parse_session(text, source=str(p))


def save_session(session: Session, path: str | Path) -> Path:
    """Write ``session`` as JSON to ``path`` atomically; returns the path."""
    return atomic_write(path, session.to_json())


def session_json_schema() -> dict[str, Any]:
    """The JSON schema of a session log, tagged with the schema version it describes."""
    schema = Session.model_json_schema(by_alias=True)
    schema["$id"] = f"https://ivos.dev/schemas/session/{SCHEMA_VERSION}.json"
    schema["x-schema-version"] = SCHEMA_VERSION
    return schema


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
