"""Learning from feedback: logged turns as ranker groups, `dialog train ranker --with-feedback` (both
held-out sets, a worse ranker refused), and approved replies into the corpus
(`dialog corpus add-from-feedback`) that a rebuilt index serves."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dialog.agent import Agent
from dialog.chat import artifacts, training
from dialog.chat.corpus import Splitter, approved_corpus_file
from dialog.chat.features import FEATURES
from dialog.chat.index import RetrievalIndex
from dialog.feedback.log import LAST
from dialog.feedback.training import feedback_groups, group_of, heldout_user, servable
from dialog.runtime.embedded import EmbeddedServer
from dialog.understanding.basic import detect_language
from dialog_core.settings import Settings
from skills.registry import SkillRegistry
from tests.conftest import run_dialog, slice_files

CHAT = ["What is your favourite colour?", "Do you like movies?", "What is the best pizza topping?",
        "Do you play chess?", "你最喜欢什么颜色？", "Hello", "你好"]  # fmt: skip


def copied_home(chat_home: Path, to: Path) -> Path:
    """The small chat home's index and ranker (not its server: the copy gets its own)."""
    shutil.copytree(chat_home, to, symlinks=True, ignore=shutil.ignore_patterns("server", "run", "logs"))
    return to


def chat_settings(home: Path) -> Settings:
    return Settings(home=home, chat_generator_enabled=False, chat_seed=3)


def agent_on(home: Path) -> Agent:
    return Agent.from_settings(chat_settings(home), skills=SkillRegistry())


def users(heldout: bool, count: int, prefix: str) -> list[str]:
    """Deterministic user ids of the held-out slice of the logs, or of the training side."""
    found = (f"{prefix}-{n}" for n in range(10_000))
    return [
        user for user, _ in zip((u for u in found if heldout_user(u) == heldout), range(count), strict=False)
    ]


def ranker_files(home: Path) -> dict[str, bytes]:
    root = artifacts.ranker_dir(home)
    return {"link": str(root.resolve()).encode(), **{p.name: p.read_bytes() for p in root.iterdir()}}


