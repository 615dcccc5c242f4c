"""Skills benchmark: precision of the built-in skills' triggers, latency, and the runner's overhead.

    .venv/bin/python bench/skills_bench.py [--turns 30]

- false triggers: the share of chatterbot-corpus lines (English and Chinese chit-chat nobody here
  wrote) that any built-in skill claims with a score >= the skill threshold (lower is better);
- routing of the skills' own declared intent examples (not held out: they are the skills' data);
- Agent.respond p50/p95 per built-in skill, warm, on the embedded server (basic understanding
  stages, so the figure is the skill's share of a turn), and first-use costs of the lazy parsers;
- the time-limit runner's overhead per call and for scoring all skills side by side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from itertools import pairwise
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dialog.runtime.embedded import EmbeddedServer
from dialog.testing import skill_agent
from dialog.understanding import DetectLanguage, Normalize
from dialog_core.settings import Settings
from dialog_core.state import DialogueState
from dialog_core.turn import Turn
from skills.registry import SkillRegistry

PROBES = {  # one message per skill and language, run repeatedly for latency
    "clock": ["what time is it?", "现在几点了"],
    "calculator": ["what is 17 * 23 + 4", "一百二十三乘以四等于多少"],
    "units": ["convert 42 km to miles", "把30摄氏度换算成华氏度"],
    "reminders": ["remind me in 20 minutes to stretch", "明天早上8点提醒我开会"],
    "order_status": ["where is order 2025031410300001?", "帮我查一下订单2025031316420003到哪了"],
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def corpus_lines() -> dict[str, list[str]]:
    import chatterbot_corpus

    root = Path(chatterbot_corpus.__file__).parent / "data"
    lines: dict[str, list[str]] = {"en": [], "zh": []}
    for language, folder in (("en", "english"), ("zh", "chinese")):
        for path in sorted((root / folder).glob("*.yml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for pair in data.get("conversations", []):
                lines[language].extend(str(item) for item in pair if isinstance(item, str))
    return lines


def turn_for(text: str) -> Turn:
    turn = Turn("bench", "bench", text, DialogueState.new("bench", time.time()), time.time())
    Normalize()(turn)
    DetectLanguage()(turn)
    return turn


def trigger_precision(registry: SkillRegistry, threshold: float) -> None:
    print("== false triggers on chatterbot-corpus chit-chat (lower is better)")
    for language, lines in corpus_lines().items():
        claimed: dict[str, int] = {}
        for line in lines:
            scores = registry.scores(turn_for(line))
            best = max(scores, key=scores.get)  # type: ignore[arg-type]
            if scores[best] >= threshold:
                claimed[best] = claimed.get(best, 0) + 1
        total = sum(claimed.values())
        share = 100 * total / len(lines)
        print(f"{language}: {total}/{len(lines)} lines claimed by a skill ({share:.2f}%) {claimed}")
    print("== the skills' own intent examples routed to their skill (not held out)")
    for skill in registry:
        examples = [e for texts in skill.intents.values() for e in texts]
        right = 0
        for example in examples:
            scores = registry.scores(turn_for(example))
            best = max(scores, key=scores.get)  # type: ignore[arg-type]
            right += best == skill.name and scores[best] >= threshold
        print(f"{skill.name}: {right}/{len(examples)}")


def first_use_costs() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from skills import find_times
    from skills.builtin.units import convert

    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    print("== first use of the lazily loaded parsers (cold, this process)")
    for label, call in [
        ("dateparser (English times)", lambda: find_times("in 10 minutes", "en", now)),
        ("JioNLP (Chinese times)", lambda: find_times("明天早上8点", "zh", now)),
        ("pint unit registry", lambda: convert(1, "mile", "kilometer")),
    ]:
        started = time.perf_counter()
        call()
        print(f"{label}: {1000 * (time.perf_counter() - started):.0f} ms")


def runner_overhead(registry: SkillRegistry) -> None:
    skill = next(iter(registry))
    calls = [time.perf_counter()]
    for _ in range(500):
        registry.call(skill, skill.health, timeout_s=1, what="noop")
        calls.append(time.perf_counter())
    per_call = [1e6 * (b - a) for a, b in pairwise(calls)]
    print("== runner")
    print(f"one call under a time limit (executor): p50 {percentile(per_call, 0.5):.0f} us, "
          f"p95 {percentile(per_call, 0.95):.0f} us")  # fmt: skip
    turn = turn_for("what is the weather like")
    samples = []
    for _ in range(200):
        started = time.perf_counter()
        registry.scores(turn)
        samples.append(1000 * (time.perf_counter() - started))
    print(f"scoring all {len(registry)} built-in skills side by side: p50 {percentile(samples, 0.5):.2f} ms, "
          f"p95 {percentile(samples, 0.95):.2f} ms")  # fmt: skip


def respond_latency(turns: int) -> None:
    print(f"== Agent.respond per built-in skill, warm, {turns} turns each (embedded server, basic stages)")
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(home=Path(scratch), timezone="Asia/Shanghai")
        agent = skill_agent(settings, SkillRegistry.discover(settings))
        try:
            for name, messages in PROBES.items():
                for message in messages:
                    agent.respond("warm-up", message)  # lazy imports and caches
                samples = []
                for n in range(turns):
                    user = f"bench-{uuid.uuid4().hex[:8]}"
                    message = messages[n % len(messages)]
                    started = time.perf_counter()
                    reply = agent.respond(user, message)
                    samples.append(1000 * (time.perf_counter() - started))
                    assert reply.route == f"skill:{name}", (message, reply.route)
                print(
                    f"{name}: p50 {statistics.median(samples):.1f} ms, p95 {percentile(samples, 0.95):.1f} ms"
                )
        finally:
            agent.close()
            EmbeddedServer(Path(scratch)).stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=30)
    args = parser.parse_args()
    settings = Settings(home=Path(tempfile.gettempdir()) / "dialog-bench-skills-unused")
    first_use_costs()
    registry = SkillRegistry.discover(settings)
    trigger_precision(registry, settings.skill_threshold)
    runner_overhead(registry)
    respond_latency(args.turns)


if __name__ == "__main__":
    main()
