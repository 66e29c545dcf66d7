#!/usr/bin/env bash
# Choose OSVOS's one-shot adaptation settings (fine-tuning steps, learning rate, previous-frame
# prior) on the video DEVELOPMENT sequences - DAVIS-2016 train hockey, lucia, surf, held out of
# parent training - with the ground-truth first frame. DAVIS val is never looked at: the command
# refuses any sequence outside ivos_core.splits.VIDEO_DEV_SEQUENCES.
# Writes docs/results/dev/video-selection.json (every candidate's J per sequence, the choice).
# Re-runnable: per-sequence results are cached under runs/select-video-cache keyed by the
# parent's size and mtime, so a new parent re-runs everything and an interrupted sweep resumes.
# The parent is snapshotted first (a training run may overwrite `last` during the sweep).
# Usage: scripts/select_video.sh DATA_ROOT PARENT [OUT]
#   e.g. scripts/select_video.sh ../shared/data runs/v1-osvos/parent
# Grid (override with STEPS, LRS, PRIORS): steps 100,200 x lr default(1e-3),3e-3,1e-2 x priors
# weight:inside 0:1 (off),3:0,10:0,3:0.5,10:0.5 = 6 fine-tunings per sequence, 30 candidates.
# Cost (lite, one torch thread): about 0.09 s per fine-tuning step on an idle core (~10 min in all);
# the first run on the loaded build machine took much longer (docs/results/dev/video-selection.md).
set -euo pipefail
DATA=${1:?usage: $0 DATA_ROOT PARENT [OUT]}
PARENT=${2:?usage: $0 DATA_ROOT PARENT [OUT]}
OUT=${3:-docs/results/dev/video-selection.json}
IVOS=${IVOS:-.venv/bin/ivos}
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
SNAP=runs/select-video-parent
mkdir -p "$SNAP"
for ext in safetensors json; do cp -p "$PARENT.$ext" "$SNAP/parent.$ext"; done
$IVOS eval video-select --root "$DATA/DAVIS" --split train --sequences hockey,lucia,surf \
    --osvos-parent "$SNAP/parent" --out "$OUT" \
    --steps "${STEPS:-100,200}" --lr "${LRS:-default,0.003,0.01}" --priors "${PRIORS:-0:1,3:0,10:0,3:0.5,10:0.5}" \
    --frame-stride 2 --max-side 320 --cache runs/select-video-cache
# record which parent the numbers belong to (the snapshot path is not meaningful to readers)
.venv/bin/python - "$OUT" "$PARENT" <<'PY'
import json, sys
p, parent = sys.argv[1], sys.argv[2]
d = json.load(open(p))
d["parent"] = parent
json.dump(d, open(p, "w"), indent=2)
PY
