"""Run the performance benchmarks: ``python -m benchmarks.run [--only NAME] [--json FILE]``.

Each ``benchmarks/bench_<name>.py`` exposes ``run(repeats) -> dict``. The harness prints every
figure with the machine it was measured on and writes them all to one JSON file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
import traceback
from pathlib import Path

from benchmarks.common import machine


def available() -> list[str]:
    pkg = Path(__file__).parent
    return sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(pkg)]) if m.name.startswith("bench_"))


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    rows = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            rows += _flatten(v, key + ".")
        elif not isinstance(v, list):
            rows.append((key, v))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", action="append", help="benchmark name (repeatable); default: all", choices=available())
    ap.add_argument("--repeats", type=int, default=None, help="override each benchmark's repeat count")
    ap.add_argument("--json", type=Path, default=None, help="write all results here")
    args = ap.parse_args(argv)

    names = args.only or available()
    results: dict[str, object] = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    print(f"machine: {results['machine']}")
    failed = 0
    for name in names:
        mod = importlib.import_module(f"benchmarks.bench_{name}")
        t0 = time.perf_counter()
        try:
            res = mod.run(args.repeats) if args.repeats else mod.run()
        except Exception as exc:  # one broken benchmark must not hide the others
            failed += 1
            res = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        res["wall_s"] = round(time.perf_counter() - t0, 2)
        results[name] = res
        print(f"\n== {name} ({res['wall_s']} s)")
        for key, val in _flatten(res):
            if key == "traceback":
                continue
            print(f"  {key:48s} {val:.4g}" if isinstance(val, float) else f"  {key:48s} {val}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"\nwrote {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
