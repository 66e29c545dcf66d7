"""Compatibility shim: the DAVIS evaluations moved to the package :mod:`ivos_core.davis`.

This module only re-exports the package's names (and the helpers other modules imported from
here) so that ``from ivos_core.davis_eval import ...`` keeps working; new code imports from
:mod:`ivos_core.davis`. See the package docstring for the protocols and the output columns.
"""

from ivos_core.davis import *  # noqa: F401,F403
from ivos_core.davis import __all__ as _davis_all
from ivos_core.davis.config import _file_tag, _ints, _names  # noqa: F401
from ivos_core.davis.correction import _correct_ifcn  # noqa: F401
from ivos_core.davis.correction import correct as _correct  # noqa: F401
from ivos_core.davis.first_frame import first_frame_masks as _first_frame_masks  # noqa: F401
from ivos_core.davis.run import _open_dataset  # noqa: F401
from ivos_core.davis.sequence import (  # noqa: F401
    _clean,
    _consecutive_gt_iou,
    _foreground,
    _load_sequence,
    _osvos,
    _robot_loop,
    _scores,
)
from ivos_core.protocols import ProgressFn  # noqa: F401

__all__ = list(_davis_all)
