"""Understanding: the stages that turn a raw message into `Understanding` (see `dialog_core.turn`)."""

from __future__ import annotations

from dialog.understanding.basic import DetectLanguage, Normalize, detect_language

__all__ = ["DetectLanguage", "Normalize", "detect_language"]
