"""Phrase matching over folded text (Aho-Corasick): all phrases found in one pass, then the longest
non-overlapping ones kept. Latin phrases must sit on word boundaries ("Oman" is not in "woman");
Chinese ones need none (Chinese has no spaces)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import ahocorasick

from dialog_core.text import is_cjk_char

T = TypeVar("T")


@dataclass(frozen=True)
class Match(Generic[T]):
    start: int
    end: int  # exclusive
    key: str
    payloads: tuple[T, ...]


def _word_char(char: str) -> bool:
    return char.isalnum() and not is_cjk_char(char)


def _on_boundaries(text: str, start: int, end: int) -> bool:
    """Latin edges of a match must not continue a word; CJK edges always may."""
    left_ok = start == 0 or is_cjk_char(text[start]) or not _word_char(text[start - 1])
    right_ok = end == len(text) or is_cjk_char(text[end - 1]) or not _word_char(text[end])
    return left_ok and right_ok


class PhraseMatcher(Generic[T]):
    """Folded phrase -> payloads; `find` returns the longest non-overlapping matches, leftmost first."""

    def __init__(self, entries: Iterable[tuple[str, T]]) -> None:
        table: dict[str, list[T]] = {}
        for phrase, payload in entries:
            if phrase:
                table.setdefault(phrase, []).append(payload)
        self._automaton: Any = ahocorasick.Automaton()
        for phrase, payloads in table.items():
            self._automaton.add_word(phrase, (phrase, tuple(payloads)))
        self.size = len(table)
        if table:
            self._automaton.make_automaton()

    def all(self, text: str) -> list[Match[T]]:
        if not self.size:
            return []
        found = []
        for end, (phrase, payloads) in self._automaton.iter(text):
            start = end - len(phrase) + 1
            if _on_boundaries(text, start, end + 1):
                found.append(Match(start, end + 1, phrase, payloads))
        return found

    def find(self, text: str) -> list[Match[T]]:
        chosen: list[Match[T]] = []
        taken = [False] * len(text)
        for match in sorted(self.all(text), key=lambda m: (-(m.end - m.start), m.start)):
            if not any(taken[match.start : match.end]):
                chosen.append(match)
                for index in range(match.start, match.end):
                    taken[index] = True
        return sorted(chosen, key=lambda m: m.start)

    def get(self, phrase: str) -> tuple[T, ...]:
        if not self.size or phrase not in self._automaton:
            return ()
        return self._automaton.get(phrase)[1]
