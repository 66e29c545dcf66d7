#!/usr/bin/env bash
# Reproduce the README's interactive-segmentation tables (issue 3): train the three `lite`
# variants of the ablation under the same budget, then evaluate them and GrabCut on GrabCut-33
# and on the DAVIS-2016 val first frames; then continue the Gaussian variant to LONG_STEPS and
# evaluate it: a copy resumed from its last checkpoint under the longer schedule, i.e. a warm
# restart (the learning rate goes back up to the LONG_STEPS schedule's value at step STEPS, and
# stage 2 - correction clicks - starts again at 57% of LONG_STEPS). Batches are keyed by step,
# so the result does not depend on when the run is paused or killed and resumed.
# Usage: scripts/reproduce_interactive.sh DATA_ROOT [STEPS] [LONG_STEPS]
# DATA_ROOT holds BSDS500/, DAVIS/ and GrabCut/ (e.g. ../shared/data). Outputs go to runs/.
# Budget used for the README: STEPS=600 (batch 8, 256 px crops), the three runs in parallel,
# one torch thread each, on the 2-core build machine (about 60 minutes).
set -euo pipefail
DATA=${1:?usage: $0 DATA_ROOT [STEPS]}
STEPS=${2:-600}
LONG_STEPS=${3:-2600}
PY=.venv/bin/python
export OMP_WAIT_POLICY=PASSIVE
declare -A VARIANT=([gauss]="--encoding gaussian" [dist]="--encoding distance" [nomask]="--encoding gaussian --no-mask")
for v in gauss dist nomask; do
  $PY -m ivos_core.training --config lite --data "$DATA" --out runs/lite-$v --steps "$STEPS" \
      --workers 0 --threads 1 ${VARIANT[$v]} --resume > runs/lite-$v.log 2>&1 &
done
wait
export OMP_NUM_THREADS=2
IVOS=.venv/bin/ivos
$IVOS eval interactive --dataset grabcut --root "$DATA/GrabCut" --method grabcut --out runs/eval/grabcut-grabcut
$IVOS eval interactive --dataset grabcut --root "$DATA/GrabCut" --method ours --checkpoint runs/lite-gauss/final --out runs/eval/grabcut-ours
$IVOS eval interactive --dataset grabcut --root "$DATA/GrabCut" --method ours --checkpoint runs/lite-gauss/final --crf --out runs/eval/grabcut-ours-crf
$IVOS eval interactive --dataset grabcut --root "$DATA/GrabCut" --method ours --checkpoint runs/lite-gauss/final --crf --flip --out runs/eval/grabcut-ours-crf-flip
$IVOS eval interactive --dataset grabcut --root "$DATA/GrabCut" --method ifcn --checkpoint runs/lite-dist/final --out runs/eval/grabcut-ifcn
$IVOS eval interactive --dataset grabcut --root "$DATA/GrabCut" --method ours --checkpoint runs/lite-nomask/final --out runs/eval/grabcut-ours-nomask
$IVOS eval interactive --dataset davis --root "$DATA/DAVIS" --method ours --checkpoint runs/lite-gauss/final --out runs/eval/davis-ours
$IVOS eval interactive --dataset davis --root "$DATA/DAVIS" --method grabcut --out runs/eval/davis-grabcut

# the longer run: the Gaussian variant continued to LONG_STEPS (README: 2600, one thread); the
# README row "step 1750" evaluated a copy of runs/lite-gauss-long/last taken at that step
rm -rf runs/lite-gauss-long && cp -r runs/lite-gauss runs/lite-gauss-long
OMP_NUM_THREADS=1 $PY -m ivos_core.training --config lite --data "$DATA" --out runs/lite-gauss-long \
    --steps "$LONG_STEPS" --workers 0 --threads 1 --encoding gaussian --resume > runs/lite-gauss-long.log 2>&1
$IVOS eval interactive --dataset grabcut --root "$DATA/GrabCut" --method ours --checkpoint runs/lite-gauss-long/final --crf --out runs/eval/grabcut-long-crf
$IVOS eval interactive --dataset grabcut --root "$DATA/GrabCut" --method ours --checkpoint runs/lite-gauss-long/final --out runs/eval/grabcut-long
$IVOS eval interactive --dataset grabcut --root "$DATA/GrabCut" --method ours --checkpoint runs/lite-gauss-long/stage1 --crf --out runs/eval/grabcut-long1486-crf
$IVOS eval interactive --dataset grabcut --root "$DATA/GrabCut" --method ours --checkpoint runs/lite-gauss-long/stage1 --crf --flip --out runs/eval/grabcut-long1486-crf-flip

# stage 2 from the network's own predictions: 1000 steps from scratch (571 stage 1, 429 stage 2
# whose previous masks are 70% the frozen stage-1 model's prediction, 30% none, no perturbed GT)
OMP_NUM_THREADS=1 $PY -m ivos_core.training --config lite --data "$DATA" --out runs/lite-gauss-pred \
    --steps 1000 --workers 0 --threads 1 --encoding gaussian --stage2-mix 0.3,0,0.7 --resume > runs/lite-gauss-pred.log 2>&1
$IVOS eval interactive --dataset grabcut --root "$DATA/GrabCut" --method ours --checkpoint runs/lite-gauss-pred/final --crf --out runs/eval/grabcut-pred-crf

# the colour cue: its weight chosen per checkpoint on the development set (DAVIS val frames),
# then one GrabCut run each (runs/eval/grabcut-<checkpoint>-crf-colour<w>)
scripts/select_colour_weight.sh "$DATA" runs/lite-gauss/final 0 0.5 1 2
scripts/select_colour_weight.sh "$DATA" runs/lite-gauss-pred/final 0 0.5 1 2

$IVOS eval compare runs/eval/grabcut-grabcut runs/eval/grabcut-ours-crf-flip runs/eval/grabcut-lite-gauss-final-crf-colour0.5 \
    runs/eval/grabcut-lite-gauss-pred-final-crf-colour2 \
    --label "GrabCut (OpenCV)" --label "ours, 600 steps + CRF + flip" --label "ours, 600 steps + colour cue + CRF" \
    --label "ours, 1000 steps (own-prediction stage 2) + colour cue + CRF" --title "GrabCut-33, robot user" \
    --out docs/grabcut_compare.png
