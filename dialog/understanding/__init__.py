"""Understanding: the stages that turn a raw message into `Understanding` (see `dialog.turn`)."""

from dialog.turn import UnderstandingStage
from dialog.understanding.basic import DetectLanguage, Normalize, detect_language


def default_stages() -> list[UnderstandingStage]:
    return [Normalize(), DetectLanguage()]


__all__ = ["DetectLanguage", "Normalize", "default_stages", "detect_language"]
