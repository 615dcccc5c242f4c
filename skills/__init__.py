"""Skills: the plugin API, discovery, forms, the rasa-sdk bridge and built-in skills.

Write a skill by subclassing `Skill` (or `skills.forms.Form` for slot filling); see docs/skills.md.
"""

from skills.api import Skill, SkillContext, SkillError, SkillResult, SkillUnavailable, Slot, say

__all__ = ["Skill", "SkillContext", "SkillError", "SkillResult", "SkillUnavailable", "Slot", "say"]
