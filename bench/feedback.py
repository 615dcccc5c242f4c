"""Learning from feedback, simulated: users of the conversation bench rate the replies, the ranker is
retrained with their feedback, and a fresh run with the retrained ranker is written for blind judging.

    .venv/bin/python bench/feedback.py --home DIR [--out DIR]
        [--sets conversations_fresh,conversations,disclosures] [--limit N] [--passes N] [--seed N]
        [--no-publish]

--home is a prepared data dir (`dialog setup`: index, matcher, ranker, generator), used in place: the
retrained ranker is published there (run on a copy). Steps:

1. Judgements: every earlier blind SSA round under bench/results (each `key*.json` with its
   `packet*_<lang>.md` and `ratings*_<lang><judge>.json`), as (previous user message, user message,
   bot reply) -> the judges' labels, pooled over judges and rounds.
2. Simulated users, one per script of `--sets` (user id `sim-<set>-<lang>-<script id>`), talk to the
   real agent in-process (the agent `dialog serve` runs, warmed up the same way; `DIALOG_*` settings
   apply; the chat seed is `--seed`, as in the judged runs), script by script, `--passes` times (a new
   session each pass), and react to each reply by this rule:
     - a reply the judges found sensible and specific (mean label above 0.5 for both) -> rating +1;
     - one they found not sensible (mean below 0.5) -> rating -1;
     - anything else (sensible, not specific; a tie; never judged) -> no rating: the user just goes on
       with the script's next message, which the turn log records as continued (an implicit positive);
       the last message of a script stays open (no signal).
   Ratings go through the real turn log (`TurnLog.rate`), under a key prefix of this run's own.
3. Retraining (`dialog train ranker --with-feedback`'s code): the corpus groups are made once; a
   ranker is fitted on them alone (the control: what retraining without feedback gives) and one with
   the feedback of the training users (weight `feedback_weight`); the current ranker and both are
   evaluated on the corpus's held-out split and on the held-out simulated users (user ids hashed, 20 %:
   `dialog.feedback.training.heldout_user`); R@1 there = the top candidate agrees with the feedback.
   The feedback ranker is published unless it is worse on the held-out split (or `--no-publish`).
4. The first set again with the published ranker (new users, same seed), and the first pass of it
   (the ranker before) written as transcripts in bench/conversations.py's format, split into the
   held-out and the training users' scripts: `<set>_<before|after>_<heldout|trained>.json` in --out,
   for `bench/ssa.py blind --in ... --in ...`. Figures: --out/feedback.json and printed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from conversations import load_scripts, summarise_trace  # noqa: E402
from ssa import labels  # noqa: E402

RESULTS = HERE / "results"
LANGUAGES = ("en", "zh")
Judged = dict[tuple[str, str, str], list[tuple[int, int]]]  # (previous, message, reply) -> labels


# ---------------------------------------------------------------------- 1. the judgements


def load_judgements(root: Path = RESULTS) -> Judged:
    judged: Judged = defaultdict(list)
    for key_path in sorted(root.rglob("key*.json")):
        suffix = key_path.stem[len("key") :].lstrip("_")  # "" or "A", "B"...
        for language in LANGUAGES:
            packet = key_path.parent / (
                f"packet_{suffix}_{language}.md" if suffix else f"packet_{language}.md"
            )
            if not packet.is_file():
                continue
            turns = packet_turns(packet)
            for ratings_path in sorted(key_path.parent.glob(f"ratings_{suffix}{language}*.json")):
                ratings = json.loads(ratings_path.read_text(encoding="utf-8"))
                for conv, by_turn in ratings.items():
                    for number, rating in by_turn.items():
                        found, said = labels(rating), turns.get(conv, {}).get(int(number))
                        if found is not None and said is not None:
                            judged[said].append(found)
    return dict(judged)


def packet_turns(path: Path) -> dict[str, dict[int, tuple[str, str, str]]]:
    """Per anonymous conversation id, per turn: (previous user message, user message, bot reply)."""
    found: dict[str, dict[int, tuple[str, str, str]]] = {}
    conv, number, previous, user = "", 0, "", ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            conv, previous, user = line[4:].strip(), "", ""
            found[conv] = {}
        elif conv and (said := re.match(r"(\d+)\. User: (.*?)\s*$", line)):
            previous, number, user = user, int(said.group(1)), said.group(2)
        elif conv and line.startswith("   Bot: "):
            found[conv][number] = (previous, user, line[len("   Bot: ") :].strip())
    return found


def reaction(judged: Judged, previous: str, message: str, reply: str) -> int | None:
    """The simulated user's rating of a reply: +1, -1, or None (goes on without rating)."""
    found = judged.get((previous, message, reply.strip()))
    if not found:
        return None
    sensible = sum(s for s, _ in found) / len(found)
    specific = sum(p for _, p in found) / len(found)
    if sensible > 0.5 and specific > 0.5:
        return 1
    return -1 if sensible < 0.5 else None


