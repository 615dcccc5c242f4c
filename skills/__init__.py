"""Skills: the plugin API, discovery, forms, the rasa-sdk bridge and built-in skills."""

from skills.api import Skill, SkillResult

__all__ = ["Skill", "SkillResult"]
