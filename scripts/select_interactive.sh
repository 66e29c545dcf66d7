#!/usr/bin/env bash
# Choose the interactive model's checkpoint, then its colour-cue weight, on the DEVELOPMENT set
# (COCO_MVal dev.txt, 100 instances) - never on GrabCut or DAVIS val, which are test sets.
#   1. every checkpoint CKPT_DIR/snapshots/*.json and CKPT_DIR/final, dense CRF on, 20-click cap;
#   2. the one with the lowest NoC@90 (ties: NoC@85) is swept over colour weights 0 0.5 1 2
#      (w > 0 adds the clicked-component filter --keep-clicked, as in the colour script);
#   3. all dev numbers and both choices go to docs/results/dev/<name>-selection.json.
# Every evaluation runs with --select and the chooser (python -m ivos_core.selection) calls
# ivos_core.splits.require_development, so pointing this at a test set fails (TestSetError).
# Usage: scripts/select_interactive.sh DATA_ROOT CKPT_DIR [NAME]
#   e.g. scripts/select_interactive.sh ../shared/data runs/v1-int
# Evaluation folders: outputs/select/<name>/ (not committed). One torch thread by default.
set -euo pipefail
DATA=${1:?usage: $0 DATA_ROOT CKPT_DIR [NAME]}
CKDIR=${2:?usage: $0 DATA_ROOT CKPT_DIR [NAME]}
NAME=${3:-$(basename "$CKDIR")}
. "$(dirname "$0")/_coco_dev.sh"
DEV=("${BASE_DEV[@]}")

cks=()
shopt -s nullglob
for j in "$CKDIR"/snapshots/*.json; do cks+=("${j%.json}"); done
shopt -u nullglob
[ -f "$CKDIR/final.json" ] && cks+=("$CKDIR/final")
[ ${#cks[@]} -gt 0 ] || { echo "no checkpoints in $CKDIR/snapshots/*.json or $CKDIR/final" >&2; exit 1; }

runs=()
for ck in "${cks[@]}"; do
  r="$OUT/ckpt-$(basename "$ck")"
  [ -f "$r/summary.json" ] || $IVOS eval interactive "${DEV[@]}" --method ours --checkpoint "$ck" --crf --out "$r"
  runs+=("$r")
done
rm -f "$RECORD"
best_ck=$($PY -m ivos_core.selection choose --stage checkpoint --record "$RECORD" --field checkpoint "${runs[@]}")
echo "checkpoint chosen on COCO_MVal dev: $best_ck"

cruns=()
for w in 0 0.5 1 2; do
  extra=(); [ "$w" != "0" ] && extra=(--colour "$w" --keep-clicked)
  r="$OUT/colour$w"
  [ -f "$r/summary.json" ] || $IVOS eval interactive "${DEV[@]}" --method ours --checkpoint "$best_ck" --crf \
      "${extra[@]}" --out "$r"
  cruns+=("$r")
done
best_w=$($PY -m ivos_core.selection choose --stage colour --record "$RECORD" --field colour "${cruns[@]}")
$IVOS eval compare "${cruns[@]}" --title "COCO_MVal dev: colour weight, $NAME" --out "$OUT/colour.png"
echo "colour weight chosen on COCO_MVal dev: $best_w (record: $RECORD)"
