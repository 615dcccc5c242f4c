"""The topic manager (XiaoIce-style): notice a stalled conversation and propose a new topic.

Stalled: the user says they are bored or asks to change the subject, gives bare acknowledgements
twice in a row ("ok", "嗯"), repeats themself, or core chat found nothing good enough twice in a
row. Candidate topics come from the corpus categories (data/understanding/topics.yaml) and the
knowledge graph (popular countries), ranked by contextual relevance, freshness (not proposed
recently), the user's interests (profile likes) and popularity.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dialog.settings import SHIPPED_DATA_DIR
from dialog.state.model import DialogueState
from dialog.turn import CHITCHAT, EDITORIAL, TOPIC, HandlerResult, Turn

log = logging.getLogger(__name__)

_BORED = re.compile(
    r"\b(?:i'?m bored|i am bored|so boring|this is boring|change the (?:subject|topic)"
    r"|talk about something else|let'?s talk about something)\b|无聊|没意思|换个话题|聊点别的|说点别的",
    re.I,
)
_ACK = re.compile(r"^(?:ok(?:ay)?|k|kk|hmm+|mm+|yeah|yep|yes|no|nope|sure|cool|fine|right|i see|oh|ah|lol|"
                  r"嗯+|哦+|噢|好|好吧|好的|行|是的|对|呵呵|额|哈)[.!。！~～]*$", re.I)  # fmt: skip
RECENT_TOPICS = 5
WEIGHTS = {"relevance": 0.35, "interest": 0.3, "freshness": 0.2, "popularity": 0.15}


def stall_reason(turn: Turn) -> str | None:
    """Why this turn looks stalled, or None."""
    text = turn.nlu.normalized
    history = turn.state.history
    if _BORED.search(text):
        return "the user is bored or asks for another topic"
    if _ACK.match(text) and history and _ACK.match(history[-1].user.strip()):
        return "two bare acknowledgements in a row"
    recent = [t.user.strip().lower() for t in history[-3:]]
    if len(text) > 3 and text.lower() in recent:
        return "the user repeats themself"
    return None


@dataclass(frozen=True)
class Topic:
    id: str
    label: dict[str, str]
    opener: dict[str, list[str]]
    keywords: tuple[str, ...]
    popularity: float


def load_topics(path: Path = SHIPPED_DATA_DIR / "understanding" / "topics.yaml") -> list[Topic]:
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    return [Topic(t["id"], t["label"], t["opener"], tuple(k.lower() for k in t["keywords"]), t["popularity"])
            for t in raw]  # fmt: skip


def graph_topics(rows: list[dict[str, Any]]) -> list[Topic]:
    """Popular countries from the graph become 'have you been to ...?' topics."""
    topics = []
    for rank, row in enumerate(rows):
        name, name_zh = row.get("name"), row.get("name_zh") or row.get("name")
        if not name:
            continue
        topics.append(Topic(
            id=f"place:{name}",
            label={"en": name, "zh": name_zh},
            opener={"en": [f"Have you ever been to {name}, or would you like to go?"],
                    "zh": [f"你去过{name_zh}吗？想不想去？"]},
            keywords=(name.lower(), str(name_zh).lower()),
            popularity=max(0.1, 0.6 - rank * 0.02),
        ))  # fmt: skip
    return topics


class TopicManager:
    """Handler for the `topic` route; also the fallback after core chat when chat keeps failing."""

    def __init__(self, topics: list[Topic], seed: int | None = None) -> None:
        self.topics = topics
        self._random = random.Random(seed)

    def handle(self, turn: Turn, route: str) -> HandlerResult | None:
        reason = stall_reason(turn) or self._chat_keeps_failing(turn)
        if reason is None:
            return None
        ranked = self.rank(turn.state, turn.nlu.normalized)
        if not ranked:
            return None
        score, topic = ranked[0]
        language = turn.nlu.language
        state = turn.state
        state.topic = topic.id
        state.topics_used = [*[t for t in state.topics_used if t != topic.id], topic.id][-20:]
        turn.trace.record("topic", {"reason": reason, "chosen": topic.id, "score": round(score, 3),
                                    "ranked": [(t.id, round(s, 3)) for s, t in ranked[:5]]})  # fmt: skip
        lead = f"我们聊聊{topic.label['zh']}吧？" if language == "zh" else f"How about {topic.label['en']}?"
        if topic.id.startswith("place:"):
            lead = ""
        return HandlerResult((lead + " " + self._random.choice(topic.opener[language])).strip(), TOPIC)

    def rank(self, state: DialogueState, text: str) -> list[tuple[float, Topic]]:
        context = " ".join([text, *(t.user for t in state.history[-4:])]).lower()
        likes = " ".join(str(x) for x in state.profile.get("likes", [])).lower()
        recent = set(state.topics_used[-RECENT_TOPICS:]) | ({state.topic} if state.topic else set())
        scored = []
        for topic in self.topics:
            if topic.id in recent:
                continue
            relevance = min(1.0, sum(k in context for k in topic.keywords) / 2)
            interest = min(1.0, sum(k in likes for k in topic.keywords))
            freshness = 0.0 if topic.id in state.topics_used else 1.0
            features = {"relevance": relevance, "interest": interest, "freshness": freshness,
                        "popularity": topic.popularity}  # fmt: skip
            score = sum(WEIGHTS[name] * value for name, value in features.items())
            scored.append((score + self._random.random() * 0.01, topic))  # tiny jitter breaks ties
        return sorted(scored, key=lambda pair: -pair[0])

    @staticmethod
    def _chat_keeps_failing(turn: Turn) -> str | None:
        declined = any(h["route"] == CHITCHAT and h["outcome"] == "declined"
                       for h in turn.trace.data.get("handlers", []))  # fmt: skip
        history = turn.state.history
        if declined and history and history[-1].route == EDITORIAL:
            return "core chat found no good reply twice in a row"
        return None


def build_topic_manager(services: Any) -> TopicManager:
    """Corpus topics plus the most populous countries of the graph (if the graph has them)."""
    topics = load_topics()
    try:
        rows = services.graph.query(
            "MATCH (c:Country) WHERE c.population IS NOT NULL "
            "RETURN c.name AS name, c.name_zh AS name_zh ORDER BY c.population DESC LIMIT 25"
        )
        topics += graph_topics(rows)
    except Exception as error:  # the graph is optional for topics: say so and go on
        log.warning("no graph topics: %s", error)
    return TopicManager(topics)
