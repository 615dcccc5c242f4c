"""DialogueState: everything the agent remembers about one user, stored as versioned JSON."""

from __future__ import annotations

import re
import uuid
from typing import Any

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1
MAX_EMOTION_POINTS = 50
MAX_LAST_ENTITIES = 10


def new_session_id() -> str:
    return uuid.uuid4().hex


class TurnRecord(BaseModel):
    """One exchange: what the user said and what the agent answered."""

    index: int  # 1-based, within the session
    at: float
    channel: str
    user: str
    reply: str
    route: str
    intent: str | None = None
    emotion: str | None = None
    act: str | None = None  # the user's dialogue act (dialog.understanding.acts)
    subject: str = ""  # what the user's message was about, as a reply names it ("your dog", 猫)
    disclosure: str = ""  # the kind of news it told, if any (loss, illness, feelings...)
    turn_id: str | None = None  # its entry in the turn log (dialog.feedback.log), which the next turn updates


class EmotionPoint(BaseModel):
    at: float
    label: str
    polarity: float = 0.0


class EntityRef(BaseModel):
    id: str
    name: str
    type: str = ""
    mention: str = ""  # as the user wrote it (e.g. 法国), for rewriting follow-ups in their language


class Session(BaseModel):
    id: str = Field(default_factory=new_session_id)
    started_at: float
    last_active_at: float
    turns: int = 0
    routes: dict[str, int] = Field(default_factory=dict)


class SessionSummary(BaseModel):
    """What is kept of a finished session (for turns-per-session metrics)."""

    user_id: str
    session_id: str
    started_at: float
    ended_at: float
    turns: int
    routes: dict[str, int]


class DialogueState(BaseModel):
    schema_version: int = SCHEMA_VERSION
    revision: int = 0  # bumped by every save; a save expecting another revision is refused
    user_id: str
    session: Session
    history: list[TurnRecord] = Field(default_factory=list)
    total_turns: int = 0
    # session-scoped conversation state
    slots: dict[str, Any] = Field(default_factory=dict)
    active_skill: str | None = None
    skill_data: dict[str, dict[str, Any]] = Field(default_factory=dict)  # private per-skill state
    topic: str | None = None
    emotions: list[EmotionPoint] = Field(default_factory=list)
    last_entities: list[EntityRef] = Field(default_factory=list)
    last_answers: list[EntityRef] = Field(default_factory=list)  # what the last reply answered ("Lima")
    # kept across sessions
    profile: dict[str, Any] = Field(default_factory=dict)
    topics_used: list[str] = Field(default_factory=list)

    @classmethod
    def new(cls, user_id: str, now: float) -> DialogueState:
        return cls(user_id=user_id, session=Session(started_at=now, last_active_at=now))

    def is_idle(self, now: float, idle_timeout_s: float) -> bool:
        return now - self.session.last_active_at > idle_timeout_s

    def start_new_session(self, now: float) -> SessionSummary | None:
        """Close the current session (its summary is returned if it had turns) and open a new one.

        Conversation state is cleared; the profile and topic history stay.
        """
        closed = self.session
        summary = None
        if closed.turns:
            summary = SessionSummary(
                user_id=self.user_id,
                session_id=closed.id,
                started_at=closed.started_at,
                ended_at=closed.last_active_at,
                turns=closed.turns,
                routes=closed.routes,
            )
        self.session = Session(started_at=now, last_active_at=now)
        self.history = []
        self.slots = {}
        self.active_skill = None
        self.skill_data = {}
        self.topic = None
        self.emotions = []
        self.last_entities = []
        return summary

    def record_turn(self, turn: TurnRecord, max_history: int) -> None:
        self.history.append(turn)
        del self.history[:-max_history]
        self.total_turns += 1
        self.session.turns += 1
        self.session.last_active_at = turn.at
        self.session.routes[turn.route] = self.session.routes.get(turn.route, 0) + 1

    def record_emotion(self, point: EmotionPoint) -> None:
        self.emotions.append(point)
        del self.emotions[:-MAX_EMOTION_POINTS]

    def remember_entities(self, entities: list[EntityRef]) -> None:
        """Most recent first, without duplicates."""
        seen = {entity.id for entity in entities}
        self.last_entities = (entities + [e for e in self.last_entities if e.id not in seen])[
            :MAX_LAST_ENTITIES
        ]

    def last_bot_reply(self) -> str | None:
        return self.history[-1].reply if self.history else None

    def last_bot_question(self) -> str | None:
        """What the bot last asked, if its last reply ended with a question ("... How are you?")."""
        reply = (self.last_bot_reply() or "").strip()
        if not reply.endswith(("?", "？")):
            return None
        return re.split(r"(?<=[.!。！])\s*", reply)[-1]
