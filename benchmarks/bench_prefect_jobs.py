"""Prefect overhead per queued job: 20 small jobs on a local server, with one and with two workers.

For each job: submit-to-start latency (flow run created -> Running; includes queueing behind
other jobs) and overhead = the run's wall time (Running -> finished, as the API records it) minus
the job's own compute (the replay's ``timings.total_s`` + ``write_s`` in results.json), split into
the flow's one-off import of its modules (``timings.import_s``) and Prefect's
share (tasks, state changes, result persistence); service time per job = makespan x workers / jobs (what a worker spends per job, process start
included). Throughput = jobs / (last end - first submit). Ratios printed:
two workers vs one (target near 2x) and overhead per job (target <= 2 s).

Runs on its own server (free port, temporary PREFECT_HOME): ``python -m benchmarks.bench_prefect_jobs``.
Diagnosis: ``IVOS_BENCH_LOG_LEVEL=DEBUG`` logs the workers and their flow runs to
``<tmp>/worker-<n>-<i>.log`` (``--tmp DIR`` with ``--one-round N`` keeps them).
The jobs are tiny replays (6 frames 64x96, GrabCut clicks, 2 OSVOS-lite steps) so Prefect's share
dominates. ``run(repeats)`` follows the benchmarks/ convention (``repeats`` is ignored: one pass).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _env(home: Path, port: int, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home), PREFECT_API_URL=f"http://127.0.0.1:{port}/api", PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false", DO_NOT_TRACK="1", PREFECT_LOGGING_LEVEL=os.environ.get("IVOS_BENCH_LOG_LEVEL", "WARNING"), IVOS_REPO=str(REPO),
        IVOS_DATA=str(data), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO),
        # workers poll for scheduled runs every 10 s by default: a queued job then waits up to 10 s
        # for nothing; deployments/README.md recommends 2 s for job queues
        PREFECT_WORKER_QUERY_SECONDS=os.environ.get("IVOS_BENCH_WORKER_QUERY_SECONDS", "2"),
    )
    return env


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the process group we started (servers/workers run with start_new_session)."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _one_round(n_jobs: int, n_workers: int, tmp: Path) -> dict[str, Any]:
    import asyncio
    import socket
    import urllib.request

    from ivos_core.data.davis import DavisDataset
    from ivos_core.data.synthetic import write_synthetic_video
    from ivos_core.interactions import save_session
    from ivos_core.jobs import robot_session as simulate_session

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tmp / "data"
    if not (data / "davis").exists():
        write_synthetic_video(data / "davis", "synth", n_frames=6, seed=0, height=64, width=96)
    seq = DavisDataset(data / "davis", split="val").sequence("synth")
    gts = [seq.mask(i) for i in range(len(seq))]
    sess = tmp / f"sessions-{n_workers}"
    paths, sid_of = [], {}
    for i in range(n_jobs):
        p = sess / f"s{i:02d}.json"
        sid_of[str(p.resolve())] = f"w{n_workers}-s{i:02d}"
        save_session(simulate_session(gts, uri="davis/JPEGImages/480p/synth", session_id=sid_of[str(p.resolve())], clicks_first=2), p)
        paths.append(str(p))
    env = _env(tmp / f"home-{n_workers}", port, data)
    os.environ.update(env)  # this process talks to the same server
    procs = [subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        deadline = time.time() + 300
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except OSError:
                if procs[0].poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"prefect server on port {port} did not become healthy")
                time.sleep(1)
        from flows.deploy import deploy
        from flows.jobs import submit_sessions

        deploy(gpu_slots=n_workers, names=["segment-video"])
        for w in range(n_workers):
            procs.append(subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", "ivos-gpu", "--type", "process", "--limit", "1"],
                                          env=env, cwd=REPO, stdout=(tmp / f"worker-{n_workers}-{w}.log").open("w"),
                                          stderr=subprocess.STDOUT, start_new_session=True))
        time.sleep(5)
        out = tmp / f"out-{n_workers}"
        t0 = time.time()
        subs = submit_sessions(paths, model="bench", parameters={"interactive": "grabcut", "finetune_steps": 2, "out": str(out),
                                                                   "models_dir": str(tmp / "models"), "device": "cpu"})
        ids = [s.flow_run_id for s in subs]

        async def read():
            from prefect import get_client

            async with get_client() as c:
                return [await c.read_flow_run(i) for i in ids]

        while True:
            runs = asyncio.run(read())
            if all(r.state and r.state.is_final() for r in runs):
                break
            if time.time() - t0 > 1800:
                raise TimeoutError("jobs did not finish in 30 min")
            time.sleep(2)
        t_end = time.time()
        lat, over, over_prefect, computes, imports = [], [], [], [], []
        phases: dict[str, list[float]] = {"engine_start_s": [], "check_tasks_s": [], "before_replay_s": [],
                                          "replay_task_extra_s": [], "finish_s": []}
        for r in runs:
            res = next(out.glob(f"*/{sid_of[r.parameters['session_path']]}/results.json"), None)
            compute = import_s = 0.0
            if res is not None:
                t = json.loads(res.read_text())["timings"]
                compute = float(t.get("total_s", 0)) + float(t.get("write_s", 0))
                import_s = float(t.get("import_s", 0))
                if "flow_started_at" in t and "task_started_at" in t:
                    written = (res.parent / "DONE").stat().st_mtime
                    phases["engine_start_s"].append(t["flow_started_at"] - r.start_time.timestamp())
                    phases["before_replay_s"].append(t["task_started_at"] - t["flow_started_at"])
                    if "checks_done_at" in t:
                        phases["check_tasks_s"].append(t["checks_done_at"] - t["flow_started_at"])
                    phases["replay_task_extra_s"].append(written - t["task_started_at"] - compute)
                    phases["finish_s"].append(r.end_time.timestamp() - written)
            lat.append((r.start_time - r.created).total_seconds())
            over.append((r.end_time - r.start_time).total_seconds() - compute)
            over_prefect.append(over[-1] - import_s)
            computes.append(compute)
            imports.append(import_s)
        ok = sum(r.state.is_completed() for r in runs)
        return {
            "workers": n_workers, "jobs": n_jobs, "completed": ok,
            "submit_to_start_median_s": statistics.median(lat), "submit_to_start_max_s": max(lat),
            "overhead_median_s": statistics.median(over), "overhead_mean_s": statistics.mean(over),
            "prefect_overhead_median_s": statistics.median(over_prefect),
            "prefect_overhead_mean_s": statistics.mean(over_prefect),
            "job_import_mean_s": statistics.mean(imports),
            "compute_mean_s": statistics.mean(computes),
            "worker_query_s": float(env["PREFECT_WORKER_QUERY_SECONDS"]),
            # where the overhead goes (medians): Running -> flow body; flow body -> the two check tasks
            # done; flow body -> replay task body (checks, model resolution, the gpu slot); the replay task minus the replay's
            # compute; outputs written -> Completed (result persistence, artifact, final state)
            "overhead_phases_median_s": {k: statistics.median(v) for k, v in phases.items() if v},
            "service_s_per_job": (t_end - t0) * n_workers / n_jobs,
            "makespan_s": t_end - t0, "throughput_jobs_per_min": 60.0 * n_jobs / (t_end - t0),
        }
    finally:
        for p in reversed(procs):
            _kill_tree(p)


def run(repeats: int = 1, n_jobs: int = 20) -> dict[str, Any]:
    from benchmarks.common import machine

    def round_in_subprocess(workers: int, d: str) -> dict[str, Any]:
        # Prefect caches its settings (API URL) per process: each server gets a fresh process.
        p = subprocess.run([sys.executable, "-m", "benchmarks.bench_prefect_jobs", "--one-round", str(workers),
                            "--jobs", str(n_jobs), "--tmp", d], cwd=REPO, capture_output=True, text=True)
        lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
        if p.returncode != 0 or not lines:
            raise RuntimeError(f"round with {workers} worker(s) failed:\n{p.stderr[-3000:]}")
        res = json.loads(lines[-1])
        print(f"{workers} worker(s):", json.dumps(res), flush=True)
        return res

    with tempfile.TemporaryDirectory() as d:
        one = round_in_subprocess(1, d)
        two = round_in_subprocess(2, d)
    return {
        "machine": machine(),
        "one_worker": one,
        "two_workers": two,
        "throughput_ratio_2_vs_1": two["throughput_jobs_per_min"] / one["throughput_jobs_per_min"],
        "note": "overhead = Running->finished minus the replay's own compute (includes the flow's one-off import of "
                "ivos_core.jobs, job_import_mean_s; torch loads inside the replay and counts as compute); prefect_overhead = overhead minus that import (Prefect's tasks, "
                "state changes, result persistence); submit-to-start = created->Running: queueing behind other "
                "jobs, the worker's poll interval and the flow-run process start (python + prefect import)",
    }


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--one-round", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--tmp", type=Path, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one_round:
        print(json.dumps(_one_round(a.jobs, a.one_round, a.tmp)))
        raise SystemExit(0)
    res = run(n_jobs=a.jobs)
    for k in ("one_worker", "two_workers"):
        r = res[k]
        print(f"{k}: {r['completed']}/{r['jobs']} completed; submit->start median {r['submit_to_start_median_s']:.2f} s; "
              f"overhead/job median {r['overhead_median_s']:.2f} s (Prefect's share {r['prefect_overhead_median_s']:.2f} s, "
              f"job imports {r['job_import_mean_s']:.2f} s); throughput {r['throughput_jobs_per_min']:.1f} jobs/min")
    print(f"throughput ratio 2 workers / 1 worker: {res['throughput_ratio_2_vs_1']:.2f}x")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(res, indent=2))
