#!/usr/bin/env bash
# Choose the GrabCut boundary refinement's band (ivos_core.interactive.grabcut_refine) for the shipped
# interactive settings on the DEVELOPMENT set (COCO_MVal dev.txt, 100 instances, 20-click cap):
# the chosen checkpoint with the dense CRF and the chosen colour weight (+ clicked-component
# filter), without refinement and with bands 0.01 0.02 0.03 0.05 of the image diagonal.
# The runs without refinement is the colour stage's (re-used when present). The stage and its
# numbers are added to docs/results/dev/<name>-selection.json as "grabcut_band".
# Usage: scripts/select_grabcut_band.sh DATA_ROOT CHECKPOINT COLOUR [NAME]
#   e.g. scripts/select_grabcut_band.sh ../shared/data runs/v1-int/final 1 v1-int
set -euo pipefail
DATA=${1:?usage: $0 DATA_ROOT CHECKPOINT COLOUR [NAME]}
CK=${2:?usage: $0 DATA_ROOT CHECKPOINT COLOUR [NAME]}
W=${3:?usage: $0 DATA_ROOT CHECKPOINT COLOUR [NAME]}
NAME=${4:-$(basename "$(dirname "$CK")")}
. "$(dirname "$0")/_coco_dev.sh"
DEV=("${BASE_DEV[@]}"
     --method ours --checkpoint "$CK" --crf)
COL=(); [ "$W" != "0" ] && COL=(--colour "$W" --keep-clicked)
runs=()
r="$OUT/colour$W"
[ -f "$r/summary.json" ] || $IVOS eval interactive "${DEV[@]}" "${COL[@]}" --out "$r"
runs+=("$r")
for b in ${BANDS:-0.01 0.02 0.03 0.05}; do
  r="$OUT/colour$W-grabcut$b"
  [ -f "$r/summary.json" ] || $IVOS eval interactive "${DEV[@]}" "${COL[@]}" --grabcut-band "$b" --out "$r"
  runs+=("$r")
done
best=$($PY -m ivos_core.selection choose --stage grabcut_band --record "$RECORD" --field grabcut_band "${runs[@]}")
$IVOS eval compare "${runs[@]}" --title "COCO_MVal dev: GrabCut refinement band, $NAME" --out "$OUT/grabcut-band.png"
echo "GrabCut band chosen on COCO_MVal dev: $best (record: $RECORD)"
