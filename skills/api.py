"""The skill API: what a plugin declares and implements.

A skill says how sure it is that it should take a turn (`can_handle`, 0..1) and then handles it
(`handle`). Subclass `Skill` when its methods are plain functions (most skills: quick, CPU-bound
work) or `AsyncSkill` when they are coroutines (waiting on a server); a call runs under a time
limit either way, an async one is cancelled past it, and an exception or a timeout becomes a
logged error and a polite reply (see `skills.handler`).
A skill keeps the conversation (an open form, a question it asked) by returning `done=False`; the
policy then sends the user's next message to it first. It sets conversation slots by returning
them in its `SkillResult`, never by writing `turn.state.slots`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo

from dialog_core.errors import DialogError
from dialog_core.turn import SKILL_PREFIX, Language, Turn

if TYPE_CHECKING:
    from dialog_core.outbox import Outbox
    from dialog_core.services import GraphStore, Services
    from dialog_core.settings import Settings

SKILL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class SkillError(DialogError):
    """A skill failed; `str(error)` is one sentence for the log and the trace."""


class SkillTimeout(SkillError):
    """A skill call ran past its time limit."""


class SkillUnavailable(SkillError):
    """A service the skill needs (an action server, the graph) does not answer."""


@dataclass(frozen=True)
class SkillResult:
    """What a skill answers: messages, conversation slots to set, and whether it is done.

    `slots` is the one way to set conversation slots (`turn.state.slots`; a None value removes
    one), like rasa's SlotSet events. A skill that writes `turn.state.slots` itself fails: the
    turn is answered with an apology and the error is logged, nothing of it is saved. Private
    state goes in `self.memory(turn)`, saved with the turn (or dropped if the skill fails).
    """

    text: str = ""
    done: bool = True
    messages: tuple[str, ...] = ()  # further messages, sent after `text`
    slots: Mapping[str, Any] = field(default_factory=dict)

    @property
    def reply(self) -> str:
        return "\n".join(part for part in (self.text, *self.messages) if part)


@dataclass(frozen=True)
class Slot:
    """A slot a skill fills, for documentation and tooling (forms have their own typed slots)."""

    name: str
    description: str = ""


@dataclass
class SkillContext:
    """What a skill may use besides the turn: settings and the connected services."""

    settings: Settings
    services: Services | None = None

    def _services(self) -> Services:
        if self.services is None:
            raise SkillUnavailable("This skill needs the agent's services, which are not connected.")
        return self.services

    @property
    def graph(self) -> GraphStore:
        return self._services().graph

    @cached_property
    def outbox(self) -> Outbox:
        from dialog_core.outbox import Outbox

        return Outbox(self._services().redis, self.settings)

    @cached_property
    def timezone(self) -> ZoneInfo:
        """The users' timezone: the `timezone` setting, else the machine's."""
        return local_timezone(getattr(self.settings, "timezone", "") or None)


def local_timezone(name: str | None = None) -> ZoneInfo:
    if name:
        return ZoneInfo(name)
    import tzlocal

    return tzlocal.get_localzone()  # a ZoneInfo (tzlocal >= 4)


class BaseSkill:
    """What every skill declares and shares; subclass `Skill` or `AsyncSkill`, not this.

    `intents` maps an intent name to example utterances in English and Chinese; the intent
    classifier learns from them. The default `can_handle` trusts that classifier; most skills
    add their own high-precision rules (keywords, patterns, parsers).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    intents: ClassVar[dict[str, list[str]]] = {}
    slots: ClassVar[Sequence[Slot]] = ()
    timeout_s: ClassVar[float | None] = None  # per call; None: the `skill_timeout_s` setting

    context: SkillContext | None = None

    def setup(self, context: SkillContext) -> None:
        """Called once when the agent starts, with its settings and services."""
        self.context = context

    def health(self) -> str | None:
        """None when the skill can work, else one sentence saying why not (`dialog skills list`)."""
        return None

    def intent_score(self, turn: Turn) -> float:
        """The intent classifier's confidence that the turn is for this skill."""
        intent = turn.nlu.intent
        return intent.confidence if intent.name == SKILL_PREFIX + self.name else 0.0

    def memory(self, turn: Turn) -> dict[str, Any]:
        """This skill's private state (created on first use), saved with the dialogue state."""
        return turn.state.skill_data.setdefault(self.name, {})

    def peek(self, turn: Turn) -> dict[str, Any]:
        """This skill's private state, read only (for `can_handle`, which must not change state)."""
        return turn.state.skill_data.get(self.name) or {}

    @property
    def ctx(self) -> SkillContext:
        if self.context is None:
            raise SkillUnavailable(f"Skill '{self.name}' was not set up with the agent's services.")
        return self.context


class Skill(BaseSkill):
    """A skill with plain methods: set `name` (and `description`, `intents`), implement `handle`."""

    def can_handle(self, turn: Turn) -> float:
        """Confidence (0..1) that this skill should take the turn; by default the intent classifier's."""
        return self.intent_score(turn)

    def handle(self, turn: Turn) -> SkillResult | None:
        """Answer the turn, or return None to decline it (the next route answers instead)."""
        raise NotImplementedError(f"skill '{self.name}' does not implement handle()")

    def resume(self, turn: Turn) -> str | None:
        """The skill was paused by another one and gets the conversation back: what to say."""
        return None


class AsyncSkill(BaseSkill):
    """A skill whose methods are coroutines (`async def`), cancelled when a call runs past its time limit."""

    async def can_handle(self, turn: Turn) -> float:
        """Confidence (0..1) that this skill should take the turn; by default the intent classifier's."""
        return self.intent_score(turn)

    async def handle(self, turn: Turn) -> SkillResult | None:
        """Answer the turn, or return None to decline it (the next route answers instead)."""
        raise NotImplementedError(f"skill '{self.name}' does not implement handle()")

    async def resume(self, turn: Turn) -> str | None:
        """The skill was paused by another one and gets the conversation back: what to say."""
        return None


AnySkill = Skill | AsyncSkill  # what the registry holds and the engine calls


def say(language: Language, en: str, zh: str, **values: Any) -> str:
    """The line in the user's language, formatted."""
    return (zh if language == "zh" else en).format(**values)
