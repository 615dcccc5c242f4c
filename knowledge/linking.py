"""Entity linking: names and aliases of the graph's nodes, in both languages, found in a message.

One Aho-Corasick pass finds every alias (longest match wins where they overlap); each mention's
candidates are then scored:

- prior: the type (a country before a city of the same name) and, for cities, population;
- the alias is the node's own name (+), the mention is lower-case in a text that capitalises (-),
  a city's name is an everyday English word ("Nice", "Split"; measured on the chatterbot English
  corpus) (-), and more so when it opens the sentence;
- dialogue context: a candidate linked by a relationship to another entity of the message or of the
  recent turns wins ("Paris" is the French capital, unless the context says Texas).

The alias index is read from the graph once, cached on disk per graph revision, and reloaded when an
import bumps the revision.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import pickle
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from dialog_core.errors import ServiceUnavailable
from dialog_core.services import GraphStore
from dialog_core.text import fold, is_cjk
from dialog_core.turn import Entity, Turn
from knowledge.matching import PhraseMatcher
from knowledge.writer import ENTITY, read_meta

log = logging.getLogger(__name__)

INDEX_FORMAT = 2  # 2: Chinese aliases without spaces between characters
MIN_SCORE = 0.3
TYPE_PRIOR = {"Country": 0.8, "Region": 0.65, "State": 0.6, "Currency": 0.6, "Language": 0.6}
OTHER_PRIOR = 0.6
CITY_BASE, CITY_PER_DECADE, CITY_MIN_POPULATION = 0.3, 0.08, 15_000
NAME_BONUS = 0.1
CONTEXT_BONUS = 0.45  # related to another entity of the same message
RECENT_BONUS = 0.25  # related to an entity of the recent turns
LOWERCASE_PENALTY = 0.2
COMMON_WORD_PENALTY = 0.2
SENTENCE_START_PENALTY = 0.15
PLACE_TYPES = {"City", "Region", "State"}  # whose lower-case mention in capitalised text is not a name


@dataclass(frozen=True)
class Node:
    id: str
    type: str
    name: str
    name_zh: str | None
    population: float


@dataclass(frozen=True)
class Alias:
    node: int  # index into AliasIndex.nodes
    text: str  # as stored
    is_name: bool
    case_sensitive: bool  # an all-capitals abbreviation ("USA", "UK") matches only as written


@dataclass
class Candidate:
    node: Node
    index: int
    score: float


@dataclass
class Mention:
    start: int
    end: int
    text: str  # as the user wrote it
    candidates: list[Candidate]  # best first

    @property
    def best(self) -> Candidate:
        return self.candidates[0]

    def entity(self) -> Entity:
        best = self.best
        return Entity(
            id=best.node.id,
            name=best.node.name,
            type=best.node.type,
            mention=self.text,
            score=round(min(best.score, 1.0), 3),
        )


@dataclass
class AliasIndex:
    revision: int
    nodes: list[Node]
    matcher: PhraseMatcher[Alias]
    neighbours: dict[int, set[int]] = field(default_factory=dict)  # both directions
    by_key: dict[tuple[str, str], int] = field(default_factory=dict)  # (type, id) -> node index

    @classmethod
    def build(cls, store: GraphStore, revision: int) -> AliasIndex:
        rows = store.query(
            f"MATCH (n:{ENTITY}) WHERE n.name IS NOT NULL RETURN n.id AS id, labels(n) AS labels, "
            "n.name AS name, n.name_zh AS name_zh, n.aliases AS aliases, n.population AS population"
        )
        nodes: list[Node] = []
        entries: list[tuple[str, Alias]] = []
        by_id: dict[str, list[int]] = {}
        for row in rows:
            label = next((lab for lab in row["labels"] if lab != ENTITY), ENTITY)
            index = len(nodes)
            nodes.append(
                Node(str(row["id"]), label, row["name"], row["name_zh"], float(row["population"] or 0))
            )
            by_id.setdefault(str(row["id"]), []).append(index)
            names = {row["name"], row["name_zh"]} - {None}
            for alias in {*(row["aliases"] or []), *names}:
                entries.extend(_alias_entries(str(alias), index, alias in names))
        neighbours: dict[int, set[int]] = {}
        for edge in store.query(f"MATCH (a:{ENTITY})-->(b:{ENTITY}) RETURN a.id AS a, b.id AS b"):
            for a in by_id.get(str(edge["a"]), []):
                for b in by_id.get(str(edge["b"]), []):
                    neighbours.setdefault(a, set()).add(b)
                    neighbours.setdefault(b, set()).add(a)
        by_key = {(node.type, node.id): index for index, node in enumerate(nodes)}
        return cls(revision, nodes, PhraseMatcher(entries), neighbours, by_key)


def _alias_entries(alias: str, index: int, is_name: bool) -> Iterable[tuple[str, Alias]]:
    alias = alias.strip()
    if is_cjk(alias):
        if len(alias) >= 2:  # "科科斯 群岛" is matched as "科科斯群岛" is, with or without the space
            yield _squeeze(fold(alias), list(range(len(alias) + 1)))[0], Alias(index, alias, is_name, False)
        return
    abbreviation = alias.isupper() and len(alias) <= 4
    if len(alias) >= 3 or abbreviation:
        yield fold(alias), Alias(index, alias, is_name, abbreviation)


@cache
def common_english_words() -> frozenset[str]:
    """Lower-case words of the chatterbot English conversation corpus: everyday words."""
    try:
        import chatterbot_corpus
    except ImportError:  # the corpus is optional here: without it no name counts as a common word
        return frozenset()
    words: set[str] = set()
    for path in (Path(chatterbot_corpus.__file__).parent / "data" / "english").glob("*.yml"):
        with contextlib.suppress(OSError, yaml.YAMLError, AttributeError):
            for conversation in yaml.safe_load(path.read_text(encoding="utf-8")).get("conversations", []):
                for line in conversation:
                    words.update(re.findall(r"\b[a-z]+\b", str(line)))
    return frozenset(words)


class EntityLinker:
    """Finds the graph's entities in a text; also the understanding stage that fills nlu.entities."""

    name = "entities"

    def __init__(self, store: GraphStore, cache_dir: Path | None = None, refresh_s: float = 5.0) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.refresh_s = refresh_s
        self._index: AliasIndex | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the index

    def index(self) -> AliasIndex:
        """The alias index of the graph's current revision (checked at most every `refresh_s`)."""
        now = time.monotonic()
        if self._index is not None and now - self._checked < self.refresh_s:
            return self._index
        with self._lock:
            revision = int(read_meta(self.store, "graph").get("revision") or 0)
            self._checked = time.monotonic()
            if self._index is None or self._index.revision != revision:
                self._index = self._load(revision)
            return self._index

    def _cache_path(self) -> Path | None:
        if self.cache_dir is None:
            return None
        where = (
            f"{self.store.backend} {getattr(self.store, 'where', '')} {getattr(self.store, 'graph_name', '')}"
        )
        digest = hashlib.sha256(where.encode()).hexdigest()[:12]
        return self.cache_dir / f"aliases-{digest}.pickle"

    def _load(self, revision: int) -> AliasIndex:
        common_english_words()  # read once, with the index, not in the middle of a turn
        path = self._cache_path()
        if path is not None and path.is_file():
            with contextlib.suppress(Exception):  # a stale or unreadable cache is rebuilt
                with path.open("rb") as handle:
                    stored_format, index = pickle.load(handle)
                if stored_format == INDEX_FORMAT and index.revision == revision:
                    return index
        started = time.perf_counter()
        index = AliasIndex.build(self.store, revision)
        log.info("alias index: %d nodes in %.2fs", len(index.nodes), time.perf_counter() - started)
        if path is not None:
            with contextlib.suppress(OSError):
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(".tmp")
                with partial.open("wb") as handle:
                    pickle.dump((INDEX_FORMAT, index), handle, protocol=pickle.HIGHEST_PROTOCOL)
                partial.replace(path)
        return index

    # ------------------------------------------------------------------ linking

    def __call__(self, turn: Turn) -> None:
        text = turn.nlu.rewritten or turn.nlu.normalized
        context = [(e.type, e.id) for e in turn.state.last_entities]
        try:
            mentions = self.link(text, context)
        except ServiceUnavailable as error:  # without the graph the turn goes on, as chat
            turn.trace.record("entities", f"not linked: {error}")
            return
        turn.nlu.entities = [mention.entity() for mention in mentions]

    def link(self, text: str, context: Sequence[tuple[str, str]] = ()) -> list[Mention]:
        """Mentions in `text` with their candidates scored, best first; weak ones left out."""
        index = self.index()
        folded, offsets = _squeeze(*_fold_with_offsets(text))
        capitalises = any(char.isupper() for char in text)
        mentions: list[Mention] = []
        for match in index.matcher.all(folded):
            start, end = offsets[match.start], offsets[match.end]
            written = text[start:end]
            scored = []
            for alias in match.payloads:
                if alias.case_sensitive and written != alias.text:
                    continue
                node = index.nodes[alias.node]
                score = _prior(node) + (NAME_BONUS if alias.is_name else 0.0)
                if not is_cjk(written) and not alias.case_sensitive:
                    lowercase = written == written.lower() and alias.text != alias.text.lower()
                    if lowercase and capitalises:
                        if node.type in PLACE_TYPES:
                            continue
                        score -= LOWERCASE_PENALTY
                    # a capital letter opening the sentence says nothing of a word everyday English
                    # does not use ("Oranjestad is the capital of..."); of one it does, it does
                    everyday = written.lower() in common_english_words()
                    if node.type == "City" and " " not in written and everyday:
                        score -= COMMON_WORD_PENALTY + (SENTENCE_START_PENALTY if start == 0 else 0.0)
                scored.append(Candidate(node, alias.node, score))
            if scored:
                mentions.append(Mention(start, end, written, _best_per_node(scored)))
        mentions = _non_overlapping(mentions)
        _apply_context(index, mentions, context)
        return [m for m in mentions if m.candidates and m.best.score >= MIN_SCORE]


