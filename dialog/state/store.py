"""StateStore: DialogueState in Redis, one hash per user, saved atomically under a per-user lock.

Keys: `<prefix>:{u:<quoted user id>}:<kind>`. The user id is percent-encoded (injective, and no
`{`, `}`, `:` or `*` survive), so an odd id cannot reach another user's keys or break the hash tag.
All of one user's keys share the hash tag, so on Redis Cluster they live in one slot and the save
script (state + finished-session summary) runs there atomically. Whatever else is kept about a user
(rate counters, WeChat's dedupe ledger, a quarantined state) lives under the same tag, so that
`delete` finds all of it.

Retention: every save sets the state and the session summaries to expire `state_ttl_days` after
the user's last turn (0: kept until deleted).

The per-user lock has a short lease that a keeper thread renews while the turn runs: a process that
dies, or loses Redis, mid-turn leaves a lock that expires within one lease, not a long lock-out.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from urllib.parse import quote

import redis
from pydantic import ValidationError
from redis.lock import Lock

from dialog_core.errors import Busy, InvalidInput, ServiceUnavailable, is_valid_text
from dialog_core.redis_client import REDIS_DOWN, RedisClient, redis_errors
from dialog_core.settings import Settings
from dialog_core.state import SCHEMA_VERSION, DialogueState, SessionSummary

log = logging.getLogger(__name__)

MAX_SESSION_SUMMARIES = 1000

# KEYS: state hash, sessions list.
# ARGV: expected revision, new revision, state json, summary json (or ''), max summaries kept,
# time to live in ms (0: none).
_SAVE_SCRIPT = """
local current = redis.call('HGET', KEYS[1], 'rev') or '0'
if current ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'rev', ARGV[2], 'json', ARGV[3])
if ARGV[4] ~= '' then
  redis.call('LPUSH', KEYS[2], ARGV[4])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
end
local ttl = tonumber(ARGV[6])
for _, key in ipairs(KEYS) do
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) else redis.call('PERSIST', key) end
end
return 1
"""
DAY_MS = 86_400_000


class ConcurrentUpdate(Exception):
    """The state changed under us (a lock lease expired mid-turn); this turn's changes were dropped."""


class LeaseKeeper:
    """Renews the leases of the locks this process holds, every third of a lease, from one thread;
    and releases those whose release failed (Redis was down) as soon as Redis answers again."""

    def __init__(self, lease_s: float) -> None:
        self.interval_s = lease_s / 3
        self._held: set[Lock] = set()
        self._unreleased: set[Lock] = set()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def hold(self, lock: Lock) -> None:
        with self._guard:
            self._held.add(lock)
            if self._thread is None:
                self._thread = threading.Thread(target=self._keep, name="lock-leases", daemon=True)
                self._thread.start()

    def release(self, lock: Lock) -> None:
        with self._guard:
            self._held.discard(lock)
        try:
            lock.release()
        except redis.exceptions.LockError:  # the lease ran out: nothing to release
            pass
        except REDIS_DOWN:
            with self._guard:
                self._unreleased.add(lock)

    def _keep(self) -> None:
        while True:
            time.sleep(self.interval_s)
            with self._guard:
                held, unreleased = list(self._held), list(self._unreleased)
            for lock in held:
                with contextlib.suppress(*REDIS_DOWN):  # renewed next round, if the lease has not run out
                    try:
                        lock.reacquire()
                    except redis.exceptions.LockError:  # expired or taken over: the save's revision check
                        with self._guard:  # guards the state
                            self._held.discard(lock)
            for lock in unreleased:
                with contextlib.suppress(*REDIS_DOWN):
                    with contextlib.suppress(redis.exceptions.LockError):
                        lock.release()
                    with self._guard:
                        self._unreleased.discard(lock)


