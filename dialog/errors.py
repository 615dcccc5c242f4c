"""Errors a user may see. Each carries one sentence fit to show as it is."""

from __future__ import annotations


class DialogError(Exception):
    """Base class: `str(error)` is a single sentence for the user."""

    http_status = 500


class InvalidInput(DialogError):
    """The message or user id cannot be accepted (nothing was stored)."""

    http_status = 400


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
