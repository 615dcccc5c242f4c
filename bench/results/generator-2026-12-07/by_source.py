"""SSA per candidate source (retrieval, neural, kg; else the route), both judges pooled, from a blind key,
the judges' ratings and the transcripts the key names (run in this folder):

    python by_source.py key.json ratings_en1.json,ratings_zh1.json ratings_en2.json,ratings_zh2.json
"""

import json
import sys
from collections import defaultdict
from pathlib import Path


def read(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


key = read(sys.argv[1])
judges = [{**read(en), **read(zh)} for en, zh in (arg.split(",") for arg in sys.argv[2:])]
transcripts: dict[str, dict] = {}
totals: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
for conv_id, entry in key.items():
    if entry["source"] not in transcripts:
        transcripts[entry["source"]] = {c["id"]: c for c in read(entry["source"])["conversations"]}
    for turn in transcripts[entry["source"]][entry["script"]]["turns"]:
        source = (turn.get("candidate") or {}).get("source") or turn["route"]
        for ratings in judges:
            rating = ratings[conv_id][str(turn["turn"])]
            total = totals[(entry["source"], entry["lang"], source)]
            total[0] += 1
            total[1] += rating["sensible"]
            total[2] += rating["sensible"] and rating["specific"]
for (file, lang, source), (n, sensible, specific) in sorted(totals.items()):
    print(f"{file:32} {lang} {source:16} turns {n // len(judges):3}  sensible {sensible / n:.3f}  "
          f"specific {specific / n:.3f}  SSA {(sensible + specific) / 2 / n:.3f}")  # fmt: skip
