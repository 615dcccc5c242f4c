"""Turn latency of `Agent.respond` on the embedded server, and the server's cold start.

    .venv/bin/python bench/turn_latency.py [--home DIR] [--turns 1000] [--users 10]

The messages are the distinct lines of chatterbot-corpus (English and Chinese), shuffled: no user
repeats one, so no cache helps and the topic manager sees no repetition. Without --home a fresh
temporary data dir is used: the pipeline, state and server with no models (core chat answers
editorially); with the data dir of `dialog setup`, the whole agent (core chat, knowledge graph,
skills; the generator as DIALOG_CHAT_GENERATOR_ENABLED says).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import tempfile
import time
from pathlib import Path

from dialog.agent import Agent
from dialog.chat.corpus import default_corpus_files, load_corpora
from dialog.runtime.embedded import EmbeddedServer
from dialog_core.settings import Settings


def messages(seed: int = 7) -> list[str]:
    pairs = load_corpora(default_corpus_files(), skipped=[])
    ordered = sorted({line for pair in pairs for line in (pair.query, pair.response) if line.strip()})
    random.Random(seed).shuffle(ordered)
    return ordered


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def cold_starts(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            server = EmbeddedServer(Path(home))
            started = time.perf_counter()
            server.ensure_running()
            times.append((time.perf_counter() - started) * 1000)
            server.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--home", type=Path, help="data dir of `dialog setup` (default: a fresh one)")
    args = parser.parse_args()

    starts = cold_starts(5)
    print(
        f"embedded server cold start (5 runs): median {statistics.median(starts):.1f} ms, "
        f"max {max(starts):.1f} ms"
    )

    texts = messages()
    with contextlib.ExitStack() as stack:
        home = args.home or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        started = time.perf_counter()
        agent = Agent.from_settings(Settings(home=home))
        print(f"Agent.from_settings incl. server start: {(time.perf_counter() - started) * 1000:.1f} ms")
        run = f"{time.time():.0f}"  # fresh users on every run, also in a reused data dir
        for user in range(args.users):  # warm-up: one turn per user
            agent.respond(f"bench-{run}-{user}", "hi")
        latencies = []
        began = time.perf_counter()
        for n in range(args.turns):
            sent = time.perf_counter()
            agent.respond(f"bench-{run}-{n % args.users}", texts[n % len(texts)])
            latencies.append((time.perf_counter() - sent) * 1000)
        elapsed = time.perf_counter() - began
        agent.close()
        if args.home is None:
            EmbeddedServer(home).stop()

    print(
        f"Agent.respond over {args.turns} turns ({args.users} users, history up to "
        f"{args.turns // args.users} turns each):"
    )
    print(
        f"  p50 {percentile(latencies, 0.50):.2f} ms   p95 {percentile(latencies, 0.95):.2f} ms   "
        f"p99 {percentile(latencies, 0.99):.2f} ms   max {max(latencies):.2f} ms"
    )
    print(f"  throughput {args.turns / elapsed:.0f} turns/s (one thread)")


if __name__ == "__main__":
    main()
