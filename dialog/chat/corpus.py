"""Paired conversation data: loaders, de-duplication and the deterministic splits.

Formats: chatterbot-corpus YAML (`conversations:` lists, each line answering the one before),
JSONL (`{"query", "response"}`, optional `"context"`: the utterances before the query, oldest first;
or `{"turns": [...]}`; optional `"category"`), and CSV with `query,response` columns (optional
`category`). A bad file raises CorpusError naming file and line.

Besides the shipped corpora and the files named, an index includes the data dir's own corpus of
approved replies, `<home>/corpora/approved.jsonl` (`dialog corpus add-from-feedback`), when it exists.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from dialog_core.errors import InvalidInput
from dialog_core.settings import SHIPPED_DATA_DIR
from dialog_core.text import key

Split = Literal["train", "ranker", "heldout"]
PERSONA_TALK_FILES = [
    SHIPPED_DATA_DIR / "chat" / f"persona_talk_{language}.yaml" for language in ("en", "zh")
]
ZH_REVIEW_FILE = SHIPPED_DATA_DIR / "chat" / "zh_corpus_review.yaml"
CONTEXT_TURNS = 2  # utterances before the query kept as its context


class CorpusError(InvalidInput):
    """A corpus file cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Pair:
    query: str
    response: str
    context: tuple[str, ...] = ()  # the utterances before the query, oldest first
    category: str = ""
    source: str = ""  # file:line

    def to_json(self) -> dict[str, object]:
        return {"query": self.query, "response": self.response, "context": list(self.context),
                "category": self.category, "source": self.source}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict) -> Pair:
        return cls(data["query"], data["response"], tuple(data.get("context", ())),
                   data.get("category", ""), data.get("source", ""))  # fmt: skip


def default_corpus_files() -> list[Path]:
    """The English and Chinese files of the chatterbot-corpus package, the persona's own pairs and
    its talk on common subjects (written for this project)."""
    import chatterbot_corpus

    from dialog.chat.persona import PERSONA_FILE

    root = Path(chatterbot_corpus.__file__).parent / "data"
    return [
        *sorted((root / "english").glob("*.yml")),
        *sorted((root / "chinese").glob("*.yml")),
        PERSONA_FILE,
        *PERSONA_TALK_FILES,
    ]


def approved_corpus_file(home: Path) -> Path:
    """The operator corpus of approved replies (dialog.feedback.corpus)."""
    return home / "corpora" / "approved.jsonl"


def home_corpus_files(home: Path) -> list[Path]:
    """The data dir's own corpora that an index includes by default: the approved replies, if any."""
    approved = approved_corpus_file(home)
    return [approved] if approved.is_file() else []


def reviewed(pairs: Iterable[Pair]) -> list[Pair]:
    """The pairs without a line of the chatterbot-corpus Chinese files that the review dropped
    (data/chat/zh_corpus_review.yaml: machine-translated puns, insults, nonsense)."""
    review = yaml.safe_load(ZH_REVIEW_FILE.read_text(encoding="utf-8"))
    dropped = {(entry["file"], entry["text"]) for entry in review["dropped"]}

    def kept(pair: Pair) -> bool:
        name = pair.source.rsplit(":", 1)[0]
        return (name, pair.query) not in dropped and (name, pair.response) not in dropped

    return [pair for pair in pairs if kept(pair)]


def load_corpora(paths: Iterable[Path], skipped: list[str] | None = None) -> list[Pair]:
    """All pairs of all files, exact duplicates dropped (first occurrence kept).

    With `skipped` given, malformed conversations are left out and named there instead of raising
    (for the shipped chatterbot-corpus, which has one; an operator's files are checked strictly).
    """
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    pairs: list[Pair] = []
    for path in paths:
        for pair in load_file(Path(path), skipped):
            identity = (pair.query, pair.response, pair.context)
            if identity not in seen:
                seen.add(identity)
                pairs.append(pair)
    return pairs


