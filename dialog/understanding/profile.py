"""User memory: facts users state about themselves, and questions about what the agent remembers.

Extraction is rule-based and bilingual (name, city, job, likes, dislikes, pets and their names);
the facts are merged into `state.profile`, which outlives sessions. `ProfileQuestion` recognises
"what's my name?" / "你知道我喜欢什么吗？" and `MemoryHandler` answers them from the profile,
greets a user who gives their name, and welcomes a returning one back by name, asking after a pet
or an interest ("Hi Anna, good to see you again! How is Mimi doing?").
"""

from __future__ import annotations

import re
from typing import Any

from dialog_core.text import CJK_CHARS
from dialog_core.turn import CHITCHAT, HandlerResult, Turn

_NAME = r"([A-Z][\w'-]{0,30}(?: [A-Z][\w'-]{0,30})?)"
_THING = r"([\w' -]{2,40}?)"
_ZH_NAME = rf"([{CJK_CHARS}]{{1,4}}|[A-Za-z][\w-]{{0,20}})"
_ZH_THING = rf"([{CJK_CHARS}A-Za-z0-9 ]{{1,15}}?)"
_END = r"\s*(?:[.!,;，。！；?？]|$| and | but | because |，|因为|但是)"

EXTRACTORS: list[tuple[str, re.Pattern[str]]] = [
    ("name", re.compile(rf"\b(?i:my name is|my name's|call me|i am called|i'm called)\s+{_NAME}")),
    ("name", re.compile(rf"(?:我叫|我的名字是|我的名字叫|叫我)\s*{_ZH_NAME}")),
    ("city", re.compile(rf"\b(?i:i (?:live|am living|'m living) in)\s+{_NAME}")),
    ("city", re.compile(rf"\b(?i:i(?: am|'m) from)\s+{_NAME}")),
    ("city", re.compile(rf"(?:我住在|我来自|我在){_ZH_NAME}(?:住|生活|工作)?{_END}")),
    ("job", re.compile(rf"\bi(?: work as| am|'m) an? {_THING}{_END}", re.I)),
    ("job", re.compile(rf"\bmy job is(?: an?)? {_THING}{_END}", re.I)),
    ("job", re.compile(rf"(?:我是一名|我是一个|我的工作是|我的职业是|我当){_ZH_THING}{_END}")),
    ("dislikes", re.compile(rf"\bi (?:don't|do not|dont) (?:like|love|enjoy)\s+{_THING}{_END}", re.I)),
    ("dislikes", re.compile(rf"\bi (?:hate|dislike|can't stand)\s+{_THING}{_END}", re.I)),
    ("dislikes", re.compile(rf"我(?:不喜欢|讨厌|不爱|受不了){_ZH_THING}{_END}")),
    ("likes", re.compile(rf"\bi (?:really )?(?:like|love|enjoy|adore)\s+{_THING}{_END}", re.I)),
    ("likes", re.compile(rf"\bmy favou?rite \w+ is\s+{_THING}{_END}", re.I)),
    ("likes", re.compile(rf"我(?:很|最|特别|非常)?(?:喜欢|爱|热爱){_ZH_THING}{_END}")),
]
_PET = r"(dog|cat|puppy|kitten|rabbit|bunny|hamster|parrot|bird|fish|turtle|horse|guinea pig)"
_ZH_PET = r"(狗狗|小狗|狗|猫咪|小猫|猫|兔子|仓鼠|鹦鹉|小鸟|鱼|乌龟|马)"
# (kind, name) of a pet: "my cat is called Mimi", "I have a dog named Rex", "我的猫叫咪咪", "我家狗狗叫旺财"
PET_EXTRACTORS = [
    re.compile(rf"\b(?i:my)\s+(?i:{_PET})(?:'s name is| is called| is named| called| named)\s+{_NAME}"),
    re.compile(rf"\b(?i:i (?:have|got|own) an?)\s+(?i:{_PET})\s+(?i:called|named)\s+{_NAME}"),
    re.compile(rf"(?:我的|我家的?|我养的|我养了一只|我有一只){_ZH_PET}(?:叫做|名叫|叫){_ZH_NAME}"),
]
# "I am a bit tired" is not a job; "I like it" is not an interest.
_NOT_JOBS = re.compile(r"^(?:bit|little|lot|fan|big|huge|person|good|bad|very|really|so)\b", re.I)
_PRONOUNS = {
    "it",
    "that",
    "this",
    "them",
    "you",
    "him",
    "her",
    "those",
    "these",
    "它",
    "你",
    "他",
    "她",
    "这个",
    "那个",
}
LIST_FACTS = {"likes", "dislikes"}
MAX_LIST = 20


