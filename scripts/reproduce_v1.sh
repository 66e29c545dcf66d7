#!/usr/bin/env bash
# Reproduce the README's results for the shipped model ivos-lite-v1, in order: train, choose on the
# development sets, ship, then run the chosen configuration once on the test sets.
# Usage: scripts/reproduce_v1.sh DATA_ROOT   (holds GrabCut/, DAVIS/, BSDS500/, COCO_MVal/)
# Budget used for the README: the 2-core build machine, one torch thread per process, about 3 h.
set -euo pipefail
DATA=${1:?usage: $0 DATA_ROOT}
PY=.venv/bin/python
IVOS=.venv/bin/ivos
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE

# 1. training (the three runs are independent; resumable)
$PY -m ivos_core.training --config lite --data "$DATA" --out runs/v1-int --steps 2400 --workers 0 --threads 1 \
    --encoding gaussian --stage2-mix 0.3,0,0.7 --resume > runs/v1-int.log 2>&1 &
$IVOS train osvos --root "$DATA/DAVIS" --out runs/v1-osvos --max-steps 4000 --crop 320 --batch-size 8 \
    --stills "$DATA/COCO_MVal" --holdout-dev > runs/v1-osvos.log 2>&1 &
# iFCN as in the paper: distance maps, no mask input; its recorded schedule: 500 steps of an
# 800-step schedule, then resumed with --steps 600 (round 8 finished it that way within a session)
( $PY -m ivos_core.training --config lite --data "$DATA" --out runs/v1-ifcn --steps 800 --stop-at 500 --workers 0 \
    --threads 1 --encoding distance --no-mask --resume \
  && $PY -m ivos_core.training --config lite --data "$DATA" --out runs/v1-ifcn --steps 600 --workers 0 --threads 1 \
    --encoding distance --no-mask --resume ) > runs/v1-ifcn.log 2>&1 &
wait

# 2. choices on the development sets (both refuse test sets)
mkdir -p runs/v1-sel/snapshots   # the README's candidates: steps 1750, 2000 and the final
for s in step001750 step002000; do for e in json safetensors; do ln -sf "../../v1-int/snapshots/$s.$e" runs/v1-sel/snapshots/; done; done
for e in json safetensors; do ln -sf "../v1-int/final.$e" runs/v1-sel/; done
scripts/select_interactive.sh "$DATA" runs/v1-sel v1-int
BANDS="0.01 0.02 0.03 0.05 0.08 0.12" scripts/select_grabcut_band.sh "$DATA" runs/v1-int/final 1 v1-int
STEPS=200,400,800,1200,1600,2000 LRS=0.005,0.01,0.02 PRIORS=0:1,10:0 \
    scripts/select_video.sh "$DATA" runs/v1-osvos/parent docs/results/dev/video-selection-v2.json

# 2b. round 3: warm-restart the parent, continue the interactive net (not shipped), choose on dev
$IVOS train osvos --root "$DATA/DAVIS" --out runs/v1-osvos-wr --steps 6000 --lr 1e-3 --crop 320 --batch-size 8 \
    --stills "$DATA/COCO_MVal" --holdout-dev --keep-snapshots --init-from runs/v1-osvos/parent > runs/v1-osvos-wr.log 2>&1 &
$PY -m ivos_core.training --config lite --data "$DATA" --out runs/v1-int-s2c --steps 1200 --workers 0 --threads 1 \
    --encoding gaussian --stage2-mix 0.2,0.4,0.4 --p-corrections-only 0.4 --init-from runs/v1-int/final \
    --stage2-only --lr 5e-4 --resume > runs/v1-int-s2c.log 2>&1 &
wait
scripts/select_parent.sh "$DATA" runs/v1-osvos/parent runs/v1-osvos-wr/parent runs/v1-osvos-wr/snapshots/step004000
scripts/select_continuation.sh "$DATA" runs/v1-int-s2c runs/v1-int/final 1 0.05 v1-int-s2c 500 1000
VS=(--root "$DATA/DAVIS" --split train --sequences hockey,lucia,surf --osvos-parent runs/v1-osvos-wr/parent --lr 0.005
    --priors 10:0 --frame-stride 2 --max-side 480 --cache runs/select-video-cache)
