"""What became of each WeChat message, in Redis, so that every message is processed once.

WeChat retries a message (up to 3 times) when it gets no reply within 5 seconds. The first
delivery claims the message's id (`SET NX`); a retry finds the claim and is answered from it:

    pending   the first delivery is still working on it: wait for the outcome
    answered  the first delivery replied with `reply`: a retry gets the same reply
    deferred  the turn ran past the reply deadline: its answer goes out by push, a retry gets `success`

Every worker shares the ledger, so a retry that reaches another worker is answered the same way.
A message is known by its sender and its id (two users' MsgIds may be equal), and its entry lives
under the sender's hash tag, with the rest of what is kept about them (forgotten with them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from dialog.state.store import StateStore
from dialog_core.redis_client import redis_errors

PENDING, ANSWERED, DEFERRED = "pending", "answered", "deferred"


@dataclass(frozen=True)
class Outcome:
    status: str
    reply: str | None = None


class MessageLedger:
    def __init__(self, store: StateStore, ttl_s: int) -> None:
        self.store = store
        self.redis = store.redis
        self.ttl_s = ttl_s

    def key(self, user_id: str, message_id: str) -> str:
        return self.store.key(user_id, f"wechat:{quote(message_id, safe='')}")

    def claim(self, user_id: str, message_id: str) -> Outcome | None:
        """None when this delivery is the first (it now owns the message); else what is known of it."""
        key = self.key(user_id, message_id)
        with redis_errors():
            if self.redis.set(key, json.dumps({"status": PENDING}), nx=True, ex=self.ttl_s):
                return None
            return self._read(self.redis.get(key))

    def get(self, user_id: str, message_id: str) -> Outcome:
        with redis_errors():
            return self._read(self.redis.get(self.key(user_id, message_id)))

    def answered(self, user_id: str, message_id: str, reply: str | None) -> None:
        self._write(user_id, message_id, {"status": ANSWERED, "reply": reply})

    def deferred(self, user_id: str, message_id: str) -> None:
        self._write(user_id, message_id, {"status": DEFERRED})

    def _write(self, user_id: str, message_id: str, value: dict[str, str | None]) -> None:
        with redis_errors():
            self.redis.set(
                self.key(user_id, message_id), json.dumps(value, ensure_ascii=False), xx=True, keepttl=True
            )

    @staticmethod
    def _read(raw: bytes | str | None) -> Outcome:
        if raw is None:  # expired between two calls: nothing more will come of it
            return Outcome(DEFERRED)
        value = json.loads(raw)
        return Outcome(value["status"], value.get("reply"))
