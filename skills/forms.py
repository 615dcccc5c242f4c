"""Forms: slot filling that copes with how people answer.

- slots filled in any order, several from one message ("a table for 4 tomorrow at 7pm");
- corrections: a new value for a filled slot replaces it and is acknowledged
  ("no, make it Tuesday" / "不对，改成周二"), also while confirming;
- cancel ("never mind", "算了") at any point;
- switching away: another confident skill may take a turn (the policy decides); the form is
  paused and, when that skill is done, resumes with its open question;
- confirmation before acting (`confirm = True`): a summary, then yes / no / a correction;
- typed slots (`skills.slots`) with validators (`validate_<slot>` raising InvalidSlot) and
  prompts in both languages.

The form's progress lives in `self.memory(turn)`, saved with the dialogue state in Redis.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from dialog_core.text import CJK_CHARS
from dialog_core.turn import Language, Turn
from skills.api import Skill, SkillResult, local_timezone, say
from skills.language import is_cancel, is_no, is_yes
from skills.slots import Bilingual, FormSlot, InvalidSlot, SlotInput, SlotKind

FILLING, CONFIRMING, AMENDING = "filling", "confirming", "amending"
FREE_TEXT = 90  # slot kinds at this priority or later take any text
# A message in a language: Chinese characters, or a Latin word standing alone (a code such as
# "A1234567" is in no language; it is answered in the form's)
_WORDS = re.compile(rf"[{CJK_CHARS}]|\b[A-Za-z]{{2,}}\b")
MAX_MISSES = 3  # messages in a row that fill nothing: the user has moved on; the form is dropped


class Form(Skill):
    """Subclass this: set `name`, `slots` (FormSlot), `triggers`, `title`; implement `submit`."""

    slots: ClassVar[Sequence[FormSlot]] = ()
    triggers: ClassVar[list[str]] = []  # regular expressions (either language) that start the form
    title: ClassVar[Bilingual] = ("this form", "这个表单")
    confirm: ClassVar[bool] = False
    trigger_score: ClassVar[float] = 0.9

    # ------------------------------------------------------------------ what a subclass provides

    def submit(self, turn: Turn, values: dict[str, Any]) -> SkillResult | str:
        """Act on the complete, confirmed values; the text (or result) is the reply."""
        raise NotImplementedError

    def missing_slots(self, values: dict[str, Any]) -> list[str]:
        """Slots still to ask for, in order (override for "either this or that" forms)."""
        return [slot.name for slot in self.slots if slot.required and slot.name not in values]

    # ------------------------------------------------------------------ routing

    def can_handle(self, turn: Turn) -> float:
        text = turn.nlu.normalized
        if self._active(turn):
            memory = self.peek(turn)
            if is_cancel(text) or (memory.get("phase") == CONFIRMING and (is_yes(text) or is_no(text))):
                return 1.0
            found = [self._slot(name) for name in self.extract(turn, memory)]
            if any(slot and slot.kind.priority < FREE_TEXT for slot in found):
                return 1.0
            return 0.7 if found else 0.5  # free text fits anything: a confident other skill may interrupt
        if any(re.search(pattern, text, re.IGNORECASE) for pattern in self.triggers):
            return self.trigger_score
        return super().can_handle(turn)

    def _active(self, turn: Turn) -> bool:
        return bool(self.peek(turn).get("phase"))

    # ------------------------------------------------------------------ a turn

    def handle(self, turn: Turn) -> SkillResult:
        memory = self.memory(turn)
        if memory.get("language") and not _WORDS.search(turn.nlu.normalized):
            turn.nlu.language = memory["language"]  # "2025031410300001" is in the language of the form
        language, text = turn.nlu.language, turn.nlu.normalized
        if not memory.get("phase"):
            memory.update(values={}, phase=FILLING, requested=None, misses=0, language=language)
            changes, errors = self._fill(turn, memory)
            return self._next(turn, memory, list(errors.values()), retry=next(iter(errors), None))
        if is_cancel(text):
            return self._end(memory, language, "OK, I've cancelled {title}.", "好的，已取消{title}。")
        changes, errors = self._fill(turn, memory)
        notes = [*self._acknowledge(changes, language), *errors.values()]
        retry = next(iter(errors), None)
        phase = memory["phase"]
        if phase == CONFIRMING:
            if changes or errors:
                return self._next(turn, memory, notes, retry)
            if is_yes(text):
                return self._submit(turn, memory)
            if is_no(text):
                memory["phase"] = AMENDING
                return self._reply(notes, self._amend_question(language))
            return self._reply(notes, self._confirm_question(turn, memory, again=True))
        if changes or errors:
            memory["misses"] = 0
            if phase == AMENDING and not changes:
                return self._reply(notes, self._amend_question(language))
            return self._next(turn, memory, notes, retry)
        memory["misses"] = memory.get("misses", 0) + 1
        if memory["misses"] >= MAX_MISSES:
            return self._end(
                memory,
                language,
                "Let's leave {title} for now; ask me again any time.",
                "{title}先放一放，需要时随时再找我。",
            )
        if phase == AMENDING:
            return self._reply(
                [say(language, "Sorry, I didn't catch that.", "抱歉，我没听明白。")],
                self._amend_question(language),
            )
        sorry = say(
            language,
            'Sorry, I didn\'t catch that (say "cancel" to stop).',
            "抱歉，我没听明白（说“取消”可以退出）。",
        )
        return self._next(turn, memory, [sorry])

    def resume(self, turn: Turn) -> str | None:
        memory = self.memory(turn)
        if not memory.get("phase"):
            return None
        language = turn.nlu.language
        back = say(language, "Back to {title}: ", "我们继续{title}：", title=self._title(language))
        if memory["phase"] == CONFIRMING:
            return back + self._confirm_question(turn, memory)
        if memory["phase"] == AMENDING:
            return back + self._amend_question(language)
        requested = self._slot(memory.get("requested"))
        return back + requested.ask(language) if requested else back.strip()

    # ------------------------------------------------------------------ steps

    def _next(
        self, turn: Turn, memory: dict[str, Any], notes: list[str], retry: str | None = None
    ) -> SkillResult:
        """Ask again for a refused slot, else for the next missing one; or confirm, or submit."""
        language = turn.nlu.language
        missing = self.missing_slots(memory["values"])
        if missing:
            memory["phase"] = FILLING
            memory["requested"] = retry if retry in missing else missing[0]
            slot = self._slot(memory["requested"])
            return self._reply(notes, slot.ask(language) if slot else memory["requested"])
        memory["requested"] = None
        if self.confirm:
            memory["phase"] = CONFIRMING
            return self._reply(notes, self._confirm_question(turn, memory))
        return self._submit(turn, memory, notes)

    def _submit(self, turn: Turn, memory: dict[str, Any], notes: list[str] | None = None) -> SkillResult:
        values = dict(memory["values"])
        memory.clear()  # cleared first: submit may start something new in memory
        result = self.submit(turn, values)
        if isinstance(result, str):
            result = SkillResult(result)
        if notes:
            result = SkillResult("\n".join([*notes, result.text]), result.done, result.messages, result.slots)
        return result

    def _reply(self, notes: list[str], question: str) -> SkillResult:
        return SkillResult("\n".join([*notes, question]), done=False)

    def _confirm_question(self, turn: Turn, memory: dict[str, Any], again: bool = False) -> str:
        language = turn.nlu.language
        summary = self.summary(memory["values"], language)
        if again:
            return say(
                language,
                "Please say yes or no: {summary}?",
                "请回答“是”或“不是”：{summary}？",
                summary=summary,
            )
        return say(language, "{summary}. Shall I go ahead?", "{summary}。确认吗？", summary=summary)

    def _amend_question(self, language: Language) -> str:
        names = (
            ", ".join(slot.title(language) for slot in self.slots)
            if language == "en"
            else "、".join(slot.title(language) for slot in self.slots)
        )
        return say(
            language, "What would you like to change ({names})?", "要修改哪一项（{names}）？", names=names
        )

    def summary(self, values: dict[str, Any], language: Language) -> str:
        """One line listing the values (shown before confirming)."""
        colon = "：" if language == "zh" else ": "
        parts = [
            f"{slot.title(language)}{colon}{slot.kind.show(values[slot.name], language)}"
            for slot in self.slots
            if slot.name in values
        ]
        return ("; " if language == "en" else "；").join(parts)

    def _end(self, memory: dict[str, Any], language: Language, english: str, chinese: str) -> SkillResult:
        """Forget the form's state (the user leaves it) and say so."""
        memory.clear()
        return SkillResult(say(language, english, chinese, title=self._title(language)))

    def _title(self, language: Language) -> str:
        return self.title[1] if language == "zh" else self.title[0]

    # ------------------------------------------------------------------ slot filling

    def _slot(self, name: str | None) -> FormSlot | None:
        return next((slot for slot in self.slots if slot.name == name), None)

    def extract(self, turn: Turn, memory: dict[str, Any]) -> dict[str, Any]:
        """Values found in the message; each span goes to one slot (the asked-for slot first)."""
        values = memory.get("values", {})
        requested = memory.get("requested")
        now = datetime.fromtimestamp(turn.now, self._timezone())

        def order(slot: FormSlot) -> tuple[int, int]:
            group = 0 if slot.name == requested else 1 if slot.name not in values else 2
            return (slot.kind.priority, group)

        found: dict[str, Any] = {}
        taken: list[tuple[int, int, SlotKind]] = []
        for slot in sorted(self.slots, key=order):
            if slot.kind.priority >= FREE_TEXT and found:  # free text only when nothing else was said
                continue
            text = turn.nlu.normalized
            for start, end, kind in taken:  # a date and a time may share "tomorrow at 7pm"
                if not (kind.family == slot.kind.family and type(kind) is not type(slot.kind)):
                    text = text[:start] + " " * (end - start) + text[end:]
            given = SlotInput(text, turn.nlu.language, now, requested=slot.name == requested)
            for candidate in slot.kind.extract(given):
                if values.get(slot.name) == candidate.value and slot.name != requested:
                    continue  # a filled slot is only "found" again when its value changes
                found[slot.name] = candidate.value
                taken.append((candidate.start, candidate.end, slot.kind))
                break
        return found

    def _fill(self, turn: Turn, memory: dict[str, Any]) -> tuple[list[tuple[str, Any, Any]], dict[str, str]]:
        """Validate and store the values found: (slot, old, new) for each, and refusals by slot."""
        values = memory.setdefault("values", {})
        changes: list[tuple[str, Any, Any]] = []
        errors: dict[str, str] = {}
        for name, value in self.extract(turn, memory).items():
            validator = getattr(self, f"validate_{name}", None)
            try:
                value = validator(value, turn) if validator else value
            except InvalidSlot as invalid:
                errors[name] = invalid.say(turn.nlu.language)
                continue
            previous = values.get(name)
            values[name] = value
            changes.append((name, previous, value))
        return changes, errors

    def _acknowledge(self, changes: list[tuple[str, Any, Any]], language: Language) -> list[str]:
        lines = []
        for name, previous, value in changes:
            slot = self._slot(name)
            if slot is None or previous is None or previous == value:
                continue
            lines.append(
                say(language, "OK, {label} changed to {value}.", "好的，{label}改为{value}。",
                    label=slot.title(language), value=slot.kind.show(value, language))
            )  # fmt: skip
        return lines

    def _timezone(self) -> ZoneInfo:
        if self.context is not None:
            return self.context.timezone
        return local_timezone()
