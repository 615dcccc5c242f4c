"""Contextual query rewriting: pronouns and ellipsis resolved from the dialogue state.

"And its population?" after a question about France becomes "And the population of France?";
"那它的人口呢？" becomes "那法国的人口呢？"; "What about Japan?" after "What is the capital of
Kenya?" becomes "What is the capital of Japan?". Only questions and explicit follow-ups are
rewritten, so "I like it" stays as it is. Downstream stages read `nlu.rewritten`.
"""

from __future__ import annotations

import re

from dialog.state.model import EntityRef
from dialog.turn import Turn
from dialog.understanding.basic import detect_language

_EN_QUESTION = re.compile(r"\?\s*$|^(?:and|what|which|who|where|when|how|is|are|does|do|can|tell me)\b", re.I)
_ZH_QUESTION = re.compile(r"[?？]\s*$|呢|吗|多少|哪|什么|几|谁|怎么")
_EN_ITS = re.compile(r"\b(its|their)\s+([a-z][a-z ]*?)(?=\s*(?:\?|$|,| and | or | in | compared))", re.I)
_EN_REFERENCE = re.compile(r"\b(?:it|there|they|them|(?:that|this) (?:country|city|place))\b", re.I)
# "What language do they speak in Brazil?": 'they' are the people of the place the message names
_EN_PEOPLE_OF_NAMED_PLACE = re.compile(r"\b(?:they|them)\b.*\b(?:in|from)\s+(?:the\s+)?[A-Z]")
_ZH_REFERENCE = re.compile(r"它|那里|那儿|这个国家|那个国家|该国|这个城市|那个城市|这座城市|那座城市")
_EN_WHAT_ABOUT = re.compile(r"^(?:and |so )?(?:what|how) about\s+(.+?)\s*\??$|^and\s+(.+?)\s*\?$", re.I)
_ZH_WHAT_ABOUT = re.compile(r"^(?:那|那么)?(.+?)(?:呢)[?？]?$")
_PRONOUNS_ONLY = re.compile(r"^(?:it|its|there|they|them|它|它的|那里)$", re.I)


def _name(entity: EntityRef, language: str) -> str:
    """How the user wrote it, unless that was Chinese and this message is English ("东京" -> "Tokyo")."""
    if entity.mention and (language == "zh" or detect_language(entity.mention) != "zh"):
        return entity.mention
    return entity.name


def rewrite(text: str, language: str, entity: EntityRef | None, previous_question: str | None) -> str:
    """The self-contained form of `text`, or `text` itself when nothing needs resolving."""
    if entity is None:
        return text
    name = _name(entity, language)
    if language == "zh":
        if not _ZH_QUESTION.search(text):
            return text
        if _ZH_REFERENCE.search(text):
            return _ZH_REFERENCE.sub(name, text, count=1)
        return _replace_in_previous(_ZH_WHAT_ABOUT, text, entity, previous_question)
    if not _EN_QUESTION.search(text):
        return text
    if _EN_ITS.search(text):
        return _EN_ITS.sub(lambda m: f"the {m.group(2)} of {name}", text, count=1)
    if _EN_REFERENCE.search(text) and not _EN_PEOPLE_OF_NAMED_PLACE.search(text):
        return _EN_REFERENCE.sub(name, text, count=1)
    return _replace_in_previous(_EN_WHAT_ABOUT, text, entity, previous_question)


def _replace_in_previous(
    pattern: re.Pattern[str], text: str, entity: EntityRef, previous_question: str | None
) -> str:
    """Ellipsis: "What about Japan?" = the previous question with its entity swapped for Japan."""
    match = pattern.match(text.strip())
    if not match or not previous_question:
        return text
    replacement = next(group for group in match.groups() if group)
    if _PRONOUNS_ONLY.match(replacement):
        return text
    for mention in (entity.mention, entity.name):
        if mention and mention in previous_question:
            return previous_question.replace(mention, replacement, 1)
    return text


class RewriteQuery:
    """Understanding stage: fills `turn.nlu.rewritten` (the trace shows both forms)."""

    name = "rewrite"

    def __call__(self, turn: Turn) -> None:
        state = turn.state
        entity = state.last_entities[0] if state.last_entities else None
        previous = state.history[-1].user if state.history else None
        written = turn.nlu.rewritten  # the normalised message, in simplified characters
        rewritten = rewrite(written, turn.nlu.language, entity, previous)
        turn.nlu.rewritten = rewritten
        if rewritten != written:
            turn.trace.record(
                "rewrite",
                {
                    "from": written,
                    "to": rewritten,
                    "entity": entity.model_dump() if entity else None,
                },
            )
