"""A circuit breaker per skill: a skill that keeps timing out is paused, then tried again.

After `limit` timeouts in a row the breaker opens: the skill gets no calls for `cooldown_s`
(`can_handle` scores 0, `handle` answers that the skill is unavailable). Then it is half-open: one
trial call goes through; an answer in time closes the breaker, a timeout opens it again. Opening
and closing are one warning line each in the log.

Each worker process keeps its own breakers (routing never waits on Redis), and publishes the open
ones to a Redis hash so that `dialog doctor`, run anywhere, lists them.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from skills.runner import Outcome

log = logging.getLogger(__name__)
PUBLISHED_TTL_S = 24 * 3600  # a crashed worker's entries are forgotten a day after its last change


class State(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class OpenBreaker:
    """An open breaker as published: which skill, in which worker, since and until when."""

    skill: str
    worker: str
    since: float
    until: float
    reason: str


class Breaker:
    def __init__(
        self,
        skill: str,
        limit: int,
        cooldown_s: float,
        on_change: Callable[[Breaker], None] | None = None,
    ) -> None:
        self.skill = skill
        self.limit = limit
        self.cooldown_s = cooldown_s
        self.state = State.CLOSED
        self.timeouts = 0  # in a row
        self.opened_at = 0.0  # wall clock, for display
        self.until = 0.0  # monotonic
        self._trial = False  # the half-open trial call is under way
        self._on_change = on_change
        self._lock = threading.Lock()

    def refusal(self) -> str | None:
        """None when a call may go ahead (it may be the half-open trial), else why not."""
        with self._lock:
            if self.state is State.OPEN and time.monotonic() >= self.until:
                self.state = State.HALF_OPEN
            if self.state is State.HALF_OPEN and not self._trial:
                self._trial = True
                return None
            if self.state is State.CLOSED:
                return None
            left = max(0.0, self.until - time.monotonic())
            return f"Skill '{self.skill}' is paused after {self.timeouts} timeouts in a row" + (
                f" (tried again in {left:.1f} s)." if self.state is State.OPEN else " (being tried again)."
            )

    def record(self, outcome: Outcome) -> None:
        """Count a call's outcome; opens or closes the breaker."""
        with self._lock:
            was = self.state
            if was is State.HALF_OPEN:
                self._trial = False
            if outcome is Outcome.NOT_RUN:
                return
            if outcome is Outcome.ANSWERED:
                self.timeouts = 0
                self.state = State.CLOSED
            else:
                self.timeouts += 1
                if was is State.HALF_OPEN or (was is State.CLOSED and self.timeouts >= self.limit):
                    self.state = State.OPEN
                    self.opened_at = time.time()
                    self.until = time.monotonic() + self.cooldown_s
            now, timeouts = self.state, self.timeouts
        if now is was:
            return
        if now is State.OPEN:
            again = " (the trial call timed out too)" if was is State.HALF_OPEN else ""
            log.warning(
                "skill %s paused for %g s: %d timeouts in a row%s",
                self.skill,
                self.cooldown_s,
                timeouts,
                again,
            )
        else:
            log.warning("skill %s answers in time again: no longer paused", self.skill)
        if self._on_change is not None:
            self._on_change(self)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def breakers_key(prefix: str) -> str:
    return f"{prefix}:skills:breakers"


def publish(redis: Any, prefix: str, breaker: Breaker) -> None:
    """Record an open breaker under this worker's name, or remove it once closed."""
    field = f"{breaker.skill}@{worker_name()}"
    key = breakers_key(prefix)
    if breaker.state is State.CLOSED:
        redis.hdel(key, field)
        return
    entry = {
        "since": breaker.opened_at,
        "until": breaker.opened_at + breaker.cooldown_s,
        "reason": f"{breaker.timeouts} timeouts in a row",
    }
    redis.hset(key, field, json.dumps(entry))
    redis.expire(key, PUBLISHED_TTL_S)


def published(redis: Any, prefix: str) -> list[OpenBreaker]:
    """The open breakers every worker published, earliest first."""
    found = []
    for field, value in (redis.hgetall(breakers_key(prefix)) or {}).items():
        field = field.decode() if isinstance(field, bytes) else field
        skill, _, worker = field.partition("@")
        entry = json.loads(value)
        found.append(OpenBreaker(skill, worker, entry["since"], entry["until"], entry["reason"]))
    return sorted(found, key=lambda entry: entry.since)
