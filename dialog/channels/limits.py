"""Limits that protect the server: the request body size, and a per-user message rate in Redis."""

from __future__ import annotations

import json
import math
import time
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dialog.channels import metrics
from dialog.state.store import StateStore
from dialog_core.errors import DialogError
from dialog_core.redis_client import redis_errors


class RateLimited(DialogError):
    http_status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


# KEYS: the user's rate log (a sorted set of message times). ARGV: now (ms), window (ms), limit, member.
# A sliding window: counts the messages of the last `window`; one over the limit is not logged, and
# the answer is then the time (ms) until the oldest logged one leaves the window.
_SLIDING_WINDOW = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
  return tonumber(oldest) + window - now
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""


class RateLimiter:
    """At most `per_minute` messages per user in any `window_s` (60) seconds: a sliding window in Redis.

    The log's key carries the user's hash tag, so on Redis Cluster it sits beside the user's state
    (and is forgotten with it). A message refused is not counted.
    """

    def __init__(self, store: StateStore, per_minute: int, window_s: float = 60.0) -> None:
        self.store = store
        self.per_minute = per_minute
        self.window_ms = int(window_s * 1000)
        self._admit = store.redis.register_script(_SLIDING_WINDOW)

    def check(self, user_id: str, channel: str) -> None:
        """Count one message; raise RateLimited when the user is over the limit."""
        self.store.validate_user_id(user_id)
        if self.per_minute <= 0:
            return
        now_ms = int(time.time() * 1000)
        with redis_errors():
            wait_ms = self._admit(
                keys=[self.store.key(user_id, "rate")],
                args=[now_ms, self.window_ms, self.per_minute, f"{now_ms}-{uuid.uuid4().hex[:8]}"],
            )
        if wait_ms > 0:
            metrics.RATE_LIMITED.labels(channel).inc()
            wait = max(1, math.ceil(wait_ms / 1000))
            raise RateLimited(f"Too many messages; please wait {wait} seconds and try again.", wait)


TOO_LARGE = "The request body is too large."


class BodyTooLarge(HTTPException):
    """Raised while the body is read; an HTTPException so that FastAPI's body parsing passes it on."""

    def __init__(self) -> None:
        super().__init__(413, TOO_LARGE)


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, whether or not Content-Length is sent.

    A declared length over the limit is refused before reading; a chunked body is counted as it
    arrives and refused as soon as it passes the limit.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            metrics.REJECTED.labels("body_too_large").inc()
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                metrics.REJECTED.labels("body_too_large").inc()
                raise BodyTooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:  # raised outside the app's exception handlers
            if started:
                raise
            await self._refuse(send)

    @staticmethod
    async def _refuse(send: Send) -> None:
        body = json.dumps({"error": TOO_LARGE}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
