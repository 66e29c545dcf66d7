"""Choose the local-correction radius (``SegmenterOptions.local_radius``) on the video DEVELOPMENT
sequences: each candidate is an ``ivos eval davis --split train --sequences hockey,lucia,surf
--correct ours --correction-frames 5 [--local-radius R]`` run (the 5 worst frames of each
GT-initialised OSVOS run corrected with 1 and 4 robot clicks). Rule: the highest mean IoU after
1 click over those frames, ties after 4. Refuses runs on anything but the dev sequences.

Usage: python scripts/select_local_radius.py OUT.json RUN_DIR [RUN_DIR...]
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from ivos_core.splits import VIDEO_DEV_SEQUENCES


def main(out: str, runs: list[str]) -> int:
    cands = []
    for run in runs:
        s = json.loads((Path(run) / "summary.json").read_text())
        cfg = s["config"]
        if cfg["split"] != "train" or not set(cfg["sequences"] or []) <= set(VIDEO_DEV_SEQUENCES):
            print(f"refused: {run} is not a run on the video development sequences", file=sys.stderr)
            return 2
        frames = s["table3_frames"]
        ours = frames["methods"]["ours"]
        cands.append({"run": run, "local_radius": cfg.get("local_radius"), "checkpoint": cfg["checkpoint"],
                      "before": frames["before"]["mean_iou"], "n_frames": frames["before"]["n"],
                      "iou@1": ours["1"]["mean_iou"], "iou@4": ours["4"]["mean_iou"],
                      "gain@1": ours["1"]["gain"], "gain@4": ours["4"]["gain"], "gains@1": ours["1"]["gains"]})
    best = max(cands, key=lambda c: (c["iou@1"], c["iou@4"]))
    doc = {"what": "local-correction radius chosen on the DAVIS-2016 video development sequences (hockey, lucia, "
                   "surf; the 5 worst frames of the GT-initialised OSVOS run each, corrected by the robot)",
           "rule": "highest mean IoU after 1 click, ties after 4", "created_at": datetime.now(timezone.utc).isoformat(),
           "candidates": cands, "choice": {"local_radius": best["local_radius"], "run": best["run"]}}
    Path(out).write_text(json.dumps(doc, indent=2))
    for c in cands:
        print(f"{str(c['local_radius']):>6}  before {c['before']:.3f}  1 click {c['iou@1']:.3f}  4 clicks {c['iou@4']:.3f}")
    print(f"chosen local_radius: {best['local_radius']} (wrote {out})")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    raise SystemExit(main(sys.argv[1], sys.argv[2:]))
