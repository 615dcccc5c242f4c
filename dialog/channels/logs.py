"""Structured logs for the server: one JSON object a line, with the request's trace id, secrets masked.

The trace id lives in a context variable: set per request by the HTTP middleware, it follows the
turn into the thread pool and into background tasks started from the request.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from pydantic import SecretStr
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as LibraryJsonFormatter

from dialog_core.settings import Settings, url_credentials

trace_id: ContextVar[str] = ContextVar("trace_id", default="-")

_VALID_TRACE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Query parameters that carry credentials in outgoing WeChat API calls.
_CREDENTIAL_PARAMS = re.compile(r"(access_token|secret|appsecret)=[^&\s\"']+", re.IGNORECASE)
_FIELDS = {"asctime": "ts", "levelname": "level", "name": "logger", "message": "msg", "exc_info": "exc"}


def new_trace_id(offered: str | None = None) -> str:
    """The caller's X-Request-ID when it is a sane token, else a fresh one."""
    return offered if offered and _VALID_TRACE_ID.match(offered) else uuid.uuid4().hex


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret, longest first (so a secret containing another is masked whole)."""
    found = [
        value.get_secret_value()
        for value in settings.model_dump().values()
        if isinstance(value, SecretStr) and value.get_secret_value()
    ]
    for url in (settings.redis_url, settings.falkordb_url, settings.neo4j_uri):
        found.extend(url_credentials(url or ""))
    return sorted({value for value in found if len(value) >= 4}, key=len, reverse=True)


class JsonFormatter(LibraryJsonFormatter):
    """`{"ts", "level", "logger", "msg", "trace_id", ...extra fields, "exc"?}`, secrets masked."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__(
            ["asctime", "levelname", "name", "message"],
            rename_fields=_FIELDS,
            reserved_attrs=[*RESERVED_ATTRS, "color_message"],  # color_message: uvicorn's
            json_ensure_ascii=False,
        )
        self.secrets = secrets if secrets is not None else secret_values(Settings())

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """UTC, ISO 8601, to the millisecond."""
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data["level"] = record.levelname.lower()
        log_data.setdefault("trace_id", trace_id.get())

    def serialize_log_record(self, log_data: dict[str, Any]) -> str:
        return self.mask(super().serialize_log_record(log_data))

    def mask(self, line: str) -> str:
        line = _CREDENTIAL_PARAMS.sub(r"\1=********", line)
        for secret in self.secrets:
            line = line.replace(secret, "********")
        return line


def uvicorn_log_config() -> dict[str, Any]:
    """logging.dictConfig for `dialog serve`: JSON lines on stderr for the app and uvicorn alike."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "dialog.channels.logs.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "level": "INFO"}},
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {
            "uvicorn": {"level": "INFO"},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"level": "WARNING"},  # the middleware logs each request instead
            "httpx": {"level": "WARNING"},  # it logs URLs, and WeChat API URLs carry the access token
            "httpcore": {"level": "WARNING"},
        },
    }
