"""Blind SSA judging of the transcripts of bench/conversations.py (rubric: shared CONVERSATION_QUALITY.md).

    .venv/bin/python bench/ssa.py blind --in A.json --in B.json --out DIR [--seed N] [--rubric FILE]
    .venv/bin/python bench/ssa.py score --key DIR/key.json --ratings r1.json --ratings r2.json
    .venv/bin/python bench/ssa.py safety --key DIR/key.json --ratings s1.json --ratings s2.json

`blind` shuffles every conversation of the input files under anonymous ids (seeded) and writes, per
language, a judge packet DIR/packet_<lang>.md (the rubric, the ratings format, then each conversation
as numbered User/Bot turns: no routes, versions or system information) and DIR/key.json (anonymous
id -> source file, script id, language, per-turn routes). Give every packet to two independent
judges; each returns one ratings file
{"<conv id>": {"<turn no>": {"sensible": 0|1, "specific": 0|1}}}; one file may cover both languages,
or name a judge's per-language files joined by commas: --ratings j1_en.json,j1_zh.json.

`score` prints per source file and language: sensible, specific and SSA for each judge, their mean,
how often the judges agree (a turn agrees when both labels match), and SSA per route.
A reply rated not sensible counts as not specific, whatever the judge wrote.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

RUBRIC = "CONVERSATION_QUALITY.md"
RUBRIC_CANDIDATES = (
    Path("/work/shared") / RUBRIC,
    Path(__file__).resolve().parent.parent / "shared" / RUBRIC,
)
LANGUAGES = ("en", "zh")


def rubric_text(path: Path | None) -> str:
    """The '## The rubric' section of the shared doc (the whole file if it has no such section)."""
    candidates = [path] if path else [p for p in RUBRIC_CANDIDATES if p.exists()]
    if not candidates:
        raise SystemExit("the rubric (CONVERSATION_QUALITY.md) was not found: name it with --rubric")
    text = candidates[0].read_text(encoding="utf-8")
    section = re.search(r"^## The rubric\s*$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    return section.group(1).strip() if section else text.strip()


def packet_header(rubric: str, language: str, count: int) -> str:
    example = json.dumps({"c001": {"1": {"sensible": 1, "specific": 0}, "2": {"sensible": 0, "specific": 0}}})
    return f"""# SSA judge packet ({language}): {count} conversations

Rate every **Bot** reply given the conversation up to and including the **User** message it
answers. Judge each conversation on its own: they come from different chats, in random order.

## Rubric

{rubric}

## Your ratings

Return one JSON object: conversation id -> turn number -> labels, every turn of every conversation:

    {{"<conv id>": {{"<turn no>": {{"sensible": 0|1, "specific": 0|1}}}}}}

for example `{example}`. "specific" is 0 whenever "sensible" is 0.

## Conversations
"""


def blind(inputs: list[Path], out: Path, seed: int, rubric_path: Path | None) -> None:
    rubric = rubric_text(rubric_path)
    items: list[tuple[Path, dict[str, Any]]] = []
    for path in inputs:
        document = json.loads(path.read_text(encoding="utf-8"))
        items.extend((path, conversation) for conversation in document["conversations"])
    rng = random.Random(seed)
    rng.shuffle(items)
    out.mkdir(parents=True, exist_ok=True)
    key: dict[str, Any] = {}
    packets: dict[str, list[str]] = defaultdict(list)
    width = max(3, len(str(len(items))))
    for number, (path, conversation) in enumerate(items, 1):
        anon = f"c{number:0{width}d}"
        language = conversation["lang"]
        key[anon] = {"source": str(path), "script": conversation["id"], "lang": language,
                     "routes": {str(t["turn"]): t["route"] for t in conversation["turns"]}}  # fmt: skip
        lines = [f"### {anon}", ""]
        for turn in conversation["turns"]:
            lines.append(f"{turn['turn']}. User: {turn['user']}  ")
            lines.append(f"   Bot: {turn['reply'] or '(no reply)'}")
        packets[language].append("\n".join(lines) + "\n")
    for language, blocks in sorted(packets.items()):
        text = packet_header(rubric, language, len(blocks)) + "\n" + "\n".join(blocks)
        (out / f"packet_{language}.md").write_text(text, encoding="utf-8")
    (out / "key.json").write_text(json.dumps(key, ensure_ascii=False, indent=1), encoding="utf-8")
    counts = ", ".join(f"{language} {len(blocks)}" for language, blocks in sorted(packets.items()))
    print(
        f"{len(items)} conversations ({counts}) from {len(inputs)} files: "
        f"{out}/packet_<lang>.md, {out}/key.json"
    )


def labels(rating: dict[str, Any] | None) -> tuple[int, int] | None:
    if not isinstance(rating, dict) or "sensible" not in rating:
        return None
    sensible = 1 if int(rating["sensible"]) else 0
    return sensible, sensible and (1 if int(rating.get("specific", 0)) else 0)


def ssa_of(pairs: list[tuple[int, int]]) -> tuple[float, float, float]:
    if not pairs:
        return 0.0, 0.0, 0.0
    sensible = sum(p[0] for p in pairs) / len(pairs)
    specific = sum(p[1] for p in pairs) / len(pairs)
    return sensible, specific, (sensible + specific) / 2


def route_kind(route: str) -> str:
    return "skill" if route.startswith("skill:") else route


def merged(spec: str) -> dict[str, Any]:
    """One judge's ratings: a file, or several joined by commas (e.g. one per language packet)."""
    ratings: dict[str, Any] = {}
    for part in spec.split(","):
        ratings.update(json.loads(Path(part).read_text(encoding="utf-8")))
    return ratings


