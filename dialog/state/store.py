"""StateStore: DialogueState in Redis, one hash per user, saved atomically under a per-user lock.

Keys: `<prefix>:{u:<quoted user id>}:<kind>`. The user id is percent-encoded (injective, and no
`{`, `}`, `:` or `*` survive), so an odd id cannot reach another user's keys or break the hash tag.
All of one user's keys share the hash tag, so on Redis Cluster they live in one slot and the save
script (state + finished-session summary) runs there atomically.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from urllib.parse import quote

import redis
from pydantic import ValidationError
from redis.cluster import RedisCluster

from dialog.errors import Busy, InvalidInput, ServiceUnavailable
from dialog.settings import Settings
from dialog.state.model import SCHEMA_VERSION, DialogueState, SessionSummary

log = logging.getLogger(__name__)

RedisClient = redis.Redis | RedisCluster
MAX_SESSION_SUMMARIES = 1000
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError)

# KEYS: state hash, sessions list.
# ARGV: expected revision, new revision, state json, summary json (or ''), max summaries kept.
_SAVE_SCRIPT = """
local current = redis.call('HGET', KEYS[1], 'rev') or '0'
if current ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'rev', ARGV[2], 'json', ARGV[3])
if ARGV[4] ~= '' then
  redis.call('LPUSH', KEYS[2], ARGV[4])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
end
return 1
"""


class ConcurrentUpdate(Exception):
    """The state changed under us (a lock lease expired mid-turn); this turn's changes were dropped."""


@contextlib.contextmanager
def redis_errors(what: str = "The conversation store (Redis)") -> Iterator[None]:
    """Turn a Redis outage into one sentence for the user."""
    try:
        yield
    except REDIS_DOWN as error:
        raise ServiceUnavailable(f"{what} is not reachable right now; please try again shortly.") from error


class StateStore:
    def __init__(self, client: RedisClient, settings: Settings) -> None:
        self.redis = client
        self.settings = settings
        self._save = client.register_script(_SAVE_SCRIPT)

    # ------------------------------------------------------------------ keys

    def validate_user_id(self, user_id: str) -> None:
        if not isinstance(user_id, str) or not user_id:
            raise InvalidInput("A user id is required.")
        if len(user_id) > self.settings.max_user_id_chars:
            raise InvalidInput(f"The user id is longer than {self.settings.max_user_id_chars} characters.")

    def key(self, user_id: str, kind: str) -> str:
        return f"{self.settings.key_prefix}:{{u:{quote(user_id, safe='')}}}:{kind}"

    # ------------------------------------------------------------------ lock

    @contextlib.contextmanager
    def locked(self, user_id: str) -> Iterator[None]:
        """Serialise the turns of one user across threads and processes."""
        lock = self.redis.lock(
            self.key(user_id, "lock"),
            timeout=self.settings.lock_lease_s,
            blocking_timeout=self.settings.lock_wait_s,
            sleep=0.005,
        )
        with redis_errors():
            acquired = lock.acquire()
        if not acquired:
            raise Busy("Still working on your previous message; please send this one again in a moment.")
        try:
            yield
        finally:
            with contextlib.suppress(redis.exceptions.LockError, *REDIS_DOWN):
                lock.release()

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
        with redis_errors():
            written = self._save(
                keys=[self.key(state.user_id, "state"), self.key(state.user_id, "sessions")],
                args=[expected, expected + 1, updated.model_dump_json(), summary, MAX_SESSION_SUMMARIES],
            )
        if not written:
            raise ConcurrentUpdate(state.user_id)
        state.revision = expected + 1

    def session_summaries(self, user_id: str) -> list[SessionSummary]:
        with redis_errors():
            raw = self.redis.lrange(self.key(user_id, "sessions"), 0, -1)
        return [SessionSummary.model_validate_json(item) for item in raw]

    def delete(self, user_id: str) -> None:
        """Forget everything about the user (state and session summaries)."""
        with redis_errors():
            self.redis.delete(self.key(user_id, "state"), self.key(user_id, "sessions"))

    def _quarantine(self, user_id: str, stored: str, now: float) -> DialogueState:
        """Keep an unreadable state aside for inspection and start afresh, rather than lock the user out."""
        log.error("unreadable state for a user; moved to the 'corrupt' key and starting a new one")
        with redis_errors():
            self.redis.set(self.key(user_id, "corrupt"), stored)
        fresh = DialogueState.new(user_id, now)
        with redis_errors():
            fresh.revision = int(self.redis.hget(self.key(user_id, "state"), "rev") or 0)
        return fresh
