#!/usr/bin/env bash
# Choose the deep model's test-time zoom-in (RITM-style crop around the object from the 2nd click)
# and mirror averaging on the DEVELOPMENT set (COCO_MVal dev.txt, 100 instances, 20-click cap),
# on top of the shipped post-processing (CRF, colour weight, clicked components, GrabCut band).
# Adds the stage "inference" to docs/results/dev/<name>-selection.json; the guard refuses test sets.
# Round 4 (2026-12-02): NAME=v1-int (the stage joins v1-int-selection.json); zoom-in lost to plain
# by 0.52 clicks (paired interval excludes 0), so zoom + flip was not run; flip won by 0.05 (noise).
# Round 5 (2026-12-02): STAGE=input VARIANTS="flip flip-in448 flip-in512": the network's working
# size (it was trained on images scaled to 288-518 px, used at 384), on top of mirror averaging.
# Round 5: VARIANTS="flip-gc240" ran the GrabCut refinement on a crop downscaled to 240 px (a speed
# setting for the annotation app, judged by `ivos eval compare` against flip, not by the stage's
# lowest-NoC rule: the app uses it only if the paired NoC@90 interval includes 0).
# Round 12 (2026-12-03): STAGE=multiscale VARIANTS="flip flip-tta448 flip-tta320" NAME=v2-int-ms: multi-scale
# averaging of the shipped network's logits (ttaN: also at working size N; tta320_448: both).
# Usage: scripts/select_inference.sh DATA_ROOT CHECKPOINT COLOUR BAND NAME
#   e.g. scripts/select_inference.sh ../shared/data runs/v1-int-s2c/final 1 0.05 v1-int-s2c
set -euo pipefail
usage="usage: $0 DATA_ROOT CHECKPOINT COLOUR BAND NAME"
DATA=${1:?$usage}; CK=${2:?$usage}; W=${3:?$usage}; B=${4:?$usage}; NAME=${5:?$usage}
. "$(dirname "$0")/_coco_dev.sh"
DEV=("${BASE_DEV[@]}"
     --method ours --checkpoint "$CK" --crf --grabcut-band "$B")
[ "$W" != "0" ] && DEV+=(--colour "$W" --keep-clicked)
runs=()
for variant in ${VARIANTS:-plain zoom flip}; do  # VARIANTS="... zoom-flip" adds the pair (not run: zoom lost)
  extra=()  # a variant names its parts with dashes: zoom, flip, inN (the network's working size N), gcN (GrabCut at N px), ttaN
  for part in ${variant//-/ }; do
    case $part in
      plain) ;; zoom) extra+=(--zoom-in);; flip) extra+=(--flip);;
      in[0-9]*) extra+=(--input-size "${part#in}");;
      gc[0-9]*) extra+=(--grabcut-max-side "${part#gc}");;
      tta[0-9]*) sizes=${part#tta}; extra+=(--seg-option "tta_sizes=[${sizes//_/,}]");;
      *) echo "unknown variant part $part in $variant" >&2; exit 2;;
    esac
  done
  r="$OUT/inference-$variant"
  [ -f "$r/summary.json" ] || $IVOS eval interactive "${DEV[@]}" "${extra[@]}" --out "$r"
  runs+=("$r")
done
best=$($PY -m ivos_core.selection choose --stage "${STAGE:-inference}" --record "$RECORD" --field method "${runs[@]}")
echo "inference variant chosen on COCO_MVal dev: $best (record: $RECORD)"
