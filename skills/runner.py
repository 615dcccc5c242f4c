"""Run skill code (sync or async) under a time limit, on a bounded set of threads.

A `SkillExecutor` owns at most `threads` daemon worker threads, shared by every call of one skill
registry; they start as calls need them and end after a minute idle. A call's deadline starts when
it is submitted, so a call that waits for a free thread times out like a slow one, and a call whose
caller gave up before a thread was free never runs. A coroutine is awaited in a fresh event loop
with the time left, so it is cancelled cleanly.

Threads cannot be killed, so a hung synchronous call keeps its thread; callers give it a copy of
anything they keep (the skill handler runs skills on a copy of the state). To keep one hung skill
from taking every thread, a skill with `stuck_per_skill` calls still running past their deadline
gets no new ones until one of them ends. The threads are daemons (not a ThreadPoolExecutor, whose
threads are joined at exit): a hung skill never keeps the process from exiting.
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from enum import Enum
from typing import Any

from skills.api import SkillTimeout

IDLE_EXIT_S = 60.0


class Outcome(Enum):
    """How a call ended, for the skill's circuit breaker (`skills.breaker`)."""

    ANSWERED = "answered"  # a value or an exception, in time
    TIMED_OUT = "timed out"  # ran (or would have run) past its deadline
    NOT_RUN = "not run"  # no thread was free before the deadline: not the skill's doing


Settle = Callable[[Outcome], None]


class Call:
    """`function(*args)` on the executor's threads; `result()` waits until the deadline."""

    def __init__(
        self,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        *,
        timeout_s: float,
        what: str,
        settle: Settle | None = None,
        count_stuck: Callable[[int], None] | None = None,
    ) -> None:
        self.function = function
        self.args = args
        self.what = what
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self._settle = settle
        self._count_stuck = count_stuck  # +1 when the caller gives up on a running call, -1 when it ends
        self._lock = threading.Lock()  # orders `started`, `abandoned` and the end of the call
        self._started = False
        self._abandoned = False
        self._finished = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    @classmethod
    def refused(cls, error: BaseException, *, what: str, settle: Settle | None) -> Call:
        """A call that fails at once with `error`, never given a thread; it counts as a timeout."""
        call = cls(lambda: None, (), timeout_s=0.0, what=what, settle=settle)
        call._error = error
        call._finished.set()
        return call

    def run(self) -> None:
        """In a worker thread: skip the call if its caller gave up, else run it to the end."""
        with self._lock:
            if self._abandoned:
                return
            self._started = True
        try:
            value = self.function(*self.args)
            if inspect.isawaitable(value):
                value = asyncio.run(self._bounded(value))
            self._value = value
        except BaseException as error:  # re-raised in the caller's thread
            self._error = error
        finally:
            with self._lock:
                self._finished.set()
                if self._abandoned and self._count_stuck is not None:
                    self._count_stuck(-1)

    async def _bounded(self, awaitable: Any) -> Any:
        try:
            return await asyncio.wait_for(awaitable, max(0.0, self.deadline - time.monotonic()))
        except TimeoutError as error:
            raise self._timeout() from error

    def _timeout(self) -> SkillTimeout:
        return SkillTimeout(f"{self.what} did not finish within {self.timeout_s:g} s.")

    def result(self) -> Any:
        """The value, or the call's exception; SkillTimeout once the deadline has passed."""
        if not self._finished.wait(max(0.0, self.deadline - time.monotonic())):
            with self._lock:
                if not self._finished.is_set():
                    self._abandoned = True
                    if self._started and self._count_stuck is not None:
                        self._count_stuck(1)
            if self._abandoned and not self._started:
                self._settled(Outcome.NOT_RUN)
                raise SkillTimeout(
                    f"{self.what} did not start within {self.timeout_s:g} s: every skill thread was busy."
                )
            if self._abandoned:
                self._settled(Outcome.TIMED_OUT)
                raise self._timeout()
        self._settled(Outcome.TIMED_OUT if isinstance(self._error, SkillTimeout) else Outcome.ANSWERED)
        if self._error is not None:
            raise self._error
        return self._value

    def _settled(self, outcome: Outcome) -> None:
        settle, self._settle = self._settle, None
        if settle is not None:
            settle(outcome)


class SkillExecutor:
    """At most `threads` daemon threads for skill calls; at most `stuck_per_skill` stuck calls a skill."""

    def __init__(self, threads: int, stuck_per_skill: int) -> None:
        self.threads = threads
        self.stuck_per_skill = stuck_per_skill
        self._queue: queue.SimpleQueue[Call] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers = 0
        self._idle = 0
        self._queued = 0
        self._stuck: Counter[str] = Counter()

    @property
    def workers(self) -> int:
        """Threads running now (busy or idle)."""
        return self._workers

    def stuck(self, key: str) -> int:
        """Calls of `key` still running past their deadline."""
        return self._stuck[key]

    def submit(
        self,
        key: str,
        function: Callable[..., Any],
        *args: Any,
        timeout_s: float,
        what: str,
        settle: Settle | None = None,
    ) -> Call:
        """Queue `function(*args)` for the skill `key`; refused at once while it has too many stuck calls."""
        with self._lock:
            stuck = self._stuck[key]
        if stuck >= self.stuck_per_skill:
            error = SkillTimeout(
                f"{what} was not started: {stuck} earlier calls are still running past their time limit."
            )
            return Call.refused(error, what=what, settle=settle)
        call = Call(
            function,
            args,
            timeout_s=timeout_s,
            what=what,
            settle=settle,
            count_stuck=lambda change: self._count_stuck(key, change),
        )
        with self._lock:
            self._queue.put(call)
            self._queued += 1
            if self._queued > self._idle and self._workers < self.threads:
                self._workers += 1
                threading.Thread(target=self._work, name=f"skills-{self._workers}", daemon=True).start()
        return call

    def _count_stuck(self, key: str, change: int) -> None:
        with self._lock:
            self._stuck[key] += change
            if self._stuck[key] <= 0:
                del self._stuck[key]

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            try:
                call = self._queue.get(timeout=IDLE_EXIT_S)
            except queue.Empty:
                with self._lock:
                    self._idle -= 1
                    if self._queued == 0:
                        self._workers -= 1
                        return
                continue
            with self._lock:
                self._idle -= 1
                self._queued -= 1
            call.run()
