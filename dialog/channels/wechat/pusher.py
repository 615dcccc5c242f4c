"""Delivers the outbox's "wechat" messages (late answers, reminders) through the customer-service API.

Each worker runs one pusher thread. Claiming from the outbox is atomic, so with several workers
every message is pushed by one of them. A push that fails for a passing reason (network, WeChat
busy) is scheduled again with a growing delay, up to MAX_ATTEMPTS; other failures are logged.
"""

from __future__ import annotations

import logging
import threading
import time

from dialog.channels import metrics
from dialog.channels.wechat.api import WeChatApi, WeChatApiError
from dialog_core.outbox import OutboundMessage, Outbox
from dialog_core.redis_client import RedisClient

log = logging.getLogger(__name__)

CHANNEL = "wechat"
USER_PREFIX = "wechat:"  # a WeChat user's id in the agent is "wechat:<openid>"
MAX_ATTEMPTS = 4


def user_id_for(openid: str) -> str:
    return USER_PREFIX + openid


class OutboxPusher:
    def __init__(self, outbox: Outbox, api: WeChatApi, client: RedisClient, prefix: str, interval_s: float):
        self.outbox = outbox
        self.api = api
        self.redis = client
        self.attempts_key = f"{prefix}:wechat:push_attempts"
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="wechat-pusher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after a last round, so that what is already due still goes out."""
        self._stop.set()
        self._thread.join(timeout_s)

    def _loop(self) -> None:
        while True:
            stopping = self._stop.wait(self.interval_s)
            try:
                self.drain()
            except Exception:  # Redis unreachable, say: the thread lives on and tries next round
                log.exception("wechat push round failed")
            if stopping:
                return

    def drain(self) -> int:
        """Push every due message once; returns how many went out."""
        sent = 0
        for message in self.outbox.claim_due(CHANNEL):
            sent += self.deliver(message)
        return sent

    def deliver(self, message: OutboundMessage) -> bool:
        if not message.user_id.startswith(USER_PREFIX):
            metrics.PUSHES.labels("failed").inc()
            log.error("outbox message for a non-WeChat user dropped", extra={"message_id": message.id})
            return False
        try:
            self.api.send_text(message.user_id.removeprefix(USER_PREFIX), message.text)
        except WeChatApiError as error:
            self._failed(message, error)
            return False
        self.redis.hdel(self.attempts_key, message.id)
        metrics.PUSHES.labels("sent").inc()
        log.info("wechat message pushed", extra={"message_id": message.id, "kind": message.kind})
        return True

    def _failed(self, message: OutboundMessage, error: WeChatApiError) -> None:
        attempts = int(self.redis.hincrby(self.attempts_key, message.id, 1))
        if error.retryable and attempts < MAX_ATTEMPTS:
            metrics.PUSHES.labels("retried").inc()
            self.outbox.schedule(message.model_copy(update={"due_at": time.time() + 2**attempts}))
            log.warning("wechat push will be retried: %s", error, extra={"message_id": message.id})
            return
        self.redis.hdel(self.attempts_key, message.id)
        metrics.PUSHES.labels("failed").inc()
        log.error("wechat push failed: %s", error, extra={"message_id": message.id, "attempts": attempts})
