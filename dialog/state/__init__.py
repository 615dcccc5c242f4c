"""Dialogue state: the typed model and its Redis store."""

from dialog.state.store import StateStore
from dialog_core.state import DialogueState, EmotionPoint, EntityRef, SessionSummary, TurnRecord

__all__ = ["DialogueState", "EmotionPoint", "EntityRef", "SessionSummary", "StateStore", "TurnRecord"]
