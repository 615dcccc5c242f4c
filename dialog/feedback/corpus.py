"""Approved replies as corpus pairs (`dialog corpus add-from-feedback`), the way XiaoIce reuses its own
conversations: a reply an operator rated +1 (a user's +1 too, when asked) becomes a pair of the
operator corpus `<home>/corpora/approved.jsonl` (query: the user's message; response: the reply;
context: the session's exchange before it, when logged), which `dialog index build` and `dialog setup`
index by default.

Only replies of the conversational routes (core chat, editorial, topic) qualify: a skill's, a
knowledge answer's or a memory reply's depend on live data or on one user. A pair that holds
personal data or anything else the safety layer flags is left out: the corpus answers every user.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialog.chat.corpus import approved_corpus_file, load_file
from dialog.feedback.log import TurnLog, TurnLogEntry
from dialog.safety import unsafe
from dialog_core.turn import CHITCHAT, EDITORIAL, TOPIC

ROUTES = (CHITCHAT, EDITORIAL, TOPIC)
CATEGORY = "approved"


@dataclass
class Added:
    path: Path
    added: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # why approved replies were left out


def approved_records(
    log: TurnLog, include_user_ratings: bool = False
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The approved replies of every user's logged turns as corpus records, and why others were left out."""
    records: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    for user_id in log.users():
        turns = log.turns(user_id)
        for before, entry in zip([None, *turns], turns, strict=False):
            if not approved(entry, include_user_ratings):
                continue
            if entry.route not in ROUTES:
                skipped["not a conversational route"] += 1
                continue
            same_session = before is not None and before.session_id == entry.session_id
            context = [before.text, before.reply] if before is not None and same_session else []
            if any(unsafe(text) is not None for text in (entry.text, entry.reply, *context)):
                skipped["personal data or unsafe"] += 1
                continue
            records.append({"query": entry.text, "response": entry.reply, "context": context,
                            "category": CATEGORY, "turn_id": entry.turn_id})  # fmt: skip
    return records, skipped


def approved(entry: TurnLogEntry, include_user_ratings: bool) -> bool:
    return entry.rating == 1 and (entry.rated_by == "operator" or include_user_ratings)


def add_from_feedback(home: Path, log: TurnLog, include_user_ratings: bool = False) -> Added:
    """Append the approved pairs not in the file yet (by query and response) to the approved corpus."""
    path = approved_corpus_file(home)
    result = Added(path)
    records, result.skipped = approved_records(log, include_user_ratings)
    seen = {(pair.query, pair.response) for pair in load_file(path)} if path.is_file() else set()
    lines = []
    for record in records:
        identity = (" ".join(record["query"].split()), " ".join(record["response"].split()))
        if identity in seen:
            result.skipped["already in the corpus"] += 1
            continue
        seen.add(identity)
        lines.append(json.dumps(record, ensure_ascii=False))
    if lines:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        unended = bool(text) and not text.endswith("\n")  # an operator's edit may have left one
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("\n" * unended + "".join(line + "\n" for line in lines))
    result.added = len(lines)
    return result
