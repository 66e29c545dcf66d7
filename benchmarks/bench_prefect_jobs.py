"""Prefect jobs at scale: throughput and per-job overhead with 1, 2 and 4 workers, on a
SQLite-backed and on a PostgreSQL-backed local Prefect server, in one run (issue 16, item 3).

For each job: submit-to-start latency (flow run created -> Running; includes queueing behind
other jobs) and overhead = the run's wall time (Running -> finished, as the API records it) minus
the job's own compute (the replay's ``timings.total_s`` + ``write_s`` in results.json), split into
the flow's one-off import of its modules (``timings.import_s``) and Prefect's share (tasks, state
changes, result persistence), and into phases (``overhead_phases_median_s``); service time per job
= makespan x workers / jobs (what a worker spends per job, process start included). Throughput =
jobs / (last run's end - first submit). The server's access log is on (``PREFECT_SERVER_LOGGING_LEVEL=INFO``,
retryable errors logged): each round counts its responses, 503s and "database is locked" lines
there and in its workers' logs (each a retried request; 0 expected on PostgreSQL).

One run: for each backend a subprocess of its own (Prefect caches its settings, the API URL, per
process) starts one server (PostgreSQL: a throwaway cluster first, :func:`flows.devstack.postgres_cluster`)
and deploys segment-video once; then for each worker count it sets the ``ivos-gpu`` pool's limit to
that count (as ``ivos deploy --gpu-slots`` would), starts that many ``--limit 1`` process workers,
waits until they have registered, submits the N jobs, waits for them, measures, and kills the
workers; then tears the server (and cluster) down. Later rounds find the earlier rounds' runs in
the database, as a live server would. Settings are those of ``deployments/README.md``: workers poll
every 2 s (``IVOS_BENCH_WORKER_QUERY_SECONDS``), flow runs send heartbeats (30 s); the PostgreSQL
server gets the integration test's generous query timeouts (60 s / 30 s connect).

Targets (issue 16): 2 workers >= 1.8x the throughput of 1 on PostgreSQL; overhead (median per
job) <= 1 s on PostgreSQL, judged on the rounds with no more workers than CPU cores. Each job is
CPU-bound (its own Python process, imports, the replay), so on a machine with C cores more than C
workers cannot add throughput: the JSON records the core count and load averages with the figures.

The jobs are tiny replays (6 frames 64x96, GrabCut clicks, 2 OSVOS-lite steps) so Prefect's share
dominates. ``python -m benchmarks.bench_prefect_jobs [--backends sqlite,postgres] [--workers 1,2,4]
[--jobs 20] [--json FILE]``; ``run(repeats)`` follows the benchmarks/ convention (``repeats`` is
ignored: one pass, the full default, many minutes). PostgreSQL is skipped, with the reason in the
JSON, where :func:`flows.devstack.postgres_missing` says it cannot start. Diagnosis:
``IVOS_BENCH_LOG_LEVEL=DEBUG`` logs workers and flow runs to ``<tmp>/<backend>/worker-*.log``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BACKENDS = ("sqlite", "postgres")
WORKERS = (1, 2, 4)
JOBS = 20
TARGET_2V1 = 1.8
TARGET_OVERHEAD_S = 1.0
PHASES = ("engine_start_s", "check_tasks_s", "before_replay_s", "replay_task_extra_s", "finish_s")


# --- pure parts: arguments, figures, ratios, targets (tests/test_bench_prefect_jobs.py) --------------

def _backends(text: str) -> list[str]:
    out = list(dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip()))
    bad = [b for b in out if b not in BACKENDS]
    if not out or bad:
        raise argparse.ArgumentTypeError(f"backends: a comma-separated subset of {','.join(BACKENDS)} (got {text!r})")
    return out


def _workers(text: str) -> list[int]:
    try:
        out = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        out = []
    if not out or out[0] < 1:
        raise argparse.ArgumentTypeError(f"workers: comma-separated counts >= 1, e.g. 1,2,4 (got {text!r})")
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", type=_backends, default=list(BACKENDS), help="default: sqlite,postgres")
    ap.add_argument("--workers", type=_workers, default=list(WORKERS), help="worker counts, default: 1,2,4")
    ap.add_argument("--jobs", type=int, default=JOBS, help="jobs per round (default 20)")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--one-backend", choices=BACKENDS, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--tmp", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.jobs < 1:
        ap.error("--jobs must be >= 1")
    return a


def figures(jobs: list[dict[str, Any]], *, t0: float, t_end: float, n_workers: int, n_jobs: int) -> dict[str, Any]:
    """One round's figures from its per-job records (``latency_s``, ``wall_s``, ``compute_s``,
    ``import_s``, ``completed``, ``phases``: see :func:`_job_record`); ``t0`` = first submit,
    ``t_end`` = the last run's end. Jobs that never ran count in ``jobs`` but not in the medians."""
    ran = [j for j in jobs if j.get("wall_s") is not None]
    if not ran:
        raise RuntimeError(f"none of the {len(jobs)} jobs ran")
    over = [j["wall_s"] - j["compute_s"] for j in ran]
    over_prefect = [o - j["import_s"] for o, j in zip(over, ran)]
    lat = [j["latency_s"] for j in ran]
    phases = {k: [j["phases"][k] for j in ran if k in j.get("phases", {})] for k in PHASES}
    makespan = t_end - t0
    return {
        "workers": n_workers, "jobs": n_jobs, "completed": sum(bool(j.get("completed")) for j in jobs),
        "submit_to_start_median_s": statistics.median(lat), "submit_to_start_max_s": max(lat),
        "overhead_median_s": statistics.median(over), "overhead_mean_s": statistics.mean(over),
        "prefect_overhead_median_s": statistics.median(over_prefect),
        "prefect_overhead_mean_s": statistics.mean(over_prefect),
        "job_import_mean_s": statistics.mean(j["import_s"] for j in ran),
        "compute_mean_s": statistics.mean(j["compute_s"] for j in ran),
        # where the overhead goes (medians): Running -> flow body; flow body -> the two check tasks
        # done; flow body -> replay task body (checks, model resolution); the replay task minus the
        # replay's compute; outputs written -> Completed (result persistence, artifact, final state)
        "overhead_phases_median_s": {k: statistics.median(v) for k, v in phases.items() if v},
        "service_s_per_job": makespan * n_workers / n_jobs,
        "makespan_s": makespan, "throughput_jobs_per_min": 60.0 * n_jobs / makespan,
    }


