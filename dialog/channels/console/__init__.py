"""The operator console at /console: conversations by user and session with each turn's `/why` trace,
operator ratings, and charts of engagement (docs/channels.md, "Operator console")."""

from dialog.channels.console.routes import console_router

__all__ = ["console_router"]
