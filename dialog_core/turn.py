"""The data that flows through one turn, and the interfaces of its stages.

understand (UnderstandingStage*) -> decide (Policy) -> handle (Handler, with fallbacks) -> update state
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, Field

from dialog_core.state import DialogueState
from dialog_core.text import Language

# Route kinds. A skill's route is "skill:<name>".
CHITCHAT = "chitchat"
KBQA = "kbqa"
EDITORIAL = "editorial"
TOPIC = "topic"
SKILL_PREFIX = "skill:"


class Intent(BaseModel):
    name: str = CHITCHAT
    confidence: float = 0.0
    source: str = "default"


class Emotion(BaseModel):
    label: str = "neutral"  # happy | sad | angry | anxious | neutral
    polarity: float = 0.0  # -1 .. 1
    confidence: float = 0.0


class Empathy(BaseModel):
    """What the reply should feel like, given the user's emotion, intent and profile."""

    user_emotion: str = "neutral"
    response_emotion: str = "neutral"  # caring | calm | reassuring | happy | neutral
    style: str = "engage"  # comfort | acknowledge | reassure | share_joy | inform | engage
    intensity: float = 0.0  # 0..1, how strongly to lean into that emotion
    address_by_name: str | None = None


class Entity(BaseModel):
    id: str
    name: str
    type: str = ""
    mention: str = ""
    score: float = 1.0


class Understanding(BaseModel):
    """What understanding made of the user's message."""

    text: str  # as received
    normalized: str = ""
    rewritten: str = ""  # what later stages read: simplified characters, self-contained after rewriting
    language: Language = "en"
    intent: Intent = Field(default_factory=Intent)
    emotion: Emotion = Field(default_factory=Emotion)
    empathy: Empathy = Field(default_factory=Empathy)
    entities: list[Entity] = Field(default_factory=list)
    graph_question: bool = False  # the knowledge package reads it as a question it can take
    graph_unknown: str = ""  # why the graph cannot answer that question (KBQA says it does not know)
    profile_facts: dict[str, Any] = Field(default_factory=dict)
    act: str = (
        "statement"  # dialogue act: question | statement | disclosure | acknowledgement | ask_back | answer
    )
    subject: str = ""  # what the message is about, as a reply names it ("your dog", 猫)
    disclosure: str = ""  # the kind of news it tells (loss, illness, good_news...; data/empathy.yaml)
    safety: str = ""  # what the safety layer answers instead of chat (self_harm, abuse...; dialog.safety)
    news: str = ""  # the emotion of news told just before that the user goes on about (sad, happy...)
    unresolved: bool = False  # an elliptical follow-up with nothing before it to resolve it from


class Trace:
    """What happened in a turn: stage timings and whatever each stage chose to record."""

    def __init__(self) -> None:
        self._started = time.perf_counter()
        self.timings_ms: dict[str, float] = {}
        self.data: dict[str, Any] = {}

    @contextlib.contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings_ms[stage] = round((time.perf_counter() - started) * 1000, 3)

    def record(self, key: str, value: Any) -> None:
        self.data[key] = value

    def to_dict(self) -> dict[str, Any]:
        total = round((time.perf_counter() - self._started) * 1000, 3)
        return {**self.data, "timings_ms": {**self.timings_ms, "total": total}}


@dataclass
class Turn:
    """One turn in progress. `state` is a working copy: it is saved only if the turn completes."""

    user_id: str
    channel: str
    text: str
    state: DialogueState
    now: float
    trace: Trace = field(default_factory=Trace)
    nlu: Understanding = field(init=False)
    answered: list[Entity] = field(default_factory=list)  # what the reply names as its answer (KBQA)
    # what a component works out in one stage and reuses later in the same turn (KBQA's parsed
    # question), under a key of its own; the engine neither reads nor keeps it
    scratch: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.nlu = Understanding(text=self.text, normalized=self.text, rewritten=self.text)


@dataclass(frozen=True)
class Decision:
    """Where the policy sends the turn, why, and where to go if that handler has no answer."""

    route: str
    reason: str
    fallbacks: tuple[str, ...] = ()

    @property
    def routes(self) -> tuple[str, ...]:
        return (self.route, *self.fallbacks)


@dataclass(frozen=True)
class HandlerResult:
    text: str
    route: str


class Reply(BaseModel):
    text: str
    route: str
    session_id: str
    turn_id: str = ""  # the turn log's id of this turn, to rate it by; empty: no turn ran (an empty message)
    intent: Intent = Field(default_factory=Intent)
    emotion: Emotion = Field(default_factory=Emotion)
    trace: dict[str, Any] = Field(default_factory=dict)


class UnderstandingStage(Protocol):
    """Fills part of `turn.nlu` (normalise, rewrite, intent, emotion, entities, profile facts...)."""

    name: str

    def __call__(self, turn: Turn) -> None: ...


class Policy(Protocol):
    def decide(self, turn: Turn) -> Decision: ...


class Handler(Protocol):
    """Produces the reply for a route, or None to let the next fallback answer."""

    def handle(self, turn: Turn, route: str) -> HandlerResult | None: ...


class FactSource(Protocol):
    """Short fact sentences about the entities linked in a turn (core chat's KG candidates)."""

    def facts(self, turn: Turn, limit: int) -> list[str]: ...