# ---------------------------------------------------------------------- 2. the simulated users


def simulated_user(name: str, language: str, script_id: str) -> str:
    return f"sim-{name}-{language}-{script_id}"


def simulate(agent: Any, judged: Judged, scripts: dict[tuple[str, str], list[dict[str, Any]]],
             passes: int = 1) -> tuple[dict[str, list[dict[str, Any]]], Counter[str]]:  # fmt: skip
    """Every script, `passes` times; the transcripts of the first pass per set, and what the users did."""
    transcripts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    did: Counter[str] = Counter()
    for number in range(passes):
        for (name, language), found in scripts.items():
            for script in found:
                user = simulated_user(name, language, script["id"])
                if number:
                    agent.reset(user)
                conversation = talk(agent, judged, user, script, language, did)
                if number == 0:
                    transcripts[name].append(conversation)
            print(f"  pass {number + 1}: {name} ({language}) done, {dict(did)}", flush=True)
    return dict(transcripts), did


def talk(agent: Any, judged: Judged | None, user: str, script: dict[str, Any], language: str,
         did: Counter[str]) -> dict[str, Any]:  # fmt: skip
    """One script by one user; with `judged`, the user rates the replies by the rule."""
    turns, previous = [], ""
    for number, text in enumerate(script["turns"], 1):
        started = time.perf_counter()
        reply = agent.respond(user, text)
        row = {"turn": number, "user": text, "reply": reply.text, "route": reply.route,
               "ms": round((time.perf_counter() - started) * 1000),
               **summarise_trace(reply.trace or {}, reply.text, reply.route)}  # fmt: skip
        if judged is not None:
            rating = reaction(judged, previous, text, reply.text)
            did["turns"] += 1
            did["judged"] += (previous, text, reply.text.strip()) in judged
            if rating is not None:
                agent.turn_log.rate(user, reply.turn_id, rating)
                did["rated +1" if rating == 1 else "rated -1"] += 1
            row["rating"] = rating
        turns.append(row)
        previous = text
    return {"id": script["id"], "lang": language, "tags": script.get("tags") or [], "user_id": user,
            "turns": turns}  # fmt: skip


def write_transcripts(out: Path, name: str, version: str, conversations: list[dict[str, Any]],
                      settings: Any) -> list[Path]:  # fmt: skip
    """bench/conversations.py's format, one file for the held-out users' scripts, one for the rest."""
    from conversations import summary

    from dialog.feedback.training import heldout_user

    written = []
    for part, kept in (("heldout", True), ("trained", False)):
        chosen = [c for c in conversations if heldout_user(simulated_user(name, c["lang"], c["id"])) == kept]
        path = out / f"{name}_{version}_{part}.json"
        document = {"home": str(settings.home), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "version": version, "users": part,
                    "summary": {lang: summary([c for c in chosen if c["lang"] == lang])
                                for lang in LANGUAGES},
                    "conversations": chosen}  # fmt: skip
        path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
        written.append(path)
    return written


# ---------------------------------------------------------------------- 3. retraining


def retrain(settings: Any, services: Any, publish: bool) -> dict[str, Any]:
    """The corpus-only control, and the ranker with feedback (published unless refused or not asked)."""
    from dialog.chat import training
    from dialog.feedback.training import FeedbackGroups, from_log

    feedback = from_log(settings, services)
    started = time.perf_counter()
    corpus = training.corpus_groups(settings, progress=Progress())
    print(f"\ncorpus groups featurised in {time.perf_counter() - started:.0f} s", flush=True)
    print("fitting the control (corpus groups only), then the ranker with feedback", flush=True)
    control = training.fit_ranker(settings, corpus, FeedbackGroups(heldout=feedback.heldout), publish=False)
    with_feedback = training.fit_ranker(settings, corpus, feedback, publish=publish)
    return {
        "control": control,
        "with_feedback": with_feedback,
        "published": publish and not with_feedback["refused"],
    }


