"""Checkpoint weight averaging (the tail-of-run average of Izmailov et al.'s SWA, without retraining).

Snapshots from the low-learning-rate tail of one run lie in one basin; their mean often
generalises better than any single one, and on our dev sets single snapshots of one run scatter
by +/-0.3 clicks, so the average is a cheap candidate that a development set can accept or
reject like any other checkpoint. Floating-point tensors (weights and BatchNorm running
statistics) are averaged; integer buffers (``num_batches_tracked``) take the last snapshot's
value. Only checkpoints of the same kind and model with identical tensors' names and shapes
are averaged; anything else is refused with what differs.

``python -m ivos_core.training.averaging OUT SRC [SRC ...]`` (``--kind osvos`` for parents).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import torch

from ivos_core.checkpoints import CheckpointError, CheckpointPaths, load_checkpoint, load_model, save_checkpoint

__all__ = ["average_checkpoints", "average_state_dicts"]


def average_state_dicts(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Element-wise mean of float tensors; integer tensors from the last state."""
    if not states:
        raise ValueError("average_state_dicts: no state dicts given")
    keys = list(states[0])
    for i, st in enumerate(states[1:], start=1):
        if set(st) != set(keys):
            diff = sorted(set(st) ^ set(keys))
            raise CheckpointError(f"checkpoint {i} has different tensors than checkpoint 0: {diff[:3]}")
        bad = [k for k in keys if tuple(st[k].shape) != tuple(states[0][k].shape)]
        if bad:
            raise CheckpointError(f"checkpoint {i} differs in shape from checkpoint 0 at {bad[:3]}")
    out: dict[str, torch.Tensor] = {}
    for k in keys:
        if states[0][k].is_floating_point():
            acc = torch.zeros_like(states[0][k], dtype=torch.float64)
            for st in states:
                acc += st[k].to(torch.float64)
            out[k] = (acc / len(states)).to(states[0][k].dtype)
        else:
            out[k] = states[-1][k].clone()
    return out


def average_checkpoints(sources: Sequence[str | Path], out: str | Path, *, kind: str = "interactive") -> CheckpointPaths:
    """Write the mean of ``sources`` (checkpoints of one ``kind`` and model) as checkpoint ``out``.

    Its config is the last source's, with ``averaged_from`` (the sources) added; its step is the
    last source's step.
    """
    if len(sources) < 2:
        raise ValueError(f"average_checkpoints: give at least two checkpoints, got {len(sources)}")
    if kind == "osvos":
        from ivos_core.training.osvos_parent import register_checkpoint_builder

        register_checkpoint_builder()
    states, docs = [], []
    for src in sources:
        state, doc = load_checkpoint(src, expected_kind=kind)
        states.append(state)
        docs.append(doc)
    models = {d.get("model") for d in docs}
    if len(models) != 1:
        raise CheckpointError(f"average_checkpoints: sources are different models {sorted(map(str, models))}")
    model, _ = load_model(sources[-1], kind)
    model.load_state_dict(average_state_dicts(states), strict=True)
    last = docs[-1]
    header = {k: last[k] for k in ("kind", "model", "encoding", "use_mask") if k in last}
    config = {**header, **dict(last.get("config", {})),
              "averaged_from": [{"checkpoint": str(CheckpointPaths.of(s).base), "step": d.get("step")}
                                for s, d in zip(sources, docs)]}
    return save_checkpoint(out, model, config, step=last.get("step"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ivos_core.training.averaging", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="output checkpoint path (without .safetensors)")
    ap.add_argument("sources", nargs="+", help="checkpoints to average (paths without .safetensors)")
    ap.add_argument("--kind", default="interactive", choices=["interactive", "osvos"])
    args = ap.parse_args(argv)
    try:
        paths = average_checkpoints(args.sources, args.out, kind=args.kind)
    except (CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"averaged {len(args.sources)} checkpoints -> {paths.base}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
