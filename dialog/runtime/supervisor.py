"""Keeps the embedded server up while `dialog serve` runs: a crashed server is started again.

One thread in the serving process watches the server's pid (cheap: a /proc lookup) and, when it is
gone, starts it again in the same data dir, which replays the same append-only file (acknowledged
turns were written to it at most a second before the crash: `appendfsync everysec`). A start that
fails is tried again after a growing delay (up to MAX_BACKOFF_S). Each event is one log line.

The per-user locks that come back with the file are stale: their turns failed with the server, or
were released in the last second before the crash and brought back by the replay. They are deleted
at once rather than left to their lease (a turn that still saves after this is caught by the save's
revision check).
"""

from __future__ import annotations

import logging
import threading

import redis

from dialog.runtime.embedded import EmbeddedServer, is_redis_process
from dialog_core.errors import DialogError

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 0.5
MAX_BACKOFF_S = 30.0


class EmbeddedSupervisor:
    def __init__(self, server: EmbeddedServer, key_prefix: str, interval_s: float = CHECK_INTERVAL_S) -> None:
        self.server = server
        self.locks = f"{key_prefix}:{{u:*}}:lock"
        self.interval_s = interval_s
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="embedded-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def alive(self) -> bool:
        pid = self.server.pid()
        return pid is not None and is_redis_process(pid)

    def _watch(self) -> None:
        backoff = self.interval_s
        while not self._stop.wait(backoff):
            if self.alive():
                backoff = self.interval_s
                continue
            log.warning("the embedded server is down; starting it again", extra={"dir": str(self.server.dir)})
            try:
                status = self.server.ensure_running()
            except DialogError as error:
                backoff = min(MAX_BACKOFF_S, max(1.0, backoff * 2))
                log.error("the embedded server did not start: %s; next try in %g s", error, backoff)
                continue
            self.restarts += 1
            backoff = self.interval_s
            cleared = self._clear_locks()
            log.warning(
                "the embedded server is up again",
                extra={"pid": status.pid, "restarts": self.restarts, "stale_locks_cleared": cleared},
            )

    def _clear_locks(self) -> int:
        try:
            with self.server.client() as client:
                stale = list(client.scan_iter(match=self.locks, count=1000))
                return client.delete(*stale) if stale else 0
        except (redis.RedisError, OSError) as error:  # they expire with their lease anyway
            log.warning("stale locks not cleared: %s", error)
            return 0
