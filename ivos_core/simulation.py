"""Re-export shim: the evaluation robot moved to :mod:`ivos_core.robot` (``RobotUser``,
``error_masks``, the one robot loop); the training-time samplers (§2.1.1), strokes and
highlights (§4.1) and their geometry to :mod:`ivos_core.users` (``samplers``, ``strokes``,
``geometry``). Old imports (``from ivos_core.simulation import RobotUser``) keep working; new
code imports the new homes."""

from ivos_core.robot import RobotUser, error_masks
from ivos_core.users.geometry import inner_distance, outer_distance
from ivos_core.users.samplers import (
    D_HULL,
    D_MARGIN,
    D_STEP,
    N_CORR_CHOICES,
    N_NEG_RANGE,
    N_POS_RANGE,
    NEGATIVE_STRATEGIES,
    VOID_LABELS,
    NegativeStrategy,
    background_band,
    positive_candidates,
    sample_correction_clicks,
    sample_negative_clicks,
    sample_positive_clicks,
    sample_training_inputs,
)
from ivos_core.users.strokes import (
    sample_correction_stroke,
    simulate_highlight,
    simulate_stroke,
)

__all__ = [
    "NegativeStrategy",
    "NEGATIVE_STRATEGIES",
    "N_CORR_CHOICES",
    "D_MARGIN",
    "D_STEP",
    "D_HULL",
    "N_POS_RANGE",
    "N_NEG_RANGE",
    "VOID_LABELS",
    "inner_distance",
    "outer_distance",
    "positive_candidates",
    "sample_positive_clicks",
    "background_band",
    "sample_negative_clicks",
    "sample_training_inputs",
    "error_masks",
    "sample_correction_clicks",
    "RobotUser",
    "simulate_stroke",
    "simulate_highlight",
    "sample_correction_stroke",
]
