"""What the neural generator asks of a language model, in process (dialog.chat.local_lm) or over an
OpenAI-compatible API (dialog.chat.remote_lm): chat messages in, a few short completions out, before a
deadline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from dialog_core.errors import DialogError

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}
_SENTENCE_END = re.compile(r"[.!?。！？…~～]+[\"'”’)）]*(?=\s|$)|[。！？…～]+")
_WIDE = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
CHAT_WIDTH = 60  # a chat reply's length, in narrow characters (a Chinese character counts two)


@dataclass(frozen=True)
class Completion:
    text: str
    score: float  # mean token probability, 0..1 (0.5 when the backend gives no log-probabilities)


class GeneratorTimeout(DialogError):
    """No complete reply came before the deadline."""


class GeneratorUnavailable(DialogError):
    """The language model cannot be reached or loaded."""

    http_status = 503


class GeneratorResting(GeneratorUnavailable):
    """Still down: not asked again until its cool-down ends (already warned about once)."""

    quiet = True


class LanguageModel(Protocol):
    name: str

    def complete(self, messages: list[Message], *, count: int, max_new_tokens: int,
                 timeout_s: float) -> list[Completion]:  # fmt: skip
        """Up to `count` distinct replies, each cut after a complete sentence (see `chat_reply`).
        Raise GeneratorTimeout when none was complete within `timeout_s`."""
        ...


def width(text: str) -> int:
    return len(text) + len(_WIDE.findall(text))


def enough(text: str) -> bool:
    """Whether a reply being written can stop here: at a sentence end, after two sentences or a
    chat message's length."""
    ends = list(_SENTENCE_END.finditer(text))
    at_end = bool(ends) and ends[-1].end() >= len(text.rstrip())
    return at_end and (len(ends) >= 2 or width(text) >= CHAT_WIDTH)


def chat_reply(text: str, finished: bool) -> str:
    """The reply as a chat partner sends it: its first line, at most two sentences, and, when the model
    was cut off (`finished` False), only its complete sentences ("" when there is none)."""
    line = text.strip().split("\n", 1)[0].strip()
    ends = list(_SENTENCE_END.finditer(line))
    if len(ends) > 2:
        return line[: ends[1].end()].strip()
    if finished:
        return line
    return line[: ends[-1].end()].strip() if ends else ""
