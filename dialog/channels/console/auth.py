"""Who may open the console: the operator holding DIALOG_CONSOLE_TOKEN (or DIALOG_API_TOKEN when no
console token is set), shown as `Authorization: Bearer <token>` or as the signed cookie that logging in
sets. The cookie holds when it was issued and an HMAC of that under the token, never the token itself:
changing the token logs everyone out."""

from __future__ import annotations

import hashlib
import hmac
import time

from starlette.requests import Request

from dialog_core.settings import Settings

COOKIE = "dialog_console"
SESSION_S = 12 * 3600  # a login lasts this long


class ConsoleAuth:
    def __init__(self, settings: Settings) -> None:
        secret = settings.console_token or settings.api_token
        self._token = secret.get_secret_value().encode() if secret else b""

    @property
    def on(self) -> bool:
        """The console is off until a token is configured."""
        return bool(self._token)

    def valid_token(self, given: str) -> bool:
        return self.on and hmac.compare_digest(given.encode(), self._token)

    def cookie_value(self, now: float | None = None) -> str:
        issued = str(int(time.time() if now is None else now))
        return f"{issued}.{self._signature(issued)}"

    def valid_cookie(self, value: str, now: float | None = None) -> bool:
        issued, _, signature = value.partition(".")
        if not (self.on and issued.isdigit() and hmac.compare_digest(signature, self._signature(issued))):
            return False
        age = (time.time() if now is None else now) - int(issued)
        return 0 <= age <= SESSION_S

    def allows(self, request: Request) -> bool:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.valid_token(credentials.strip()):
            return True
        return self.valid_cookie(request.cookies.get(COOKIE, ""))

    def _signature(self, issued: str) -> str:
        return hmac.new(self._token, f"dialog-console:{issued}".encode(), hashlib.sha256).hexdigest()
