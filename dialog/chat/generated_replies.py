"""The default generator's replies to ranker-split queries, written beforehand for the ranker's
training groups (dialog.chat.ranker labels them): generating them while `dialog setup` trains the
ranker would add minutes to it on 2 cores.

Regenerate after changing the default model or its prompt (seeded, so reproducible on the same CPU
build of torch):

    DIALOG_HOME=<a home after `dialog setup`> python -m dialog.chat.generated_replies --queries 150
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from pathlib import Path

from dialog.chat.corpus import Pair
from dialog_core.settings import SHIPPED_DATA_DIR, Settings
from dialog_core.text import key

REPLIES_FILE = SHIPPED_DATA_DIR / "chat" / "generated_replies.jsonl"


def load(path: Path = REPLIES_FILE) -> dict[str, list[tuple[str, float]]]:
    """Query key -> (reply, score)s the generator would send today (see neural.unfit); empty when there
    is no file."""
    from dialog.chat.neural import unfit

    if not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {
        key(row["query"]): [(t, s) for t, s in row["replies"] if unfit(t, row["query"]) is None]
        for row in rows
        if "query" in row
    }


def write(settings: Settings, queries: Sequence[Pair], path: Path = REPLIES_FILE) -> int:
    """Generate for each distinct query of `queries` (in order) with the settings' generator."""
    from dialog.chat.assembly import Parts
    from dialog.chat.features import ChatContext
    from dialog.chat.shipped_model import DEFAULT_MODEL
    from dialog.understanding.basic import detect_language

    parts = Parts(settings)
    generator = parts.neural()
    if generator is None:
        raise SystemExit("No generator: run `dialog setup` first.")
    generator.budget_s = 30.0  # measure replies, not the per-turn budget
    seen: set[str] = set()
    meta = {"model": DEFAULT_MODEL.name, "sha256": DEFAULT_MODEL.sha256, "seed": settings.chat_seed}
    lines = [json.dumps(meta)]
    for pair in queries:
        if key(pair.query) in seen:
            continue
        seen.add(key(pair.query))
        language = detect_language(pair.query)
        context = ChatContext(pair.query, language, parts.reader.detect(pair.query, language), pair.context)
        replies = generator.generate(context)
        lines.append(json.dumps({"query": pair.query, "replies": [[t, round(s, 4)] for t, s in replies]},
                                ensure_ascii=False))  # fmt: skip
        print(len(seen), pair.query, "->", [t for t, _ in replies], flush=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(seen)


def main() -> None:
    from dialog.chat.assembly import Parts
    from dialog.chat.training import ranker_split

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=150, help="how many ranker-split queries (sampled)")
    args = parser.parse_args()
    settings = Settings()
    if settings.chat_seed is None:
        settings = Settings(chat_seed=7)
    index = Parts(settings).index
    if index is None:
        raise SystemExit("No index: run `dialog setup` first.")
    pairs = ranker_split(index)
    queries = list(dict.fromkeys(key(p.query) for p in pairs))
    chosen = set(random.Random(7).sample(queries, min(args.queries, len(queries))))
    print(f"wrote replies to {write(settings, [p for p in pairs if key(p.query) in chosen])} queries")


if __name__ == "__main__":
    main()