def _non_overlapping(mentions: list[Mention]) -> list[Mention]:
    """The longest mentions first, then the likelier ("喀麦隆比加蓬": 加蓬 the country, not 比加 the
    city), then the leftmost; in text order."""
    chosen: list[Mention] = []
    for mention in sorted(mentions, key=lambda m: (m.start - m.end, -m.best.score, m.start)):
        if all(mention.end <= other.start or mention.start >= other.end for other in chosen):
            chosen.append(mention)
    return sorted(chosen, key=lambda m: m.start)


def _prior(node: Node) -> float:
    if node.type == "City":
        decades = math.log10(max(node.population, CITY_MIN_POPULATION) / CITY_MIN_POPULATION)
        return CITY_BASE + CITY_PER_DECADE * decades
    return TYPE_PRIOR.get(node.type, OTHER_PRIOR)


def _best_per_node(scored: list[Candidate]) -> list[Candidate]:
    best: dict[int, Candidate] = {}
    for candidate in scored:
        if candidate.index not in best or candidate.score > best[candidate.index].score:
            best[candidate.index] = candidate
    return sorted(best.values(), key=lambda c: -c.score)


def _apply_context(index: AliasIndex, mentions: list[Mention], context: Sequence[tuple[str, str]]) -> None:
    """A candidate related to another mention's best candidate, or to a recent entity, gains."""
    recent = {index.by_key[key] for key in context if key in index.by_key}
    for mention in mentions:
        others = {other.best.index for other in mentions if other is not mention and other.candidates}
        for candidate in mention.candidates:
            neighbours = index.neighbours.get(candidate.index, set())
            if neighbours & others:
                candidate.score += CONTEXT_BONUS
            elif neighbours & recent:
                candidate.score += RECENT_BONUS
        mention.candidates.sort(key=lambda c: -c.score)


def _squeeze(folded: str, offsets: list[int]) -> tuple[str, list[int]]:
    """`folded` without the spaces between two Chinese characters ("科科斯 群岛": how pycountry writes
    a name, or a user types one), and the offsets of what is left."""
    kept = [i for i, char in enumerate(folded) if not (char.isspace() and _between_cjk(folded, i))]
    if len(kept) == len(folded):
        return folded, offsets
    return "".join(folded[i] for i in kept), [offsets[i] for i in kept] + [offsets[len(folded)]]


def _between_cjk(text: str, position: int) -> bool:
    before = text[:position].rstrip()
    after = text[position:].lstrip()
    return bool(before and after and is_cjk(before[-1]) and is_cjk(after[0]))


def _fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """`fold(text)` and, for each of its positions (and its end), the position in `text`."""
    folded = fold(text)
    if len(folded) == len(text):
        return folded, list(range(len(text) + 1))
    parts, offsets = [], []
    for position, char in enumerate(text):
        piece = fold(char)
        parts.append(piece)
        offsets.extend([position] * len(piece))
    offsets.append(len(text))
    return "".join(parts), offsets
