"""`dialog setup`: prepare what the default agent needs, step by step, skipping what is ready.

Each package contributes its steps (graph import, index build, model training...) through a
`setup_steps()` function; they run in the order listed here, each idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from dialog.runtime.services import Services
from dialog.settings import Settings

Progress = Callable[[str, int, int], None]  # (stage, advance, total): drawn as a progress bar


class SetupStep(Protocol):
    name: str

    def ready(self, settings: Settings, services: Services) -> bool:
        """True when this step's output exists and is current."""
        ...

    def run(self, settings: Settings, services: Services, progress: Progress | None = None) -> str:
        """Do the work, reporting progress when it takes more than a few seconds; return a one-line
        summary. Raise DialogError with one sentence on failure."""
        ...


def setup_steps() -> list[SetupStep]:
    from dialog.chat import setup_steps as chat_steps
    from dialog.understanding import setup_steps as understanding_steps
    from knowledge import setup_steps as knowledge_steps

    return [*knowledge_steps(), *understanding_steps(), *chat_steps()]
