"""The outbox: messages the agent sends on its own initiative (reminders, late answers).

A producer (a reminder skill, a webhook that ran out of time) schedules a message for a user on a
channel at a due time; each channel claims the due messages addressed to it and delivers them
(the REPL prints them, the WeChat channel pushes them through the customer-service API).
Claiming is atomic, so with several workers each message is delivered once. Messages live in
Redis and survive restarts; one still undelivered `outbox_ttl_days` after it fell due (its user
never came back) is dropped, so nothing piles up.

Channels that deliver later (`DELIVERING_CHANNELS`): the REPL prints due messages while it runs
and when it starts, WeChat pushes them, the JSON API hands them out at `GET
/v1/users/{id}/messages`, and `dialog ask` prints them before its next reply. A producer asks
`delivers(channel)` first and tells the user when their channel cannot.
"""

from __future__ import annotations

import time
import uuid
from typing import cast

from pydantic import BaseModel, Field

from dialog_core.redis_client import RedisClient, redis_errors
from dialog_core.settings import Settings

DELIVERING_CHANNELS = frozenset({"repl", "wechat", "api", "cli"})

# Every script's KEYS: due zset (id -> due time), messages hash (id -> body), expiry zset (id -> when
# it is dropped undelivered). A message leaves all three at once.

# ARGV: message id, due time, body, expiry time, now. Schedules one message and drops the expired.
_SCHEDULE_SCRIPT = """
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[5])) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return 1
"""

# ARGV: message id. Removes one message; 1 when it was there (whoever gets 1 delivers it).
_REMOVE_SCRIPT = """
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])
"""

# ARGV: now, limit. Claims (removes and returns) due messages.
_CLAIM_SCRIPT = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local claimed = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[3], id)
  local body = redis.call('HGET', KEYS[2], id)
  redis.call('HDEL', KEYS[2], id)
  if body then table.insert(claimed, body) end
end
return claimed
"""


class OutboundMessage(BaseModel):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    user_id: str
    channel: str  # "repl", "wechat", "api", ...
    text: str
    due_at: float
    kind: str = "message"  # e.g. "reminder"
    created_at: float = Field(default_factory=time.time)


class Outbox:
    """One due-set and one message hash per channel (a hash tag keeps the pair in one cluster slot)."""

    def __init__(self, client: RedisClient, settings: Settings) -> None:
        self.redis = client
        self.prefix = settings.key_prefix
        self.ttl_s = settings.outbox_ttl_days * 86_400
        self._schedule = client.register_script(_SCHEDULE_SCRIPT)
        self._remove = client.register_script(_REMOVE_SCRIPT)
        self._claim = client.register_script(_CLAIM_SCRIPT)

    def _keys(self, channel: str) -> list[str]:
        tag = f"{{outbox:{channel}}}"
        return [f"{self.prefix}:{tag}:{kind}" for kind in ("due", "messages", "expiry")]

    @staticmethod
    def delivers(channel: str) -> bool:
        """Whether something delivers this channel's messages later (see the module's docstring)."""
        return channel in DELIVERING_CHANNELS

    def schedule(self, message: OutboundMessage) -> OutboundMessage:
        now = time.time()
        expires_at = max(message.due_at, now) + self.ttl_s
        with redis_errors():
            self._schedule(
                keys=self._keys(message.channel),
                args=[message.id, message.due_at, message.model_dump_json(), expires_at, now],
            )
        return message

    def cancel(self, channel: str, message_id: str) -> bool:
        with redis_errors():
            return bool(self._remove(keys=self._keys(channel), args=[message_id]))

    def pending(self, channel: str, user_id: str | None = None) -> list[OutboundMessage]:
        """Scheduled, not yet claimed, soonest first (optionally for one user)."""
        due, messages, _ = self._keys(channel)
        with redis_errors():
            ids = cast(list[str], self.redis.zrange(due, 0, -1))  # the client decodes responses
            bodies = self.redis.hmget(messages, ids) if ids else []
        found = [OutboundMessage.model_validate_json(body) for body in bodies if body]
        return [m for m in found if user_id is None or m.user_id == user_id]

    def take_due(self, channel: str, user_id: str, now: float | None = None) -> list[OutboundMessage]:
        """Take one user's due messages, soonest first; each is taken by one caller only."""
        now = time.time() if now is None else now
        due = [m for m in self.pending(channel, user_id) if m.due_at <= now]
        return [message for message in due if self.cancel(channel, message.id)]

    def forget(self, user_id: str) -> int:
        """Drop every message addressed to the user, on every channel; returns how many."""
        dropped = 0
        with redis_errors():
            for messages in self.redis.scan_iter(match=f"{self.prefix}:{{outbox:*}}:messages", count=1000):
                channel = messages.removeprefix(f"{self.prefix}:{{outbox:").removesuffix("}:messages")
                for message_id, body in self.redis.hscan_iter(messages, count=1000):
                    if OutboundMessage.model_validate_json(body).user_id == user_id:
                        dropped += self.cancel(channel, message_id)
        return dropped

    def claim_due(self, channel: str, now: float | None = None, limit: int = 100) -> list[OutboundMessage]:
        """Take the messages due by `now`; each is returned to exactly one caller."""
        with redis_errors():
            bodies = self._claim(
                keys=self._keys(channel), args=[now if now is not None else time.time(), limit]
            )
        return sorted((OutboundMessage.model_validate_json(body) for body in bodies), key=lambda m: m.due_at)
