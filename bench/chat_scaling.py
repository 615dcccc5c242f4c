"""Core chat's cost as the index grows: per-turn latency (no generator) and memory per worker.

    .venv/bin/python bench/chat_scaling.py [--home DIR] [--sizes 1500,10000,0] [--turns 200]

--home is the data dir of `dialog setup` (the full default corpus: size 0 in --sizes). Smaller sizes are
indexes built from the first N pairs of that index (the curated corpora first, then the chit-chat
corpus), with the same ranker and matcher copied in. Each size runs in its own process (a worker):
`Agent.respond`'s core-chat time from the trace over distinct held-out messages, 10 users in
conversation, dense search as the settings say (DIALOG_CHAT_VECTOR_INDEX: the shared Redis vector set,
or `local`), and the worker's peak RSS. bench/vector_index.py has the dense search alone up to 1M rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def worker(home: Path, turns: int) -> dict:
    """Runs in a fresh process: load the agent on `home`, answer `turns` distinct messages."""
    from dialog.agent import Agent
    from dialog.chat.index import read_jsonl
    from dialog_core.settings import Settings

    settings = Settings(home=home, chat_generator_enabled=False, chat_seed=1)
    started = time.perf_counter()
    agent = Agent.from_settings(settings)
    agent.respond("warm", "hello there")
    loaded_s = time.perf_counter() - started
    texts = list(dict.fromkeys(p.query for p in read_jsonl(home / "index" / "heldout.jsonl")))[:turns]
    run = f"{time.time():.0f}"
    times = []
    for n, text in enumerate(texts):
        timings = agent.respond(f"{run}-{n % 10}", text).trace.get("timings_ms", {})
        if "handle.chitchat" in timings:
            times.append(timings["handle.chitchat"])
    dense = {c.name: c.detail for c in agent.describe()}.get("core chat dense search", "?")
    pairs = len(agent.handlers["chitchat"].featurizer.index.pairs)
    agent.close()
    return {
        "pairs": pairs,
        "turns": len(times),
        "p50_ms": round(percentile(times, 0.5), 1),
        "p95_ms": round(percentile(times, 0.95), 1),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "load_s": round(loaded_s, 1),
        "dense": dense,
    }


def smaller_home(full: Path, size: int, root: Path) -> Path:
    """A data dir whose index holds the first `size` pairs of the full one, with its ranker and matcher."""
    from dialog.chat import training
    from dialog.chat.corpus import Splitter
    from dialog.chat.index import read_jsonl
    from dialog_core.settings import Settings

    home = root / f"home-{size}"
    pairs = read_jsonl(full / "index" / "pairs.jsonl")[:size] + read_jsonl(full / "index" / "heldout.jsonl")
    corpus = root / f"first-{size}.jsonl"
    with open(corpus, "w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(
                json.dumps({"query": pair.query, "response": pair.response}, ensure_ascii=False) + "\n"
            )
    meta = json.loads((full / "index" / "meta.json").read_text(encoding="utf-8"))
    settings = Settings(home=home, chat_generator_enabled=False)
    from dialog.runtime.services import Services

    services = Services.connect(settings)
    training.build_index(
        settings, [corpus], include_default=False, splitter=Splitter(**meta["splitter"]), services=services
    )
    services.close()
    for name in ("ranker", "matcher"):
        shutil.copytree((full / "models" / name).resolve(), home / "models" / name)
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--sizes", default="1500,10000,0", help="indexed pairs per run; 0: the full index")
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.turns)))
        return
    from dialog_core.settings import Settings

    full = args.home or Settings().home
    print(
        f"core chat per turn (no generator), {args.turns} distinct held-out messages, 10 users; "
        f"dense search: DIALOG_CHAT_VECTOR_INDEX={os.environ.get('DIALOG_CHAT_VECTOR_INDEX', 'local')}"
    )
    print(f"{'pairs':>8} {'p50 ms':>8} {'p95 ms':>8} {'RSS MB':>8} {'load s':>7}  dense search")
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            home = full if size == 0 else smaller_home(full, size, Path(tmp))
            done = subprocess.run(
                [sys.executable, __file__, "--worker", str(home), "--turns", str(args.turns)],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"{row['pairs']:>8} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['rss_mb']:>8} "
                f"{row['load_s']:>7}  {row['dense']}"
            )
            if home != full:
                from dialog.runtime.embedded import EmbeddedServer

                EmbeddedServer(home).stop()


if __name__ == "__main__":
    main()
