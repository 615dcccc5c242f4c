"""Keeps the embedded server up while `dialog serve` runs: a crashed server is started again.

One thread in the serving process watches the server's pid (cheap: a /proc lookup) and, when it is
gone, starts it again in the same data dir, which replays the same append-only file (acknowledged
turns were written to it at most a second before the crash: `appendfsync everysec`). A start that
fails is tried again after a growing delay (up to MAX_BACKOFF_S). Each event is one log line.
"""

from __future__ import annotations

import logging
import threading

from dialog.errors import DialogError
from dialog.runtime.embedded import EmbeddedServer, is_redis_process

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 0.5
MAX_BACKOFF_S = 30.0


class EmbeddedSupervisor:
    def __init__(self, server: EmbeddedServer, interval_s: float = CHECK_INTERVAL_S) -> None:
        self.server = server
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
            log.warning(
                "the embedded server is up again", extra={"pid": status.pid, "restarts": self.restarts}
            )
