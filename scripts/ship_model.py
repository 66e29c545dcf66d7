"""Copy a chosen interactive checkpoint and OSVOS parent into ``models/<name>/`` with the
settings chosen on the development sets (``model.json``), the layout ``ivos_core.shipped`` and the
jobs read. Weights only (no optimizer state). The model card is written by hand beside it.

Usage: python scripts/ship_model.py --interactive runs/v1-int/final --osvos runs/v1-osvos/parent \
    --selection docs/results/dev/v1-int-selection.json \
    [--video-selection docs/results/dev/video-selection-v2.json] [--name ivos-lite-v1]

The interactive options come from the selection record's chosen stages (colour weight, GrabCut
band, zoom-in / flip from the ``inference`` stage); the OSVOS options from the video selection's ``choice`` (else DEFAULT_OSVOS_OPTIONS).
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
    ap.add_argument("--video-selection", default=None,
                    help="the OSVOS dev selection (JSON with 'choice'); default: DEFAULT_OSVOS_OPTIONS")
    ap.add_argument("--correction-selection", default=None,
                    help="the local-correction radius chosen on the video dev sequences (JSON with 'choice')")
    ap.add_argument("--name", default="ivos-lite-v1")
    a = ap.parse_args()
    sel = json.loads(Path(a.selection).read_text())
    chosen = sel.get("chosen", {})
    colour = float(chosen.get("colour", {}).get("colour") or 0.0)
    band = chosen.get("grabcut_band", {}).get("grabcut_band")
    out = Path("models") / a.name
    out.mkdir(parents=True, exist_ok=True)
    inter = _copy_checkpoint(a.interactive, out / "interactive")
    parent = _copy_checkpoint(a.osvos, out / "osvos_parent")
    opts = DEFAULT_OSVOS_OPTIONS.to_dict()
    video_selection = a.video_selection or "docs/results/dev/video-selection.json"
    if a.video_selection:
        opts.update(json.loads(Path(a.video_selection).read_text())["choice"]["options"])
    interactive_options = {"crf": True, "colour_weight": colour, "keep_clicked": colour > 0}
    if band is not None:
        interactive_options["grabcut_band"] = float(band)
    inference = chosen.get("inference", {})  # the zoom-in / flip stage, when it was run
    for option in ("zoom_in", "flip_tta"):
        if inference.get(option):
            interactive_options[option] = True
    size = chosen.get("input", {}).get("input_size")  # the network's working size, when that stage was run
    if size is not None:
        interactive_options["input_size"] = int(size)
    if a.correction_selection:
        radius = json.loads(Path(a.correction_selection).read_text())["choice"]["local_radius"]
        if radius is not None:
            interactive_options["local_radius"] = float(radius)
    model = {
        "name": a.name,
        "interactive": "deep",
        "osvos": parent.get("model", "lite"),
        "finetune_steps": opts["finetune_steps"],
        "interactive_options": interactive_options,
        "osvos_options": {k: v for k, v in opts.items() if k != "finetune_steps"},
        "provenance": {
            "interactive_checkpoint": a.interactive,
            "interactive_step": inter.get("step"),
            "osvos_parent": a.osvos,
            "osvos_step": parent.get("step"),
            "interactive_selection": a.selection,
            "osvos_selection": video_selection,
            "correction_selection": a.correction_selection,
        },
    }
    (out / "model.json").write_text(json.dumps(model, indent=2) + "\n")
    print(json.dumps(model, indent=2))


if __name__ == "__main__":
    main()
