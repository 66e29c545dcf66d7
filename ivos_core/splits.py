"""Which data is for choosing settings and which only for reporting: the honest protocol in code.

Every command that CHOOSES something (a checkpoint, CRF or colour-cue weights, thresholds,
fine-tuning settings) must run on a development set. :func:`require_development` raises
:class:`TestSetError` when asked to choose on a TEST set, so a selection script cannot quietly
tune on the images it later reports. The table mirrors ``shared/data/README.md``:

========================================  =========================================
GrabCut (all 50 images)                   test
DAVIS-2016 val sequences                  test
DAVIS-2016 train: hockey, lucia, surf     video development (held out of parent training)
DAVIS-2016 train, other sequences         training
COCO_MVal ``train.txt``                   training
COCO_MVal ``dev.txt``                     interactive development
BSDS500                                   training
========================================  =========================================
"""

from __future__ import annotations

from typing import Literal

Role = Literal["test", "development", "training"]

#: DAVIS-2016 train sequences kept out of OSVOS parent training while video settings are chosen.
VIDEO_DEV_SEQUENCES: tuple[str, ...] = ("hockey", "lucia", "surf")


class TestSetError(ValueError):
    """A selection was asked to look at a test set."""


def role_of(dataset: str, split: str | None = None) -> Role:
    """The role of ``dataset`` / ``split`` (unknown combinations count as test: fail closed)."""
    d = dataset.lower().replace("-", "_")
    s = (split or "").lower()
    if d == "grabcut":
        return "test"
    if d == "davis":
        if s in ("dev", "video_dev") or s in VIDEO_DEV_SEQUENCES:
            return "development"
        return "training" if s == "train" else "test"
    if d == "coco_mval":
        return {"dev": "development", "train": "training"}.get(s, "test")
    if d == "synthetic":
        return "development"
    if d == "bsds":
        return "training"
    return "test"


def require_development(dataset: str, split: str | None = None, *, what: str = "this selection") -> None:
    """Raise :class:`TestSetError` unless ``dataset``/``split`` is a development set."""
    role = role_of(dataset, split)
    if role != "development":
        raise TestSetError(
            f"{what} chooses a setting and may only run on a development set; {dataset}"
            f"{'/' + split if split else ''} is a {role} set. Use COCO_MVal dev.txt for interactive "
            f"settings or the DAVIS video development sequences {', '.join(VIDEO_DEV_SEQUENCES)}."
        )
