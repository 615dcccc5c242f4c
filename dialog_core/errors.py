"""Errors a user may see. Each carries one sentence fit to show as it is."""

from __future__ import annotations


class DialogError(Exception):
    """Base class: `str(error)` is a single sentence for the user."""

    http_status = 500


class InvalidInput(DialogError):
    """The message or user id cannot be accepted (nothing was stored)."""

    http_status = 422


class MessageTooLong(InvalidInput):
    http_status = 413


class AuthError(DialogError):
    http_status = 401


class ServiceUnavailable(DialogError):
    """A backing service (Redis, the graph) does not answer; nothing was written."""

    http_status = 503


class Busy(DialogError):
    """The user's previous message is still being processed."""

    http_status = 409


class EmbeddedServerError(DialogError):
    """The embedded Redis+FalkorDB server could not be started or stopped."""

    http_status = 503


def is_valid_text(text: str) -> bool:
    """Text that can be stored and sent: a lone surrogate (JSON's `"\\ud800"`) cannot be UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