def summarise(rounds: dict[str, dict[Any, dict[str, Any]]], cores: int) -> dict[str, Any]:
    """Ratios and the issue's targets from ``{backend: {workers: round figures}}`` (workers as int
    or str; a backend without rounds, e.g. skipped, is left out). A target whose rounds were not
    measured has ``met: None``."""
    tp = {b: {int(n): r["throughput_jobs_per_min"] for n, r in rs.items()} for b, rs in rounds.items() if rs}
    over = {b: {int(n): r["overhead_median_s"] for n, r in rs.items()} for b, rs in rounds.items() if rs}
    scaling = {b: {f"{n}v1": t[n] / t[1] for n in sorted(t) if n != 1} for b, t in tp.items() if 1 in t}
    pg_vs_sqlite = {}
    for n in sorted(set(tp.get("postgres", {})) & set(tp.get("sqlite", {}))):
        pg_vs_sqlite[str(n)] = {
            "throughput_ratio": tp["postgres"][n] / tp["sqlite"][n],
            "overhead_median_diff_s": over["postgres"][n] - over["sqlite"][n],
        }
    v2 = scaling.get("postgres", {}).get("2v1")
    judged = {str(n): o for n, o in sorted(over.get("postgres", {}).items()) if n <= cores}
    worst = max(judged.values()) if judged else None
    return {
        "ratios": {"throughput_vs_1_worker": scaling, "postgres_vs_sqlite": pg_vs_sqlite},
        "targets": {
            "postgres_throughput_2v1": {"target": f">= {TARGET_2V1}", "value": v2,
                                        "met": None if v2 is None else v2 >= TARGET_2V1},
            "postgres_overhead_median_s": {
                "target": f"<= {TARGET_OVERHEAD_S} s", "value": worst, "per_workers": judged,
                "judged_on": f"PostgreSQL rounds with workers <= {cores} CPU cores (the worst of them)",
                "met": None if worst is None else worst <= TARGET_OVERHEAD_S,
            },
        },
    }


def cores_note(cores: int, workers: list[int]) -> str:
    more = [n for n in workers if n > cores]
    base = f"{cores} CPU core(s); each job is a CPU-bound process (Python, Prefect and torch imports, the replay)."
    if more:
        return base + f" Rounds with {more} workers exceed the cores: they measure contention, not scaling."
    return base


# --- one backend, in its own process -------------------------------------------------------------

