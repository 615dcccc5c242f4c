"""Core chat: candidate generators, ranking, selection and editorial responses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dialog.chat.core import CoreChat, GeneratorScoreRanker

if TYPE_CHECKING:
    from dialog.runtime.services import Services
    from dialog.settings import Settings
    from dialog.setup import SetupStep
    from knowledge import Knowledge


def setup_steps() -> list[SetupStep]:
    """What `dialog setup` prepares for core chat (in order)."""
    return []


def build_core_chat(settings: Settings, services: Services, knowledge: Knowledge) -> CoreChat:
    return CoreChat([], GeneratorScoreRanker(), settings.chat_threshold)
