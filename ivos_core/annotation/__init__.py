"""The annotation app's logic, usable without HTTP: a person's clicks become a session log.

* :mod:`~ivos_core.annotation.catalog`: the videos under the allowed roots (DAVIS sequences, frame
  folders, video files) with size, length and a first-frame thumbnail;
* :mod:`~ivos_core.annotation.record`: the recorded work (annotated frames, iterations with real
  timestamps, undo / reset) and the session log it becomes (:class:`~ivos_core.interactions.Session`,
  ``source="recorded"``);
* :mod:`~ivos_core.annotation.workspace`: one open video: the interactive model per click, OSVOS
  fine-tuning + propagation with progress, worst frames, refinement;
* :mod:`~ivos_core.annotation.store`: safe session ids and saving that is atomic and never
  overwrites.

The web app (``flows/annotate``) is a thin HTTP layer over these.
"""

from ivos_core.annotation.catalog import VideoEntry, list_videos, thumbnail
from ivos_core.annotation.record import AnnotationError, AnnotationRecord, FrameWork
from ivos_core.annotation.store import SessionExistsError, check_session_id, new_session_id, save_new_session
from ivos_core.annotation.workspace import Workspace, WorkspaceBusy

__all__ = [
    "AnnotationError",
    "AnnotationRecord",
    "FrameWork",
    "SessionExistsError",
    "VideoEntry",
    "Workspace",
    "WorkspaceBusy",
    "check_session_id",
    "list_videos",
    "new_session_id",
    "save_new_session",
    "thumbnail",
]
