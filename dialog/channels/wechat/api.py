"""The WeChat API calls the channel makes: an access token, and customer-service text messages.

The access token is cached in Redis for all workers. Fetching a new token invalidates the previous
one at WeChat, so only one worker fetches at a time (a Redis lock) and the others reuse its token.
"""

from __future__ import annotations

import json
import logging
from typing import Any, cast

import httpx
import redis

from dialog.channels.wechat.protocol import WeChatConfig
from dialog_core.errors import DialogError
from dialog_core.redis_client import RedisClient, redis_errors

log = logging.getLogger(__name__)

TOKEN_INVALID = {40001, 40014, 42001}  # invalid, malformed, expired access token
RETRYABLE = {-1, 45009, 45047}  # system busy, API quota reached, too many messages queued
SAFETY_MARGIN_S = 300  # refresh a token this long before WeChat expires it

# KEYS: the token key. ARGV: the token found invalid. Deletes it unless another worker replaced it.
_DROP_IF_SAME = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class WeChatApiError(DialogError):
    http_status = 502

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class WeChatApi:
    def __init__(self, config: WeChatConfig, client: RedisClient, prefix: str, timeout_s: float = 10) -> None:
        self.config = config
        self.redis = client
        self.token_key = f"{prefix}:wechat:access_token:{config.app_id}"
        self.http = httpx.Client(base_url=config.api_base_url, timeout=timeout_s)
        self._drop_if_same = client.register_script(_DROP_IF_SAME)

    def close(self) -> None:
        self.http.close()

    def access_token(self) -> str:
        """The cached token, or a new one fetched by exactly one worker at a time."""
        with redis_errors():
            cached = self._cached_token()
            if cached:
                return cached
            try:
                with self.redis.lock(f"{self.token_key}:refresh", timeout=30, blocking_timeout=30):
                    cached = self._cached_token()
                    if cached:
                        return cached
                    token, expires_in = self._fetch_token()
                    self.redis.set(self.token_key, token, ex=max(60, expires_in - SAFETY_MARGIN_S))
                    return token
            except redis.exceptions.LockError as error:
                busy = "Another worker is still fetching the access token."
                raise WeChatApiError(busy, retryable=True) from error

    def _cached_token(self) -> str | None:
        return cast(str | None, self.redis.get(self.token_key))  # the client decodes responses

    def send_text(self, openid: str, text: str) -> None:
        """A customer-service text message to a user (who wrote to the account in the last 48 hours)."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        for attempt in range(2):
            token = self.access_token()
            result = self._call("POST", "/cgi-bin/message/custom/send", {"access_token": token}, body)
            code = int(result.get("errcode", 0))
            if code == 0:
                return
            if code in TOKEN_INVALID and attempt == 0:
                with redis_errors():
                    self._drop_if_same(keys=[self.token_key], args=[token])
                continue
            raise WeChatApiError(
                f"WeChat refused the message (errcode {code}: {result.get('errmsg', '')}).",
                retryable=code in RETRYABLE,
            )

    def _fetch_token(self) -> tuple[str, int]:
        params = {"grant_type": "client_credential", "appid": self.config.app_id}
        result = self._call("GET", "/cgi-bin/token", {**params, "secret": self.config.app_secret})
        if "access_token" not in result:
            code = int(result.get("errcode", -1))
            raise WeChatApiError(
                f"WeChat refused an access token (errcode {code}: {result.get('errmsg', '')}).",
                retryable=code in RETRYABLE,
            )
        return result["access_token"], int(result.get("expires_in", 7200))

    def _call(self, method: str, path: str, query: dict[str, str], body: Any = None) -> dict[str, Any]:
        content = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        try:
            response = self.http.request(
                method, path, params=query, content=content,
                headers={"content-type": "application/json; charset=utf-8"} if content else None,
            )  # fmt: skip
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as error:
            status = getattr(getattr(error, "response", None), "status_code", None)
            log.warning("WeChat API call failed", extra={"path": path, "status": status})
            raise WeChatApiError(f"The WeChat API did not answer {path} properly.", retryable=True) from error