class Progress:
    """A line every 200 steps (no progress bar in a log file)."""

    def __init__(self) -> None:
        self.done = 0

    def __call__(self, stage: str, advance: int, total: int) -> None:
        self.done += advance
        if self.done % 200 < advance or self.done == total:
            print(f"  {stage} {self.done}/{total}", flush=True)


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """R@1 and NDCG@1 of the current ranker, the control and the one with feedback, on both held-out sets."""
    compared = result["with_feedback"]["feedback"]
    control = result["control"]["feedback"]["new"]
    rows = {"current ranker": compared["current"], "retrained, corpus only": control,
            "retrained with feedback": compared["new"]}  # fmt: skip
    return {"rows": rows, "feedback": {k: compared[k] for k in ("weight", "turns", "groups")},
            "refused": result["with_feedback"]["refused"], "published": result["published"]}  # fmt: skip


def print_figures(found: dict[str, Any]) -> None:
    groups = found["feedback"]["groups"]
    print(f"feedback: {found['feedback']['turns']}, weight {found['feedback']['weight']}; groups: "
          f"{groups['train']} trained on, {groups['heldout']} of held-out users")  # fmt: skip
    print(f"{'ranker':<26} {'held-out split R@1':>18} {'NDCG@1':>7} {'held-out users R@1':>19} {'NDCG@1':>7}")
    nothing = {"r@1": float("nan"), "ndcg@1": float("nan")}
    for name, metrics in found["rows"].items():
        if metrics is None:
            print(f"{name:<26} (none on today's features)")
            continue
        split, users = metrics["heldout split"], metrics["heldout log slice"] or nothing
        cells = f"{split['r@1']:>18.4f} {split['ndcg@1']:>7.4f} {users['r@1']:>19.4f} {users['ndcg@1']:>7.4f}"
        print(f"{name:<26} {cells}")
    print(
        found["refused"]
        or ("published the ranker trained with feedback" if found["published"] else "not published")
    )


# ---------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="A prepared data dir (changed: use a copy).")
    parser.add_argument("--out", type=Path, default=RESULTS / f"feedback-{time.strftime('%Y-%m-%d')}")
    parser.add_argument("--sets", default="conversations_fresh,conversations,disclosures",
                        help="bench/<set>_<lang>.yaml; the first runs again after retraining.")  # fmt: skip
    parser.add_argument("--limit", type=int, default=None, help="At most N scripts per set and language.")
    parser.add_argument("--passes", type=int, default=1, help="Times each user goes through the script.")
    parser.add_argument("--seed", type=int, default=1, help="The chat seed (the judged runs used 1).")
    parser.add_argument("--no-publish", action="store_true", help="Evaluate only; leave the ranker as it is.")
    args = parser.parse_args()

    from dialog.agent import Agent
    from dialog_core.settings import Settings

    started = time.perf_counter()
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    scripts = {(name, lang): load_scripts(lang, args.limit, name) for name in sets for lang in LANGUAGES}
    judged = load_judgements()
    print(f"judgements: {len(judged)} (message, reply) pairs of earlier blind rounds", flush=True)
    prefix = f"fbbench{int(time.time())}"  # this run's own users and turn log in the home's Redis
    settings = Settings(home=args.home.resolve(), key_prefix=prefix, chat_seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    agent = Agent.from_settings(settings)
    try:
        agent.warm_up()  # as `dialog serve` does: the same sampling stream as the judged runs
        transcripts, did = simulate(agent, judged, scripts, args.passes)
        print(f"simulated users: {dict(did)} in {time.perf_counter() - started:.0f} s", flush=True)
        result = retrain(settings, agent.services, publish=not args.no_publish)
    finally:
        agent.close()
    first = sets[0]
    written = write_transcripts(args.out, first, "before", transcripts[first], settings)
    if result["published"]:
        print(f"{first} again, with the ranker trained with feedback", flush=True)
        agent = Agent.from_settings(settings)  # the retrained ranker
        try:
            agent.warm_up()
            after = [talk(agent, None, f"after-{first}-{lang}-{script['id']}", script, lang, Counter())
                     for lang in LANGUAGES for script in scripts[(first, lang)]]  # fmt: skip
        finally:
            agent.close()
        written += write_transcripts(args.out, first, "after", after, settings)
    found = figures(result)
    found.update(simulated=dict(did), sets=sets, passes=args.passes, seed=args.seed,
                 home=str(settings.home), transcripts=[str(p) for p in written],
                 seconds=round(time.perf_counter() - started))  # fmt: skip
    (args.out / "feedback.json").write_text(json.dumps(found, ensure_ascii=False, indent=1), encoding="utf-8")
    print_figures(found)
    print(f"transcripts for bench/ssa.py blind: {', '.join(str(p) for p in written)}")
    print(f"figures: {args.out / 'feedback.json'} ({found['seconds']} s)")


if __name__ == "__main__":
    main()
