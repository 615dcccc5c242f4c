"""The turn log: each answered turn as the operator console and ranker training need it — what the
user said, the reply, its route, what the ranker saw (candidates with their features and scores),
the user's or an operator's rating, and the implicit signals of the next turn (continued after how
many seconds, or rephrased).

Kept in Redis under the user's hash tag (`<prefix>:{u:<id>}:turns` hash turn_id -> JSON and
`...:turn_ids` list, newest first), bounded to `feedback_max_turns` per user and expiring with the
dialogue state (`state_ttl_days`): erasing the user (`Agent.forget`) erases them with the rest.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal, cast
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field

from dialog.state.store import StateStore
from dialog_core.errors import InvalidInput
from dialog_core.redis_client import redis_errors
from dialog_core.text import char_bigrams, jaccard

Rating = Literal[-1, 1]
MAX_CANDIDATES = 10  # kept per turn: the ranked top (the reply's is always among them)
LAST = "last"  # the turn id that names the user's latest logged turn
# A message rephrases the one before it when their character bigrams (after `dialog_core.text.key`:
# lower case, no punctuation or spaces) overlap this much (Jaccard). Measured: the 591 pairs of
# consecutive messages of the bench's scripted conversations (en + zh, none a rephrasing) score at
# most 0.39, 99 % under 0.22; of 22 hand-written rephrasings ("what is the capital of France" ->
# "what's the capital city of France?" 0.71, "德国和哪些国家接壤" -> "哪些国家和德国接壤？" 0.45)
# 16 reach 0.4: all but 2 of 12 English, 6 of 10 Chinese (short Chinese rewordings share fewer
# bigrams: "你叫什么名字" -> "你的名字是什么" 0.22). A repeated message is a rephrasing too (1.0).
REPHRASE_SIMILARITY = 0.4


class LoggedCandidate(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="constants")  # a NaN feature value stays NaN

    text: str
    source: str
    rank_score: float
    features: dict[str, float] = Field(default_factory=dict)


class TurnLogEntry(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="constants")

    turn_id: str
    user_id: str
    session_id: str
    index: int  # 1-based, within the session
    at: float
    channel: str
    text: str
    reply: str
    route: str
    latency_ms: float
    candidates: list[LoggedCandidate] = Field(default_factory=list)
    chosen: int | None = None  # the reply's place in `candidates` (core chat turns)
    why: dict[str, Any] = Field(default_factory=dict)  # the trace's decision, handlers and timings
    rating: Rating | None = None
    comment: str = ""
    rated_by: Literal["user", "operator"] | None = None
    rated_at: float | None = None
    next_gap_s: float | None = None  # the user's next message in the session came this much later
    rephrased: bool = False  # ...and said this turn's message again in other words

    def left(self, now: float, idle_timeout_s: float) -> bool:
        """No next message, and the session is over (idle past the timeout)."""
        return self.next_gap_s is None and now - self.at > idle_timeout_s


def new_turn_id() -> str:
    return uuid.uuid4().hex


def rephrases(text: str, previous: str) -> bool:
    """Whether `text` says `previous` again, in the same or other words (see REPHRASE_SIMILARITY)."""
    return jaccard(char_bigrams(text), char_bigrams(previous)) >= REPHRASE_SIMILARITY


def logged_candidates(trace: dict[str, Any], reply: str) -> tuple[list[LoggedCandidate], int | None]:
    """The ranked candidates of a core chat turn's trace (best first, at most MAX_CANDIDATES, the
    reply's kept) and the reply's place among them."""
    ranked = [_candidate(c) for c in trace.get("candidates", [])]
    kept = ranked[:MAX_CANDIDATES]
    chosen = next((i for i, c in enumerate(ranked) if c.text == reply), None)
    if chosen is not None and chosen >= MAX_CANDIDATES:
        kept[-1], chosen = ranked[chosen], MAX_CANDIDATES - 1
    return kept, chosen


def _candidate(traced: dict[str, Any]) -> LoggedCandidate:
    features = {
        name: math.nan if value is None else float(value) for name, value in traced["features"].items()
    }
    score = traced.get("rank_score")
    return LoggedCandidate(text=traced["text"], source=traced.get("source", ""), features=features,
                           rank_score=math.nan if score is None else float(score))  # fmt: skip


class TurnLog:
    def __init__(self, store: StateStore, max_turns: int) -> None:
        self.store = store
        self.redis = store.redis
        self.max_turns = max_turns

    def _keys(self, user_id: str) -> tuple[str, str]:
        return self.store.key(user_id, "turns"), self.store.key(user_id, "turn_ids")

    def record(self, entry: TurnLogEntry) -> None:
        """Add a turn; the oldest beyond `max_turns` go."""
        entries, ids = self._keys(entry.user_id)
        ttl = self.store.ttl_s()
        with redis_errors():
            dropped = self.redis.lrange(ids, self.max_turns - 1, -1)
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(entries, entry.turn_id, entry.model_dump_json())
            pipe.lpush(ids, entry.turn_id)
            pipe.ltrim(ids, 0, self.max_turns - 1)
            if dropped:
                pipe.hdel(entries, *dropped)
            for key in (entries, ids):
                pipe.expire(key, ttl) if ttl else pipe.persist(key)
            pipe.execute()

    def get(self, user_id: str, turn_id: str) -> TurnLogEntry | None:
        entries, _ = self._keys(user_id)
        with redis_errors():
            raw = self.redis.hget(entries, turn_id)
        return TurnLogEntry.model_validate_json(raw) if raw else None

    def last(self, user_id: str) -> TurnLogEntry | None:
        _, ids = self._keys(user_id)
        with redis_errors():
            newest = cast(str | None, self.redis.lindex(ids, 0))  # the client decodes responses
        return self.get(user_id, newest) if newest else None

    def turns(self, user_id: str, limit: int | None = None) -> list[TurnLogEntry]:
        """The user's logged turns, oldest first."""
        entries, ids = self._keys(user_id)
        with redis_errors():
            order = self.redis.lrange(ids, 0, -1 if limit is None else limit - 1)
            raw = self.redis.hmget(entries, order) if order else []
        return [TurnLogEntry.model_validate_json(item) for item in reversed(raw) if item]

    def follow(self, user_id: str, turn_id: str, now: float, text: str) -> None:
        """The user's next message in the same session came at `now`: note the gap since the logged
        turn and whether the message rephrases that turn's (the implicit signals)."""
        entry = self.get(user_id, turn_id)
        if entry is None:  # trimmed, expired, or never logged
            return
        entry.next_gap_s = round(max(0.0, now - entry.at), 3)
        entry.rephrased = rephrases(text, entry.text)
        self.update(entry)

    def update(self, entry: TurnLogEntry) -> None:
        """Write back a changed entry, if it is still kept (a trimmed one stays gone)."""
        entries, _ = self._keys(entry.user_id)
        with redis_errors():
            if self.redis.hexists(entries, entry.turn_id):
                self.redis.hset(entries, entry.turn_id, entry.model_dump_json())

    def rate(self, user_id: str, turn_id: str, rating: int, comment: str = "",
             rated_by: Literal["user", "operator"] = "user") -> TurnLogEntry:  # fmt: skip
        """Rate a turn of this user's (`LAST`: their latest); one sentence (InvalidInput) for a rating
        that is not +1 or -1 or a turn that is not theirs (another user's turn id is unknown here).
        Under the user's lock, so the next turn's implicit signals cannot overwrite the rating."""
        if isinstance(rating, bool) or rating not in (-1, 1):
            raise InvalidInput("A rating is +1 (good) or -1 (bad).")
        with self.store.locked(user_id):
            entry = self.last(user_id) if turn_id == LAST else self.get(user_id, turn_id)
            if entry is None and turn_id == LAST:
                raise UnknownTurn("This user has no turn to rate yet.")
            if entry is None:
                raise UnknownTurn("There is no such turn of this user's (it may have expired).")
            entry.rating = 1 if rating == 1 else -1
            entry.comment, entry.rated_by, entry.rated_at = comment.strip()[:500], rated_by, time.time()
            self.update(entry)
        return entry

    def users(self) -> Iterator[str]:
        """Every user with logged turns (SCAN)."""
        pattern = f"{self.store.settings.key_prefix}:{{u:*}}:turn_ids"
        with redis_errors():
            for key in self.redis.scan_iter(match=pattern, count=500):
                yield unquote(key.split(":{u:", 1)[1].rsplit("}:", 1)[0])

    def all_turns(self) -> Iterator[TurnLogEntry]:
        for user_id in self.users():
            yield from self.turns(user_id)


class UnknownTurn(InvalidInput):
    http_status = 404


def as_json(entry: TurnLogEntry) -> dict[str, Any]:
    """The entry as plain JSON values (a NaN or infinite feature or score as None), for the API and
    the console."""
    data = entry.model_dump()
    for candidate in data["candidates"]:
        candidate["rank_score"] = _finite(candidate["rank_score"])
        candidate["features"] = {name: _finite(value) for name, value in candidate["features"].items()}
    return data


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
