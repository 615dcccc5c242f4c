"""Logged turns as ranker groups, for `dialog train ranker --with-feedback`.

A turn's outcome, for the candidate core chat sent (the chosen one):
- positive: rated +1 (by the user or an operator); or unrated, and the user went on in the session
  (`next_gap_s` set) without rephrasing;
- negative: rated -1; or unrated, and the user rephrased the message, or left (no next message and
  the session idle past `session_idle_timeout_s`: `TurnLogEntry.left`);
- none yet: no rating, no next message, the session still open: the turn is skipped.
A rating outranks the implicit signals.

Only core chat turns make groups: the reply is one of the logged candidates, there are at least two,
and every candidate's features are exactly today's `FEATURES` (a turn logged before a feature was
added or renamed is skipped). Labels, for LambdaRank, which learns the order within a group:
- positive: the chosen candidate 2, every other 0 (it ranks above what it was preferred to);
- negative: the chosen 0, every other candidate core chat could have sent instead (in the user's
  language, safe, no persona conflict: its own checks) 2, the rest 0 (any servable alternative ranks
  above the disliked reply; nothing is claimed among the alternatives). With no servable alternative
  the group teaches nothing and is left out.
So R@1 on feedback groups (`ranker.evaluate`: the top candidate is labelled 2) reads "the top
candidate agrees with the feedback": a liked reply still comes first, a disliked one no longer does.

Each feedback group weighs `feedback_weight` (setting) against a corpus group's 1. The groups only
train the order: the score's calibration (P(true reply), which core chat's threshold reads) stays
fitted on corpus groups, which feedback labels say nothing about. The users whose id hashes below
`HELDOUT_SHARE` are the held-out slice of the logs: never trained on, evaluated (deterministic, by
user, so one user's turns never sit on both sides).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from dialog.chat.core import Candidate
from dialog.chat.features import FEATURES, ChatContext
from dialog.chat.ranker import Group
from dialog.feedback.log import LoggedCandidate, TurnLog, TurnLogEntry
from dialog.safety import unsafe
from dialog.understanding.basic import detect_language
from dialog_core.text import speaks
from dialog_core.turn import Emotion

if TYPE_CHECKING:
    from dialog_core.services import Services
    from dialog_core.settings import Settings

HELDOUT_SHARE = 0.2
SALT = "dialog-feedback-v1"
Outcome = Literal[1, -1]


@dataclass
class FeedbackGroups:
    """The groups of the logged turns, split by user; `counts` says what became of the turns."""

    train: list[Group] = field(default_factory=list)
    heldout: list[Group] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def outcome(entry: TurnLogEntry, now: float, idle_timeout_s: float) -> Outcome | None:
    """+1 (liked or continued), -1 (disliked, rephrased or left), None (no signal yet)."""
    if entry.rating is not None:
        return entry.rating
    if entry.rephrased:
        return -1
    if entry.next_gap_s is not None:
        return 1
    return -1 if entry.left(now, idle_timeout_s) else None


def heldout_user(user_id: str, share: float = HELDOUT_SHARE) -> bool:
    digest = hashlib.blake2b(f"{SALT}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def group_of(entry: TurnLogEntry, result: Outcome) -> Group | None:
    """The ranker group of a core chat turn with this outcome (None: it makes none; see the module)."""
    chosen, candidates = entry.chosen, entry.candidates
    if chosen is None or len(candidates) < 2 or any(set(c.features) != set(FEATURES) for c in candidates):
        return None
    language = detect_language(entry.text)
    if result == 1:
        labels = [2 if i == chosen else 0 for i in range(len(candidates))]
    else:
        labels = [0 if i == chosen else 2 * servable(c, language) for i, c in enumerate(candidates)]
    if len(set(labels)) < 2:
        return None
    context = ChatContext(entry.text, language, Emotion())
    return Group(context, [Candidate(text=c.text, source=c.source, features=dict(c.features))
                           for c in candidates], labels)  # fmt: skip


def servable(candidate: LoggedCandidate, language: str) -> bool:
    """Core chat's own checks (dialog.chat.core.CoreChat.select), those the log can tell."""
    return (
        speaks(candidate.text, language)
        and unsafe(candidate.text) is None
        and not candidate.features.get("persona_conflict")
    )


def feedback_groups(entries: Iterable[TurnLogEntry], idle_timeout_s: float, now: float | None = None,
                    heldout_share: float = HELDOUT_SHARE) -> FeedbackGroups:  # fmt: skip
    now = time.time() if now is None else now
    found = FeedbackGroups()
    for entry in entries:
        found.counts["turns"] += 1
        result = outcome(entry, now, idle_timeout_s)
        if result is None:
            found.counts["open"] += 1
            continue
        group = group_of(entry, result)
        if group is None:
            found.counts["no group"] += 1  # not core chat, too few candidates, other features...
            continue
        found.counts["positive" if result == 1 else "negative"] += 1
        (found.heldout if heldout_user(entry.user_id, heldout_share) else found.train).append(group)
    return found


def described(counts: Mapping[str, int]) -> str:
    """What became of the logged turns, in words."""
    if not counts.get("turns"):
        return "no turn is logged"
    found = {name: counts.get(name, 0) for name in ("turns", "positive", "negative", "open", "no group")}
    return ("{turns} turns logged: {positive} positive, {negative} negative, {open} without a signal yet, "
            "{no group} making no group").format_map(found)  # fmt: skip


def from_log(settings: Settings, services: Services) -> FeedbackGroups:
    """The groups of every user's logged turns."""
    from dialog.state.store import StateStore

    log = TurnLog(StateStore(services.redis, settings), settings.feedback_max_turns)
    return feedback_groups(log.all_turns(), settings.session_idle_timeout_s)
