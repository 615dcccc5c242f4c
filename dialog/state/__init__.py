"""Dialogue state: the typed model and its Redis store."""

from dialog.state.model import DialogueState, EmotionPoint, EntityRef, SessionSummary, TurnRecord
from dialog.state.store import StateStore

__all__ = ["DialogueState", "EmotionPoint", "EntityRef", "SessionSummary", "StateStore", "TurnRecord"]