@pytest.fixture(scope="module")
def fb_home(chat_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = copied_home(chat_home, tmp_path_factory.mktemp("feedback") / "home")
    yield home
    EmbeddedServer(home).stop()


@pytest.fixture(scope="module")
def fb_agent(fb_home: Path) -> Iterator[Agent]:
    built = agent_on(fb_home)
    yield built
    built.close()


def test_logged_turns_become_ranker_groups_labelled_by_their_outcome(fb_agent: Agent) -> None:
    user = "labels-1"
    said = ["What is your favourite colour?", "What is the best pizza topping?", "Do you like sports?",
            "Do you play chess?", "do you play chess", "How are you?", "my name is Bob",
            "你最喜欢什么颜色？"]  # fmt: skip
    replies = [fb_agent.respond(user, text) for text in said]
    fb_agent.turn_log.rate(user, replies[1].turn_id, 1)
    fb_agent.turn_log.rate(user, replies[2].turn_id, -1, rated_by="operator")
    entries = fb_agent.turn_log.turns(user)
    ranked = [entries[i] for i in (0, 1, 2, 3, 5)]
    assert all(e.route == "chitchat" and e.chosen is not None and len(e.candidates) >= 2 for e in ranked)
    assert entries[3].rephrased and not entries[5].rephrased
    assert entries[4].chosen is None and not entries[6].candidates  # declined by core chat; not ranked

    idle = fb_agent.settings.session_idle_timeout_s
    found = feedback_groups(entries, idle, heldout_share=0.0)
    # continued, liked, disliked, rephrased, (no group), continued, (no group), still open
    assert dict(found.counts) == {"turns": 8, "positive": 3, "negative": 2, "no group": 2, "open": 1}
    assert not found.heldout
    groups = {g.context.query: g for g in found.train}
    assert list(groups) == [e.text for e in ranked]
    for entry, liked in zip(ranked, [True, True, False, False, True], strict=True):
        labels = groups[entry.text].labels
        assert [c.text for c in groups[entry.text].candidates] == [c.text for c in entry.candidates]
        assert entry.chosen is not None
        if liked:  # the sent reply ranks above every other candidate
            assert labels[entry.chosen] == 2 and labels.count(2) == 1 and set(labels) == {0, 2}
        else:  # every other reply core chat could have sent ranks above it
            language = detect_language(entry.text)
            assert labels[entry.chosen] == 0 and 2 in labels
            others = [(c, label) for i, (c, label) in enumerate(zip(entry.candidates, labels, strict=True))
                      if i != entry.chosen]  # fmt: skip
            assert all((label == 2) == servable(c, language) for c, label in others)

    later = feedback_groups(entries, idle, now=time.time() + idle + 1, heldout_share=0.0)
    assert later.counts["open"] == 0 and later.counts["negative"] == 3  # the last turn: the user left
    assert feedback_groups(entries, idle, heldout_share=1.0).train == []  # every user held out

    chosen = entries[0]
    stale = chosen.model_copy(deep=True)
    del stale.candidates[0].features[FEATURES[0]]  # logged before a feature was added
    lone = chosen.model_copy(update={"candidates": chosen.candidates[:1], "chosen": 0})
    assert group_of(chosen, 1) is not None and group_of(stale, 1) is None and group_of(lone, 1) is None


def test_training_with_feedback_reports_both_heldout_sets_and_publishes(
    fb_agent: Agent, fb_home: Path
) -> None:
    for user in [*users(False, 6, "train"), *users(True, 3, "held")]:
        for text in CHAT:
            fb_agent.respond(user, text)  # each turn but the last continued: positive
        fb_agent.turn_log.rate(user, LAST, -1)
    before = artifacts.meta(artifacts.ranker_dir(fb_home))
    assert before is not None and "feedback" not in before

    result = run_dialog("train", "ranker", "--with-feedback", env={"DIALOG_HOME": str(fb_home)}, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the current ranker and the new one" in result.stdout and "held-out log slice" in result.stdout
    meta = artifacts.meta(artifacts.ranker_dir(fb_home))
    assert meta is not None and meta["trained_at"] > before["trained_at"]
    feedback = meta["feedback"]
    assert (
        feedback["weight"] == 0.5
        and feedback["groups"]["train"] >= 6 * 6
        and feedback["groups"]["heldout"] >= 3 * 6
    )
    for ranker in ("current", "new"):
        for held in ("heldout split", "heldout log slice"):
            assert 0 <= feedback[ranker][held]["r@1"] <= 1
    assert feedback["new"]["heldout split"] == meta["heldout"]["ranker"]
    assert meta["refused"] is None and meta["one_in_ten_r@1"] > 0


def test_a_ranker_made_worse_by_feedback_is_refused_and_the_current_one_stays(
    chat_home: Path, tmp_path: Path
) -> None:
    home = copied_home(chat_home, tmp_path / "home")
    env = {"DIALOG_HOME": str(home), "DIALOG_FEEDBACK_WEIGHT": "1000"}
    try:
        nothing = run_dialog("train", "ranker", "--with-feedback", env=env)
        assert nothing.returncode == 1
        assert (
            "No logged turn makes a training group yet (no turn is logged); train without --with-feedback."
            in (" ".join(nothing.stderr.split()))
        )
        agent = agent_on(home)
        try:
            # inverted preferences: users who liked the candidate ranked last, or disliked the one sent
            queries = dict.fromkeys(p.query for p in RetrievalIndex.load(home).pairs)
            for n, query in enumerate(queries):
                reply = agent.respond(f"contrary-{n}", query)
                entry = agent.turn_log.get(f"contrary-{n}", reply.turn_id)
                assert entry is not None
                if entry.chosen is None or len(entry.candidates) < 2:
                    continue
                if n % 2:
                    agent.turn_log.rate(entry.user_id, entry.turn_id, -1)
                else:
                    entry.chosen, entry.rating, entry.rated_by = len(entry.candidates) - 1, 1, "user"
                    agent.turn_log.update(entry)
        finally:
            agent.close()
        before = ranker_files(home)
        result = run_dialog("train", "ranker", "--with-feedback", env=env, timeout=300)
        assert result.returncode == 1, result.stdout + result.stderr
        said = " ".join(result.stderr.split())
        sentence = said[said.index("The ranker") :]  # after the progress bar
        worse = r"R@1 0\.\d{4} < 0\.\d{4}|R@1 0\.\d{4} as before, NDCG@1 0\.\d{4} < 0\.\d{4}"
        refused = rf"The ranker trained with feedback is worse on the held-out split \(({worse})\); "
        assert re.fullmatch(refused + r"the current ranker stays\.", sentence), sentence
        assert ranker_files(home) == before
    finally:
        EmbeddedServer(home).stop()


def test_approved_replies_become_corpus_pairs_that_a_rebuilt_index_serves(
    fb_agent: Agent, fb_home: Path, corpus_dir: Path, tmp_path: Path
) -> None:
    user, other = "approving-1", "approving-2"
    first = fb_agent.respond(user, "Do you play chess?")
    approved = fb_agent.respond(user, "And which colour do you like the most?")
    liked = fb_agent.respond(other, "hey, what colour do you like best of all?")
    assert approved.route == "chitchat"
    fb_agent.turn_log.rate(user, approved.turn_id, 1, rated_by="operator")
    fb_agent.turn_log.rate(other, liked.turn_id, 1)  # a user's rating: only with --include-user-ratings
    env = {"DIALOG_HOME": str(fb_home)}

    result = run_dialog("corpus", "add-from-feedback", env=env)
    assert result.returncode == 0, result.stderr
    assert "run `dialog index build`, then `dialog train ranker`" in " ".join(result.stdout.split())
    path = approved_corpus_file(fb_home)
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    mine = {
        "query": "And which colour do you like the most?", "response": approved.text,
        "context": ["Do you play chess?", first.text], "category": "approved", "turn_id": approved.turn_id,
    }  # fmt: skip
    assert mine in records and all(r["query"] != "hey, what colour do you like best of all?" for r in records)

    again = run_dialog("corpus", "add-from-feedback", "--include-user-ratings", env=env)
    assert again.returncode == 0, again.stderr
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert records.count(mine) == 1  # not added twice
    assert any(r["query"] == "hey, what colour do you like best of all?" for r in records)

    # A rebuilt index (here of a copy of the data dir, so the other tests keep theirs) includes the file
    rebuilt = tmp_path / "rebuilt"
    shutil.copytree(path.parent, rebuilt / "corpora")
    settings = chat_settings(rebuilt)
    meta = training.build_index(settings, [*slice_files(), corpus_dir / "mine.jsonl"], include_default=False,
                                splitter=Splitter(heldout=0.2, ranker=0.3))  # fmt: skip
    assert str(approved_corpus_file(rebuilt)) in meta["corpora"]
    index = RetrievalIndex.load(rebuilt, serve_heldout=True)
    served = [p for p in index.pairs if p.query == mine["query"]]
    assert [(p.response, p.context) for p in served] == [(approved.text, ("Do you play chess?", first.text))]
    hit = index.search(mine["query"], None, k=1)[0]  # BM25: the message's own words
    assert index.pairs[hit.pair].query == mine["query"] and index.pairs[hit.pair].response == approved.text
