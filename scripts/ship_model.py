"""Copy a chosen interactive checkpoint and OSVOS parent into ``models/<name>/`` with the
settings chosen on the development sets (``model.json``), the layout ``ivos_core.shipped`` and the
jobs read. Weights only (no optimizer state). The model card is written by hand beside it.

Usage: python scripts/ship_model.py --interactive runs/v1-int/final --osvos runs/v1-osvos/parent \
    --selection docs/results/dev/v1-int-selection.json [--name ivos-lite-v1]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from ivos_core.video_prior import DEFAULT_OSVOS_OPTIONS


def _copy_checkpoint(src: str, dst: Path) -> dict:
    base = Path(src)
    for suffix in (".safetensors", ".json"):
        shutil.copyfile(base.with_name(base.name + suffix), dst.with_name(dst.name + suffix))
    return json.loads(dst.with_name(dst.name + ".json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--interactive", required=True)
    ap.add_argument("--osvos", required=True)
    ap.add_argument("--selection", required=True, help="the interactive dev selection record (JSON)")
    ap.add_argument("--name", default="ivos-lite-v1")
    a = ap.parse_args()
    sel = json.loads(Path(a.selection).read_text())
    colour = float(sel.get("chosen", {}).get("colour", {}).get("colour") or 0.0)
    out = Path("models") / a.name
    out.mkdir(parents=True, exist_ok=True)
    inter = _copy_checkpoint(a.interactive, out / "interactive")
    parent = _copy_checkpoint(a.osvos, out / "osvos_parent")
    opts = DEFAULT_OSVOS_OPTIONS.to_dict()
    model = {
        "name": a.name,
        "interactive": "deep",
        "osvos": parent.get("model", "lite"),
        "finetune_steps": opts["finetune_steps"],
        "interactive_options": {"crf": True, "colour_weight": colour, "keep_clicked": colour > 0},
        "osvos_options": {k: v for k, v in opts.items() if k != "finetune_steps"},
        "provenance": {
            "interactive_checkpoint": a.interactive,
            "interactive_step": inter.get("step"),
            "osvos_parent": a.osvos,
            "osvos_step": parent.get("step"),
            "interactive_selection": a.selection,
            "osvos_selection": "docs/results/dev/video-selection.json",
        },
    }
    (out / "model.json").write_text(json.dumps(model, indent=2) + "\n")
    print(json.dumps(model, indent=2))


if __name__ == "__main__":
    main()
