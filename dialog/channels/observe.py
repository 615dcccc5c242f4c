"""Per request: a trace id (X-Request-ID in and out), one structured log line, HTTP metrics.

An unexpected error is logged with its traceback and answered with one sentence naming the trace id.
"""

from __future__ import annotations

import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dialog.channels import metrics
from dialog.channels.logs import new_trace_id, trace_id

log = logging.getLogger("dialog.http")


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        current = new_trace_id(offered)
        token = trace_id.set(current)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", current.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unexpected error")
            if status:  # the response has begun: nothing more can be said
                raise
            body = json.dumps({"error": f"Something went wrong on our side (trace id {current})."}).encode()
            await send_with_id({"type": "http.response.start", "status": 500,
                                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
            await send_with_id({"type": "http.response.body", "body": body})
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")  # the route template: bounded label values
            metrics.HTTP_REQUESTS.labels(scope["method"], path, str(status)).inc()
            metrics.HTTP_SECONDS.labels(path).observe(elapsed)
            log.info(
                "request",
                extra={"method": scope["method"], "path": path, "status": status,
                       "duration_ms": round(elapsed * 1000, 2)},
            )  # fmt: skip
            trace_id.reset(token)
