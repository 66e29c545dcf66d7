#!/usr/bin/env bash
# Choose OSVOS propagation settings (previous-frame prior, its band, mask threshold) on a BROADER
# video development set: the three development sequences (hockey, lucia, surf) with the shipped
# parent, plus folds of DAVIS training sequences, each with a parent trained without that fold
# (`ivos train osvos --holdout ...`; `ivos eval video-select` refuses any sequence that parent saw
# and every val sequence). Fine-tuning is fixed at the shipped, in-budget setting; every candidate
# is a propagation variant of one fit per sequence and seed. Rule, declared before the runs: the
# highest mean J over all sequences and seeds 0 and 1 (scripts/combine_video_seeds.py).
# Usage: scripts/select_video_fold.sh DATA_ROOT SHIPPED_PARENT RECORD FOLD_PARENT=SEQ,SEQ,... [...]
#   e.g. scripts/select_video_fold.sh ../shared/data models/ivos-lite-v1/osvos_parent \
#        docs/results/dev/video-selection-folds.json \
#        runs/fold1-osvos/parent=horsejump-low,kite-walk,motocross-bumps,motorbike,paragliding
# STEPS, PRIORS, DILATIONS, THRESHOLDS, FLOWS, LRS, AUGS, CRFS, ONLINE override the grid (a later stage on the same sequences).
# METRIC=JF makes the rule the highest mean J&F instead of J. PARTS=dev,fold1,... runs only those parts (e.g. one per core); seeds via SEEDS (default "0 1").
# The combine step runs once every part's files exist.
set -euo pipefail
usage="usage: $0 DATA_ROOT SHIPPED_PARENT RECORD FOLD_PARENT=SEQ,SEQ,... [...]"
DATA=${1:?$usage}; SHIPPED=${2:?$usage}; RECORD=${3:?$usage}; shift 3
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }
IVOS=${IVOS:-.venv/bin/ivos}
PY=${PY:-.venv/bin/python}
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=${OUT:-outputs/select/video-fold}
SEEDS=${SEEDS:-0 1}
mkdir -p "$OUT"
GRID=(--split train --steps "${STEPS:-1200}" --lr "${LRS:-0.005}" --crop 320 --osvos-side 480 --osvos-flip on
      --priors "${PRIORS:-0:1,3:0,10:0}" --prior-dilation "${DILATIONS:-0.03,0.06}"
      --threshold "${THRESHOLDS:-0.5,0.6,0.7,0.8,0.9}" --flow-side "${FLOWS:-160}" --aug "${AUGS:-1}" --crf-weight "${CRFS:-0}" --online "${ONLINE:-0:8}" --frame-stride 2 --max-side 480 --cache runs/select-video-cache)
parts=("dev=$SHIPPED=hockey,lucia,surf")
k=1
for f in "$@"; do parts+=("fold$k=${f%%=*}=${f#*=}"); k=$((k + 1)); done
wanted=",${PARTS:-all},"
runs=()
for part in "${parts[@]}"; do
  name=${part%%=*}; rest=${part#*=}; parent=${rest%%=*}; seqs=${rest#*=}
  for seed in 0 1; do
    f="$OUT/$name-seed$seed.json"; runs+=("$f")
    case " $SEEDS " in *" $seed "*) ;; *) continue ;; esac
    [[ $wanted == ",all," || $wanted == *",$name,"* ]] || continue
    [ -f "$f" ] || $IVOS eval video-select --root "$DATA/DAVIS" --sequences "$seqs" --osvos-parent "$parent" \
        "${GRID[@]}" --seed "$seed" --out "$f"
  done
done
for r in "${runs[@]}"; do [ -f "$r" ] || { echo "waiting for $r (run the other parts)"; exit 0; }; done
$PY scripts/combine_video_seeds.py "$RECORD" "${runs[@]}" --metric "${METRIC:-J}" --what "OSVOS propagation settings chosen on the \
video development sequences hockey, lucia, surf (shipped parent $SHIPPED) plus folds of training sequences, \
each with a parent trained without it ($*), GT first frame, seeds 0 and 1; fine-tuning fixed at the shipped setting"
