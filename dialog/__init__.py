"""A bilingual dialogue agent: core chat, KBQA over a knowledge graph, and pluggable skills."""

from dialog.agent import Agent
from dialog.settings import Settings
from dialog.turn import Reply

__all__ = ["Agent", "Reply", "Settings"]
