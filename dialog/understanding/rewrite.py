"""Contextual query rewriting: pronouns and ellipsis resolved from the dialogue state.

"And its population?" after a question about France becomes "And the population of France?";
"那它的人口呢？" becomes "那法国的人口呢？"; "What about Japan?" after "What is the capital of
Kenya?" becomes "What is the capital of Japan?"; "is it a big city?" after the answer "Lima" asks
about Lima; "how many is that?" after a list counts the list; "what's your favorite one?" after "do
you like movies?" asks for a favourite movie. Only questions and explicit follow-ups
are rewritten, so "I like it" stays as it is. Downstream stages read `nlu.rewritten`.
"""

from __future__ import annotations

import re

from dialog.understanding.acts import subject
from dialog.understanding.basic import detect_language
from dialog_core.state import DialogueState, EntityRef, TurnRecord
from dialog_core.turn import KBQA, Turn

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
LIST_DEPTH = 4  # KBQA turns looked back for the question a list follow-up continues
# a follow-up about the list the last answer gave: "how many is that?", "which one is the biggest?"
_EN_ABOUT_THE_LIST = re.compile(
    r"^(?:and |so |ok,? )?(?:how many(?: (?:is|are) (?:that|those|there|they))?"
    r"|which (?:one|of them|of those)\b.*"
    r"|what(?:'s| is) the (?:biggest|largest|smallest|most|least)\b.*)\s*\??$",
    re.I,
)
_ZH_ABOUT_THE_LIST = re.compile(
    r"^(?:那|那么)?(?:其中|这些|里面|它们)?(?:(?:一共|总共)(?:有)?|是|有)?(?:几个|多少个)[?？]?$"
    r"|^(?:那|那么)?(?:其中|这些|里面|它们中)?哪(?:个|一个)(?:最|人口最|面积最).{0,3}[?？]?$"
)
# the answer's own type named in the follow-up ("is it a big city?"): the answer, not the question's subject
_EN_FAVOURITE_ONE = re.compile(r"\b(?:favou?rite|best|least favou?rite|top)\s+(one)\b", re.I)
_ZH_WHICH_ONE = re.compile(r"哪一?[部首本种家位款道](?=[?？。!！]*$|呢)")
_TYPE_WORDS = {"City": ("city", "town", "城市", "都市"), "Country": ("country", "nation", "国家")}
_EN_PLACE = re.compile(r"\bthere\b", re.I)
_ZH_PLACE = re.compile(r"那里|那儿|那边|这个城市|那个城市|这座城市|那座城市")


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


def about_the_list(text: str, language: str, previous_question: str) -> str | None:
    """ "how many is that?" after "which countries border Germany?": both as one question ("which
    countries border Germany, how many is that?"), which KBQA reads as a count."""
    if not _asks_about_the_list(text, language):
        return None
    joined = "，" if language == "zh" else ", "
    return previous_question.rstrip(" ?？。.") + joined + text.strip()


def _asks_about_the_list(text: str, language: str) -> bool:
    return bool((_ZH_ABOUT_THE_LIST if language == "zh" else _EN_ABOUT_THE_LIST).match(text.strip()))


def listing_question(history: list[TurnRecord], language: str) -> str | None:
    """The knowledge question the last answers continue ("which countries border Germany?" before
    "how many is that?" and "which one is the biggest?"), if the last turns were KBQA's."""
    for record in reversed(history[-LIST_DEPTH:]):
        if record.route != KBQA:
            return None
        if not _asks_about_the_list(record.user, language):
            return record.user
    return None


def resolve_ellipsis(text: str, language: str, previous: str | None) -> str:
    """Chit-chat ellipsis from the last message: "what's your favorite one?" after "do you like
    movies?" -> "what's your favorite movie?"; "你最喜欢哪部？" after "你喜欢看电影吗？" ->
    "你最喜欢哪部电影？"."""
    if not previous:
        return text
    if language == "zh":
        match = _ZH_WHICH_ONE.search(text)
        noun = subject(previous, "zh")
        if match and noun and noun not in text:
            return text[: match.end()] + noun + text[match.end() :]
        return text
    match = _EN_FAVOURITE_ONE.search(text)
    phrase = subject(previous, "en")
    if not match or not phrase:
        return text
    noun = phrase.split()[-1]  # the head of "reading books", "your best friend"
    single = noun[:-1] if noun.endswith("s") and not noun.endswith("ss") and len(noun) > 3 else noun
    return text[: match.start(1)] + single + text[match.end(1) :]


def is_elliptical(text: str, language: str) -> bool:
    """ "what's your favorite one?", "哪部？": a follow-up that names nothing of its own."""
    return bool((_ZH_WHICH_ONE if language == "zh" else _EN_FAVOURITE_ONE).search(text))


def referent(text: str, language: str, state: DialogueState) -> EntityRef | None:
    """Who "it"/"there" is: the last reply's one answer when the message names the answer's type or,
    for a city, speaks of a place ("is it a big city?", "那里人口多吗" after "Lima"); else the most
    recent entity the user named."""
    if len(state.last_answers) == 1:
        answer = state.last_answers[0]
        lowered = text.lower()
        names_type = any(word in lowered for word in _TYPE_WORDS.get(answer.type, ()))
        place = (_ZH_PLACE if language == "zh" else _EN_PLACE).search(text) and answer.type == "City"
        if names_type or place:
            return answer
    return state.last_entities[0] if state.last_entities else None


class RewriteQuery:
    """Understanding stage: fills `turn.nlu.rewritten` (the trace shows both forms)."""

    name = "rewrite"

    def __call__(self, turn: Turn) -> None:
        state = turn.state
        written = turn.nlu.rewritten  # the normalised message, in simplified characters
        previous = state.history[-1].user if state.history else None
        entity = referent(written, turn.nlu.language, state)
        question = listing_question(state.history, turn.nlu.language)
        listed = about_the_list(written, turn.nlu.language, question) if question else None
        rewritten = listed or rewrite(written, turn.nlu.language, entity, previous)
        if rewritten == written:
            rewritten = resolve_ellipsis(written, turn.nlu.language, previous)
            turn.nlu.unresolved = rewritten == written and is_elliptical(written, turn.nlu.language)
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
