"""The topic manager (XiaoIce-style): notice a stalled conversation and propose a new topic.

Stalled: the user says they are bored or asks to change the subject, gives bare acknowledgements
twice in a row ("ok", "嗯"), repeats themself, or core chat found nothing good enough twice in a
row; never (unless asked) right after news the user told, a question to the bot, an ask-back or an
answer to the bot's question, while the user is upset, or right after a skill or KBQA answer.
Candidate topics come from the corpus categories (data/understanding/topics.yaml) and the knowledge
graph (popular countries), ranked by contextual relevance, freshness (not proposed recently), the
user's interests (profile likes), each topic's acceptance rate (how often users engaged after it was
proposed, learned online in Redis) and popularity.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from redis.exceptions import RedisError

from dialog.understanding.acts import ACKNOWLEDGEMENTS, ANSWER, ASK_BACK, DISCLOSURE, QUESTION
from dialog_core.settings import SHIPPED_DATA_DIR
from dialog_core.state import DialogueState
from dialog_core.text import is_cjk_char
from dialog_core.turn import CHITCHAT, EDITORIAL, KBQA, SKILL_PREFIX, TOPIC, HandlerResult, Turn

log = logging.getLogger(__name__)

_BORED = re.compile(
    r"\b(?:i'?m bored|i am bored|so boring|this is boring|change the (?:subject|topic)"
    r"|talk about something else|let'?s talk about something)\b|无聊|没意思|换个话题|聊点别的|说点别的",
    re.I,
)
RECENT_TOPICS = 5
WEIGHTS = {"relevance": 0.35, "interest": 0.25, "acceptance": 0.2, "freshness": 0.15, "popularity": 0.05}
JITTER = 0.05  # topics that score alike are proposed in turn, not always the most popular one
ENGAGED_WORDS = 3  # a reply to a proposed topic of at least this many words (or 4 Chinese characters)
# what the user's message does, or what came just before, that a topic switch would ignore
HOLDS_THE_TOPIC = {QUESTION, DISCLOSURE, ASK_BACK, ANSWER}


def stall_reason(turn: Turn) -> str | None:
    """Why this turn looks stalled, or None."""
    text = turn.nlu.normalized
    history = turn.state.history
    if _BORED.search(text):
        return "the user is bored or asks for another topic"
    if not may_switch(turn):
        return None
    if ACKNOWLEDGEMENTS.match(text) and history and ACKNOWLEDGEMENTS.match(history[-1].user.strip()):
        return "two bare acknowledgements in a row"
    recent = [t.user.strip().lower() for t in history[-3:]]
    if len(text) > 3 and text.lower() in recent:
        return "the user repeats themself"
    return None


def may_switch(turn: Turn) -> bool:
    """False right after what a new topic would brush aside: news the user told (or still tells), a
    question to the bot, an ask-back, an answer to the bot's question, an upset user, a skill's or
    KBQA's answer."""
    nlu = turn.nlu
    if nlu.act in HOLDS_THE_TOPIC or nlu.disclosure or nlu.news:
        return False
    if nlu.emotion.label not in ("neutral", "happy"):
        return False
    last = turn.state.history[-1] if turn.state.history else None
    if last is None:
        return True
    answered = last.route == KBQA or last.route.startswith(SKILL_PREFIX)
    return not (answered or last.act == DISCLOSURE or last.emotion in ("sad", "angry", "anxious"))


