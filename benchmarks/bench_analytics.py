"""Scale benchmark of the analytics store (issue 6, item 6).

Generates ``n_sessions`` synthetic sessions (~9 inputs each) as Parquet, times one load into a
fresh DuckDB file (target <= 60 s for 1M sessions / ~10M inputs on this CPU), the median of each
report query (target <= 1 s), and the peak RSS of this process (``ru_maxrss``: the load and the
queries; the generator and validation workers run as child processes, ``RUSAGE_CHILDREN``).

Load and query seconds are wall clock; ``load_cpu_s`` / ``query_cpu_median_s`` are this process's
CPU seconds (all threads), which stay meaningful when other work shares the cores, and
``loadavg_before`` / ``loadavg_after`` say how busy the machine was. ``validated_fast`` /
``validated_by_model`` count documents accepted by the SQL fast path / sent to the pydantic model.

The load itself runs in a child process (``load_in_child``), so its peak RSS is its own: the
child's ``ru_maxrss`` as ``os.wait4`` reports it (with the child's own children, e.g. validation
workers), not the benchmark's or the generator's. ``--before-tree DIR`` loads the same file with
another checkout of the project first (e.g. the commit before a change, extracted with
``git archive``), so one run on one machine gives the before and after numbers.

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


#: run in the child: load the logs into a fresh database, print the counts as JSON
_LOAD_CHILD = """
import json, resource, sys, time
from pathlib import Path
from analytics.store import AnalyticsStore
t0 = time.perf_counter()
with AnalyticsStore(Path(sys.argv[1])) as store:
    rep = store.load([Path(sys.argv[2])])
    counts = store.counts()
    fast, by_model = store.validated_fast, store.validated_by_model
print(json.dumps({"load_s_in_child": time.perf_counter() - t0, "load_report": vars(rep), "rows": counts,
                  "validated_fast": fast, "validated_by_model": by_model,
                  "child_self_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
"""


def load_in_child(db: Path, logs: Path, tree: Path | None = None) -> dict[str, Any]:
    """Load ``logs`` into a fresh ``db`` in a child process (with the project at ``tree``, default
    this checkout); wall and CPU seconds and the peak RSS of the child (``os.wait4``)."""
    import subprocess
    import sys

    tree = (tree or Path(__file__).resolve().parents[1]).resolve()
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=str(tree))
    loadavg_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _LOAD_CHILD, str(db), str(logs)], cwd=tree, env=env,
                            stdout=subprocess.PIPE)
    out = proc.stdout.read() if proc.stdout is not None else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"load in {tree} failed with exit code {proc.returncode}")
    res = json.loads(out.decode().strip().splitlines()[-1])
    res.update({
        "tree": str(tree), "load_s": wall, "load_cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024.0,  # Linux: KiB
        "loadavg_before": loadavg_before, "loadavg_after": os.getloadavg(),
        "db_mib": db.stat().st_size / 2**20,
    })
    res["load_sessions_per_s"] = sum(res["load_report"][k] for k in ("loaded", "unchanged", "quarantined")) / wall
    return res


def run(repeats: int = 3, n_sessions: int = 1_000_000, workdir: Path | None = None,
        logs: Path | None = None, before_tree: Path | None = None, queries: bool = True) -> dict[str, Any]:
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
        before = load_in_child(root / "before.duckdb", logs, before_tree) if before_tree is not None else None
        after = load_in_child(db, logs)
        out: dict[str, Any] = {"n_sessions": n_sessions, "parquet_mib": logs.stat().st_size / 2**20,
                               "generate_s": gen_s, "load": after}
        if before is not None:
            out["load_before"] = before
            out["load_change"] = {k: after[k] / before[k] for k in ("load_s", "load_cpu_s", "peak_rss_mib")}
        with AnalyticsStore(db) as store:
            t0 = time.perf_counter()
            rep2 = store.load([logs])  # incremental: the file is skipped by hash
            out["reload_skipped_s"], out["reload_report"] = time.perf_counter() - t0, vars(rep2)
            if queries:
                res = {q: timeit(lambda q=q: run_query(store.con, q), repeats=repeats) for q in REPORT_QUERIES}
                out["query_median_s"] = {q: r["median_s"] for q, r in res.items()}
                out["query_cpu_median_s"] = {q: _cpu_timeit(lambda q=q: run_query(store.con, q), repeats)
                                             for q in REPORT_QUERIES}
        out.update({
            "targets": {"load_s": 60.0, "query_median_s": 1.0, "peak_rss_mib_at_1M": 2048.0},
            "peak_rss_children_mib": _rss_mib(resource.RUSAGE_CHILDREN),
            "loadavg_after": os.getloadavg(),
            "machine": machine(),
        })
        return out
    finally:
        if tmp is not None:
            tmp.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--logs", type=Path, default=None, help="reuse (or create) this Parquet file of sessions")
    ap.add_argument("--before-tree", type=Path, default=None,
                    help="also load with the project at this folder (e.g. the commit before a change)")
    ap.add_argument("--no-queries", action="store_true", help="time the load only")
    ap.add_argument("--note", action="append", default=[], help="key=value added to the result (e.g. machine=...)")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    res = run(a.repeats, a.n, a.workdir, a.logs, a.before_tree, not a.no_queries)
    for kv in a.note:
        k, _, v = kv.partition("=")
        res[k] = v
    text = json.dumps(res, indent=2, default=str)
    print(text)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(text)


if __name__ == "__main__":
    main()