class StateStore:
    def __init__(self, client: RedisClient, settings: Settings) -> None:
        self.redis = client
        self.settings = settings
        self._save = client.register_script(_SAVE_SCRIPT)
        self._leases = LeaseKeeper(settings.lock_lease_s)

    # ------------------------------------------------------------------ keys

    def validate_user_id(self, user_id: str) -> None:
        if not isinstance(user_id, str) or not user_id:
            raise InvalidInput("A user id is required.")
        if not is_valid_text(user_id):
            raise InvalidInput("The user id is not valid text (it holds a lone surrogate code point).")
        if len(user_id) > self.settings.max_user_id_chars:
            raise InvalidInput(f"The user id is longer than {self.settings.max_user_id_chars} characters.")

    def key(self, user_id: str, kind: str) -> str:
        return f"{self.settings.key_prefix}:{{u:{quote(user_id, safe='')}}}:{kind}"

    # ------------------------------------------------------------------ lock

    @contextlib.contextmanager
    def locked(self, user_id: str) -> Iterator[None]:
        """Serialise the turns of one user across threads and processes.

        The lock's value is a token of its owner's (only the owner releases or renews it); its lease
        is renewed while the turn runs, so it can be short.
        """
        lock = self.redis.lock(
            self.key(user_id, "lock"),
            timeout=self.settings.lock_lease_s,
            blocking_timeout=self.settings.lock_wait_s,
            sleep=0.005,
            thread_local=False,  # the keeper thread renews it
        )
        with redis_errors():
            acquired = lock.acquire()
        if not acquired:
            raise Busy("Still working on your previous message; please send this one again in a moment.")
        self._leases.hold(lock)
        try:
            yield
        finally:
            self._leases.release(lock)

    # ------------------------------------------------------------------ load / save

    def load(self, user_id: str, now: float) -> DialogueState:
        """The stored state, or a fresh one for a new user."""
        with redis_errors():
            stored = self.redis.hget(self.key(user_id, "state"), "json")
        if stored is None:
            return DialogueState.new(user_id, now)
        try:
            state = DialogueState.model_validate_json(stored)
        except ValidationError:
            return self._quarantine(user_id, stored, now)
        if state.schema_version > SCHEMA_VERSION:
            raise ServiceUnavailable("The stored conversation was written by a newer version of this agent.")
        return state

    def save(self, state: DialogueState, closed_session: SessionSummary | None = None) -> None:
        """Write the state (and a finished session's summary) in one atomic step.

        `state.revision` is the revision that was loaded; it is bumped here. If the stored revision
        is not the loaded one, nothing is written and ConcurrentUpdate is raised.
        """
        expected = state.revision
        updated = state.model_copy(update={"revision": expected + 1})
        summary = closed_session.model_dump_json() if closed_session else ""
        ttl_ms = int(self.settings.state_ttl_days * DAY_MS)
        with redis_errors():
            written = self._save(
                keys=[self.key(state.user_id, "state"), self.key(state.user_id, "sessions")],
                args=[
                    expected,
                    expected + 1,
                    updated.model_dump_json(),
                    summary,
                    MAX_SESSION_SUMMARIES,
                    ttl_ms,
                ],
            )
        if not written:
            raise ConcurrentUpdate(state.user_id)
        state.revision = expected + 1

    def session_summaries(self, user_id: str) -> list[SessionSummary]:
        with redis_errors():
            raw = self.redis.lrange(self.key(user_id, "sessions"), 0, -1)
        return [SessionSummary.model_validate_json(item) for item in raw]

    def user_keys(self, user_id: str) -> list[str]:
        """Every key kept about the user: all of them carry the user's hash tag (SCAN, not KEYS)."""
        pattern = self.key(user_id, "*")  # the quoted id holds none of glob's special characters
        with redis_errors():
            return list(self.redis.scan_iter(match=pattern, count=1000))

    def delete(self, user_id: str) -> None:
        """Forget everything kept under the user's hash tag (state, sessions, rate counter, WeChat
        dedupe entries, a quarantined state), but the lock, which its holder releases."""
        lock = self.key(user_id, "lock")
        keys = [key for key in self.user_keys(user_id) if key != lock]
        if keys:
            with redis_errors():
                self.redis.delete(*keys)

    def _quarantine(self, user_id: str, stored: bytes | str, now: float) -> DialogueState:
        """Keep an unreadable state aside for inspection and start afresh, rather than lock the user out."""
        log.error("unreadable state for a user; moved to the 'corrupt' key and starting a new one")
        with redis_errors():
            self.redis.set(self.key(user_id, "corrupt"), stored, ex=self.ttl_s())
        fresh = DialogueState.new(user_id, now)
        with redis_errors():
            fresh.revision = int(self.redis.hget(self.key(user_id, "state"), "rev") or 0)
        return fresh

    def ttl_s(self) -> int | None:
        return int(self.settings.state_ttl_days * 86_400) or None
