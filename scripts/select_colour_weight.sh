#!/usr/bin/env bash
# Choose the colour cue's weight on a development set, then evaluate the choice once on GrabCut.
# Development set: every 25th frame of the DAVIS-2016 val sequences (27 frames here) - neither
# training data (DAVIS train, BSDS500, synthetic) nor the GrabCut test images. Every variant runs
# with the dense CRF; w > 0 adds the clicked-component filter (--keep-clicked).
# Usage: scripts/select_colour_weight.sh DATA_ROOT [CHECKPOINT] [WEIGHTS...]
# README "Colour cue": CHECKPOINT=runs/lite-gauss/final, weights 0 0.5 1 2, one torch thread on
# the 2-core build machine (about 7 minutes for the sweep, 2 for the GrabCut run).
set -euo pipefail
DATA=${1:?usage: $0 DATA_ROOT [CHECKPOINT] [WEIGHTS...]}
CK=${2:-runs/lite-gauss/final}
shift $(( $# >= 2 ? 2 : 1 ))
[ $# -gt 0 ] || set -- 0 0.5 1 2
WEIGHTS=("$@")
IVOS=.venv/bin/ivos
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
NAME=$(basename "$(dirname "$CK")")-$(basename "$CK")
runs=()
for w in "${WEIGHTS[@]}"; do
  extra=(); [ "$w" != "0" ] && extra=(--colour "$w" --keep-clicked)
  $IVOS eval interactive --dataset davis --root "$DATA/DAVIS" --davis-frames all --split val --stride 25 \
      --method ours --checkpoint "$CK" --crf "${extra[@]}" --out "runs/eval/dev-$NAME-colour$w"
  runs+=("runs/eval/dev-$NAME-colour$w")
done
$IVOS eval compare "${runs[@]}" --title "development set: DAVIS-2016 val, every 25th frame" --out "runs/eval/dev-$NAME.png"
# the weight with the lowest NoC@90 on the development set (ties: lower NoC@85), then GrabCut once
best=$(.venv/bin/python - "${runs[@]}" <<'PY'
import json, sys
docs = [(json.load(open(f"{r}/summary.json")), r) for r in sys.argv[1:]]
best = min(docs, key=lambda d: (d[0]["noc"]["0.9"], d[0]["noc"]["0.85"]))
print(best[1].rsplit("colour", 1)[1])
PY
)
echo "chosen on the development set: colour weight $best"
extra=(); [ "$best" != "0" ] && extra=(--colour "$best" --keep-clicked)
$IVOS eval interactive --dataset grabcut --root "$DATA/GrabCut" --method ours --checkpoint "$CK" --crf "${extra[@]}" \
    --out "runs/eval/grabcut-$NAME-crf-colour$best"
