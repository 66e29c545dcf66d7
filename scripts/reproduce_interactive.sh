#!/usr/bin/env bash
# Reproduce the README's interactive-segmentation tables (issue 3): train the three `lite`
# variants of the ablation under the same budget, then evaluate them and GrabCut on GrabCut-33
# and on the DAVIS-2016 val first frames. Usage: scripts/reproduce_interactive.sh DATA_ROOT [STEPS]
# DATA_ROOT holds BSDS500/, DAVIS/ and GrabCut/ (e.g. ../shared/data). Outputs go to runs/.
# Budget used for the README: STEPS=600 (batch 8, 256 px crops), the three runs in parallel,
# one torch thread each, on the 2-core build machine (about 60 minutes).
set -euo pipefail
DATA=${1:?usage: $0 DATA_ROOT [STEPS]}
STEPS=${2:-600}
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
$IVOS eval interactive --dataset grabcut --root "$DATA/GrabCut" --method ifcn --checkpoint runs/lite-dist/final --out runs/eval/grabcut-ifcn
$IVOS eval interactive --dataset grabcut --root "$DATA/GrabCut" --method ours --checkpoint runs/lite-nomask/final --out runs/eval/grabcut-ours-nomask
$IVOS eval interactive --dataset davis --root "$DATA/DAVIS" --method ours --checkpoint runs/lite-gauss/final --out runs/eval/davis-ours
$IVOS eval interactive --dataset davis --root "$DATA/DAVIS" --method grabcut --out runs/eval/davis-grabcut