def load_file(path: Path, skipped: list[str] | None = None) -> list[Pair]:
    if not path.is_file():
        raise CorpusError(f"Corpus file {path} does not exist.")
    suffix = path.suffix.lower()
    loaders = {".jsonl": _load_jsonl, ".csv": _load_csv}
    if suffix not in (*loaders, ".yml", ".yaml"):
        raise CorpusError(f"Corpus file {path} is not .yml, .yaml, .jsonl or .csv.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CorpusError(f"Corpus file {path} cannot be read as UTF-8 text ({error}).") from error
    if suffix in (".yml", ".yaml"):
        return list(_load_yaml(path, text, skipped))
    return list(loaders[suffix](path, text))


def chain(utterances: list[str], category: str, source: str) -> Iterator[Pair]:
    """A conversation as pairs: each utterance answers the one before, with up to two before that."""
    for i in range(1, len(utterances)):
        context = tuple(utterances[max(0, i - 1 - CONTEXT_TURNS) : i - 1])
        yield Pair(utterances[i - 1], utterances[i], context, category, source)


def _clean(value: object) -> str | None:
    return " ".join(value.split()) if isinstance(value, str) and value.strip() else None


def _load_yaml(path: Path, text: str, skipped: list[str] | None) -> Iterator[Pair]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        line = getattr(getattr(error, "problem_mark", None), "line", -1) + 1
        raise CorpusError(f"{path}, line {line}: not valid YAML.") from error
    if not isinstance(root, yaml.MappingNode):
        raise CorpusError(f"{path}, line 1: expected a mapping with a 'conversations' list.")
    fields = {k.value: v for k, v in root.value if isinstance(k, yaml.ScalarNode)}
    category = ""
    if isinstance(fields.get("categories"), yaml.SequenceNode) and fields["categories"].value:
        category = str(fields["categories"].value[0].value)
    conversations = fields.get("conversations")
    if not isinstance(conversations, yaml.SequenceNode):
        raise CorpusError(f"{path}, line 1: expected a 'conversations' list.")
    category = category or path.stem
    for node in conversations.value:
        line = node.start_mark.line + 1
        problem = None
        if not isinstance(node, yaml.SequenceNode) or len(node.value) < 2:
            problem = "a conversation must be a list of at least two lines"
        else:
            cleaned = [_clean(i.value) if isinstance(i, yaml.ScalarNode) else None for i in node.value]
            utterances = [u for u in cleaned if u is not None]
            if len(utterances) < len(cleaned):
                problem = "every line of a conversation must be non-empty text"
        if problem and skipped is None:
            raise CorpusError(f"{path}, line {line}: {problem}.")
        if problem and skipped is not None:
            skipped.append(f"{path.name}:{line}")
            continue
        yield from chain(utterances, category, f"{path.name}:{line}")


def _load_jsonl(path: Path, text: str) -> Iterator[Pair]:
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as error:
            raise CorpusError(f"{path}, line {number}: not valid JSON ({error.msg}).") from error
        if not isinstance(record, dict):
            raise CorpusError(f"{path}, line {number}: expected a JSON object.")
        category = str(record.get("category") or path.stem)
        source = f"{path.name}:{number}"
        if "turns" in record:
            turns = record["turns"]
            cleaned = [_clean(t) for t in turns] if isinstance(turns, list) else [None]
            utterances = [u for u in cleaned if u is not None]
            if len(utterances) < 2 or len(utterances) < len(cleaned):
                raise CorpusError(f"{path}, line {number}: 'turns' must list at least two non-empty texts.")
            yield from chain(utterances, category, source)
            continue
        query, response = _clean(record.get("query")), _clean(record.get("response"))
        if query is None or response is None:
            raise CorpusError(f"{path}, line {number}: expected non-empty 'query' and 'response' texts.")
        context = record.get("context") or []
        cleaned = [_clean(c) for c in context] if isinstance(context, list) else [None]
        if None in cleaned:
            raise CorpusError(f"{path}, line {number}: 'context' must list non-empty texts.")
        kept = tuple(c for c in cleaned if c is not None)[-CONTEXT_TURNS:]
        yield Pair(query, response, kept, category, source)


def _load_csv(path: Path, text: str) -> Iterator[Pair]:
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or not {"query", "response"} <= set(reader.fieldnames):
        raise CorpusError(f"{path}, line 1: the header must name 'query' and 'response' columns.")
    for row in reader:
        query, response = _clean(row.get("query")), _clean(row.get("response"))
        if query is None or response is None:
            raise CorpusError(f"{path}, line {reader.line_num}: 'query' and 'response' must be non-empty.")
        yield Pair(query, response, (), row.get("category") or path.stem, f"{path.name}:{reader.line_num}")


@dataclass(frozen=True)
class Splitter:
    """Deterministic split by the query's key, so every pair of one query lands in the same split.

    heldout: neither indexed nor trained on (evaluation only); ranker: indexed, the ranker's training
    queries (their own entries are masked from retrieval while featurising), not seen by the generator;
    train: indexed and the generator's training data.
    """

    heldout: float = 0.1
    ranker: float = 0.15
    salt: str = "dialog-chat-v1"
    _cache: dict[str, Split] = field(default_factory=dict, compare=False, repr=False)

    def __call__(self, query: str) -> Split:
        k = key(query)
        if k not in self._cache:
            digest = hashlib.blake2b(f"{self.salt}:{k}".encode(), digest_size=8).digest()
            u = int.from_bytes(digest, "big") / 2**64
            self._cache[k] = (
                "heldout" if u < self.heldout else "ranker" if u < self.heldout + self.ranker else "train"
            )
        return self._cache[k]