def _backend_env(backend: str, base: Path, port: int, pg_url: str | None) -> dict[str, str]:
    from flows.devstack import prefect_env

    extra = {
        "PREFECT_LOGGING_LEVEL": os.environ.get("IVOS_BENCH_LOG_LEVEL", "WARNING"),
        # workers poll for scheduled runs every 10 s by default: a queued job then waits up to 10 s
        # for nothing; deployments/README.md recommends 2 s for job queues
        "PREFECT_WORKER_QUERY_SECONDS": os.environ.get("IVOS_BENCH_WORKER_QUERY_SECONDS", "2"),
        "PREFECT_SERVER_LOGGING_LEVEL": "INFO",  # the access log: every response's status
        "PREFECT_SERVER_LOG_RETRYABLE_ERRORS": "true",
    }
    if pg_url:
        extra.update(PREFECT_SERVER_DATABASE_CONNECTION_URL=pg_url, PREFECT_SERVER_DATABASE_TIMEOUT="60",
                     PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT="30")
    return prefect_env(base, port, **extra)


def _write_sessions(folder: Path, gts: list, prefix: str, n_jobs: int) -> tuple[list[str], dict[str, str]]:
    from ivos_core.interactions import save_session
    from ivos_core.jobs import robot_session

    paths, sid_of = [], {}
    for i in range(n_jobs):
        p = folder / f"s{i:02d}.json"
        sid_of[str(p.resolve())] = f"{prefix}-s{i:02d}"
        save_session(robot_session(gts, uri="davis/JPEGImages/480p/synth", session_id=sid_of[str(p.resolve())], clicks_first=2), p)
        paths.append(str(p))
    return paths, sid_of


def _job_record(r: Any, out: Path, sid_of: dict[str, str]) -> dict[str, Any]:
    """A finished flow run + its results.json -> the per-job record :func:`figures` reads."""
    rec: dict[str, Any] = {"completed": bool(r.state and r.state.is_completed()), "wall_s": None, "phases": {}}
    if r.start_time is None or r.end_time is None:
        return rec
    compute = import_s = 0.0
    res = next(out.glob(f"*/{sid_of[r.parameters['session_path']]}/results.json"), None)
    if res is not None:
        t = json.loads(res.read_text())["timings"]
        compute = float(t.get("total_s", 0)) + float(t.get("write_s", 0))
        import_s = float(t.get("import_s", 0))
        if "flow_started_at" in t and "task_started_at" in t:
            written = (res.parent / "DONE").stat().st_mtime
            ph = rec["phases"]
            ph["engine_start_s"] = t["flow_started_at"] - r.start_time.timestamp()
            ph["before_replay_s"] = t["task_started_at"] - t["flow_started_at"]
            if "checks_done_at" in t:
                ph["check_tasks_s"] = t["checks_done_at"] - t["flow_started_at"]
            ph["replay_task_extra_s"] = written - t["task_started_at"] - compute
            ph["finish_s"] = r.end_time.timestamp() - written
    rec.update(latency_s=(r.start_time - r.created).total_seconds(), wall_s=(r.end_time - r.start_time).total_seconds(),
               compute_s=compute, import_s=import_s)
    return rec


def _set_pool_limit(limit: int) -> None:
    import asyncio

    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolUpdate

    from flows.jobs import POOL

    async def go() -> None:
        async with get_client() as c:
            await c.update_work_pool(POOL, WorkPoolUpdate(concurrency_limit=limit))

    asyncio.run(go())


def _wait_final(ids: list[str], timeout: float) -> list[Any]:
    import asyncio

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read() -> list[Any]:
        async with get_client() as c:
            return await c.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=len(ids))

    deadline = time.time() + timeout
    while True:
        runs = asyncio.run(read())
        if len(runs) == len(ids) and all(r.state and r.state.is_final() for r in runs):
            return runs
        if time.time() > deadline:
            raise TimeoutError(f"jobs did not finish in {timeout:.0f} s")
        time.sleep(2)


