"""The outbox: messages the agent sends on its own initiative (reminders, late answers).

A producer (a reminder skill, a webhook that ran out of time) schedules a message for a user on a
channel at a due time; each channel claims the due messages addressed to it and delivers them
(the REPL prints them, the WeChat channel pushes them through the customer-service API).
Claiming is atomic, so with several workers each message is delivered once. Messages live in
Redis and survive restarts.
"""

from __future__ import annotations

import time
import uuid

from pydantic import BaseModel, Field

from dialog.settings import Settings
from dialog.state.store import RedisClient, redis_errors

# KEYS: due zset, messages hash. ARGV: now, limit. Claims (removes and returns) due messages.
_CLAIM_SCRIPT = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local claimed = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
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
        self._claim = client.register_script(_CLAIM_SCRIPT)

    def _keys(self, channel: str) -> list[str]:
        tag = f"{{outbox:{channel}}}"
        return [f"{self.prefix}:{tag}:due", f"{self.prefix}:{tag}:messages"]

    def schedule(self, message: OutboundMessage) -> OutboundMessage:
        due, messages = self._keys(message.channel)
        with redis_errors():
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(messages, message.id, message.model_dump_json())
            pipe.zadd(due, {message.id: message.due_at})
            pipe.execute()
        return message

    def cancel(self, channel: str, message_id: str) -> bool:
        due, messages = self._keys(channel)
        with redis_errors():
            pipe = self.redis.pipeline(transaction=True)
            pipe.zrem(due, message_id)
            pipe.hdel(messages, message_id)
            removed, _ = pipe.execute()
        return bool(removed)

    def pending(self, channel: str, user_id: str | None = None) -> list[OutboundMessage]:
        """Scheduled, not yet claimed, soonest first (optionally for one user)."""
        due, messages = self._keys(channel)
        with redis_errors():
            ids = self.redis.zrange(due, 0, -1)
            bodies = self.redis.hmget(messages, ids) if ids else []
        found = [OutboundMessage.model_validate_json(body) for body in bodies if body]
        return [m for m in found if user_id is None or m.user_id == user_id]

    def claim_due(self, channel: str, now: float | None = None, limit: int = 100) -> list[OutboundMessage]:
        """Take the messages due by `now`; each is returned to exactly one caller."""
        with redis_errors():
            bodies = self._claim(
                keys=self._keys(channel), args=[now if now is not None else time.time(), limit]
            )
        return sorted((OutboundMessage.model_validate_json(body) for body in bodies), key=lambda m: m.due_at)
