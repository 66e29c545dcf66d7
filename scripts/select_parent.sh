#!/usr/bin/env bash
# Choose the OSVOS parent checkpoint on the video DEVELOPMENT sequences (DAVIS-2016 train hockey,
# lucia, surf, held out of parent training) with the ground-truth first frame and the one-shot
# settings already chosen there (default: the shipped 1600 steps, lr 5e-3, prior 10:0). DAVIS val is
# never looked at: `ivos eval video-select` refuses any sequence outside VIDEO_DEV_SEQUENCES.
# Writes docs/results/dev/parent-selection.json (every candidate's J per sequence, the choice: the
# highest mean J). Per-sequence results are cached (runs/select-video-cache), so a re-run resumes.
# The adaptation setting comes from the environment: STEPS LRS PRIORS CROP OSVOS_SIDE FLIP MAX_SIDE
# (defaults: the round-2 setting, 1600 steps at 320 px, no crop, no flip); OUT names the run folder.
# Usage: scripts/select_parent.sh DATA_ROOT PARENT [PARENT...]
#   e.g. scripts/select_parent.sh ../shared/data runs/v1-osvos/parent runs/v1-osvos-wr/snapshots/step004000
set -euo pipefail
DATA=${1:?usage: $0 DATA_ROOT PARENT [PARENT...]}
shift
[ $# -gt 0 ] || { echo "usage: $0 DATA_ROOT PARENT [PARENT...]" >&2; exit 2; }
IVOS=${IVOS:-.venv/bin/ivos}
PY=${PY:-.venv/bin/python}
RECORD=${RECORD:-docs/results/dev/parent-selection.json}
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=${OUT:-outputs/select/parent}
mkdir -p "$OUT"
runs=()
for parent in "$@"; do
  [ -f "$parent.safetensors" ] || { echo "$parent.safetensors: no such parent checkpoint" >&2; exit 2; }
  label=$(echo "$parent" | tr '/' '_')
  r="$OUT/$label.json"
  [ -f "$r" ] || $IVOS eval video-select --root "$DATA/DAVIS" --split train --sequences hockey,lucia,surf \
      --osvos-parent "$parent" --out "$r" --steps "${STEPS:-1600}" --lr "${LRS:-0.005}" --priors "${PRIORS:-10:0}" \
      --crop "${CROP:-none}" --osvos-side "${OSVOS_SIDE:-320}" --osvos-flip "${FLIP:-off}" \
      --frame-stride 2 --max-side "${MAX_SIDE:-320}" --cache runs/select-video-cache
  runs+=("$parent=$r")
done
$PY - "$RECORD" "${runs[@]}" <<'PY'
import json, sys, datetime
record, pairs = sys.argv[1], sys.argv[2:]
cands = []
for pair in pairs:
    parent, path = pair.split("=", 1)
    d = json.load(open(path))
    if len(d["candidates"]) != 1:
        sys.exit(f"{path}: expected one adaptation setting per parent, found {len(d['candidates'])}")
    c = d["candidates"][0]
    cands.append({"parent": parent, "parent_step": d.get("parent_step"), "setting": c["label"],
                  "J": c["J"], "J_mean": c["J_mean"], "seconds": c["seconds"]})
best = max(cands, key=lambda c: c["J_mean"])
json.dump({
    "what": "OSVOS parent chosen on the DAVIS-2016 video development sequences (hockey, lucia, surf; "
            "ground-truth first frame; the adaptation setting fixed as chosen there; DAVIS J mean)",
    "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    "split": "train (video development sequences)", "candidates": cands,
    "choice": {"parent": best["parent"], "J_mean": best["J_mean"]},
}, open(record, "w"), indent=2)
for c in cands:
    print(f"{c['parent']:<50} J {c['J_mean']:.3f}  " + "  ".join(f"{k} {v:.3f}" for k, v in c["J"].items()))
print(f"chosen: {best['parent']} (J {best['J_mean']:.3f}); wrote {record}")
PY