def extract_facts(text: str) -> dict[str, str | list[str]]:
    """Facts stated in `text`: {"name": ..., "city": ..., "job": ..., "likes": [...], "dislikes": [...]}."""
    facts: dict[str, Any] = {}
    if asked_fact(text):  # "我叫什么名字？" asks, it does not tell
        return facts
    taken: list[tuple[int, int]] = []
    for kind, pattern in EXTRACTORS:
        for match in pattern.finditer(text):
            span = match.span()
            if any(start < span[1] and span[0] < end for start, end in taken):
                continue  # "I don't like X" must not also count as "like X"
            value = match.group(1).strip(" '")
            if not value or value.lower() in _PRONOUNS:
                continue
            if kind == "job" and (_NOT_JOBS.match(value) or len(value.split()) > 3):
                continue
            taken.append(span)
            if kind in LIST_FACTS:
                facts.setdefault(kind, []).append(value)
            else:
                facts.setdefault(kind, value)
    for pattern in PET_EXTRACTORS:
        for match in pattern.finditer(text):
            facts.setdefault("pets", {})[match.group(2).strip(" '")] = match.group(1).lower()
    return facts


def merge_facts(profile: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    """The profile entries to update: scalars replaced, likes/dislikes accumulated (and moved
    between the two lists when the user changes their mind)."""
    updates: dict[str, Any] = {k: v for k, v in facts.items() if k not in LIST_FACTS}
    if "pets" in facts:  # name -> kind, kept across sessions
        updates["pets"] = {**profile.get("pets", {}), **facts["pets"]}
    for kind, other in (("likes", "dislikes"), ("dislikes", "likes")):
        for item in facts.get(kind, []):
            current = [x for x in updates.get(kind, profile.get(kind, [])) if x.lower() != item.lower()]
            updates[kind] = ([*current, item])[-MAX_LIST:]
            opposite = updates.get(other, profile.get(other, []))
            if any(x.lower() == item.lower() for x in opposite):
                updates[other] = [x for x in opposite if x.lower() != item.lower()]
    return updates


class ExtractProfile:
    """Understanding stage: fills `turn.nlu.profile_facts` with the profile updates to save."""

    name = "profile"

    def __call__(self, turn: Turn) -> None:
        facts = extract_facts(turn.nlu.normalized)
        if facts:
            turn.nlu.profile_facts = merge_facts(turn.state.profile, facts)


QUESTIONS: list[tuple[str, re.Pattern[str]]] = [
    ("name", re.compile(r"\b(?:what(?:'s| is) my name|do you (?:know|remember) my name|who am i)\b", re.I)),
    ("name", re.compile(r"我叫什么|我的名字是什么|你(?:知道|记得)我(?:的名字|叫什么)")),
    ("city", re.compile(r"\b(?:where do i live|where am i from|what city do i live in)\b", re.I)),
    ("city", re.compile(r"我住在哪|我来自哪|你(?:知道|记得)我住")),
    ("job", re.compile(r"\b(?:what(?:'s| is) my job|what do i do for (?:a )?living)\b", re.I)),
    ("job", re.compile(r"我(?:是做什么的|的工作是什么|的职业是什么)")),
    (
        "likes",
        re.compile(r"\b(?:what do i (?:like|love|enjoy)|do you (?:know|remember) what i like)\b", re.I),
    ),
    ("likes", re.compile(r"我喜欢什么|你(?:知道|记得)我喜欢")),
    ("dislikes", re.compile(r"\bwhat do i (?:hate|dislike|not like)\b", re.I)),
    ("dislikes", re.compile(r"我讨厌什么|我不喜欢什么")),
]


def asked_fact(text: str) -> str | None:
    for kind, pattern in QUESTIONS:
        if pattern.search(text):
            return kind
    return None


ANSWERS = {
    "en": {
        "name": "You're {value}.",
        "city": "You told me you live in {value}.",
        "job": "You said you're a {value}.",
        "likes": "You like {value}.",
        "dislikes": "You don't like {value}.",
        "unknown": "You haven't told me that yet. Tell me?",
    },
    "zh": {
        "name": "你叫{value}。",
        "city": "你说过你住在{value}。",
        "job": "你说过你是{value}。",
        "likes": "你喜欢{value}。",
        "dislikes": "你不喜欢{value}。",
        "unknown": "你还没告诉过我呢，说说看？",
    },
}


GREETINGS = {"en": "Nice to meet you, {value}!", "zh": "{value}，很高兴认识你！"}
_HELLO = re.compile(
    r"^(?:hi|hello|hey|hiya|yo|good (?:morning|afternoon|evening)|morning|i'?m back"
    r"|你好|您好|嗨|哈喽|哈啰|早上好|早安|早|晚上好|下午好|我回来了)"
    r"(?:\s*(?:there|again|xiaodi|小迪))?[\s!.,~！。，～]*$",
    re.IGNORECASE,
)
WELCOME = {
    "en": {"name": "Hi {name}, good to see you again!", "plain": "Hi, good to see you again!",
           "pet": " How is {pet} doing?", "likes": " Still into {like}?"},
    "zh": {"name": "{name}，好久不见！", "plain": "嗨，好久不见！",
           "pet": "{pet}最近还好吗？", "likes": "最近还喜欢{like}吗？"},
}  # fmt: skip


def welcomes_back(turn: Turn) -> bool:
    """A returning user's hello at the start of a new session, with something remembered about them."""
    state, profile = turn.state, turn.state.profile
    returning = state.session.turns == 0 and state.total_turns > 0
    remembered = profile.get("name") or profile.get("pets") or profile.get("likes")
    return bool(returning and remembered and _HELLO.match(turn.nlu.normalized.strip()))


def welcome_back(profile: dict[str, Any], language: str) -> str:
    """ "Hi Anna, good to see you again! How is Mimi doing?": the name, then a pet or an interest."""
    words = WELCOME[language]
    name, pets, likes = profile.get("name"), profile.get("pets") or {}, profile.get("likes") or []
    text = words["name"].format(name=name) if name else words["plain"]
    if pets:
        return text + words["pet"].format(pet=next(reversed(pets)))
    if likes:
        return text + words["likes"].format(like=likes[-1])
    return text


def introduced_name(turn: Turn) -> str | None:
    """The name the user gives in this message ("My name is Ada", "我叫小明"), when it is news."""
    name = turn.nlu.profile_facts.get("name")
    return name if isinstance(name, str) and name != turn.state.profile.get("name") else None


class MemoryHandler:
    """Answers questions about the user from the stored profile, and greets a user who gives their
    name (route: chitchat)."""

    def handle(self, turn: Turn, route: str) -> HandlerResult | None:
        language = turn.nlu.language
        kind = asked_fact(turn.nlu.normalized)
        if kind is None and welcomes_back(turn):
            return HandlerResult(welcome_back(turn.state.profile, language), CHITCHAT)
        if kind is None:
            name = introduced_name(turn)
            return HandlerResult(GREETINGS[language].format(value=name), CHITCHAT) if name else None
        value = turn.state.profile.get(kind)
        if not value:
            return HandlerResult(ANSWERS[language]["unknown"], CHITCHAT)
        if isinstance(value, list):
            value = ("、" if language == "zh" else ", ").join(value[-5:])
        return HandlerResult(ANSWERS[language][kind].format(value=value), CHITCHAT)
