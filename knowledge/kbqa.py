"""KBQA handler: a knowledge question answered from the graph, or declined (core chat takes over).

Answering itself is an `Answerer` (entity + relation path -> Cypher -> verbalised answer); with none
configured the handler declines, so the turn falls back to core chat rather than inventing a fact.
"""

from __future__ import annotations

from typing import Protocol

from dialog.turn import KBQA, HandlerResult, Turn


class Answerer(Protocol):
    def answer(self, turn: Turn) -> str | None: ...


class KbqaHandler:
    def __init__(self, answerers: list[Answerer]) -> None:
        self.answerers = answerers

    def handle(self, turn: Turn, route: str) -> HandlerResult | None:
        for answerer in self.answerers:
            text = answerer.answer(turn)
            if text:
                return HandlerResult(text, KBQA)
        return None
