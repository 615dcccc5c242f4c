"""The shared vector set (Redis 8 vector sets in the real embedded server): round trip, recall of the
sharded sets against exact search, atomic switch, stale detection, and core chat surviving its loss."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from dialog.agent import Agent
from dialog.chat import training
from dialog.chat.assembly import Parts
from dialog.chat.corpus import Splitter
from dialog.chat.index import SHARED_SET, ExactNearest, RetrievalIndex, is_published, publish
from dialog.chat.vectors import SharedVectors, VectorIndexError
from dialog.runtime.embedded import EmbeddedServer
from dialog.runtime.services import Services
from dialog_core.settings import Settings
from skills.registry import SkillRegistry

pytestmark = pytest.mark.timeout(600)

ROWS = [
    {"query": "Do you like movies?", "response": "I love films, especially old ones."},
    {"query": "What's your favourite food?", "response": "Dumplings, every single day."},
    {"query": "Do you play any sport?", "response": "I swim twice a week."},
    {"query": "你喜欢看电影吗？", "response": "喜欢，我周末常去电影院。"},
    {"query": "你最喜欢吃什么？", "response": "我最喜欢吃饺子。"},
    {"query": "你会游泳吗？", "response": "会，我每周游两次。"},
]


def unit_rows(count: int, dim: int, seed: int) -> np.ndarray:
    matrix = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def redis_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    home = tmp_path_factory.mktemp("vectors")
    services = Services.connect(Settings(home=home))
    yield services
    services.close()
    EmbeddedServer(home).stop()


@pytest.fixture
def store(redis_services: Services, user_id: str) -> SharedVectors:
    return SharedVectors(redis_services.redis, f"t{user_id[-6:]}")  # a key prefix of its own per test


def test_the_embedded_server_holds_vector_sets(store: SharedVectors) -> None:
    assert store.support() is None


def test_sharded_search_finds_what_exact_search_finds(store: SharedVectors) -> None:
    """Queries near stored vectors (the way messages lie near indexed texts), 4 shards merged."""
    matrix = unit_rows(3000, 48, seed=1)
    store.publish("b1", SHARED_SET, matrix)
    queries = matrix[:40] + 0.25 * unit_rows(40, 48, seed=2)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = ExactNearest(matrix)
    recall = []
    for query in queries:
        rows, cosines = store.search("b1", SHARED_SET, query, 10)
        truth = exact.nearest(query, 10)
        recall.append(len(set(rows.tolist()) & set(truth.tolist())) / 10)
        assert np.allclose(cosines, matrix[rows] @ query, atol=0.02)  # Q8 quantisation
        assert list(cosines) == sorted(cosines, reverse=True)
    assert np.mean(recall) >= 0.97
    assert len(store.client.keys(f"{store.prefix}:{{chatvec:b1:*")) == store.shards  # one hash tag a shard


def test_a_switch_keeps_the_build_before_and_drops_older_ones(store: SharedVectors) -> None:
    matrix = unit_rows(200, 16, seed=3)
    for build in ("old", "previous", "new"):
        store.publish(build, SHARED_SET, matrix)
        store.switch(build)
    assert store.current() == "new"
    assert store.holds("previous", SHARED_SET)  # a worker still on the previous files keeps searching it
    assert len(store.search("previous", SHARED_SET, matrix[0], 5)[0]) == 5
    assert not store.holds("old", SHARED_SET)
    assert store.client.keys(f"{store.prefix}:{{chatvec:old:*") == []
    with pytest.raises(VectorIndexError, match="missing or incomplete"):
        store.search("old", SHARED_SET, matrix[0], 5)


def test_an_unfinished_build_is_never_searched(store: SharedVectors) -> None:
    """A build whose publication stopped halfway has no completion record: stale, not half an answer."""
    matrix = unit_rows(100, 16, seed=4)
    store.publish("half", SHARED_SET, matrix)
    store.client.delete(f"{store.prefix}:chatvec:build:half")  # as if the process died before the end
    assert not store.holds("half", SHARED_SET)
    with pytest.raises(VectorIndexError, match="rebuild the index"):
        store.search("half", SHARED_SET, matrix[0], 5)


def test_an_unreachable_server_is_one_sentence() -> None:
    store = SharedVectors(redis.Redis(port=1, socket_connect_timeout=1))
    assert (
        store.support() == "The Redis server for core chat's vector set cannot be reached (ConnectionError)."
    )
    with pytest.raises(VectorIndexError, match="unreachable"):
        store.search("b", SHARED_SET, unit_rows(1, 8, 0)[0], 3)


# ---------------------------------------------------------------------- in core chat


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("shared-index")
    corpus = home / "pairs.jsonl"
    corpus.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in ROWS), encoding="utf-8")
    settings = Settings(home=home, chat_vector_index="redis")
    services = Services.connect(settings)
    try:
        meta = training.build_index(settings, [corpus], include_default=False, splitter=Splitter(0, 0),
                                    services=services)  # fmt: skip
        assert meta["shared_vectors"]
    finally:
        services.close()
    yield home
    EmbeddedServer(home).stop()


def test_a_chinese_query_retrieves_chinese_pairs_through_the_shared_set(shared_home: Path) -> None:
    settings = Settings(home=shared_home, chat_vector_index="redis")
    services = Services.connect(settings)
    try:
        parts = Parts(settings, services=services)
        index = parts.index
        assert index.dense.description == "the shared Redis vector set"
        hits = index.search("你爱看电影吗", parts.embedder.one("你爱看电影吗"), k=2)
        assert index.pairs[hits[0].pair].response == "喜欢，我周末常去电影院。"
        assert index.dense.description == "the shared Redis vector set"  # it answered, no fallback
    finally:
        services.close()


def test_the_set_gone_core_chat_says_so_once_and_answers_from_its_own_copy(
    shared_home: Path, caplog: pytest.LogCaptureFixture, user_id: str
) -> None:
    settings = Settings(home=shared_home, chat_vector_index="redis", chat_generator_enabled=False)
    agent = Agent.from_settings(settings, skills=SkillRegistry())
    try:
        store = SharedVectors(agent.services.redis, settings.key_prefix)
        build = store.current()
        assert agent.respond(user_id, "do you like movies?").text
        for key in agent.services.redis.scan_iter(match=f"{settings.key_prefix}:{{chatvec:{build}:*"):
            agent.services.redis.delete(key)  # an operator flushed it, or a cluster lost the shard
        with caplog.at_level(logging.WARNING):
            reply = agent.respond(user_id, "what's your favourite food?")
            agent.respond(user_id, "你会游泳吗？")
        assert reply.text and reply.route != "error"
        warnings = [r.getMessage() for r in caplog.records if "vector set" in r.getMessage()]
        assert len(warnings) == 1 and "searches its own copy" in warnings[0]
        dense = {c.name: c.detail for c in agent.describe()}["core chat dense search"]
        assert dense.startswith("The shared vector set of this index")
        assert not is_published(settings, agent.services)  # so `dialog setup` publishes them again
        assert publish(shared_home, store) == RetrievalIndex.load(shared_home).meta["texts"]
        assert is_published(settings, agent.services)
    finally:
        agent.close()
