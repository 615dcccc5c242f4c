"""The bilingual lexicon of the graph: how questions name its types, relationships and properties,
and how answers say them (data/knowledge/relations.yaml, plus an operator's own file).

Relationship types and properties the files do not describe (an operator's imported graph) get an
English phrasing derived from their names: FOUNDED_BY is asked about as "founded by", a property
`year_founded` as "year founded".
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jieba
import jieba.posseg
import yaml

from dialog_core.errors import InvalidInput
from dialog_core.settings import SHIPPED_DATA_DIR
from dialog_core.text import fold, is_cjk, tokens
from knowledge.linking import common_english_words
from knowledge.matching import Match, PhraseMatcher

SHIPPED_LEXICON = SHIPPED_DATA_DIR / "knowledge" / "relations.yaml"
LANGUAGES = ("en", "zh")
PLACEHOLDER = "_"  # stands for a cue or an entity in what is left of a question
ASKING_WORDS = {
    "which",
    "what",
    "哪个",
    "哪些",
    "哪种",
    "哪一种",
    "什么",
}  # before the kind of thing a question asks for
# Properties that are bookkeeping or names, never asked about as attributes.
NOT_ATTRIBUTES = {"id", "name", "name_zh", "aliases", "source", "kind", "country_iso2", "admin1"}
# jieba's part-of-speech tags of names (people, places, organisations, other proper nouns): "瓦坎达"
# is tagged nr, "尼亚" of "自由尼亚" ns.
NAME_TAGS = ("nr", "ns", "nt", "nz")


@dataclass(frozen=True)
class Cue:
    """A phrase of the question that means something to KBQA."""

    kind: str  # type | relation | location | attribute | not_held | superlative | comparative | count
    #           | describe | yes_no | world | follow_up
    key: str
    start: int
    end: int


@dataclass
class TypeSpec:
    label: str
    noun: dict[str, list[str]]  # language -> [singular, plural] (zh: one form)

    def noun_for(self, language: str, count: int = 2) -> str:
        forms = self.noun.get(language) or self.noun.get("en") or [self.label.lower()]
        return forms[0] if count == 1 or len(forms) == 1 else forms[1]


@dataclass
class RelationSpec:
    type: str
    sources: list[str]  # labels it starts from (empty: any)
    targets: list[str]  # labels it ends at (empty: any)
    noun: dict[str, str]
    fact: dict[str, str]
    scope: dict[str, str] = field(default_factory=dict)
    symmetric: bool = False
    container: bool = False

    def starts_at(self, label: str) -> bool:
        return not self.sources or label in self.sources

    def ends_at(self, label: str) -> bool:
        return not self.targets or label in self.targets


@dataclass
class AttributeSpec:
    name: str
    properties: dict[str, list[str]]  # label -> node properties it reads
    format: str
    noun: dict[str, str]
    fact: dict[str, str]
    most: dict[str, str] = field(default_factory=dict)
    least: dict[str, str] = field(default_factory=dict)
    same_as: dict[str, str] = field(default_factory=dict)  # label -> another attribute ("size")

    def applies_to(self, label: str) -> bool:
        return label in self.properties or label in self.same_as


@dataclass
class NotHeldSpec:
    """Something people ask of a place that the graph does not hold ("the president of France")."""

    name: str
    of: list[str]  # the labels it is asked of
    noun: dict[str, str]


@dataclass(frozen=True)
class Word:
    """A word of a message, where it is, and whether it reads as a name."""

    text: str
    start: int
    end: int
    name: bool
    tag: str  # jieba's part of speech


def _texts(value: Any) -> dict[str, str]:
    return {lang: str(value[lang]) for lang in LANGUAGES if isinstance(value, dict) and lang in value}


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def _phrasing(name: str) -> str:
    return re.sub(r"[_\s]+", " ", name).strip().lower()


class Lexicon:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.types = {
            label: TypeSpec(label, {lang: _listed(v) for lang, v in (spec.get("noun") or {}).items()})
            for label, spec in (config.get("types") or {}).items()
        }
        self.relations = {
            name: RelationSpec(
                name,
                _listed(spec.get("from")),
                _listed(spec.get("to")),
                _texts(spec.get("noun")),
                _texts(spec.get("fact")),
                _texts(spec.get("scope")),
                bool(spec.get("symmetric")),
                bool(spec.get("container")),
            )
            for name, spec in (config.get("relations") or {}).items()
        }
        self.attributes = {
            name: AttributeSpec(
                name,
                {label: _listed(props) for label, props in (spec.get("property") or {}).items()},
                spec.get("format", "text"),
                _texts(spec.get("noun")),
                _texts(spec.get("fact")),
                _texts(spec.get("most")),
                _texts(spec.get("least")),
                dict(spec.get("same_as") or {}),
            )
            for name, spec in (config.get("attributes") or {}).items()
        }
        self.not_held = {
            name: NotHeldSpec(name, _listed(spec.get("of")), _texts(spec.get("noun")))
            for name, spec in (config.get("not_held") or {}).items()
        }
        self.answers = {name: _texts(texts) for name, texts in (config.get("answers") or {}).items()}
        self.facts = {label: _listed(items) for label, items in (config.get("facts") or {}).items()}
        self.yes_no_en = {fold(word) for word in (config.get("yes_no") or {}).get("en", [])}
        function_words = (config.get("function_words") or {}).values()
        # what a question may hold besides the content it asks about
        self.explained = {PLACEHOLDER, *(fold(str(word)) for words in function_words for word in words or [])}
        self._matcher = PhraseMatcher(self._phrases())

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, extra: Path | None = None) -> Lexicon:
        config = _read(SHIPPED_LEXICON)
        if extra is not None:
            config = merge(config, _read(extra))
        return cls(config)

    def with_schema(
        self, relations: Iterable[tuple[str, str, str]], properties: dict[str, set[str]]
    ) -> Lexicon:
        """This lexicon plus derived English phrasings for what the graph holds and it does not name:
        relationships (type, start label, end label) and node properties by label."""
        config = merge(self.config, {})
        for rel_type, source, target in relations:
            if rel_type in self.relations:
                continue
            spec = config.setdefault("relations", {}).setdefault(
                rel_type,
                {
                    "from": [],
                    "to": [],
                    "noun": {"en": _phrasing(rel_type), "zh": _phrasing(rel_type)},
                    "phrases": {"en": [_phrasing(rel_type)]},
                    "fact": self._derived("derived_relation_fact", _phrasing(rel_type)),
                },
            )
            spec["from"] = sorted({*spec["from"], source})
            spec["to"] = sorted({*spec["to"], target})
        known = {
            prop for spec in self.attributes.values() for props in spec.properties.values() for prop in props
        }
        for label, keys in properties.items():
            for key in sorted(keys - known - NOT_ATTRIBUTES):
                name = f"property:{key}"
                spec = config.setdefault("attributes", {}).setdefault(
                    name,
                    {
                        "property": {},
                        "format": "text",
                        "noun": {"en": _phrasing(key), "zh": _phrasing(key)},
                        "phrases": {"en": [_phrasing(key)]},
                        "fact": self._derived("derived_attribute_fact", _phrasing(key)),
                    },
                )
                spec["property"][label] = key
        return Lexicon(config)

    def _derived(self, template: str, what: str) -> dict[str, str]:
        """A fact template, by language, for a relationship or property named `what` (the answers'
        `template`, its {s}, {o} and {v} left to fill)."""
        texts = self.answers.get(template) or {}
        return {lang: text.format(what=what, s="{s}", o="{o}", v="{v}") for lang, text in texts.items()}

    def _phrases(self) -> Iterable[tuple[str, Cue]]:
        config = self.config

        def cues(kind: str, key: str, phrases: Any) -> Iterable[tuple[str, Cue]]:
            for lang in LANGUAGES:
                for phrase in (phrases or {}).get(lang) or []:
                    yield fold(str(phrase)), Cue(kind, key, 0, 0)

        for label, spec in (config.get("types") or {}).items():
            yield from cues("type", label, spec.get("phrases"))
        for name, spec in (config.get("relations") or {}).items():
            yield from cues("relation", name, spec.get("phrases"))
        for name, spec in (config.get("attributes") or {}).items():
            yield from cues("attribute", name, spec.get("phrases"))
        for name, spec in (config.get("not_held") or {}).items():
            yield from cues("not_held", name, spec.get("phrases"))
        yield from cues("location", "", config.get("location"))
        for kind, section in (("superlative", "superlatives"), ("comparative", "comparatives")):
            for key, phrases in (config.get(section) or {}).items():
                yield from cues(kind, key, phrases)
        yield from cues("count", "", config.get("counting"))
        yield from cues("describe", "", config.get("describing"))
        yield from cues("yes_no", "", {"zh": (config.get("yes_no") or {}).get("zh")})
        yield from cues("world", "", config.get("world"))
        yield from cues("follow_up", "", config.get("follow_up"))

    # ------------------------------------------------------------------ use

    def scan(self, folded: str) -> list[Cue]:
        """The cues in `folded` text (entity mentions already blanked out), in text order."""
        found: list[Cue] = []
        for match in self._matcher.find(folded):
            found.extend(_placed(cue, match) for cue in match.payloads)
        return found

    def unexplained(self, remainder: str) -> tuple[list[str], bool]:
        """The content words of `remainder` (a question with its cues and entities blanked out), and
        whether one of them is the kind of thing asked for ("Which sea...", "什么动物"): a type the
        lexicon does not know."""
        words = [fold(word) for word in tokens(remainder)]
        content = [word for word in words if word not in self.explained]
        pairs = itertools.pairwise(words)
        asked = any(before in ASKING_WORDS and word not in self.explained for before, word in pairs)
        return content, asked

    def words(self, text: str) -> list[Word]:
        """The words of `text` (jieba's segmentation) and whether each reads as a name: in Chinese a
        word jieba tags as a name or does not know; in Latin script a capitalised word (the first one
        only if everyday English does not use it: words of the chatterbot English corpus) or, in a
        text without capitals, a word everyday English does not use."""
        everyday = common_english_words()
        capitals = any(char.isupper() for char in text)
        found, start = [], 0
        for word, tag in _tagged(text):
            end = start + len(word)
            if is_cjk(word):
                name = tag.startswith(NAME_TAGS) or not jieba.dt.FREQ.get(word)
            elif word.isalpha() and fold(word) not in self.explained:
                rare = bool(everyday) and word.lower() not in everyday
                first = not text[:start].strip()
                name = (word[0].isupper() and (rare or not first)) or (not capitals and rare)
            else:
                name = False
            found.append(Word(word, start, end, name, tag))
            start = end
        return found

    def is_content(self, word: Word) -> bool:
        """Neither a function word, nor space, nor punctuation."""
        return bool(re.search(r"\w", word.text)) and fold(word.text) not in self.explained

    def answer(self, name: str, language: str, **values: Any) -> str:
        templates = self.answers.get(name) or {}
        template = templates.get(language) or templates.get("en") or ""
        return template.format(**values).strip()

    def type_noun(self, label: str, language: str, count: int = 2) -> str:
        spec = self.types.get(label)
        if spec is None:
            return label if language == "zh" else _phrasing(label) + ("s" if count != 1 else "")
        return spec.noun_for(language, count)


@lru_cache(maxsize=4096)
def _tagged(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((pair.word, pair.flag) for pair in jieba.posseg.lcut(text))


def _placed(cue: Cue, match: Match[Cue]) -> Cue:
    return Cue(cue.kind, cue.key, match.start, match.end)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise InvalidInput(f"The relations file {path} cannot be read: {error}.") from error
    if not isinstance(data, dict):
        raise InvalidInput(f"The relations file {path} is not a mapping of sections.")
    return data


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `base` with `extra` merged in: mappings merged key by key, lists extended."""
    merged: dict[str, Any] = {}
    for key in dict.fromkeys([*base, *extra]):
        if key not in extra:
            merged[key] = _copy(base[key])
        elif key not in base:
            merged[key] = _copy(extra[key])
        elif isinstance(base[key], dict) and isinstance(extra[key], dict):
            merged[key] = merge(base[key], extra[key])
        elif isinstance(base[key], list) and isinstance(extra[key], list):
            merged[key] = [*base[key], *(item for item in extra[key] if item not in base[key])]
        else:
            merged[key] = _copy(extra[key])
    return merged


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return merge(value, {})
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value