class TopicAcceptance:
    """How often users engaged after each topic was proposed: counts in one Redis hash, shared by all
    workers (no user data: only topic ids and counts)."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.key = f"{prefix}:topics:acceptance"

    def record(self, topic: str, engaged: bool) -> None:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(self.key, f"{topic}:proposed", 1)
            if engaged:
                pipe.hincrby(self.key, f"{topic}:engaged", 1)
            pipe.execute()

    def rates(self) -> dict[str, float]:
        """topic id -> acceptance rate, with a prior of one engaged in two proposals."""
        counts = {
            k.decode() if isinstance(k, bytes) else k: int(v) for k, v in self.redis.hgetall(self.key).items()
        }
        topics = {name.rsplit(":", 1)[0] for name in counts}
        return {t: (counts.get(f"{t}:engaged", 0) + 1) / (counts.get(f"{t}:proposed", 0) + 2) for t in topics}


def engaged(text: str) -> bool:
    """The user took up a proposed topic: more than a bare acknowledgement or a request for another."""
    if _BORED.search(text) or ACKNOWLEDGEMENTS.match(text.strip()):
        return False
    cjk = sum(map(is_cjk_char, text))
    return len(text.split()) >= ENGAGED_WORDS or cjk >= 4


class ObserveTopicAcceptance:
    """Understanding stage: after a turn that proposed a topic, whether the user engaged with it."""

    name = "topic_acceptance"

    def __init__(self, acceptance: TopicAcceptance) -> None:
        self.acceptance = acceptance

    def __call__(self, turn: Turn) -> None:
        history = turn.state.history
        if not history or history[-1].route != TOPIC or not turn.state.topic:
            return
        took_up = engaged(turn.nlu.normalized)
        try:
            self.acceptance.record(turn.state.topic, took_up)
        except RedisError as error:  # a statistic: the turn goes on without it
            log.warning("topic acceptance not recorded: %s", error)
            return
        turn.trace.record("topic_acceptance", {"topic": turn.state.topic, "engaged": took_up})


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
        name = row.get("name")
        if not name:
            continue
        name_zh = row.get("name_zh") or name
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

    def __init__(
        self, topics: list[Topic], acceptance: TopicAcceptance | None = None, seed: int | None = None
    ) -> None:
        self.topics = topics
        self.acceptance = acceptance
        self._random = random.Random(seed)

    def handle(self, turn: Turn, route: str) -> HandlerResult | None:
        reason = stall_reason(turn) or self._chat_keeps_failing(turn)
        if reason is None:
            return None
        ranked = self.rank(turn.state, turn.nlu.normalized, self._rates())
        if not ranked:
            return None
        score, topic = ranked[0]
        language = turn.nlu.language
        state = turn.state
        state.topic = topic.id
        state.topics_used = [*[t for t in state.topics_used if t != topic.id], topic.id][-20:]
        turn.trace.record("topic", {"reason": reason, "chosen": topic.id, "score": round(score, 3),
                                    "ranked": [(t.id, round(s, 3)) for s, t in ranked[:5]]})  # fmt: skip
        mentioned = _mentioned(topic, _context(state, turn.nlu.normalized))
        if mentioned:  # the new topic connects with what was said: "Speaking of your cat, ..."
            lead = f"说到{mentioned}，" if language == "zh" else f"Speaking of {mentioned}: "
        else:
            lead = "换个话题吧：" if language == "zh" else "Let's talk about something else: "
        return HandlerResult(lead + self._random.choice(topic.opener[language]), TOPIC)

    def _rates(self) -> dict[str, float]:
        if self.acceptance is None:
            return {}
        try:
            return self.acceptance.rates()
        except RedisError as error:
            log.warning("topic acceptance rates not read: %s", error)
            return {}

    def rank(
        self, state: DialogueState, text: str, rates: dict[str, float] | None = None
    ) -> list[tuple[float, Topic]]:
        rates = rates or {}
        context = _context(state, text)
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
                        "acceptance": rates.get(topic.id, 0.5), "popularity": topic.popularity}  # fmt: skip
            score = sum(WEIGHTS[name] * value for name, value in features.items())
            scored.append((score + self._random.random() * JITTER, topic))
        return sorted(scored, key=lambda pair: -pair[0])

    @staticmethod
    def _chat_keeps_failing(turn: Turn) -> str | None:
        if not may_switch(turn):
            return None
        declined = any(h["route"] == CHITCHAT and h["outcome"] == "declined"
                       for h in turn.trace.data.get("handlers", []))  # fmt: skip
        history = turn.state.history
        if declined and history and history[-1].route == EDITORIAL:
            return "core chat found no good reply twice in a row"
        return None


def _context(state: DialogueState, text: str) -> str:
    return " ".join([text, *(t.user for t in state.history[-4:])]).lower()


def _mentioned(topic: Topic, context: str) -> str | None:
    return next(
        (
            k
            for k in topic.keywords
            if len(k) > 1 and re.search(rf"(?<![a-z]){re.escape(k)}(?![a-z])", context)
        ),
        None,
    )


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
    return TopicManager(topics, TopicAcceptance(services.redis, services.settings.key_prefix))
