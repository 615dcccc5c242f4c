"""The installed skills: where each came from, whether it is enabled, and safe calls into them.

`SkillRegistry.discover(settings)` loads the `dialog.skills` entry-point group and the skills
folder (see `skills.discovery`) and applies the enable/disable settings. Iterating a registry
yields the enabled skills; `entries` also lists disabled and broken ones with the reason.
Every call into a skill goes through `call`/`start`: on the registry's bounded executor
(`skills.runner`), under a time limit, past the skill's circuit breaker (`skills.breaker`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis import RedisError

from dialog_core.turn import Turn
from skills.api import SKILL_NAME, AnySkill, AsyncSkill, SkillContext, SkillUnavailable
from skills.breaker import Breaker, publish
from skills.runner import Call, SkillExecutor

if TYPE_CHECKING:
    from dialog_core.settings import Settings

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "dialog.skills"
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_SCORE_TIMEOUT_S = 1.0
DEFAULT_THREADS = 16
DEFAULT_STUCK_CALLS = 2
DEFAULT_BREAKER_TIMEOUTS = 3
DEFAULT_BREAKER_COOLDOWN_S = 30.0
ENABLED = "enabled"
CALLED_METHODS = ("can_handle", "handle", "resume")  # plain in a Skill, async def in an AsyncSkill


@dataclass
class SkillEntry:
    """One skill as discovered: `skill` is None when it could not be loaded."""

    name: str
    source: str
    status: str = ENABLED  # "enabled", "disabled: <why>" or "error: <one sentence>"
    skill: AnySkill | None = None

    @property
    def enabled(self) -> bool:
        return self.status == ENABLED and self.skill is not None


class SkillRegistry:
    def __init__(self, skills: Iterable[AnySkill] = (), *, settings: Settings | None = None) -> None:
        self._entries: dict[str, SkillEntry] = {}
        self._configure(settings)
        for skill in skills:
            self.add(skill)

    @classmethod
    def discover(cls, settings: Settings | None = None) -> SkillRegistry:
        """Entry points and the skills folder, filtered by the enable/disable settings."""
        from skills.discovery import discover_entries

        registry = cls(settings=settings)
        for entry in discover_entries(settings):
            registry.add_entry(entry)
        return registry

    # ------------------------------------------------------------------ contents

    def add(self, skill: AnySkill, source: str = "given") -> None:
        """Add a skill object directly (tests, embedding applications)."""
        check_skill(skill)
        if skill.name in self._entries:
            raise ValueError(f"two skills are named '{skill.name}'")
        self._entries[skill.name] = SkillEntry(skill.name, source, ENABLED, skill)

    def add_entry(self, entry: SkillEntry) -> None:
        """Add a discovered entry; a second skill with a taken name is kept as an error entry."""
        if entry.name in self._entries:
            first = self._entries[entry.name].source
            entry.status = f"error: the name '{entry.name}' is already taken by {first}."
            entry.skill = None
            self._entries[f"{entry.name}@{entry.source}"] = entry
            return
        self._entries[entry.name] = entry

    @property
    def entries(self) -> list[SkillEntry]:
        return list(self._entries.values())

    def get(self, name: str) -> AnySkill | None:
        entry = self._entries.get(name)
        return entry.skill if entry and entry.enabled else None

    def __iter__(self) -> Iterator[AnySkill]:
        return iter([entry.skill for entry in self._entries.values() if entry.enabled and entry.skill])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    # ------------------------------------------------------------------ running

    def _configure(self, settings: Settings | None) -> None:
        """Time limits, a fresh executor and fresh breakers from the settings (defaults without)."""
        self.timeout_s = settings.skill_timeout_s if settings else DEFAULT_TIMEOUT_S
        self.score_timeout_s = settings.skill_score_timeout_s if settings else DEFAULT_SCORE_TIMEOUT_S
        self.executor = SkillExecutor(
            settings.skill_threads if settings else DEFAULT_THREADS,
            settings.skill_stuck_calls if settings else DEFAULT_STUCK_CALLS,
        )
        self.breaker_timeouts = settings.skill_breaker_timeouts if settings else DEFAULT_BREAKER_TIMEOUTS
        self.breaker_cooldown_s = (
            settings.skill_breaker_cooldown_s if settings else DEFAULT_BREAKER_COOLDOWN_S
        )
        self._breakers: dict[str, Breaker] = {}
        self._context: SkillContext | None = None

    def bind(self, context: SkillContext) -> None:
        """Hand each skill the agent's settings and services; a skill whose setup fails is disabled."""
        self._configure(context.settings)
        self._context = context
        for entry in self._entries.values():
            if not entry.enabled or entry.skill is None:
                continue
            try:
                self.call(
                    entry.skill, entry.skill.setup, context, timeout_s=self.timeout_for(entry.skill),
                    what=f"skill '{entry.name}' setup",
                )  # fmt: skip
            except Exception as error:
                log.exception("skill %s failed to set up", entry.name)
                entry.status = f"error: setup failed: {error}"

    def timeout_for(self, skill: AnySkill) -> float:
        return skill.timeout_s or self.timeout_s

    def breaker(self, name: str) -> Breaker:
        found = self._breakers.get(name)
        if found is None:
            found = self._breakers.setdefault(
                name, Breaker(name, self.breaker_timeouts, self.breaker_cooldown_s, self._publish)
            )
        return found

    def start(
        self, skill: AnySkill, function: Callable[..., Any], *args: Any, timeout_s: float, what: str
    ) -> Call:
        """`function(*args)` (a method of `skill`) started on the executor; `.result()` waits for it.

        While the skill's breaker is open the call fails at once with SkillUnavailable.
        """
        gate = self.breaker(skill.name)
        refusal = gate.refusal()
        if refusal is not None:
            return Call.refused(SkillUnavailable(refusal), what=what, settle=None)
        return self.executor.submit(
            skill.name, function, *args, timeout_s=timeout_s, what=what, settle=gate.record
        )

    def call(
        self, skill: AnySkill, function: Callable[..., Any], *args: Any, timeout_s: float, what: str
    ) -> Any:
        """`function(*args)`, awaited if it returns an awaitable; SkillTimeout after `timeout_s`."""
        return self.start(skill, function, *args, timeout_s=timeout_s, what=what).result()

    def _publish(self, gate: Breaker) -> None:
        context = self._context
        if context is None or context.services is None:
            return
        try:
            publish(context.services.redis, context.settings.key_prefix, gate)
        except (RedisError, OSError) as error:  # the breaker works without it; only doctor misses the line
            log.warning("could not publish skill %s's breaker state: %s", gate.skill, error)

    def scores(self, turn: Turn) -> dict[str, float]:
        """Every enabled skill's `can_handle` score, run side by side under the score time limit.

        A skill that raises, hangs or returns something other than a number in 0..1 scores 0;
        the failure is logged and recorded in the trace under `skill_score_errors`. A skill whose
        breaker is open is not called and scores 0 (trace: `skills_paused`).
        """
        scores: dict[str, float] = {}
        paused: dict[str, str] = {}
        calls: dict[str, Call] = {}
        for skill in self:
            gate = self.breaker(skill.name)
            refusal = gate.refusal()
            if refusal is not None:  # skipped quietly: the breaker logged once when it opened
                scores[skill.name], paused[skill.name] = 0.0, refusal
                continue
            calls[skill.name] = self.executor.submit(
                skill.name,
                skill.can_handle,
                turn,
                timeout_s=self.score_timeout_s,
                what=f"skill '{skill.name}' can_handle",
                settle=gate.record,
            )
        errors: dict[str, str] = {}
        for name, call in calls.items():
            try:
                value = float(call.result())
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"can_handle returned {value}, not a score between 0 and 1")
            except Exception as error:
                log.warning("skill %s can_handle failed: %s", name, error)
                value, errors[name] = 0.0, f"{type(error).__name__}: {error}"
            scores[name] = value
        if errors:
            turn.trace.record("skill_score_errors", errors)
        if paused:
            turn.trace.record("skills_paused", paused)
        return scores


def check_skill(skill: AnySkill) -> None:
    """A name of lowercase letters, digits and underscores, and methods of the kind its base class
    declares: plain in a `Skill`, `async def` in an `AsyncSkill`."""
    name = getattr(skill, "name", None)
    if not isinstance(name, str) or not SKILL_NAME.match(name):
        raise ValueError(
            f"skill {type(skill).__name__} needs a name of lowercase letters, digits and underscores, "
            f"not {name!r}"
        )
    wants_async = isinstance(skill, AsyncSkill)
    for method in CALLED_METHODS:
        if inspect.iscoroutinefunction(getattr(skill, method)) == wants_async:
            continue
        if wants_async:
            raise TypeError(f"skill {name}: {method}() must be async def in an AsyncSkill")
        raise TypeError(
            f"skill {name}: {method}() is async def; a skill with async methods subclasses AsyncSkill"
        )
