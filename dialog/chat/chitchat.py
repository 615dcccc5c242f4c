"""The human chit-chat corpus of core chat: the Chit Chat Challenge dataset (PyPI `chitchat-dataset`,
MIT; 7,168 English conversations between two people), cleaned into reply pairs with their context.

Each speaker's turn (the dataset keeps a turn's messages in one group; consecutive groups never share a
sender) is its messages joined with spaces. Each turn answers the one before, with up to CONTEXT_TURNS
earlier turns as its context. A pair is dropped, and counted under its rule, when:

- `partner`: it only makes sense between those two people: the reply greets or thanks the partner by
  name ("hey Jarrod how are you"), takes leave ("gotta go", "ttyl", "it was nice chatting", "Goodbye!",
  "I need to get going"),
  or either side talks about the challenge itself (points, prizes, the app, "this chat", "on here");
- `contact`: either side holds a URL, an e-mail address or a phone number;
- `profanity`: either side contains a word or phrase of `better-profanity`'s word list;
- `short`: the reply has fewer than MIN_WORDS words ("yeah", "haha", "me too": they fit any message);
- `long`: the reply is longer than MAX_REPLY_CHARS, or the message than MAX_QUERY_CHARS (a monologue,
  not a chat line);
- `not_english`: either side is not read as English (empty, emoji or other languages);
- `persona`: the reply makes a human claim the bot's persona forbids: a family ("my wife", "my
  brother"), an age, school, a job, a home town, a body ("I ate", "my car") — the `conflicts` of
  data/chat/persona.yaml. These are filtered rather than ranked down: 4% of the turns hold one, and a
  ranked-down candidate is still served whenever nothing else fits, as the bot's own life;
- `duplicate`: the same (message, reply) came before.

`python -m dialog.chat.chitchat` prints the counts.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from dialog.chat.corpus import CONTEXT_TURNS, Pair
from dialog.chat.persona import Persona
from dialog.safety import profane
from dialog.understanding.basic import detect_language

CATEGORY = "chitchat"
SOURCE = "chitchat"
MIN_WORDS = 3
MAX_REPLY_CHARS = 200
MAX_QUERY_CHARS = 300
RULES = ("partner", "contact", "profanity", "short", "long", "not_english", "persona", "duplicate")

_NAMED = re.compile(r"^(?:hi|hey|hello|thanks|thank you|bye|yo|sup|good morning)[ ,!]+(?!I\b)[A-Z][a-z]+\b")
_LEAVING = re.compile(
    r"\b(?:gotta go|got to go|have to go|need to go|get going|g2g|gtg|ttyl|talk (?:to you )?later|"
    r"(?:good ?)?bye+|(?:nice|lovely|great|good|fun) (?:talking|chatting|speaking)|good ?night)\b",
    re.IGNORECASE,
)
_META = re.compile(
    r"\b(?:chit ?chat|chats|this (?:chat|app|conversation|challenge|game)|the (?:app|challenge|competition)|"
    r"points|raffle|ipad|macbook|leaderboard|more words|conversation data|chat partner|my partner|"
    r"type more|on here)\b",
    re.IGNORECASE,
)
_CONTACT = re.compile(r"https?://|www\.|\S+@\S+\.\w+|\b\d{3}[-. ]\d{3}[-. ]\d{4}\b")


def dataset_file() -> Path:
    import chitchat_dataset

    return Path(chitchat_dataset.__file__).parent / "dataset.json"


CHITCHAT_FILE = dataset_file()


@dataclass
class CleaningReport:
    conversations: int = 0
    pairs_seen: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def load_chitchat(report: CleaningReport | None = None, path: Path = CHITCHAT_FILE) -> list[Pair]:
    """The cleaned pairs of the dataset, in its order."""
    started = time.perf_counter()
    report = report if report is not None else CleaningReport()
    data = json.loads(path.read_text(encoding="utf-8"))
    seen: set[tuple[str, str]] = set()
    pairs: list[Pair] = []
    for conversation_id, conversation in data.items():
        report.conversations += 1
        turns = speaker_turns(conversation["messages"])
        for i in range(1, len(turns)):
            report.pairs_seen += 1
            query, reply = turns[i - 1], turns[i]
            rule = dropped_by(query, reply) or ("duplicate" if (query, reply) in seen else None)
            if rule:
                report.dropped[rule] += 1
                continue
            seen.add((query, reply))
            context = tuple(turns[max(0, i - 1 - CONTEXT_TURNS) : i - 1])
            pairs.append(Pair(query, reply, context, CATEGORY, f"{SOURCE}:{conversation_id}:{i}"))
    report.kept = len(pairs)
    report.seconds = round(time.perf_counter() - started, 1)
    return pairs


def speaker_turns(messages: list[list[dict]]) -> list[str]:
    """Each group of one sender's messages as one turn, whitespace normalised."""
    turns = []
    for group in messages:
        text = " ".join(" ".join(str(m.get("text", "")).split()) for m in group).strip()
        turns.append(text)
    return turns


def dropped_by(query: str, reply: str) -> str | None:
    """The first cleaning rule the pair breaks, or None to keep it."""
    if _NAMED.search(reply) or _LEAVING.search(reply) or _META.search(query) or _META.search(reply):
        return "partner"
    if _CONTACT.search(query) or _CONTACT.search(reply):
        return "contact"
    if profane(query) or profane(reply):
        return "profanity"
    if len(reply.split()) < MIN_WORDS:
        return "short"
    if len(reply) > MAX_REPLY_CHARS or len(query) > MAX_QUERY_CHARS:
        return "long"
    if not query or detect_language(query) != "en" or detect_language(reply) != "en":
        return "not_english"
    if _persona().conflicts_with(reply):
        return "persona"
    return None


@cache
def _persona() -> Persona:
    return Persona.load()


def main() -> None:
    report = CleaningReport()
    load_chitchat(report)
    print(f"{CHITCHAT_FILE}: {report.conversations} conversations, {report.pairs_seen} adjacent turn pairs")
    for rule in RULES:
        print(f"  dropped {rule:12} {report.dropped[rule]:7}")
    print(f"  kept {report.kept} pairs in {report.seconds} s")


if __name__ == "__main__":
    main()
