"""Dialogue acts: what the message does (asks the bot, tells something, acknowledges, asks back,
answers the bot's question), what it is about (its subject, as a reply should name it) and which
kind of news it discloses (a loss, an illness, good news...: data/empathy.yaml).

XiaoIce's empathetic computing tracks the user's intent and emotion per turn; the editorial replies
(dialog/chat/empathetic.py), the policy (a disclosure is answered with empathy first) and the topic
manager (never switch right after a disclosure or a question) read these labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jieba.posseg
import yaml

from dialog_core.settings import SHIPPED_DATA_DIR
from dialog_core.state import TurnRecord
from dialog_core.turn import EDITORIAL, Emotion, Turn

EMPATHY_FILE = SHIPPED_DATA_DIR / "empathy.yaml"

QUESTION = "question"  # a question to the bot
STATEMENT = "statement"
DISCLOSURE = "disclosure"  # the user tells news about their life, with feeling
ACKNOWLEDGEMENT = "acknowledgement"  # "ok", "haha", "嗯"
ASK_BACK = "ask_back"  # "what about you?", "你呢"
ANSWER = "answer"  # to the bot's own last question
FEELINGS = "feelings"  # the kind of a disclosure no cue names, told by a strong first-person emotion
FELT = ("sad", "angry", "anxious")
FELT_CONFIDENCE = 0.8  # the emotion detector's lexicon hits; below, "厉害" reads anxious
NEWS_TURNS = 2  # turns after the bot's empathetic reply that still go on about the news

ACKNOWLEDGEMENTS = re.compile(
    r"^(?:ok(?:ay)?|k|kk|hmm+|mm+|yeah|yep|yes|no|nope|sure|cool|fine|right|i see|oh|ah|lol|lmao"
    r"|ha(?:ha)+|he(?:he)+|nice|wow|嗯+|哦+|噢|好|好吧|好的|行|是的|对|呵呵|额|哈+|嘿嘿|嘻嘻)(?:\s+(?:ok|lol|haha|then))?[.!。！~～]*$",
    re.IGNORECASE,
)
_ASK_BACK = re.compile(
    r"^(?:(?:and|so|but)\s+)?(?:what|how)\s+about\s+(?:you|u|yourself)\b|^(?:and|so)\s+(?:you|u)\b|^(?:you|u)\s*\?"
    r"|^(?:wbu|hbu)\b|^(?:do|did|are|have|would)\s+you\s+too\b|^what\s+do\s+you\s+think\s*\?*$"
    r"|^(?:那|那么)?(?:你|您)(?:呢|也是吗|觉得呢|怎么看)|^你也.{0,6}吗",
    re.IGNORECASE,
)
_QUESTION_START = re.compile(
    r"^(?:what|what's|whats|who|who's|where|where's|when|why|how|how's|which|whose|do|does|did|are|is|can|could"
    r"|would|will|have|has|should|shall|may|tell me)\b",
    re.IGNORECASE,
)
_ZH_QUESTION = re.compile(
    r"[吗呢嘛][?？。!！~～]*$|什么|怎么|为什么|为啥|哪|谁|几|多少|是不是|有没有|能不能|会不会|要不要"
)
_OPINION = re.compile(  # "I hate horror movies" is an opinion, not news
    r"\b(?:hate|love|like|dislike|can'?t stand|prefer)\b|讨厌|喜欢|爱看|爱听", re.IGNORECASE
)
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|im|i've|i'd|my|me|we|our)\b|我", re.IGNORECASE)
_MY = re.compile(r"\b(?:my|our)\s+((?:[a-z'-]+\s+){0,2}[a-z'-]+)", re.IGNORECASE)
_LIKED = re.compile(  # "do you like movies?" -> movies
    r"\b(?:like|love|enjoy|into|about|play|watch|read|listen to|favou?rite)\s+((?:[a-z-]+\s+)?[a-z-]+)",
    re.IGNORECASE,
)
_FUNCTION = {"you", "me", "it", "them", "that", "this", "to", "doing", "one", "a", "the", "an", "my", "your"}
_ARTICLE = re.compile(r"\b(?:the|a|an)\s+((?:[a-z-]+\s+)?[a-z-]+)", re.IGNORECASE)
# words that end a subject's noun phrase: "my dog | died", "my best friend | is moving"
_NOT_NOUNS = set(
    [
        "is",
        "was",
        "are",
        "were",
        "be",
        "been",
        "has",
        "have",
        "had",
        "just",
        "got",
        "gets",
        "get",
        "died",
        "dies",
        "passed",
        "left",
        "broke",
        "broken",
        "yelled",
        "keeps",
        "kept",
        "and",
        "but",
        "so",
        "or",
        "to",
        "at",
        "in",
        "on",
        "for",
        "of",
        "with",
        "from",
        "by",
        "really",
        "very",
        "finally",
        "still",
        "always",
        "never",
        "isn't",
        "wasn't",
        "doesn't",
        "didn't",
        "can't",
        "won't",
        "will",
        "would",
        "could",
        "should",
        "said",
        "told",
        "went",
        "came",
        "made",
        "took",
        "gave",
        "wants",
        "want",
        "needs",
        "need",
        "thinks",
        "loves",
        "hates",
        "likes",
        "liked",
        "love",
        "hate",
        "like",
        "did",
        "does",
        "do",
        "today",
        "yesterday",
        "tonight",
        "tomorrow",
        "last",
        "this",
        "that",
        "week",
        "weekend",
        "month",
        "year",
        "ago",
        "again",
        "now",
        "too",
        "also",
        "sick",
        "ill",
        "lost",
        "new",
        "old",
        "first",
        "up",
    ]
)
_ZH_NOUN_TAGS = ("n", "nr", "ns", "nz", "nt", "nrt")
_ZH_NOT_SUBJECTS = {
    "今天",
    "昨天",
    "明天",
    "现在",
    "时候",
    "事情",
    "东西",
    "感觉",
    "心情",
    "有点",
    "一下",
    "人",
}
_POSSESSIVE = re.compile(r"^(?:my|our)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Disclosure:
    kind: str
    emotion: str
    cues: dict[str, tuple[str, ...]]
    subjects: dict[str, tuple[str, ...]]


@cache
def disclosures(path: Path = EMPATHY_FILE) -> tuple[Disclosure, ...]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))["disclosures"]
    return tuple(
        Disclosure(
            kind,
            spec["emotion"],
            {lang: tuple(str(c).lower() for c in spec["cues"][lang]) for lang in ("en", "zh")},
            {lang: tuple(str(s).lower() for s in spec["subjects"][lang]) for lang in ("en", "zh")},
        )
        for kind, spec in raw.items()
    )


def _mentions(text: str, phrase: str, language: str) -> bool:
    if language == "zh" or not phrase[:1].isalnum():
        return phrase in text
    return re.search(rf"(?<![a-z']){re.escape(phrase)}(?![a-z])", text) is not None


def disclosed(text: str, language: str) -> Disclosure | None:
    """The kind of news the message tells, by the first kind whose cue it contains."""
    lowered = text.lower()
    for disclosure in disclosures():
        if any(_mentions(lowered, cue, language) for cue in disclosure.cues[language]):
            return disclosure
    return None


def is_question(text: str, language: str) -> bool:
    stripped = text.strip()
    if stripped.endswith(("?", "？")):
        return True
    return bool(_ZH_QUESTION.search(stripped)) if language == "zh" else bool(_QUESTION_START.match(stripped))


def subject(text: str, language: str, disclosure: Disclosure | None = None) -> str:
    """What the message is about, as a reply would name it: "your dog" (en), 猫 (zh), "" for none."""
    return _subject_zh(text, disclosure) if language == "zh" else _subject_en(text, disclosure)


def _subject_en(text: str, disclosure: Disclosure | None) -> str:
    mine = _noun_phrase(text, _MY)
    if mine:
        return mine
    if disclosure is not None:  # "I have an exam tomorrow" -> "your exam"
        lowered = text.lower()
        for noun in disclosure.subjects["en"]:
            if _mentions(lowered, noun, "en"):
                return f"your {noun}"
    return _noun_phrase(text, _LIKED) or _noun_phrase(text, _ARTICLE)


def _noun_phrase(text: str, pattern: re.Pattern[str]) -> str:
    """The first match of `pattern`, cut where its noun phrase ends; "my" becomes "your"."""
    for match in pattern.finditer(text):
        words = []
        for word in match.group(1).split():
            if word.lower() in _NOT_NOUNS or word.lower() in _FUNCTION:
                break
            words.append(word)
        if words:
            owner = match.group(0).split()[0].lower()
            if _POSSESSIVE.match(owner):
                return "your " + " ".join(words)
            return " ".join([owner, *words] if owner in ("the", "a", "an") else words)
    return ""


def _subject_zh(text: str, disclosure: Disclosure | None) -> str:
    words = list(jieba.posseg.cut(text))
    for index, pair in enumerate(words):  # 我的猫, 我家狗狗, 我男朋友
        if pair.word in ("我的", "我家", "我们的") or (pair.word == "我" and index + 1 < len(words)):
            following = words[index + 1 :]
            if following and following[0].word == "的":
                following = following[1:]
            if (
                following
                and following[0].flag.startswith(_ZH_NOUN_TAGS)
                and following[0].word not in _ZH_NOT_SUBJECTS
            ):
                return following[0].word
    if disclosure is not None:
        for noun in disclosure.subjects["zh"]:
            if noun in text:
                return noun
    for pair in words:
        if pair.flag.startswith(_ZH_NOUN_TAGS) and pair.word not in _ZH_NOT_SUBJECTS and len(pair.word) >= 2:
            return pair.word
    return ""


def act_of(text: str, language: str, bot_asked: str | None, disclosure: Disclosure | None) -> str:
    stripped = text.strip()
    if _ASK_BACK.search(stripped):
        return ASK_BACK
    if ACKNOWLEDGEMENTS.match(stripped):
        return ACKNOWLEDGEMENT
    if is_question(stripped, language):
        return QUESTION
    if bot_asked:
        return ANSWER
    if disclosure is not None and (language == "zh" or _FIRST_PERSON.search(stripped)):  # 好紧张: no 我
        return DISCLOSURE
    return STATEMENT


def felt(text: str, language: str, emotion: Emotion) -> bool:
    """News no cue names, told with a strong negative feeling about oneself ("I'm so stressed about
    money", "室友太吵了烦死了"); not an opinion about a thing ("I hate horror movies")."""
    return (
        emotion.label in FELT
        and emotion.confidence >= FELT_CONFIDENCE
        and emotion.polarity <= -0.5
        and (language == "zh" or _FIRST_PERSON.search(text) is not None)
        and not _OPINION.search(text)
    )


def news_told(history: list[TurnRecord]) -> TurnRecord | None:
    """The turn whose news the bot answered with empathy, if the user may still be going on about it:
    the last turn, or the one before when the bot answered its follow-up with empathy too."""
    for record in reversed(history[-NEWS_TURNS:]):
        if record.route != EDITORIAL:
            return None
        if record.disclosure and record.emotion in (*FELT, "happy"):  # an answer may tell news too
            return record
    return None


class DialogueActs:
    """Understanding stage (after emotion, before the empathy signal): fills `act`, `subject`,
    `disclosure`, and gives a disclosed kind of news its emotion when the detector found none ("my dog
    died last week" reads neutral word by word)."""

    name = "dialogue_act"

    def __call__(self, turn: Turn) -> None:
        nlu = turn.nlu
        text, language = nlu.normalized, nlu.language
        found = disclosed(text, language)
        nlu.act = act_of(text, language, turn.state.last_bot_question(), found)
        if found is not None and nlu.act != QUESTION:
            nlu.disclosure = found.kind
            if nlu.emotion.label == "neutral":
                nlu.emotion = Emotion(label=found.emotion, polarity=-0.5 if found.emotion != "happy" else 0.5,
                                      confidence=0.6)  # fmt: skip
        elif found is None and nlu.act == STATEMENT and felt(text, language, nlu.emotion):
            nlu.act, nlu.disclosure = DISCLOSURE, FEELINGS
        nlu.subject = subject(text, language, found)
        news = None if nlu.disclosure or nlu.act in (QUESTION, ASK_BACK) else news_told(turn.state.history)
        if news is not None:  # "yeah", "thanks", "在一起四年了" after the bot's comfort
            nlu.news = news.emotion or ""
            nlu.subject = news.subject or nlu.subject
        turn.trace.record(
            "dialogue_act",
            {"act": nlu.act, "subject": nlu.subject, "disclosure": nlu.disclosure, "news": nlu.news},
        )
