"""Understanding: intent accuracy / macro-F1, emotion accuracy, routing accuracy, per-stage latency.

    .venv/bin/python bench/understanding.py

- intent: a model trained on the training split only, scored on the held-out split (corpus lines,
  knowledge templates and country/city names never seen in training, skill examples held out);
- emotion: data/understanding/emotion_eval.yaml (hand-labelled, written for evaluation only);
- routing: the whole agent (installed skills, knowledge linker, policy), its intent model swapped
  for the one trained on the training split only, on the held-out intent examples, each sent as
  the first message of a new user; the decision's route is compared with the expected one
  (chitchat and out-of-scope -> chitchat, knowledge -> kbqa, skill -> skill:<name>);
- latency: each understanding stage, warm, over the routing messages (p50/p95 in ms).
Runs in a temporary data dir (the world graph is imported there if the knowledge package provides
a setup step).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import yaml

from dialog.agent import Agent
from dialog.runtime.embedded import EmbeddedServer
from dialog.understanding.emotion import EmotionDetector, EmotionLexicons
from dialog.understanding.intent import KNOWLEDGE, OUT_OF_SCOPE, IntentModel, build_dataset
from dialog_core.component import setup_steps
from dialog_core.settings import SHIPPED_DATA_DIR, Settings
from dialog_core.turn import CHITCHAT, EDITORIAL, KBQA, TOPIC

EXPECTED_ROUTE = {CHITCHAT: CHITCHAT, OUT_OF_SCOPE: CHITCHAT, KNOWLEDGE: KBQA}
CHAT_FAMILY = (CHITCHAT, TOPIC, EDITORIAL)  # core chat, or what answers when it declines


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def bench_emotion() -> None:
    detector = EmotionDetector(EmotionLexicons())
    data = yaml.safe_load(
        (SHIPPED_DATA_DIR / "understanding" / "emotion_eval.yaml").read_text(encoding="utf-8")
    )
    for language, rows in data.items():
        hits = sum(detector.detect(row["text"], language).label == row["label"] for row in rows)
        print(f"emotion accuracy ({language}, {len(rows)} held-out sentences): {hits / len(rows):.3f}")


def bench_routing(agent: Agent) -> None:
    dataset = build_dataset(agent.skills)
    model = IntentModel.train(dataset.train, dataset.fingerprint)
    report = model.evaluate(dataset.heldout, len(dataset.train))
    print(f"intent (trained on {report.train_size}, held-out {report.heldout_size}): "
          f"accuracy {report.accuracy:.4f}, macro-F1 {report.macro_f1:.4f}")  # fmt: skip
    for label, f1 in report.per_label_f1.items():
        print(f"  F1 {label:<24} {f1:.4f}")
    # the deployed model also learned from the held-out split: route with the training-split model
    [classify] = [stage for stage in agent.stages if stage.name == "intent"]
    classify.model = model

    stage_ms: dict[str, list[float]] = defaultdict(list)
    confusion: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    correct = handled = 0
    for n, example in enumerate(dataset.heldout):
        expected = EXPECTED_ROUTE.get(example.label, example.label)
        reply = agent.respond(f"routing-{n}", example.text)
        decided = reply.trace["decision"]["route"]
        correct += decided == expected
        if decided != expected:
            confusion[(expected, decided)] += 1
            if len(examples[(expected, decided)]) < 3:
                examples[(expected, decided)].append(repr(example.text))
        handled += reply.route == expected or (expected == CHITCHAT and reply.route in CHAT_FAMILY)
        understanding = {s: ms for s, ms in reply.trace["timings_ms"].items() if s.startswith("understand.")}
        for stage, ms in understanding.items():
            stage_ms[stage].append(ms)
        stage_ms["understanding, all stages"].append(sum(understanding.values()))
    total = len(dataset.heldout)
    print(f"routing accuracy (whole agent, {total} held-out messages): {correct / total:.4f}")
    for (expected, decided), count in confusion.most_common(8):
        shown = "; ".join(examples[(expected, decided)])
        print(f"  {count:3d} x expected {expected}, routed {decided}, e.g. {shown}")
    print(
        "answered-by accuracy (the route that answered after fallbacks: a KBQA attempt that finds "
        f"no answer passes the turn to core chat): {handled / total:.4f}"
    )
    print("understanding latency, warm (ms):")
    for stage, values in stage_ms.items():
        print(f"  {stage:<28} p50 {statistics.median(values):6.2f}   p95 {percentile(values, 0.95):6.2f}")


def main() -> None:
    bench_emotion()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        agent = Agent.from_settings(settings)  # starts the embedded server
        for step in setup_steps(agent.components):  # core chat's artifacts do not change a routing decision
            if not step.name.startswith("core chat") and not step.ready(settings, agent.services):
                started = time.perf_counter()
                step.run(settings, agent.services)
                print(f"(setup: {step.name} in {time.perf_counter() - started:.0f} s)")
        agent.close()
        agent = Agent.from_settings(settings)
        try:
            agent.respond("warm-up", "hello")
            bench_routing(agent)
        finally:
            agent.close()
            EmbeddedServer(Path(home)).stop()


if __name__ == "__main__":
    main()
