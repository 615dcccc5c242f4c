"""rasa-sdk bridge: rasa_sdk actions (and forms with FormValidationAction) run as skills,
in-process or on a Rasa action server over its HTTP webhook protocol."""

from skills.rasa.skill import RasaSkill, Trigger
from skills.rasa.transport import ActionServer, InProcessActions

__all__ = ["ActionServer", "InProcessActions", "RasaSkill", "Trigger"]