def _one_round(ctx: dict[str, Any], n: int, n_jobs: int, gts: list) -> dict[str, Any]:
    """``n`` workers, ``n_jobs`` jobs on the running server of ``ctx``; the workers are killed after."""
    from flows.devstack import kill_tree, log_counts, start_worker, wait_for_workers
    from flows.jobs import submit_sessions

    base, backend = ctx["base"], ctx["backend"]
    paths, sid_of = _write_sessions(base / f"sessions-{n}", gts, f"{backend}-w{n}", n_jobs)
    _set_pool_limit(n)
    server_log = base / "server.log"
    offset, load_before = server_log.stat().st_size, os.getloadavg()
    names = [f"{backend}-{n}-{i}" for i in range(n)]
    workers = [start_worker(base, ctx["env"], ctx["procs"], name, limit=1) for name in names]
    try:
        ready_s = wait_for_workers(ctx["port"], names, timeout=600)
        out = base / f"out-{n}"
        t0 = time.time()
        subs = submit_sessions(paths, model="bench", parameters={"interactive": "grabcut", "finetune_steps": 2, "out": str(out),
                                                                   "models_dir": str(base / "models"), "device": "cpu"})
        submit_s = time.time() - t0
        runs = _wait_final([s.flow_run_id for s in subs], timeout=1800)
    finally:
        for w in workers:
            kill_tree(w)
            ctx["procs"].remove(w)
    ends = [r.end_time.timestamp() for r in runs if r.end_time]
    res = figures([_job_record(r, out, sid_of) for r in runs], t0=t0, t_end=max(ends) if ends else time.time(),
                  n_workers=n, n_jobs=n_jobs)
    with server_log.open("rb") as fh:
        fh.seek(offset)
        server_counts = log_counts(fh.read().decode(errors="replace"))
    worker_counts = [log_counts((base / f"worker-{name}.log").read_text(errors="replace")) for name in names]
    res.update(
        worker_query_s=float(ctx["env"]["PREFECT_WORKER_QUERY_SECONDS"]), workers_ready_s=ready_s, submit_s=submit_s,
        server_log=server_counts, worker_logs={k: sum(c[k] for c in worker_counts) for k in server_counts},
        loadavg_before=list(load_before), loadavg_after=list(os.getloadavg()),
    )
    return res


def _one_backend(backend: str, workers: list[int], n_jobs: int, tmp: Path) -> dict[str, Any]:
    """Server (and cluster) up, deploy, one round per worker count, everything torn down."""
    from contextlib import ExitStack

    from flows.devstack import free_port, kill_tree, postgres_cluster, start_server

    base = tmp / backend
    base.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"backend": backend, "loadavg_before": list(os.getloadavg())}
    with ExitStack() as stack:
        t = time.time()
        pg = stack.enter_context(postgres_cluster()) if backend == "postgres" else None
        if pg:
            info["cluster_start_s"] = time.time() - t
        port = free_port()
        env = _backend_env(backend, base, port, pg["url"] if pg else None)
        os.environ.update(env)  # this process talks to the same server
        ctx = {"backend": backend, "base": base, "env": env, "port": port, "procs": []}
        stack.callback(lambda: [kill_tree(p) for p in reversed(ctx["procs"])])  # before the cluster stops
        t = time.time()
        start_server(base, env, port, ctx["procs"], timeout=900)
        info["server_start_s"] = time.time() - t
        from flows.deploy import deploy

        t = time.time()
        deploy(gpu_slots=max(workers), names=["segment-video"])
        info["deploy_s"] = time.time() - t
        print(f"[{backend}] server up in {info['server_start_s']:.0f} s, deployed in {info['deploy_s']:.0f} s; "
              f"rounds with {workers} workers, {n_jobs} jobs each", file=sys.stderr, flush=True)
        gts = _synthetic_video(base / "data")
        info["rounds"] = {}
        for n in workers:
            r = info["rounds"][str(n)] = _one_round(ctx, n, n_jobs, gts)
            print(f"[{backend}] {n} worker(s): {json.dumps(r)}", file=sys.stderr, flush=True)
        if pg:
            info["flow_runs_in_postgres"] = int(pg["psql"]("select count(*) from flow_run").strip())
        info["sqlite_files"] = sorted(p.name for p in (base / "prefect_home").glob("*.db"))
    info["loadavg_after"] = list(os.getloadavg())
    return info


def _synthetic_video(data: Path) -> list:
    from ivos_core.data.davis import DavisDataset
    from ivos_core.data.synthetic import write_synthetic_video

    if not (data / "davis").exists():
        write_synthetic_video(data / "davis", "synth", n_frames=6, seed=0, height=64, width=96)
    seq = DavisDataset(data / "davis", split="val").sequence("synth")
    return [seq.mask(i) for i in range(len(seq))]