$IVOS eval video-select "${VS[@]}" --steps 1600 --crop none --osvos-side 320,480 --out docs/results/dev/video-selection-osvos-side.json
$IVOS eval video-select "${VS[@]}" --steps 1600 --crop 320 --osvos-side 480 --out docs/results/dev/video-selection-osvos-side-crop.json
$IVOS eval video-select "${VS[@]}" --steps 1000,1200 --crop 320 --osvos-side 480 --out docs/results/dev/video-selection-osvos-side-crop-steps.json
T3=(--root "$DATA/DAVIS" --split train --sequences hockey,lucia,surf --osvos-parent models/ivos-lite-v1/osvos_parent
    --init gt --correction-clicks 1,4 --correction-frames 5 --crf --colour 1 --keep-clicked --grabcut-band 0.05
    --frame-stride 2 --max-side 320 --device cpu)   # the round-2 parent; these ran when the OSVOS defaults were
# still 1600 steps at 320 px (before the DEFAULT_OSVOS_OPTIONS change), so a re-run differs slightly
$IVOS eval davis "${T3[@]}" --checkpoint runs/v1-int/final --correct ours,grabcut --out outputs/select/t3dev/shipped
$IVOS eval davis "${T3[@]}" --checkpoint runs/v1-int-s2c/final --correct ours --out outputs/select/t3dev/s2c-final
for r in 0.05 0.1; do
  $IVOS eval davis "${T3[@]}" --checkpoint runs/v1-int/final --correct ours --local-radius $r --out outputs/select/t3dev/local$r
done
$PY scripts/select_local_radius.py docs/results/dev/local-radius-selection.json outputs/select/t3dev/shipped \
    outputs/select/t3dev/local0.05 outputs/select/t3dev/local0.1

# 3. ship (the round-2 parent above is replaced by the round-3 choice)
$PY scripts/ship_model.py --interactive runs/v1-int/final --osvos runs/v1-osvos-wr/parent \
    --selection docs/results/dev/v1-int-selection.json \
    --video-selection docs/results/dev/video-selection-osvos-side-crop-steps.json \
    --correction-selection docs/results/dev/local-radius-selection.json --name ivos-lite-v1

# 4. test sets, once
G=(--dataset grabcut --root "$DATA/GrabCut")
$IVOS eval interactive "${G[@]}" --method grabcut --out runs/eval/grabcut50-grabcut
$IVOS eval interactive "${G[@]}" --method ours --crf --colour 1 --keep-clicked --grabcut-band 0.05 --out runs/eval/grabcut50-ours-v1b
$IVOS eval interactive "${G[@]}" --method ours --crf --colour 1 --keep-clicked --out runs/eval/grabcut50-ours-crf-colour1
$IVOS eval interactive "${G[@]}" --method ours --crf --out runs/eval/grabcut50-ours-crf
$IVOS eval interactive "${G[@]}" --method ifcn --checkpoint runs/v1-ifcn/final --crf --out runs/eval/grabcut50-ifcn-crf
$IVOS eval compare runs/eval/grabcut50-grabcut runs/eval/grabcut50-ours-v1b runs/eval/grabcut50-ours-crf-colour1 \
    runs/eval/grabcut50-ifcn-crf --label "GrabCut (OpenCV, clicks as seeds)" \
    --label "ivos-lite-v1 (CRF + colour 1 + GrabCut band 0.05, dev-chosen)" \
    --label "ivos-lite-v1 without the GrabCut refinement" \
    --label "iFCN (distance maps, no mask) + CRF" --title "GrabCut-50, robot user" --out docs/grabcut_compare.png
$IVOS eval davis --root "$DATA/DAVIS" --split val --out runs/eval/davis-val-v3 \
    --osvos-parent models/ivos-lite-v1/osvos_parent --checkpoint models/ivos-lite-v1/interactive \
    --ifcn-checkpoint runs/v1-ifcn/final --frame-stride 2 --max-side 480 --init gt,grabcut,ours --init-clicks 8 \
    --correct ours,ifcn,grabcut --correction-clicks 1,4 --crf --colour 1 --keep-clicked --grabcut-band 0.05 \
    --local-radius 0.05 --flip-tta --interactive-flip --device cpu
