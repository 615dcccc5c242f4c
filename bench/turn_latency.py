"""Turn latency of `Agent.respond` on the embedded server, and the server's cold start.

    .venv/bin/python bench/turn_latency.py [--turns 1000] [--users 10]

Runs in a fresh temporary data dir; prints the figures.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from dialog.agent import Agent
from dialog.runtime.embedded import EmbeddedServer
from dialog.settings import Settings

MESSAGES = [
    "hello there",
    "how are you today?",
    "你好呀",
    "今天天气怎么样",
    "tell me something fun",
    "我有点累了",
]


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
    args = parser.parse_args()

    starts = cold_starts(5)
    print(
        f"embedded server cold start (5 runs): median {statistics.median(starts):.1f} ms, "
        f"max {max(starts):.1f} ms"
    )

    with tempfile.TemporaryDirectory() as home:
        started = time.perf_counter()
        agent = Agent.from_settings(Settings(home=Path(home)))
        print(f"Agent.from_settings incl. server start: {(time.perf_counter() - started) * 1000:.1f} ms")
        for user in range(args.users):  # warm-up: one turn per user
            agent.respond(f"bench-{user}", "hi")
        latencies = []
        began = time.perf_counter()
        for n in range(args.turns):
            sent = time.perf_counter()
            agent.respond(f"bench-{n % args.users}", MESSAGES[n % len(MESSAGES)])
            latencies.append((time.perf_counter() - sent) * 1000)
        elapsed = time.perf_counter() - began
        agent.close()
        EmbeddedServer(Path(home)).stop()

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
