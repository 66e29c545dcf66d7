"""A throwaway Prefect stack on this machine: processes, a server, workers, a PostgreSQL cluster.

Why it is a library module and not test code: the integration tests (tests/test_jobs_integration.py,
tests/test_scaleout_postgres.py) and the scale-out benchmark (benchmarks/bench_prefect_jobs.py)
start the same parts the same way, and a benchmark must not import from tests/. Nothing here is
used by the product's own code paths.

Every start has a timeout, and everything started is handed to the caller (``procs`` lists, a
context manager) so that its ``finally`` tears it down: a stray server or postmaster would
distort the next measurement and hold ports. Standard library only (no Prefect import: Prefect
caches its settings per process, and a caller may still have to set ``PREFECT_API_URL``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PG_BIN = Path(os.environ.get("IVOS_PG_BIN", "/usr/lib/postgresql/15/bin"))

# what a retried request leaves in a server's access log or a client's log: a 503 (Prefect answers
# retryable database errors with it), SQLite's lock error, the server's "retryable" log line
RETRYABLE = re.compile(r'" 503\b|\b503 Service Unavailable|database is locked|retryable')
_STATUS = re.compile(r'HTTP/[0-9.]+" (\d{3})\b')
#: the address each server started here listens on, by port (api() reads it): 127.0.0.1 unless
#: the workers sit in network namespaces and reach the server over a bridge (WorkerNetwork)
_SERVER_HOSTS: dict[int, str] = {}


def free_port() -> int:
    """A port free now on 127.0.0.1 (each stack gets its own: runs may overlap on a machine)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """All processes below ``pid`` (by parent id: a flow-run process runs in a session of its own,
    so killing the worker's process group alone would miss it)."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc``, its process group and every descendant's group ("the machine died"; also
    the only teardown that cannot hang on a wedged server)."""
    pids = [proc.pid] + descendants(proc.pid)
    for p in pids:
        try:
            os.killpg(os.getpgid(p), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def prefect_env(base: Path, port: int, host: str = "127.0.0.1", **extra: str) -> dict[str, str]:
    """This environment without any PREFECT_* setting (a developer's profile must not leak in),
    plus a throwaway PREFECT_HOME under ``base``, the API URL of ``host``:``port`` and this
    checkout on PYTHONPATH (the workers' flow runs import it); ``extra`` overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(base / "prefect_home"),
        PREFECT_API_URL=f"http://{host}:{port}/api",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY="30",
        IVOS_REPO=str(REPO),
        IVOS_DATA=str(base / "data"),
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(REPO),
    )
    env.update(extra)
    return env


def start_server(base: Path, env: dict[str, str], port: int, procs: list[subprocess.Popen], *,
                 timeout: float = 180, log_name: str = "server.log", host: str = "127.0.0.1") -> subprocess.Popen:
    """``prefect server start`` on ``host``:``port`` (appended to ``procs`` at once, so the caller's
    ``finally`` kills it); returns when ``/api/health`` answers, raises with the log's tail if not.
    ``host``: 127.0.0.1, or the bridge address of a :class:`WorkerNetwork` (never all interfaces)."""
    log = base / log_name
    _SERVER_HOSTS[port] = host
    with open(log, "wb") as fh:
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
            env=env, cwd=base, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
        )
    procs.append(server)
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/api/health", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            pass
        if server.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"prefect server did not start in {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(1)


def start_worker(base: Path, env: dict[str, str], procs: list[subprocess.Popen], name: str, *,
                 pool: str = "ivos-gpu", limit: int | None = None, netns: str | None = None) -> subprocess.Popen:
    """A process worker ``w-<name>`` on ``pool``, started as an operator would (``ivos worker``,
    which execs ``prefect worker start`` in place), in a session of its own (so :func:`kill_tree`
    can take it down as a machine failure would); its output goes to ``worker-<name>.log``.
    ``netns``: run it (and so its flow runs) in this network namespace (``ip netns exec``, which
    execs the worker in place: the process is still the one :func:`kill_tree` kills)."""
    cmd = [sys.executable, "-m", "flows.cli", "worker", "--pool", pool, "--name", f"w-{name}"]  # ivos worker
    if netns is not None:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    with open(base / f"worker-{name}.log", "wb") as fh:
        w = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    procs.append(w)
    return w


def api(port: int, method: str, path: str, body: dict | None = None, *, timeout: float = 30) -> object:
    """One call to the Prefect REST API of the server on ``port`` (no Prefect import, no settings
    cached in the calling process); returns the decoded JSON."""
    data = None if body is None else json.dumps(body).encode()
    host = _SERVER_HOSTS.get(port, "127.0.0.1")
    req = urllib.request.Request(f"http://{host}:{port}/api{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def api_status(port: int, method: str, path: str, body: dict | None = None, *, timeout: float = 30) -> int:
    """The HTTP status of one API call (no retry): what a client sees, errors included."""
    try:
        api(port, method, path, body, timeout=timeout)
    except urllib.error.HTTPError as exc:
        return exc.code
    return 200


def wait_for_workers(port: int, names: Iterable[str], *, pool: str = "ivos-gpu", timeout: float = 180) -> float:
    """Wait until the workers ``w-<name>`` have registered with the server (their first heartbeat:
    imports done, polling); returns the seconds waited. Lets a measurement start with the workers
    ready rather than after a guessed sleep, which a loaded machine overruns."""
    want, t0 = {f"w-{n}" for n in names}, time.time()
    while True:
        try:
            seen = {w["name"] for w in api(port, "POST", f"/work_pools/{pool}/workers/filter", {"limit": 200})}
        except OSError:
            seen = set()
        if want <= seen:
            return time.time() - t0
        if time.time() - t0 > timeout:
            raise TimeoutError(f"workers {sorted(want - seen)} did not register with the server in {timeout:.0f} s")
        time.sleep(1)


def log_counts(text: str) -> dict[str, int]:
    """Requests and retried requests in a server's access log (or a worker's log), counted by
    line: responses, 503s, "database is locked" lines, all lines :data:`RETRYABLE` matches."""
    out = {"responses": 0, "http_503": 0, "database_locked": 0, "retryable_lines": 0}
    for ln in text.splitlines():
        status = _STATUS.search(ln)
        out["responses"] += status is not None
        out["http_503"] += (status is not None and status.group(1) == "503") or "503 Service Unavailable" in ln
        out["database_locked"] += "database is locked" in ln.lower()
        out["retryable_lines"] += RETRYABLE.search(ln) is not None
    return out


# --- workers as separate hosts: network namespaces on a private bridge ---------------------------------

def netns_missing() -> str | None:
    """Why workers cannot get network namespaces here (None: they can): root and ``ip`` are needed,
    and a namespace, a bridge and a veth pair must be creatable (a container may forbid any of them):
    a one-worker :class:`WorkerNetwork` is set up and torn down to find out."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    try:
        with WorkerNetwork(["probe"]):
            pass
    except (RuntimeError, OSError, StopIteration) as exc:
        return f"network namespaces unavailable here: {exc}"[:300]
    return None


