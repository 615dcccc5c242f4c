"""Runs the skill a decision names: under a time limit, on a copy of the state, failures contained.

- Calls go through the registry (`SkillRegistry.call`): its bounded executor and the skill's
  circuit breaker; a paused skill answers that it is unavailable.
- The skill works on a copy of the dialogue state; the copy replaces the turn's state only when the
  skill answers, so a skill that raises, hangs or declines leaves nothing behind. Conversation slots
  come from `SkillResult.slots`; a skill that wrote `turn.state.slots` itself fails, loudly, rather
  than having the write kept or dropped unseen.
- A failure or timeout is logged and answered politely in the user's language (route stays
  `skill:<name>`); the failing skill lets go of the conversation.
- A skill that returns `done=False` stays active. When another skill interrupts an active one
  (the policy decides), the active one is paused; when the interrupting skill is done, the paused
  one is resumed and says where it was (`Skill.resume`).
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

from dialog_core.turn import SKILL_PREFIX, HandlerResult, Turn
from skills.api import AnySkill, SkillError, SkillResult, SkillTimeout, SkillUnavailable, say
from skills.registry import SkillRegistry

log = logging.getLogger(__name__)
HANDLER_KEY = "_handler"  # in skill_data; skill names cannot start with "_"
MAX_PAUSED = 3
_MISSING = object()


def paused_skills(turn: Turn) -> list[str]:
    """Skills interrupted by another one, most recent last (saved with the state)."""
    return list(turn.state.skill_data.get(HANDLER_KEY, {}).get("paused", []))


def _set_paused(turn: Turn, paused: list[str]) -> None:
    if paused:
        turn.state.skill_data[HANDLER_KEY] = {"paused": paused[-MAX_PAUSED:]}
    else:
        turn.state.skill_data.pop(HANDLER_KEY, None)


class SkillHandler:
    def __init__(self, skills: SkillRegistry) -> None:
        self.skills = skills

    def handle(self, turn: Turn, route: str) -> HandlerResult | None:
        name = route.removeprefix(SKILL_PREFIX)
        skill = self.skills.get(name)
        if skill is None:
            return None
        interrupted = turn.state.active_skill if turn.state.active_skill not in (None, name) else None
        started = time.perf_counter()
        work = _workspace(turn)
        try:
            result = self.skills.call(
                skill, skill.handle, work, timeout_s=self.skills.timeout_for(skill), what=f"skill '{name}'"
            )
            _check_slots(turn, work, "handle()")
            if result is not None and not isinstance(result, SkillResult):
                raise TypeError(f"handle() returned {type(result).__name__}, not a SkillResult")
        except Exception as error:
            return self._failed(turn, skill, error, interrupted)
        finally:
            turn.trace.timings_ms[f"skill.{name}"] = round((time.perf_counter() - started) * 1000, 3)
        if result is None:
            turn.trace.record("skill", {"name": name, "outcome": "declined"})
            return None
        turn.state = work.state
        if not turn.state.skill_data.get(name):
            turn.state.skill_data.pop(name, None)  # no empty memories in the stored state
        for slot, value in result.slots.items():
            if value is None:
                turn.state.slots.pop(slot, None)
            else:
                turn.state.slots[slot] = value
        turn.trace.record("skill", {"name": name, "outcome": "done" if result.done else "continues"})
        return HandlerResult(self._finish(turn, skill, result.done, result.reply, interrupted), route)

    def _finish(self, turn: Turn, skill: AnySkill, done: bool, text: str, interrupted: str | None) -> str:
        """Who holds the conversation next: this skill, a resumed one, or nobody."""
        paused = [name for name in paused_skills(turn) if name not in (interrupted, skill.name)]
        if interrupted:
            paused.append(interrupted)
        if not done:
            _set_paused(turn, paused)
            turn.state.active_skill = skill.name
            return text
        turn.state.active_skill = None
        while paused:
            resumed = self.skills.get(paused.pop())
            if resumed is None:
                continue
            _set_paused(turn, paused)
            turn.state.active_skill = resumed.name
            prompt = self._resume_prompt(turn, resumed)
            turn.trace.record("skill_resumed", resumed.name)
            return f"{text}\n{prompt}" if prompt else text
        _set_paused(turn, paused)
        return text

    def _resume_prompt(self, turn: Turn, skill: AnySkill) -> str | None:
        work = _workspace(turn)
        try:
            prompt = self.skills.call(
                skill,
                skill.resume,
                work,
                timeout_s=self.skills.timeout_for(skill),
                what=f"skill '{skill.name}' resume",
            )
            _check_slots(turn, work, "resume()")
        except Exception:
            log.exception("skill %s failed to resume", skill.name)
            turn.state.active_skill = None
            return None
        turn.state = work.state
        return prompt if isinstance(prompt, str) else None

    def _failed(
        self, turn: Turn, skill: AnySkill, error: Exception, interrupted: str | None
    ) -> HandlerResult:
        """Log it, leave the state as it was, let go of the conversation and apologise."""
        if isinstance(error, SkillError):
            log.error("skill %s failed: %s", skill.name, error)
        else:
            log.error("skill %s raised", skill.name, exc_info=error)
        outcome = "timeout" if isinstance(error, SkillTimeout) else "error"
        detail: dict[str, Any] = {"name": skill.name, "outcome": outcome, "error": _describe(error)}
        turn.trace.record("skill", detail)
        if turn.state.active_skill == skill.name:
            turn.state.active_skill = None
        text = apology(turn, skill, outcome if not isinstance(error, SkillUnavailable) else "unavailable")
        return HandlerResult(self._finish(turn, skill, True, text, interrupted), SKILL_PREFIX + skill.name)


def _workspace(turn: Turn) -> Turn:
    """The turn with a copy of its state, for a skill to work on."""
    work = copy.copy(turn)
    work.state = turn.state.model_copy(deep=True)
    return work


def _check_slots(turn: Turn, work: Turn, method: str) -> None:
    """Refuse the skill's work if it wrote `turn.state.slots`: slots are set through `SkillResult.slots`."""
    before, after = turn.state.slots, work.state.slots
    changed = sorted(
        key for key in before.keys() | after.keys() if before.get(key, _MISSING) != after.get(key, _MISSING)
    )
    if changed:
        raise SkillError(
            f"{method} wrote turn.state.slots ({', '.join(changed)}); "
            "return them in SkillResult(slots=...) instead."
        )


def _describe(error: Exception) -> str:
    return str(error) if isinstance(error, SkillError) else f"{type(error).__name__}: {error}"


def apology(turn: Turn, skill: AnySkill, outcome: str) -> str:
    if outcome == "unavailable":
        return say(
            turn.nlu.language,
            "Sorry, {name} is not available right now (a service it needs does not answer). "
            "Please try again later.",
            "抱歉，{name}暂时不可用（它依赖的服务没有响应），请稍后再试。",
            name=skill.name,
        )
    if outcome == "timeout":
        return say(
            turn.nlu.language,
            "Sorry, that took too long, so I stopped ({name}). Please try again in a moment.",
            "抱歉，处理超时了（{name}），请稍后再试。",
            name=skill.name,
        )
    return say(
        turn.nlu.language,
        "Sorry, something went wrong while handling that ({name}). Please try again later.",
        "抱歉，处理这个请求时出了点问题（{name}），请稍后再试。",
        name=skill.name,
    )
