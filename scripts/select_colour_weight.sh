#!/usr/bin/env bash
# Choose the colour cue's weight on the DEVELOPMENT set, then evaluate the choice once on GrabCut.
# Development set: COCO_MVal dev.txt (100 object instances; ../shared/data/README.md). It used to
# be every 25th frame of the DAVIS-2016 val sequences: a test set (frame 0 of the very sequences
# scored in Fig. 5 and Table 3), so that choice was not honest (issue 12). Every variant runs with
# the dense CRF; w > 0 adds the clicked-component filter (--keep-clicked). The dev runs use
# --select and the choice is made by python -m ivos_core.selection, which refuses test sets.
# Usage: scripts/select_colour_weight.sh DATA_ROOT [CHECKPOINT] [WEIGHTS...]
# (default weights 0 0.5 1 2; one torch thread). To choose the checkpoint as well, use
# scripts/select_interactive.sh DATA_ROOT CKPT_DIR.
set -euo pipefail
DATA=${1:?usage: $0 DATA_ROOT [CHECKPOINT] [WEIGHTS...]}
CK=${2:-runs/lite-gauss/final}
shift $(( $# >= 2 ? 2 : 1 ))
[ $# -gt 0 ] || set -- 0 0.5 1 2
WEIGHTS=("$@")
IVOS=${IVOS:-.venv/bin/ivos}
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
NAME=$(basename "$(dirname "$CK")")-$(basename "$CK")
OUT=outputs/select/colour-$NAME
$PY -m ivos_core.selection guard coco_mval dev
runs=()
for w in "${WEIGHTS[@]}"; do
  extra=(); [ "$w" != "0" ] && extra=(--colour "$w" --keep-clicked)
  $IVOS eval interactive --dataset coco_mval --root "$DATA/COCO_MVal" --split dev --select \
      --method ours --checkpoint "$CK" --crf "${extra[@]}" --out "$OUT/dev-colour$w"
  runs+=("$OUT/dev-colour$w")
done
$IVOS eval compare "${runs[@]}" --title "development set: COCO_MVal dev.txt" --out "$OUT/dev.png"
# the weight with the lowest NoC@90 on the development set (ties: lower NoC@85), then GrabCut once
best=$($PY -m ivos_core.selection choose --stage colour --record "docs/results/dev/colour-$NAME.json" \
    --field colour "${runs[@]}")
echo "chosen on the development set (COCO_MVal dev): colour weight $best"
extra=(); [ "$best" != "0" ] && extra=(--colour "$best" --keep-clicked)
$IVOS eval interactive --dataset grabcut --root "$DATA/GrabCut" --method ours --checkpoint "$CK" --crf "${extra[@]}" \
    --out "$OUT/grabcut-crf-colour$best"
