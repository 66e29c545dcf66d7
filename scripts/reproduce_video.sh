#!/usr/bin/env bash
# Reproduce the README's video tables (issue 4): the `lite` OSVOS parent (700 steps of the
# 1200-step lite schedule: the run is stopped once its `last` checkpoint reaches step 700), then
# the DAVIS-2016 val evaluations (Fig. 5, Table 3, J&F) without and with the colour cue.
# Needs the interactive checkpoints of scripts/reproduce_interactive.sh (runs/lite-gauss,
# runs/lite-dist, runs/lite-gauss-pred).
# Usage: scripts/reproduce_video.sh DATA_ROOT   (DATA_ROOT holds DAVIS/, e.g. ../shared/data)
set -euo pipefail
DATA=${1:?usage: $0 DATA_ROOT}
IVOS=.venv/bin/ivos
PARENT=runs/davis/osvos-parent-700
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
step() { .venv/bin/python -c "import json,sys; print(json.load(open(sys.argv[1])).get('step', 0))" "$PARENT/last.json" 2>/dev/null || echo 0; }
if [ "$(step)" -lt 700 ]; then
  $IVOS train osvos --root "$DATA/DAVIS" --out "$PARENT" --config lite --max-steps 1200 --resume > runs/osvos-parent.log 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null && [ "$(step)" -lt 700 ]; do sleep 10; done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
fi
COMMON=(--root "$DATA/DAVIS" --split val --init-clicks 1,4,8 --correction-clicks 1,4,10 --finetune-steps 100
        --frame-stride 2 --max-side 320 --osvos-parent "$PARENT/last" --device cpu)
# Fig. 5 / Table 3 without the colour cue, then with it (the weight chosen on the development set)
$IVOS eval davis "${COMMON[@]}" --init gt,grabcut,ours --correct ours,ifcn,grabcut --crf \
    --checkpoint runs/lite-gauss/final --ifcn-checkpoint runs/lite-dist/final --out runs/eval/davis-video-ours
$IVOS eval davis "${COMMON[@]}" --init gt,grabcut,ours --correct ours,ifcn,grabcut --crf --colour 0.5 --keep-clicked \
    --checkpoint runs/lite-gauss/final --ifcn-checkpoint runs/lite-dist/final --out runs/eval/davis-video-full-colour
# the 1000-step own-prediction model with its development-set weight
$IVOS eval davis "${COMMON[@]}" --init gt,ours --correct ours --crf --colour 2 --keep-clicked \
    --checkpoint runs/lite-gauss-pred/final --out runs/eval/davis-video-pred-colour2
cp runs/eval/davis-video-full-colour/fig5_osvos_init.png runs/eval/davis-video-full-colour/table3_corrections.png docs/
