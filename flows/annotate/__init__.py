"""``ivos annotate``: the annotation web app (FastAPI + a static single-page front-end).

The logic lives in :mod:`ivos_core.annotation`; :mod:`flows.annotate.app` is the HTTP layer,
:mod:`flows.annotate.jobs` submits saved sessions, :mod:`flows.annotate.cli` is the command.
"""