def score(key_path: Path, ratings_paths: list[str]) -> None:
    key = json.loads(key_path.read_text(encoding="utf-8"))
    judges = [merged(spec) for spec in ratings_paths]
    names = [str(spec) for spec in ratings_paths]
    # group -> judge index -> list of (sensible, specific); group = (source, lang)
    per_judge: dict[tuple[str, str], list[list[tuple[int, int]]]] = defaultdict(lambda: [[] for _ in judges])
    per_route: dict[tuple[str, str], dict[str, list[tuple[int, int]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    agreement: dict[tuple[str, str], list[int]] = defaultdict(list)
    missing = [0] * len(judges)
    for anon, entry in key.items():
        group = (entry["source"], entry["lang"])
        for turn, route in entry["routes"].items():
            found = [labels((judge.get(anon) or {}).get(turn)) for judge in judges]
            for index, pair in enumerate(found):
                if pair is None:
                    missing[index] += 1
                    continue
                per_judge[group][index].append(pair)
                per_route[group][route_kind(route)].append(pair)
            if len(judges) > 1 and all(pair is not None for pair in found):
                agreement[group].append(int(len(set(found)) == 1))
    for index, count in enumerate(missing):
        if count:
            print(f"warning: {names[index]} has no rating for {count} turns (left out of its figures)")
    for group in sorted(per_judge):
        source, language = group
        print(f"== {source} [{language}]")
        figures = []
        for index, pairs in enumerate(per_judge[group]):
            sensible, specific, ssa = ssa_of(pairs)
            figures.append((sensible, specific, ssa))
            print(f"  {names[index]:<32} n={len(pairs):<4} sensible {sensible:.3f}  specific {specific:.3f}  "
                  f"SSA {ssa:.3f}")  # fmt: skip
        rated = [f for f, pairs in zip(figures, per_judge[group], strict=True) if pairs]
        if rated:
            mean = [sum(f[i] for f in rated) / len(rated) for i in range(3)]
            print(f"  {'mean':<32} {'':<6}sensible {mean[0]:.3f}  specific {mean[1]:.3f}  SSA {mean[2]:.3f}")
        if agreement[group]:
            share = sum(agreement[group]) / len(agreement[group])
            print(f"  agreement {share:.3f} over {len(agreement[group])} turns rated by every judge")
        routes = per_route[group]
        total = sum(len(pairs) for pairs in routes.values()) or 1
        for route, pairs in sorted(routes.items(), key=lambda item: -len(item[1])):
            sensible, specific, ssa = ssa_of(pairs)
            print(f"    route {route:<10} {len(pairs) / total:6.1%} of ratings  sensible {sensible:.3f}  "
                  f"specific {specific:.3f}  SSA {ssa:.3f}")  # fmt: skip


def safety(key_path: Path, ratings_paths: list[str]) -> None:
    """Unsafe replies per source file and language, per judge, from ratings
    {"<conv id>": {"<turn no>": {"unsafe": 0|1}}} (the red-team set: its rubric is the judges' brief,
    see docs/understanding.md), and the replies any judge found unsafe."""
    key = json.loads(key_path.read_text(encoding="utf-8"))
    judges = [merged(spec) for spec in ratings_paths]
    counts: dict[tuple[str, str], list[list[int]]] = defaultdict(lambda: [[0, 0] for _ in judges])
    flagged: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for conv_id, entry in key.items():
        group = (entry["source"], entry["lang"])
        for turn in entry["routes"]:
            for index, judge in enumerate(judges):
                rating = judge.get(conv_id, {}).get(turn)
                if isinstance(rating, dict) and "unsafe" in rating:
                    counts[group][index][0] += 1
                    counts[group][index][1] += 1 if int(rating["unsafe"]) else 0
                    if int(rating["unsafe"]):
                        flagged[group].add((entry["script"], turn))
    for (source, lang), per_judge in sorted(counts.items()):
        print(f"== {source} [{lang}]")
        for name, (rated, unsafe) in zip(ratings_paths, per_judge, strict=True):
            print(f"  {name}: {unsafe} unsafe of {rated} replies")
        found = sorted(flagged[(source, lang)])
        print(f"  unsafe for any judge: {len(found)}: " + ", ".join(f"{s} turn {t}" for s, t in found))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    blind_parser = commands.add_parser("blind", help="Shuffle transcripts into anonymous judge packets.")
    blind_parser.add_argument("--in", dest="inputs", type=Path, action="append", required=True)
    blind_parser.add_argument("--out", type=Path, required=True)
    blind_parser.add_argument("--seed", type=int, default=20200127)
    blind_parser.add_argument("--rubric", type=Path, default=None, help="CONVERSATION_QUALITY.md")
    score_parser = commands.add_parser("score", help="SSA per source file and language from judges' ratings.")
    score_parser.add_argument("--key", type=Path, required=True)
    score_parser.add_argument(
        "--ratings",
        action="append",
        required=True,
        help="One judge's ratings file (or files joined by commas); once per judge.",
    )
    safety_parser = commands.add_parser("safety", help="Unsafe replies per source file and language.")
    safety_parser.add_argument("--key", type=Path, required=True)
    safety_parser.add_argument("--ratings", action="append", required=True, help="Once per judge.")
    args = parser.parse_args()
    if args.command == "safety":
        safety(args.key, args.ratings)
        return
    if args.command == "blind":
        blind(args.inputs, args.out, args.seed, args.rubric)
    else:
        score(args.key, args.ratings)


if __name__ == "__main__":
    main()
