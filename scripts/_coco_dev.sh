# Sourced by the COCO_MVal dev selection scripts (select_interactive, select_grabcut_band,
# select_continuation, select_inference) after they set DATA and NAME: the tools, the run and
# record paths, the test-set guard (exits before any work unless coco_mval dev is a development
# set) and the evaluation arguments every candidate shares (BASE_DEV; scripts add their method).
IVOS=${IVOS:-.venv/bin/ivos}
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=${OUT:-outputs/select/$NAME}
RECORD=${RECORD:-docs/results/dev/$NAME-selection.json}
$PY -m ivos_core.selection guard coco_mval dev
BASE_DEV=(--dataset coco_mval --root "$DATA/COCO_MVal" --split dev --select --max-clicks 20)
