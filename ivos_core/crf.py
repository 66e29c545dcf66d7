"""Moved to :mod:`ivos_core.interactive.crf` (the interactive room); this old name stays an alias
of that very module, so old imports and monkeypatches keep working. New code imports the new path."""

import sys

from ivos_core.interactive import crf as _moved

sys.modules[__name__] = _moved
