"""A bilingual dialogue agent: core chat, KBQA over a knowledge graph, and pluggable skills.

`from dialog import Agent` is the public entry point. The names are resolved lazily so that a
submodule (errors, settings) can be imported without loading the whole agent.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {"Agent": "dialog.agent", "Reply": "dialog_core.turn", "Settings": "dialog_core.settings"}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dialog' has no attribute {name!r}")
