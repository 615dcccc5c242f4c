"""Run skill code (sync or async) under a time limit.

Each call runs in its own daemon thread: a skill that hangs costs that thread, never the turn.
A coroutine is awaited in a fresh event loop with the same limit, so it is cancelled cleanly.
Threads cannot be killed, so a hung synchronous call keeps running in the background; callers
give it a copy of anything they keep (the skill handler runs skills on a copy of the state).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any

from skills.api import SkillTimeout


class Call:
    """`function(*args)` started in a daemon thread; `result()` waits until the deadline."""

    def __init__(self, function: Callable[..., Any], *args: Any, timeout_s: float, what: str) -> None:
        self.what = what
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self._finished = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None
        threading.Thread(target=self._work, args=(function, args), name=f"skill:{what}", daemon=True).start()

    def _work(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            value = function(*args)
            if inspect.isawaitable(value):
                value = asyncio.run(self._bounded(value))
            self._value = value
        except BaseException as error:  # re-raised in the caller's thread
            self._error = error
        finally:
            self._finished.set()

    async def _bounded(self, awaitable: Any) -> Any:
        try:
            return await asyncio.wait_for(awaitable, max(0.0, self.deadline - time.monotonic()))
        except TimeoutError as error:
            raise self._timeout() from error

    def _timeout(self) -> SkillTimeout:
        return SkillTimeout(f"{self.what} did not finish within {self.timeout_s:g} s.")

    def result(self) -> Any:
        if not self._finished.wait(max(0.0, self.deadline - time.monotonic())):
            raise self._timeout()
        if self._error is not None:
            raise self._error
        return self._value


def call_with_timeout(function: Callable[..., Any], *args: Any, timeout_s: float, what: str) -> Any:
    """`function(*args)`, awaited if it returns an awaitable; SkillTimeout after `timeout_s`."""
    return Call(function, *args, timeout_s=timeout_s, what=what).result()
