"""Skills: the plugin API, discovery, forms, the rasa-sdk bridge and built-in skills.

Everything a skill module needs is importable from here (docs/skills.md, "The API"):

- a skill: `Skill` (plain methods) or `AsyncSkill` (`async def`), either one `AnySkill`,
  `SkillResult`, `Slot`, `say`, `SkillContext` (`self.ctx`), the errors `SkillError`,
  `SkillUnavailable`, `SkillTimeout`;
- what it touches of the engine: `Turn`, `Language`, `OutboundMessage` (`self.ctx.outbox`), and
  the text helpers `is_cjk`, `CJK_CHARS`;
- slot filling: `Form`, `FormSlot`, `InvalidSlot`, `Bilingual` and the slot kinds (`DateKind`,
  `TimeKind`, `DateTimeKind`, `NumberKind`, `PatternKind`, `ChoiceKind`, `TextKind`; `SlotKind`,
  `SlotInput`, `Found` to write one);
- bilingual cues: `is_cancel`, `is_yes`, `is_no`, `arabic_numbers`, `find_times`, `show_moment`.
"""

from dialog_core.outbox import OutboundMessage
from dialog_core.text import CJK_CHARS, is_cjk
from dialog_core.turn import Language, Turn
from skills.api import (
    AnySkill,
    AsyncSkill,
    Skill,
    SkillContext,
    SkillError,
    SkillResult,
    SkillTimeout,
    SkillUnavailable,
    Slot,
    say,
)
from skills.forms import Form
from skills.language import arabic_numbers, is_cancel, is_no, is_yes
from skills.slots import (
    Bilingual,
    ChoiceKind,
    DateKind,
    DateTimeKind,
    FormSlot,
    Found,
    InvalidSlot,
    NumberKind,
    PatternKind,
    SlotInput,
    SlotKind,
    TextKind,
    TimeKind,
    show_moment,
)
from skills.timeparse import find_times

__all__ = [
    "CJK_CHARS",
    "AnySkill",
    "AsyncSkill",
    "Bilingual",
    "ChoiceKind",
    "DateKind",
    "DateTimeKind",
    "Form",
    "FormSlot",
    "Found",
    "InvalidSlot",
    "Language",
    "NumberKind",
    "OutboundMessage",
    "PatternKind",
    "Skill",
    "SkillContext",
    "SkillError",
    "SkillResult",
    "SkillTimeout",
    "SkillUnavailable",
    "Slot",
    "SlotInput",
    "SlotKind",
    "TextKind",
    "TimeKind",
    "Turn",
    "arabic_numbers",
    "find_times",
    "is_cancel",
    "is_cjk",
    "is_no",
    "is_yes",
    "say",
    "show_moment",
]
