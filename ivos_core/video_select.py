"""Choose OSVOS's adaptation settings on the video DEVELOPMENT sequences, never on DAVIS val.

:func:`select_video_settings` runs OSVOS from the ground-truth first frame on the video
development sequences (DAVIS-2016 train ``hockey``, ``lucia``, ``surf``:
:data:`ivos_core.splits.VIDEO_DEV_SEQUENCES`, held out of parent training) for every candidate
of a small grid - fine-tuning steps x learning rate x crop x previous-frame prior - and picks the
one with the highest mean J over the sequences. It refuses any other sequence
(:func:`check_development` raises :class:`ivos_core.splits.TestSetError`), so a selection cannot
look at the DAVIS val sequences it is later reported on.

Candidates that differ only in the prior share one fine-tuned network per sequence (the prior
acts after the network, at propagation), so a prior costs one propagation, not a fine-tuning.
Frames are loaded as the DAVIS evaluation loads them (``frame_stride``, ``max_side``) and J is
the DAVIS J mean of :mod:`ivos_core.davis` (first and last evaluated frame excluded); the
boundary F mean is recorded beside it (and J&F), for rules that score both.

Each (fine-tuning setting, sequence) result is cached as JSON under ``cache_dir``, keyed by the
parent checkpoint's size and mtime, so an interrupted sweep resumes and a new parent re-runs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ivos_core.splits import VIDEO_DEV_SEQUENCES, TestSetError, require_development
from ivos_core.utils import atomic_write
from ivos_core.video_prior import DEFAULT_OSVOS_OPTIONS, OSVOSOptions

__all__ = ["SelectionGrid", "check_development", "parent_fold", "select_video_settings"]


def check_development(sequences: Sequence[str], split: str = "train", *, fold: Collection[str] = ()) -> tuple[str, ...]:
    """The sequences if every one is a video development sequence of DAVIS ``split`` (train) or a
    training sequence in ``fold`` (:func:`parent_fold`: held out of the parent being evaluated);
    else :class:`~ivos_core.splits.TestSetError` (e.g. any DAVIS val sequence)."""
    seqs = tuple(dict.fromkeys(s.strip() for s in sequences if s and s.strip()))
    if not seqs:
        raise ValueError("no sequences to select on")
    if split != "train":
        require_development("davis", split, what="video settings selection")
    for s in seqs:
        if s in fold:
            continue
        if s not in VIDEO_DEV_SEQUENCES:
            raise TestSetError(f"{s} is not a video development sequence ({', '.join(VIDEO_DEV_SEQUENCES)}) nor a "
                               "training sequence held out of this parent (`ivos train osvos --holdout`)")
        require_development("davis", s, what="video settings selection")  # belt and braces: role_of is the table
    return seqs


def parent_fold(parent: str | Path, root: str | Path) -> tuple[str, ...]:
    """The DAVIS training sequences the parent never saw: its checkpoint's ``held_out`` list
    (``ivos train osvos --holdout``) that are train-split sequences of the DAVIS ``root``.

    Why: three development sequences did not predict DAVIS val (slow, rigid objects against val's
    fast, deforming ones); a parent trained without a fold of the training sequences makes that
    fold development data for choosing adaptation and propagation settings (cross-validation),
    without touching a test sequence. A val sequence can never qualify: it is not in the train split.
    """
    try:
        doc = json.loads(Path(str(parent) + ".json").read_text())
    except (OSError, ValueError):
        return ()
    held = [s for s in (doc.get("config") or {}).get("train", {}).get("held_out") or () if s not in VIDEO_DEV_SEQUENCES]
    if not held:
        return ()
    from ivos_core.data import DavisDataset

    train = set(DavisDataset(root, split="train").sequences())
    return tuple(s for s in held if s in train)


@dataclass(frozen=True)
class SelectionGrid:
    """The candidates: every combination of ``finetune_steps`` x ``finetune_lr`` x
    ``finetune_crop`` x ``osvos_side`` x ``priors`` (``(weight, inside)`` pairs; ``(0, 1)`` = the paper's OSVOS)
    x ``flip_tta`` (propagation with mirror averaging; like the prior it reuses the fit), on top of ``base`` for everything else. ``frame_stride`` / ``max_side``: how frames are
    loaded (as ``ivos eval davis`` does; metrics at that size)."""

    finetune_steps: tuple[int, ...] = (100, 200)
    finetune_lr: tuple[float | None, ...] = (None, 3e-3, 1e-2)
    finetune_crop: tuple[int | None, ...] = (None,)
    #: OSVOS's working size (longer side; None = the loaded frames' size): the parent was trained on
    #: 320 px crops of frames scaled 0.5-1.0, so 320 px whole frames (0.375 of 480p) are off its scale
    osvos_side: tuple[int | None, ...] = (DEFAULT_OSVOS_OPTIONS.max_side,)
    priors: tuple[tuple[float, float], ...] = ((0.0, 1.0), (3.0, 0.0), (10.0, 0.0), (3.0, 0.5), (10.0, 0.5))
    flip_tta: tuple[bool, ...] = (DEFAULT_OSVOS_OPTIONS.flip_tta,)
    #: fine-tuning with the parent's BatchNorm statistics frozen (a fit setting)
    freeze_bn: tuple[bool, ...] = (DEFAULT_OSVOS_OPTIONS.freeze_bn,)
    #: fine-tuning augmentation strength (a fit setting; 1 = the default ranges)
    finetune_aug: tuple[float, ...] = (DEFAULT_OSVOS_OPTIONS.finetune_aug,)
    #: the prior's band around the warped mask and the mask threshold (propagation settings)
    prior_dilation: tuple[float, ...] = (DEFAULT_OSVOS_OPTIONS.prior_dilation,)
    mask_threshold: tuple[float, ...] = (DEFAULT_OSVOS_OPTIONS.mask_threshold,)
    #: the longer side the prior's optical flow is computed at (a propagation setting; prior on only)
    flow_max_side: tuple[int, ...] = (DEFAULT_OSVOS_OPTIONS.flow_max_side,)
    #: the dense CRF's appearance weight on each propagated frame (a propagation setting; 0 = off)
    crf_weight: tuple[float, ...] = (DEFAULT_OSVOS_OPTIONS.crf_weight,)
    #: online adaptation, ``(steps, every)`` pairs (a propagation setting: it adapts a copy of the fit)
    online: tuple[tuple[int, int], ...] = ((DEFAULT_OSVOS_OPTIONS.online_steps, DEFAULT_OSVOS_OPTIONS.online_every),)
    frame_stride: int = 2
    max_side: int | None = 320
    base: OSVOSOptions = DEFAULT_OSVOS_OPTIONS

    def finetune_settings(self) -> list[OSVOSOptions]:
        """One options record per fine-tuning setting (prior off)."""
        return [
            replace(self.base, finetune_steps=int(s), finetune_lr=lr, finetune_crop=c, max_side=side, prior_weight=0.0,
                    freeze_bn=bool(bn), finetune_aug=float(a))
            for s in self.finetune_steps for lr in self.finetune_lr for c in self.finetune_crop for side in self.osvos_side
            for bn in self.freeze_bn for a in self.finetune_aug
        ]

    def with_priors(self, ft: OSVOSOptions) -> list[OSVOSOptions]:
        """The propagation variants of one fit: every prior x flip x dilation x flow size x threshold
        x CRF x online adaptation setting (the dilation and the flow size only where the prior is on)."""
        out = []
        for w, b in self.priors:
            on = w > 0
            for d in (self.prior_dilation if on else self.prior_dilation[:1]):
                for fs in (self.flow_max_side if on else self.flow_max_side[:1]):
                    for f in self.flip_tta:
                        for t in self.mask_threshold:
                            out += [replace(ft, prior_weight=float(w), prior_inside=float(b), prior_dilation=float(d),
                                            flow_max_side=int(fs), flip_tta=bool(f), mask_threshold=float(t),
                                            crf_weight=float(c), online_steps=int(os_), online_every=int(oe))
                                    for c in self.crf_weight for os_, oe in self.online]
        return out


#: appended to the cache key: rows cached before F was recorded (J only) are not reused
_ROWS_VERSION: list[str] = ["rows-with-F"]


def _file_tag(path: str | Path) -> str:
    p = Path(path)
    for cand in (Path(str(p) + ".safetensors"), p):
        if cand.is_file():
            st = cand.stat()
            return f"{p}:{st.st_size}:{int(st.st_mtime)}"
    raise FileNotFoundError(f"OSVOS parent checkpoint {p} not found (expected {p}.safetensors)")


def _parent_step(path: str | Path) -> int | None:
    try:
        return int(json.loads(Path(str(path) + ".json").read_text()).get("step"))
    except (OSError, ValueError, TypeError):
        return None


def select_video_settings(
    root: str | Path,
    parent: str | Path,
    grid: SelectionGrid | None = None,
    *,
    sequences: Sequence[str] = VIDEO_DEV_SEQUENCES,
    split: str = "train",
    cache_dir: str | Path | None = None,
    device: str = "cpu",
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate every candidate of ``grid`` on the development ``sequences`` of the DAVIS ``root``
    with the ground-truth first frame; returns a JSON-able document: per candidate its options,
    J mean per sequence and overall, seconds; ``choice`` = the best mean J (ties: the earlier,
    cheaper candidate). Raises TestSetError before any work for a non-development sequence."""
    from ivos_core.data import DavisDataset
    from ivos_core.davis.config import DavisEvalConfig
    from ivos_core.training.osvos_parent import load_parent

    seqs = check_development(sequences, split, fold=parent_fold(parent, root) if split == "train" else ())
    grid = grid or SelectionGrid()
    say = log or (lambda msg: None)
    tag = _file_tag(parent)
    model = load_parent(parent, device="cpu")
    load_cfg = DavisEvalConfig(split=split, frame_stride=grid.frame_stride, max_side=grid.max_side, init_methods=("gt",),
                               correction_methods=())
    ds = DavisDataset(root, split=split)
    t_all = time.perf_counter()
    candidates: dict[str, dict[str, Any]] = {}
    for ft in grid.finetune_settings():
        for name in seqs:
            variants = [o.to_dict() for o in grid.with_priors(ft)]  # the propagations of this fit
            key = hashlib.sha256(json.dumps([tag, ft.to_dict(), variants, name, grid.frame_stride, grid.max_side, seed]
                                            + _ROWS_VERSION).encode()).hexdigest()[:16]
            cache = None if cache_dir is None else Path(cache_dir) / f"{name}-{ft.label()}-{key}.json"
            if cache is not None and cache.is_file():
                rows = json.loads(cache.read_text())
                say(f"{name} {ft.label()}: cached")
            else:
                rows = _evaluate_sequence(model, ds.sequence(name), name, ft, grid, load_cfg,
                                          device=device, seed=seed, say=say)
                if cache is not None:
                    atomic_write(cache, json.dumps(rows, indent=1))
            for r in rows:
                label = OSVOSOptions.from_dict(r["options"]).label()
                c = candidates.setdefault(label, {"label": label, "options": r["options"], "J": {}, "F": {},
                                                  "seconds": {}})
                c["J"][name] = r["J_mean"]
                c["F"][name] = r["F_mean"]
                c["seconds"][name] = round(r["fit_s"] + r["propagate_s"], 2)
    for c in candidates.values():
        c["J_mean"] = float(np.mean([c["J"][s] for s in seqs]))
        c["F_mean"] = float(np.mean([c["F"][s] for s in seqs]))
        c["JF_mean"] = (c["J_mean"] + c["F_mean"]) / 2
    ranked = list(candidates.values())
    return _selection_document(ranked, root=root, split=split, seqs=seqs, parent=parent, grid=grid, seed=seed,
                               seconds=round(time.perf_counter() - t_all, 1))


def _evaluate_sequence(model: Any, sequence: Any, name: str, ft: OSVOSOptions, grid: SelectionGrid,
                       load_cfg: Any, *, device: str, seed: int, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Fine-tune once on the ground-truth first frame with ``ft``, then propagate with each prior
    of the grid (the prior does not change the fit, so one fit serves them all); one row of
    options, J mean and seconds per prior."""
    from ivos_core.davis.sequence import _load_sequence, _scores
    from ivos_core.video import VideoSegmenter

    _, frames, gts, void = _load_sequence(sequence, load_cfg)
    vs = VideoSegmenter(model, device=device, options=ft, seed=seed)
    vs.open(frames, name=name)
    vs.set_mask(0, gts[0])
    t0 = time.perf_counter()
    vs.fit()
    fit_s = time.perf_counter() - t0
    rows = []
    for opts in grid.with_priors(ft):
        vs.options = opts
        t1 = time.perf_counter()
        vs.propagate_all()
        prop_s = time.perf_counter() - t1
        preds = np.stack([vs.mask(i) for i in range(len(frames))])
        stats = _scores(preds, gts, void)[0]
        j = float(stats["J_mean"])
        rows.append({"options": opts.to_dict(), "J_mean": j, "F_mean": float(stats["F_mean"]), "fit_s": round(fit_s, 2),
                     "propagate_s": round(prop_s, 2), "n_frames": int(len(frames))})
        say(f"{name} {opts.label()}: J {j:.3f} (fit {fit_s:.1f} s, propagate {prop_s:.1f} s)")
    vs.close()
    return rows


def _selection_document(ranked: list[dict[str, Any]], *, root: str | Path, split: str, seqs: Sequence[str],
                        parent: str | Path, grid: SelectionGrid, seed: int, seconds: float) -> dict[str, Any]:
    """The selection file: what was compared, every candidate, and the choice (the best mean J;
    ``max`` keeps the first of equals, i.e. the cheaper candidate)."""
    best = max(ranked, key=lambda c: c["J_mean"])
    plain = [c for c in ranked if c["options"]["prior_weight"] == 0]
    return {
        "what": "OSVOS adaptation settings chosen on the DAVIS-2016 video development sequences "
                "(ground-truth first frame; DAVIS J mean, first and last evaluated frame excluded)",
        "created_at": datetime.now(timezone.utc).isoformat(),
        "root": str(root),
        "split": split,
        "sequences": list(seqs),
        "fold_sequences": [s for s in seqs if s not in VIDEO_DEV_SEQUENCES],  # held out of this parent only
        "parent": str(parent),
        "parent_step": _parent_step(parent),
        "frame_stride": grid.frame_stride,
        "max_side": grid.max_side,
        "seed": seed,
        "candidates": ranked,
        "choice": {"label": best["label"], "options": best["options"], "J_mean": best["J_mean"], "J": best["J"]},
        "best_plain_osvos": None if not plain else max(plain, key=lambda c: c["J_mean"])["label"],
        "seconds": seconds,
    }
