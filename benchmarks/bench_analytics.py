"""Scale benchmark of the analytics store (issue 6, item 6).

Generates ``n_sessions`` synthetic sessions (~9 inputs each) as Parquet, times one load into a
fresh DuckDB file (target <= 60 s for 1M sessions / ~10M inputs on this CPU), the median of each
report query (target <= 1 s), and the peak RSS of this process (``ru_maxrss``; worker processes
are reported separately as ``RUSAGE_CHILDREN``).

Run: ``python -m benchmarks.bench_analytics --n 1000000``.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import machine, timeit

REPORT_QUERIES = (
    "first_frame_iterations", "refinement_iterations", "refine_share", "annotation_pattern",
    "daily_activity", "activity", "osvos_difficulty", "model_comparison", "eval_metrics",
)


def _rss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux: KiB


def run(repeats: int = 3, n_sessions: int = 1_000_000, workdir: Path | None = None) -> dict[str, Any]:
    """Generate, load and query; return the measured numbers (seconds, MiB, row counts)."""
    from analytics.queries import run_query
    from analytics.store import AnalyticsStore
    from analytics.synthlogs import SynthConfig, write_logs

    tmp = tempfile.TemporaryDirectory() if workdir is None else None
    root = Path(tmp.name) if tmp is not None else Path(workdir)  # type: ignore[arg-type]
    root.mkdir(parents=True, exist_ok=True)
    try:
        logs, db = root / "sessions.parquet", root / "analytics.duckdb"
        if db.exists():
            db.unlink()
        t0 = time.perf_counter()
        write_logs(logs, SynthConfig(n_sessions=n_sessions, seed=0))
        gen_s = time.perf_counter() - t0
        with AnalyticsStore(db) as store:
            t0 = time.perf_counter()
            rep = store.load([logs])
            load_s = time.perf_counter() - t0
            counts = store.counts()
            t0 = time.perf_counter()
            rep2 = store.load([logs])  # incremental: the file is skipped by hash
            reload_s = time.perf_counter() - t0
            queries = {q: timeit(lambda q=q: run_query(store.con, q), repeats=repeats) for q in REPORT_QUERIES}
        return {
            "n_sessions": n_sessions,
            "rows": counts,
            "parquet_mib": logs.stat().st_size / 2**20,
            "db_mib": db.stat().st_size / 2**20,
            "generate_s": gen_s,
            "load_s": load_s,
            "load_sessions_per_s": n_sessions / load_s,
            "load_report": vars(rep),
            "reload_skipped_s": reload_s,
            "reload_report": vars(rep2),
            "query_median_s": {q: r["median_s"] for q, r in queries.items()},
            "peak_rss_mib": _rss_mib(resource.RUSAGE_SELF),
            "peak_rss_children_mib": _rss_mib(resource.RUSAGE_CHILDREN),
            "targets": {"load_s": 60.0, "query_median_s": 1.0},
            "machine": machine(),
        }
    finally:
        if tmp is not None:
            tmp.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    res = run(a.repeats, a.n, a.workdir)
    text = json.dumps(res, indent=2, default=str)
    print(text)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(text)


if __name__ == "__main__":
    main()
