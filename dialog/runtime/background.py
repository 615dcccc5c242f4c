"""Loading in a thread: what the agent loads at start that can load alongside the rest (the sentence
encoder's weights while the index loads), or that few turns need (the generator's language model:
torch and its weights, about 10 s of CPU), so that the first reply does not wait for it.

A load begins at once, or, `after_start_up`, once start-up is over (`start_up_over()`, which
`Agent.warm_up` calls after its throwaway turns), so that it does not compete with the start for the
CPU and the GIL; or as soon as a caller needs the value (`get`), which waits for it: an agent that is
never warmed up (`dialog ask`, the REPL) loads the generator only if a turn asks for it. A failed load
is logged once, when it fails (one sentence for a DialogError, a traceback for a bug), and raised again
to every caller of `get`, so nobody waits for ever.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from dialog_core.errors import DialogError

log = logging.getLogger(__name__)
T = TypeVar("T")

_go = threading.Condition()
_started_up = False
_loads: weakref.WeakSet[Background[Any]] = weakref.WeakSet()


def start_up_over() -> None:
    """The agent is up and warm: the waiting loads begin."""
    global _started_up
    with _go:
        _started_up = True
        _go.notify_all()


class Background(Generic[T]):
    """`load()`, run once in its own thread: at once, or `after_start_up` (or when first needed)."""

    def __init__(self, what: str, load: Callable[[], T], *, after_start_up: bool = False) -> None:
        self.what = what
        self._load = load
        self._wanted = not after_start_up
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        _loads.add(self)
        threading.Thread(target=self._run, name=f"load {what}", daemon=True).start()

    def _run(self) -> None:
        with _go:
            _go.wait_for(lambda: _started_up or self._wanted)
        started = time.perf_counter()
        try:
            self._value = self._load()
        except DialogError as error:  # a model that is not there or not readable: one sentence
            self._error = error
            log.error("%s", error)
        except BaseException as error:  # a bug: its traceback, once
            self._error = error
            log.exception("loading the %s failed", self.what)
        else:
            log.info("%s loaded in the background in %.1f s", self.what, time.perf_counter() - started)
        finally:
            self._done.set()

    def ready(self) -> bool:
        """Loaded, or failed to."""
        return self._done.is_set()

    def get(self) -> T:
        """The loaded value, loading it now if it has not begun, and waiting for it; a failed load's
        error, raised again (its traceback was logged when it failed)."""
        if not self._done.is_set():
            with _go:
                self._wanted = True
                _go.notify_all()
            self._done.wait()
        if self._error is not None:
            raise self._error.with_traceback(None)
        return cast(T, self._value)

    def error(self) -> BaseException | None:
        """Wait for the load (starting it if it waits) and say how it failed, if it did."""
        try:
            self.get()
        except BaseException as error:
            return error
        return None


def failed_loads() -> list[tuple[str, BaseException]]:
    """Every load of this process, started and waited for: what failed, and how (`dialog doctor`)."""
    start_up_over()
    return [(load.what, error) for load in list(_loads) if (error := load.error()) is not None]