def _backend_in_subprocess(backend: str, workers: list[int], n_jobs: int, tmp: Path) -> dict[str, Any]:
    """:func:`_one_backend` in a child process (fresh Prefect settings); its stderr is echoed and its
    tail kept for the error. On timeout the child gets SIGTERM (its ``finally`` stops the cluster)."""
    import threading

    from flows.devstack import kill_tree

    result = tmp / f"{backend}.json"
    cmd = [sys.executable, "-m", "benchmarks.bench_prefect_jobs", "--one-backend", backend, "--workers",
           ",".join(map(str, workers)), "--jobs", str(n_jobs), "--tmp", str(tmp), "--result", str(result)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    timer = threading.Timer(1200 + 150 * n_jobs * len(workers), proc.terminate)
    timer.start()
    tail: deque[str] = deque(maxlen=40)
    try:
        for line in proc.stderr:
            sys.stderr.write(line)
            tail.append(line)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            kill_tree(proc)
    finally:
        timer.cancel()
        if proc.poll() is None:
            kill_tree(proc)
    if proc.returncode != 0 or not result.is_file():
        raise RuntimeError(f"{backend} backend failed (exit {proc.returncode}):\n{''.join(tail)[-3000:]}")
    return json.loads(result.read_text())


def run(repeats: int = 1, n_jobs: int = JOBS, backends: list[str] | tuple[str, ...] = BACKENDS,
        workers: list[int] | tuple[int, ...] = WORKERS) -> dict[str, Any]:
    from benchmarks.common import machine
    from flows.devstack import postgres_missing

    cores = os.cpu_count() or 1
    info = {**machine(), "cpu_count": cores, "loadavg_before": list(os.getloadavg())}
    results: dict[str, Any] = {}
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="ivos-bench-jobs-") as d:
        for b in backends:
            why = postgres_missing() if b == "postgres" else None
            if why:
                results[b] = {"backend": b, "skipped": why}
                continue
            try:
                results[b] = _backend_in_subprocess(b, list(workers), n_jobs, Path(d))
            except RuntimeError as exc:  # one backend failing must not lose the other's figures
                results[b] = {"backend": b, "error": str(exc)}
    info["loadavg_after"] = list(os.getloadavg())
    failed = [b for b, r in results.items() if "error" in r]
    if failed and all("rounds" not in r for r in results.values()):
        raise RuntimeError("; ".join(results[b]["error"] for b in failed))
    return {
        "machine": info, "jobs": n_jobs, "workers": list(workers), "wall_s": time.time() - t0,
        "cores_note": cores_note(cores, list(workers)),
        "backends": results,
        **summarise({b: r.get("rounds", {}) for b, r in results.items()}, cores),
        "note": "overhead = Running->finished minus the replay's own compute (includes the flow's one-off import of "
                "ivos_core.jobs, job_import_mean_s; torch loads inside the replay and counts as compute); prefect_overhead = "
                "overhead minus that import (Prefect's tasks, state changes, result persistence); submit-to-start = "
                "created->Running: queueing behind other jobs, the worker's poll interval and the flow-run process start "
                "(python + prefect import); server_log/worker_logs: lines in that round's logs (http_503, database_locked: "
                "retried requests)",
    }


def _print(res: dict[str, Any]) -> None:
    print(f"machine: {res['machine']['cpu_count']} cores, load {res['machine']['loadavg_before']} -> "
          f"{res['machine']['loadavg_after']}; {res['cores_note']}")
    for b, r in res["backends"].items():
        if "rounds" not in r:
            print(f"{b}: {'skipped' if r.get('skipped') else 'FAILED'} ({r.get('skipped') or r.get('error')})")
            continue
        for n, f in r["rounds"].items():
            print(f"{b} {n} worker(s): {f['completed']}/{f['jobs']} completed; {f['throughput_jobs_per_min']:.1f} jobs/min; "
                  f"overhead/job median {f['overhead_median_s']:.2f} s (Prefect's share {f['prefect_overhead_median_s']:.2f} s); "
                  f"submit->start median {f['submit_to_start_median_s']:.1f} s; 503s {f['server_log']['http_503']}, "
                  f"locked {f['server_log']['database_locked'] + f['worker_logs']['database_locked']}")
    print("ratios:", json.dumps(res["ratios"]))
    for k, t in res["targets"].items():
        print(f"target {k} {t['target']}: value {t['value']}, met {t['met']}")


if __name__ == "__main__":
    a = parse_args()
    if a.one_backend:
        import signal

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the parent's timeout: run the finally blocks
        a.result.write_text(json.dumps(_one_backend(a.one_backend, a.workers, a.jobs, a.tmp)))
        raise SystemExit(0)
    res = run(n_jobs=a.jobs, backends=a.backends, workers=a.workers)
    _print(res)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(res, indent=2))
    raise SystemExit(1 if any("error" in r for r in res["backends"].values()) else 0)
