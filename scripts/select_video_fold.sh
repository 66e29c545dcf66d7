#!/usr/bin/env bash
# Choose OSVOS propagation settings (previous-frame prior, its band, mask threshold) on a BROADER
# video development set: the three development sequences (hockey, lucia, surf) with the shipped
# parent, plus a fold of DAVIS training sequences with a parent trained without them
# (`ivos train osvos --holdout ...`; `ivos eval video-select` refuses any sequence that parent saw
# and every val sequence). Fine-tuning is fixed at the shipped, in-budget setting; every candidate
# is a propagation variant of one fit per sequence and seed. Rule, declared before the runs: the
# highest mean J over all sequences and seeds 0 and 1 (scripts/combine_video_seeds.py).
# Usage: scripts/select_video_fold.sh DATA_ROOT SHIPPED_PARENT FOLD_PARENT FOLD_SEQUENCES RECORD
#   e.g. scripts/select_video_fold.sh ../shared/data models/ivos-lite-v1/osvos_parent runs/fold1-osvos/parent \
#        horsejump-low,kite-walk,motocross-bumps,motorbike,paragliding docs/results/dev/video-selection-fold1.json
# Set PARTS=dev or PARTS=fold to run one half (e.g. one per core); the combine step runs when both exist.
set -euo pipefail
usage="usage: $0 DATA_ROOT SHIPPED_PARENT FOLD_PARENT FOLD_SEQUENCES RECORD"
DATA=${1:?$usage}; SHIPPED=${2:?$usage}; FOLD=${3:?$usage}; FOLD_SEQS=${4:?$usage}; RECORD=${5:?$usage}
IVOS=${IVOS:-.venv/bin/ivos}
PY=${PY:-.venv/bin/python}
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=${OUT:-outputs/select/video-fold}
mkdir -p "$OUT"
GRID=(--split train --steps 1200 --lr 0.005 --crop 320 --osvos-side 480 --osvos-flip on
      --priors "${PRIORS:-0:1,3:0,10:0}" --prior-dilation "${DILATIONS:-0.03,0.06}"
      --threshold "${THRESHOLDS:-0.5,0.6,0.7,0.8,0.9}" --frame-stride 2 --max-side 480 --cache runs/select-video-cache)
for seed in 0 1; do
  if [ "${PARTS:-dev,fold}" != fold ] && [ ! -f "$OUT/dev-seed$seed.json" ]; then
    $IVOS eval video-select --root "$DATA/DAVIS" --sequences hockey,lucia,surf --osvos-parent "$SHIPPED" \
        "${GRID[@]}" --seed "$seed" --out "$OUT/dev-seed$seed.json"
  fi
  if [ "${PARTS:-dev,fold}" != dev ] && [ ! -f "$OUT/fold-seed$seed.json" ]; then
    $IVOS eval video-select --root "$DATA/DAVIS" --sequences "$FOLD_SEQS" --osvos-parent "$FOLD" \
        "${GRID[@]}" --seed "$seed" --out "$OUT/fold-seed$seed.json"
  fi
done
runs=("$OUT"/dev-seed0.json "$OUT"/dev-seed1.json "$OUT"/fold-seed0.json "$OUT"/fold-seed1.json)
for r in "${runs[@]}"; do [ -f "$r" ] || { echo "waiting for $r (run the other part)"; exit 0; }; done
$PY scripts/combine_video_seeds.py "$RECORD" "${runs[@]}" --what "OSVOS propagation settings chosen on the \
video development sequences hockey, lucia, surf (shipped parent $SHIPPED) plus the training fold $FOLD_SEQS \
(parent $FOLD, trained without them), GT first frame, seeds 0 and 1; fine-tuning fixed at the shipped setting"
