"""Scale benchmark of the analytics store (issue 6, item 6).

Generates ``n_sessions`` synthetic sessions (~9 inputs each) as Parquet, times one load into a
fresh DuckDB file (target <= 60 s for 1M sessions / ~10M inputs on this CPU), the median of each
report query (target <= 1 s), and the peak RSS of this process (``ru_maxrss``: the load and the
queries; the generator and validation workers run as child processes, ``RUSAGE_CHILDREN``).

Load and query seconds are wall clock; ``load_cpu_s`` / ``query_cpu_median_s`` are this process's
CPU seconds (all threads), which stay meaningful when other work shares the cores, and
``loadavg_before`` / ``loadavg_after`` say how busy the machine was. ``validated_fast`` /
``validated_by_model`` count documents accepted by the SQL fast path / sent to the pydantic model.

Run: ``python -m benchmarks.bench_analytics --n 1000000`` (``--logs FILE`` reuses a generated
Parquet file instead of generating one; it is created there if missing).
"""

from __future__ import annotations

import argparse
import json
import os
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


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _cpu_timeit(fn: Any, repeats: int) -> float:
    """Median CPU seconds of ``fn`` (after one warm-up call)."""
    fn()
    cpu = []
    for _ in range(repeats):
        c0 = _cpu_s()
        fn()
        cpu.append(_cpu_s() - c0)
    return sorted(cpu)[len(cpu) // 2]


def run(repeats: int = 3, n_sessions: int = 1_000_000, workdir: Path | None = None,
        logs: Path | None = None) -> dict[str, Any]:
    """Generate (or reuse ``logs``), load and query; return the measured numbers (seconds, MiB, rows)."""
    from analytics.queries import run_query
    from analytics.store import AnalyticsStore

    tmp = tempfile.TemporaryDirectory() if workdir is None else None
    root = Path(tmp.name) if tmp is not None else Path(workdir)  # type: ignore[arg-type]
    root.mkdir(parents=True, exist_ok=True)
    try:
        db = root / "analytics.duckdb"
        for stale in (db, db.with_name(db.name + ".wal")):
            if stale.exists():
                stale.unlink()
        gen_s = None
        if logs is None or not logs.exists():
            logs = logs or root / "sessions.parquet"
            t0 = time.perf_counter()
            # in a child process, so this process's peak RSS is the load's and the queries' own
            # (generating 1M documents peaks at about 8 GB by itself; reported as the children's)
            import subprocess
            import sys

            subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                            "from analytics.synthlogs import SynthConfig, write_logs; "
                            "write_logs(Path(sys.argv[1]), SynthConfig(n_sessions=int(sys.argv[2]), seed=0))",
                            str(logs), str(n_sessions)], check=True)
            gen_s = time.perf_counter() - t0
        loadavg_before = os.getloadavg()
        with AnalyticsStore(db) as store:
            t0, c0 = time.perf_counter(), _cpu_s()
            rep = store.load([logs])
            load_s, load_cpu_s = time.perf_counter() - t0, _cpu_s() - c0
            loadavg_after_load = os.getloadavg()
            counts = store.counts()
            t0 = time.perf_counter()
            rep2 = store.load([logs])  # incremental: the file is skipped by hash
            reload_s = time.perf_counter() - t0
            queries = {q: timeit(lambda q=q: run_query(store.con, q), repeats=repeats) for q in REPORT_QUERIES}
            query_cpu = {q: _cpu_timeit(lambda q=q: run_query(store.con, q), repeats) for q in REPORT_QUERIES}
            fast, by_model = store.validated_fast, store.validated_by_model
        n_sessions = rep.loaded + rep.unchanged + rep.quarantined
        return {
            "n_sessions": n_sessions,
            "rows": counts,
            "parquet_mib": logs.stat().st_size / 2**20,
            "db_mib": db.stat().st_size / 2**20,
            "generate_s": gen_s,
            "load_s": load_s,
            "load_cpu_s": load_cpu_s,
            "load_sessions_per_s": n_sessions / load_s,
            "load_report": vars(rep),
            "validated_fast": fast,
            "validated_by_model": by_model,
            "reload_skipped_s": reload_s,
            "reload_report": vars(rep2),
            "query_median_s": {q: r["median_s"] for q, r in queries.items()},
            "query_cpu_median_s": query_cpu,
            "peak_rss_mib": _rss_mib(resource.RUSAGE_SELF),
            "peak_rss_children_mib": _rss_mib(resource.RUSAGE_CHILDREN),
            "targets": {"load_s": 60.0, "query_median_s": 1.0},
            "loadavg_before": loadavg_before,
            "loadavg_after_load": loadavg_after_load,
            "loadavg_after": os.getloadavg(),
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
    ap.add_argument("--logs", type=Path, default=None, help="reuse (or create) this Parquet file of sessions")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    res = run(a.repeats, a.n, a.workdir, a.logs)
    text = json.dumps(res, indent=2, default=str)
    print(text)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(text)


if __name__ == "__main__":
    main()
