#!/usr/bin/env bash
# Choose among a continued training run's checkpoints AND the checkpoint it continued from, each
# with the shipped post-processing (dense CRF, colour weight + clicked components, GrabCut band),
# on the DEVELOPMENT set (COCO_MVal dev.txt, 100 instances, 20-click cap). The guard refuses test
# sets. Adds the stage "checkpoint" to docs/results/dev/<NAME>-selection.json and copies the
# post-processing stages' choices (colour, grabcut_band) from the record of the run it continued.
# Usage: scripts/select_continuation.sh DATA_ROOT RUN_DIR START_CKPT COLOUR BAND NAME [STEPS...]
#   e.g. scripts/select_continuation.sh ../shared/data runs/v1-int-s2c runs/v1-int/final 1 0.05 v1-int-s2c 500 1000
set -euo pipefail
usage="usage: $0 DATA_ROOT RUN_DIR START_CKPT COLOUR BAND NAME [STEPS...]"
DATA=${1:?$usage}; RUN=${2:?$usage}; START=${3:?$usage}; W=${4:?$usage}; B=${5:?$usage}; NAME=${6:?$usage}
shift 6
. "$(dirname "$0")/_coco_dev.sh"
POST=(--crf --grabcut-band "$B"); [ "$W" != "0" ] && POST+=(--colour "$W" --keep-clicked)
cks=("$START")
for s in "$@"; do cks+=("$RUN/snapshots/step$(printf %06d "$s")"); done
cks+=("$RUN/final")
runs=()
for ck in "${cks[@]}"; do
  [ -f "$ck.json" ] || { echo "$ck.json: no such checkpoint" >&2; exit 2; }
  r="$OUT/ckpt-$(echo "$ck" | tr '/' '_')"
  [ -f "$r/summary.json" ] || $IVOS eval interactive "${BASE_DEV[@]}" \
      --method ours --checkpoint "$ck" "${POST[@]}" --out "$r"
  runs+=("$r")
done
best=$($PY -m ivos_core.selection choose --stage checkpoint --record "$RECORD" --field checkpoint "${runs[@]}")
$IVOS eval compare "${runs[@]}" --title "COCO_MVal dev: $NAME checkpoints vs $START" --out "$OUT/checkpoint.png"
# the post-processing the checkpoints were compared under: the stages' choices, as ship_model reads them
$PY - "$RECORD" "$W" "$B" <<'PY'
import json, sys
path, w, b = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
doc = json.load(open(path))
doc.setdefault("chosen", {})["colour"] = {"colour": w, "note": "fixed: chosen for the run this one continues"}
doc["chosen"]["grabcut_band"] = {"grabcut_band": b, "note": "fixed: chosen for the run this one continues"}
json.dump(doc, open(path, "w"), indent=2)
PY
echo "checkpoint chosen on COCO_MVal dev: $best (record: $RECORD)"
