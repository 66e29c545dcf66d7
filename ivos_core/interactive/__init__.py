"""The interactive room: from an image and the user's clicks to an object mask.

* :mod:`~ivos_core.interactive.options`: :class:`SegmenterOptions`, every inference setting in
  one frozen record (what ``model.json``'s ``interactive_options`` may set);
* :mod:`~ivos_core.interactive.segmenter`: :class:`InteractiveSegmenter`, the ``set_image`` /
  ``predict`` facade around a trained network;
* :mod:`~ivos_core.interactive.geometry`: inputs between image, network and crop frames, the
  zoom-in box, the clamped (hard-constraint) pixels;
* :mod:`~ivos_core.interactive.postprocess`: after the network - colour cue, CRF, GrabCut band,
  clamping, clicked components;
* :mod:`~ivos_core.interactive.encoding`, :mod:`~ivos_core.interactive.colour`,
  :mod:`~ivos_core.interactive.crf`, :mod:`~ivos_core.interactive.grabcut_refine`: those steps;
* :mod:`~ivos_core.interactive.methods`: adaptors of the deep, iFCN and GrabCut methods to the
  one :class:`ivos_core.protocols.InteractiveMethod` contract.

A new interactive method implements that protocol (``set_image``, ``predict(inputs, prev_mask)``)
and registers in :func:`ivos_core.interactive.methods.build_method`.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {  # name -> submodule, imported on first use (the old flat modules alias these)
    "options": ("OPTION_NAMES", "SegmenterOptions"),
    "segmenter": ("InteractiveSegmenter", "Prediction"),
    "geometry": ("constraint_masks", "crop_inputs", "scale_inputs", "zoom_box"),
    "methods": ("DeepMethod", "GrabCutMethod", "build_method"),
}
_WHERE = {name: module for module, names in _HOME.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'ivos_core.interactive' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ivos_core.interactive.{_WHERE[name]}"), name)
