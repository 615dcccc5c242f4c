"""ChatterBot BestMatch at the size of the default corpus: its time per reply once trained on the whole
human chit-chat corpus (chitchat-dataset, every adjacent turn pair, as a ChatterBot user would train it).

    /path/to/python-with-chatterbot bench/chatterbot_scale.py [--conversations N] [--replies 40]

Runs in ChatterBot's own environment (`pip install chatterbot chitchat-dataset==0.9.0 pyyaml`): it
pins other versions of libraries this project uses. SQLite storage, its LowercaseTagger (the default
tagger needs the spaCy model en_core_web_sm, not on PyPI). The messages are the English user turns of
bench/conversations_en.yaml. Compare with bench/chat_scaling.py (core chat per turn at the same size).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from importlib import resources
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent


def conversations(limit: int | None) -> list[list[str]]:
    """Each conversation's turns (a speaker's consecutive messages joined), as chitchat.py reads them."""
    data = json.loads(
        resources.files("chitchat_dataset").joinpath("dataset.json").read_text(encoding="utf-8")
    )
    found = []
    for conversation in list(data.values())[:limit]:
        turns = [" ".join(m["text"] for m in group) for group in conversation["messages"]]
        found.append([t for t in turns if t.strip()])
    return found


def main() -> None:
    from chatterbot import ChatBot
    from chatterbot.tagging import LowercaseTagger
    from chatterbot.trainers import ListTrainer

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=None, help="first N conversations (all)")
    parser.add_argument("--replies", type=int, default=40)
    args = parser.parse_args()
    talks = conversations(args.conversations)
    messages = [
        turn
        for script in yaml.safe_load((BENCH / "conversations_en.yaml").read_text(encoding="utf-8"))
        for turn in script["turns"]
    ][: args.replies]
    with tempfile.TemporaryDirectory() as tmp:
        bot = ChatBot(
            "peer",
            storage_adapter="chatterbot.storage.SQLStorageAdapter",
            database_uri=f"sqlite:///{tmp}/db.sqlite3",
            logic_adapters=["chatterbot.logic.BestMatch"],
            tagger=LowercaseTagger,
            read_only=True,
        )
        started = time.perf_counter()
        trainer = ListTrainer(bot, show_training_progress=False)
        for turns in talks:
            trainer.train(turns)
        trained = time.perf_counter() - started
        times = []
        for message in messages:
            sent = time.perf_counter()
            bot.get_response(message)
            times.append(1000 * (time.perf_counter() - sent))
    pairs = sum(len(t) - 1 for t in talks)
    ordered = sorted(times)
    p50, p95 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(
        f"ChatterBot BestMatch, {len(talks)} conversations ({pairs} turn pairs), trained in {trained:.0f} s"
    )
    print(f"  per reply over {len(times)} messages: p50 {p50:.0f} ms, p95 {p95:.0f} ms")


if __name__ == "__main__":
    main()
