"""Choosing a setting from evaluation runs, refused unless every run is on a development set.

Why a module and not a line of shell: the selection scripts (``scripts/select_interactive.sh``,
``scripts/select_colour_weight.sh``) used to pick the lowest NoC from whatever ``summary.json``
files they were given, and one of them chose on DAVIS val frames, a test set. Here the chooser
reads each run's ``dataset`` / ``split`` (recorded by :mod:`ivos_core.evaluation`) and calls
:func:`ivos_core.splits.require_development` before looking at a single number, so choosing on
GrabCut or DAVIS val raises :class:`~ivos_core.splits.TestSetError`. A summary without a split
(older runs) counts as test: fail closed.

Command line (what the scripts call)::

    python -m ivos_core.selection guard coco_mval dev          # exit 2 unless a development set
    python -m ivos_core.selection choose --stage checkpoint --record FILE RUN...  # prints the chosen RUN

``choose`` picks the lowest NoC@90 (ties: lowest NoC@85, then the first given) and adds a stage
``{runs: [...all dev numbers...], chosen: ...}`` to the JSON record ``FILE``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from ivos_core.splits import TestSetError, require_development

__all__ = ["choose_best", "load_run", "main", "record_stage"]


def load_run(run: str | Path) -> dict[str, Any]:
    """The ``summary.json`` of a run (its folder or the file), with ``run`` set to the folder."""
    p = Path(run)
    f = p / "summary.json" if p.is_dir() else p
    if not f.is_file():
        raise FileNotFoundError(f"{f}: no summary.json (run `ivos eval interactive` first)")
    doc = json.loads(f.read_text(encoding="utf-8"))
    doc["run"] = str(f.parent)
    return doc


def _method_option(method: str, tag: str) -> float | None:
    """The number after ``+<tag>`` in a method name (``ours+colour1+cc+crf+grabcut0.05``), or None."""
    m = re.search(rf"\+{tag}([0-9.]+)", method or "")
    return float(m.group(1)) if m else None


def choose_best(summaries: Sequence[dict[str, Any]], *, what: str = "this selection") -> dict[str, Any]:
    """The summary with the lowest NoC@90 (ties: NoC@85, then order), after checking that every
    one of them was measured on a development set (else :class:`TestSetError`)."""
    if not summaries:
        raise ValueError("nothing to choose from: no runs given")
    for s in summaries:
        require_development(str(s.get("dataset", "")), s.get("split"), what=f"{what} (run {s.get('run', '?')})")
    keys = {(s.get("dataset"), s.get("split"), s.get("n"), s.get("max_clicks")) for s in summaries}
    if len(keys) > 1:
        raise ValueError(f"{what}: the runs were not measured on the same items/cap: {sorted(map(str, keys))}")
    for s in summaries:
        if "0.9" not in s.get("noc", {}) or "0.85" not in s.get("noc", {}):
            raise ValueError(f"run {s.get('run', '?')} has no NoC@85/90 (an empty evaluation?)")
    return min(summaries, key=lambda s: (s["noc"]["0.9"], s["noc"]["0.85"]))


def _row(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "run": s.get("run"),
        "method": s.get("method"),
        "checkpoint": s.get("checkpoint"),
        "colour": _method_option(s.get("method", ""), "colour") or 0.0,
        "grabcut_band": _method_option(s.get("method", ""), "grabcut"),
        "zoom_in": "+zoom" in (s.get("method") or ""),
        "flip_tta": "+flip" in (s.get("method") or ""),
        "input_size": None if (n := _method_option(s.get("method", ""), "in")) is None else int(n),
        "dataset": s.get("dataset"),
        "split": s.get("split"),
        "role": s.get("role"),
        "n": s.get("n"),
        "n_failed_items": s.get("n_failed_items", 0),
        "noc@85": s["noc"].get("0.85"),
        "noc@90": s["noc"].get("0.9"),
        "miou@1": s.get("miou_at", {}).get("1"),
        "command": s.get("command"),
    }


def record_stage(record: str | Path, stage: str, summaries: Sequence[dict[str, Any]], chosen: dict[str, Any]) -> Path:
    """Add (or replace) ``stage`` in the JSON ``record``: every run's dev numbers and the choice."""
    path = Path(record)
    doc = json.loads(path.read_text()) if path.is_file() else {}
    doc.setdefault("rule", "lowest NoC@90 on the development set, ties lowest NoC@85")
    doc.setdefault("stages", {})[stage] = {"runs": [_row(s) for s in summaries], "chosen": _row(chosen)}
    doc["chosen"] = {**doc.get("chosen", {}), stage: _row(chosen)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ivos_core.selection", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("guard", help="exit 2 unless DATASET [SPLIT] is a development set")
    g.add_argument("dataset")
    g.add_argument("split", nargs="?")
    c = sub.add_parser("choose", help="print the best run (lowest NoC@90, ties NoC@85) of development runs")
    c.add_argument("runs", nargs="+")
    c.add_argument("--stage", default="choice", help="name of this choice in the record (checkpoint, colour, ...)")
    c.add_argument("--record", help="JSON file to which the stage's numbers and choice are added")
    c.add_argument("--field", default="run", choices=("run", "checkpoint", "colour", "grabcut_band", "method"),
                   help="what to print of the chosen run")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "guard":
            require_development(args.dataset, args.split, what="this selection")
            return 0
        docs = [load_run(r) for r in args.runs]
        best = choose_best(docs, what=f"choosing the {args.stage}")
        if args.record:
            record_stage(args.record, args.stage, docs, best)
        row = _row(best)
        value = row[args.field]
        if args.field in ("colour", "grabcut_band"):
            print("none" if value is None else f"{value:g}")
        else:
            print(value)
        return 0
    except TestSetError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