class WorkerNetwork:
    """Worker "hosts" as network namespaces, each joined by a veth pair to a private bridge in this
    (the server's) namespace: ``host_ip`` is the bridge's address, the server listens there (not on
    all interfaces), and a worker in namespace ``ns[name]`` reaches it only over its veth pair, as
    a second machine would over a LAN. Nothing is routed beyond the bridge. Use as a context
    manager: the namespaces, veths and bridge are removed on exit."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = list(names)
        tag = f"{os.getpid() % 10000:04d}"
        self.bridge = f"ivbr{tag}"
        used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=False).stdout
        third = next(n for n in range(os.getpid() % 200 + 20, 256) if f"10.231.{n}." not in used)
        self.prefix = f"10.231.{third}"
        self.host_ip = f"{self.prefix}.1"
        self.ns = {name: f"ivos-{tag}-{name}" for name in self.names}
        self._veths: list[str] = []

    @staticmethod
    def _ip(*args: str) -> None:
        p = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
        if p.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)} -> {p.returncode}: {p.stderr.strip()}")

    def __enter__(self) -> "WorkerNetwork":
        try:
            self._ip("link", "add", self.bridge, "type", "bridge")
            self._ip("addr", "add", f"{self.host_ip}/24", "dev", self.bridge)
            self._ip("link", "set", self.bridge, "up")
            for i, name in enumerate(self.names):
                ns, host_end, ns_end = self.ns[name], f"{self.bridge}h{i}", f"{self.bridge}n{i}"
                self._ip("netns", "add", ns)
                self._ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
                self._veths.append(host_end)
                self._ip("link", "set", host_end, "master", self.bridge)
                self._ip("link", "set", host_end, "up")
                self._ip("link", "set", ns_end, "netns", ns)
                self._ip("-n", ns, "addr", "add", f"{self.prefix}.{10 + i}/24", "dev", ns_end)
                self._ip("-n", ns, "link", "set", ns_end, "up")
                self._ip("-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.names:
            subprocess.run(["ip", "netns", "del", self.ns[name]], capture_output=True, check=False)
        for v in self._veths:
            subprocess.run(["ip", "link", "del", v], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)

    def address(self, name: str) -> str:
        return f"{self.prefix}.{10 + self.names.index(name)}"


# --- a throwaway PostgreSQL cluster -----------------------------------------------------------------

def postgres_missing() -> str | None:
    """Why a throwaway cluster cannot be started here (None: it can), so callers skip with a reason."""
    for b in ("initdb", "pg_ctl", "createdb", "psql"):
        if not (PG_BIN / b).is_file():
            return f"PostgreSQL binaries not found ({PG_BIN / b}; install postgresql-15 or set IVOS_PG_BIN)"
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root (initdb refuses) and there is no `postgres` user to run the cluster as"
        if shutil.which("runuser") is None:
            return "running as root (initdb refuses) and `runuser` is not available"
    return None


def _pg_stop(as_pg: list[str], data: Path, root: Path, env: dict[str, str]) -> None:
    """``pg_ctl stop -m immediate``, then SIGKILL of the postmaster if it is still there: pg_ctl
    daemonises it, so it is no descendant of ours and no process-tree kill would reach it."""
    try:
        subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop"],
                       cwd=root, env=env, capture_output=True, timeout=40, check=False)
    except subprocess.TimeoutExpired:
        pass
    pidfile = data / "postmaster.pid"
    if pidfile.is_file():  # still running (or a stale file): make sure
        try:
            os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
        except (ProcessLookupError, ValueError, IndexError, OSError):
            pass


@contextmanager
def postgres_cluster(*, user: str = "prefect", db: str = "prefect", timeout: float = 120) -> Iterator[dict]:
    """initdb + pg_ctl start a cluster on 127.0.0.1:<free port> (unix socket in its temp folder,
    trust authentication, fsync off: a fixture, nothing durable) with database ``db``;
    yields ``{"url", "port", "root", "log", "psql", "restart", "stop", "start"}`` (``psql(sql)`` ->
    stdout; ``restart()`` = ``pg_ctl restart -m fast``: every connection is dropped, as in a
    database failover or a maintenance restart; ``stop()`` / ``start()`` for a longer outage). Stopped
    (``-m immediate``, then SIGKILL of the postmaster if needed) and removed on exit.

    As root, the folder belongs to the ``postgres`` user and the server runs as it (``runuser``):
    initdb refuses to run as root. The folder is made with ``mkdtemp`` under the system temp dir,
    not pytest's (root's ``/tmp/pytest-of-root`` is mode 0700: the postgres user cannot enter it)."""
    reason = postgres_missing()
    if reason:
        raise RuntimeError(reason)
    root = Path(tempfile.mkdtemp(prefix="ivos-pg-"))
    as_pg: list[str] = []
    if os.geteuid() == 0:
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        as_pg = ["runuser", "-u", "postgres", "--"]
    data, log = root / "data", root / "postgres.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    port = free_port()
    started = False

    def run(cmd: list[str], t: float) -> subprocess.CompletedProcess:
        p = subprocess.run(cmd, check=False, cwd=root, env=env, capture_output=True, text=True, timeout=t)
        if p.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
            raise RuntimeError(f"{' '.join(cmd)} -> {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}\n{tail}")
        return p

    def psql(sql: str) -> str:
        return run([str(PG_BIN / "psql"), "-X", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", db,
                    "-At", "-v", "ON_ERROR_STOP=1", "-c", sql], 60).stdout

    try:
        run([*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8", "--locale=C",
             "--no-sync", "--no-instructions"], timeout)
        opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        started = True  # from here on, stop it in finally whatever happens
        run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", str(int(timeout)), "-o", opts, "start"],
            timeout + 10)
        run([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, db], 60)

        def pg_ctl(action: str) -> None:
            run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-m", "fast", "-w", "-t", str(int(timeout)),
                 "-o", opts, action], timeout + 10)

        yield {"url": f"postgresql+asyncpg://{user}@127.0.0.1:{port}/{db}", "port": port, "root": root, "log": log,
               "psql": psql, "restart": lambda: pg_ctl("restart"), "stop": lambda: pg_ctl("stop"),
               "start": lambda: pg_ctl("start")}
    finally:
        if started:
            _pg_stop(as_pg, data, root, env)
        shutil.rmtree(root, ignore_errors=True)
