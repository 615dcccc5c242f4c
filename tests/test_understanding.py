"""Understanding and policy on the real embedded server: emotion, rewriting, user memory, intents,
hierarchical routing, the topic manager and session metrics."""

from __future__ import annotations

import time
from typing import ClassVar

import pytest

from dialog.agent import Agent
from dialog.policy import HierarchicalPolicy
from dialog.stats import collect
from dialog.understanding.emotion import EmotionDetector, EmotionLexicons
from dialog.understanding.intent import IntentModel, fingerprint, load_or_train, model_dir
from dialog.understanding.profile import extract_facts
from dialog.understanding.rewrite import rewrite
from dialog_core.settings import Settings
from dialog_core.state import DialogueState, EntityRef
from dialog_core.text import is_cjk
from dialog_core.turn import CHITCHAT, KBQA, TOPIC, Entity, Intent, Turn
from skills.api import Skill, SkillResult
from skills.registry import SkillRegistry


class WeatherSkill(Skill):
    """A skill known only through its declared examples (its own score is always 0)."""

    name = "weather"
    intents: ClassVar[dict[str, list[str]]] = {
        "forecast": [
            "what's the weather like tomorrow",
            "will it rain today",
            "is it going to be sunny this weekend",
            "weather forecast for tonight",
            "do I need an umbrella today",
            "明天天气怎么样",
            "今天会下雨吗",
            "这周末天气好吗",
            "今晚的天气预报",
            "今天要带伞吗",
        ]
    }

    def can_handle(self, turn: Turn) -> float:
        return 0.0

    def handle(self, turn: Turn) -> SkillResult:
        return SkillResult("Sunny. 晴天。")


@pytest.fixture(scope="module")
def weather_agent(settings: Settings) -> Agent:
    agent = Agent.from_settings(settings, skills=SkillRegistry([WeatherSkill()]))
    yield agent
    agent.close()


@pytest.fixture(scope="module")
def detector() -> EmotionDetector:
    return EmotionDetector(EmotionLexicons())


# ------------------------------------------------------------------ emotion


@pytest.mark.parametrize(
    ("text", "language", "label"),
    [
        ("I'm so happy, we won!", "en", "happy"),
        ("I feel lonely and sad", "en", "sad"),
        ("I'm not happy about this", "en", "sad"),
        ("This is so annoying, I hate it", "en", "angry"),
        ("I'm nervous about my exam", "en", "anxious"),
        ("What's the capital of Peru?", "en", "neutral"),
        ("太开心了", "zh", "happy"),
        ("我好难过", "zh", "sad"),
        ("我不开心", "zh", "sad"),
        ("气死我了", "zh", "angry"),
        ("明天面试，好紧张", "zh", "anxious"),
        ("秘鲁的首都是哪里", "zh", "neutral"),
    ],
)
def test_emotion_labels_in_both_languages(
    detector: EmotionDetector, text: str, language: str, label: str
) -> None:
    emotion = detector.detect(text, language)
    assert emotion.label == label
    assert (emotion.polarity > 0) == (label == "happy") or label == "neutral"


def test_the_emotion_trajectory_is_kept_in_the_state(agent: Agent, user_id: str) -> None:
    agent.respond(user_id, "I'm so happy today!")
    agent.respond(user_id, "now I feel sad and lonely")
    reply = agent.respond(user_id, "我好难过")
    assert reply.emotion.label == "sad"
    assert reply.trace["understanding"]["empathy"]["response_emotion"] == "caring"
    assert [p.label for p in agent.state(user_id).emotions] == ["happy", "sad", "sad"]


# ------------------------------------------------------------------ rewriting


@pytest.mark.parametrize(
    ("text", "language", "mention", "previous", "expected"),
    [
        ("And its population?", "en", "France", None, "And the population of France?"),
        ("How big is it?", "en", "France", None, "How big is France?"),
        ("I like it", "en", "France", None, "I like it"),
        ("那它的人口呢？", "zh", "法国", None, "那法国的人口呢？"),
        (
            "What about Japan?",
            "en",
            "Kenya",
            "What is the capital of Kenya?",
            "What is the capital of Japan?",
        ),
        ("那日本呢？", "zh", "肯尼亚", "肯尼亚的首都是哪里？", "日本的首都是哪里？"),
        ("Do they speak English?", "en", "Kenya", None, "Do Kenya speak English?"),
        (
            "What language do they speak in Brazil?",
            "en",
            "Japan",
            None,
            "What language do they speak in Brazil?",
        ),
        ("Is it in Europe?", "en", "France", None, "Is France in Europe?"),
    ],
)
def test_rewriting_resolves_pronouns_and_ellipsis(
    text: str, language: str, mention: str, previous: str | None, expected: str
) -> None:
    entity = EntityRef(id="x", name=mention, mention=mention)
    assert rewrite(text, language, entity, previous) == expected


def test_a_follow_up_names_the_entity_in_the_messages_language() -> None:
    tokyo = EntityRef(id="1850147", name="Tokyo", type="City", mention="东京")
    assert rewrite("How big is it?", "en", tokyo, None) == "How big is Tokyo?"
    assert rewrite("那里有多少人？", "zh", tokyo, None) == "东京有多少人？"


def test_traditional_characters_are_read_as_simplified_and_names_kept_as_written(
    agent: Agent, user_id: str
) -> None:
    happy = agent.respond(user_id, "我今天很開心")
    assert happy.emotion.label == "happy"
    assert happy.trace["understanding"]["rewritten"] == "我今天很开心"
    named = agent.respond(user_id, "我叫陳美麗")
    assert named.trace["understanding"]["normalized"] == "我叫陳美麗"
    assert agent.state(user_id).profile["name"] == "陳美麗"


def test_the_trace_shows_the_original_and_rewritten_query(agent: Agent, user_id: str) -> None:
    agent.respond(user_id, "hello")
    state = agent.store.load(user_id, time.time())
    state.last_entities = [EntityRef(id="country:FR", name="France", type="Country", mention="France")]
    agent.store.save(state)
    reply = agent.respond(user_id, "And its population?")
    assert reply.trace["rewrite"]["from"] == "And its population?"
    assert reply.trace["understanding"]["rewritten"] == "And the population of France?"


# ------------------------------------------------------------------ user memory


def test_profile_facts_are_extracted_in_both_languages() -> None:
    assert extract_facts("My name is Ada and I love jazz") == {"name": "Ada", "likes": ["jazz"]}
    assert extract_facts("I live in Nairobi. I work as a nurse.") == {"city": "Nairobi", "job": "nurse"}
    assert extract_facts("我叫小明，我喜欢踢足球。") == {"name": "小明", "likes": ["踢足球"]}
    assert extract_facts("我不喜欢下雨天") == {"dislikes": ["下雨天"]}
    assert extract_facts("what's my name?") == {}


def test_a_user_who_gives_their_name_is_greeted_by_it(agent: Agent, user_id: str) -> None:
    greeted = agent.respond(user_id, "Hi, my name is Ada and I love jazz")
    assert (greeted.text, greeted.route) == ("Nice to meet you, Ada!", CHITCHAT)
    assert greeted.trace["decision"]["reason"] == "the user tells me their name"
    assert agent.respond(user_id, "我叫小明").text == "小明，很高兴认识你！"
    again = agent.respond(user_id, "我叫小明")  # not news any more: core chat answers
    assert again.trace["decision"]["reason"] != "the user tells me their name"


def test_the_profile_outlives_sessions_is_used_and_can_be_forgotten(settings: Settings, user_id: str) -> None:
    agent = Agent.from_settings(settings.model_copy(update={"session_idle_timeout_s": 3.0}))
    try:
        agent.respond(user_id, "Hi, my name is Ada and I love jazz")
        agent.respond(user_id, "我喜欢猫")
        time.sleep(3.5)  # a new session starts
        name = agent.respond(user_id, "What's my name?")
        likes = agent.respond(user_id, "你知道我喜欢什么吗？")
        assert name.text == "You're Ada." and name.route == CHITCHAT
        assert "jazz" in likes.text and "猫" in likes.text
        assert len(agent.store.session_summaries(user_id)) == 1
        agent.forget_profile(user_id)
        assert agent.state(user_id).profile == {}
        assert "haven't told me" in agent.respond(user_id, "what's my name?").text
    finally:
        agent.close()


# ------------------------------------------------------------------ intents and routing


def test_a_skill_is_reached_through_its_declared_examples(weather_agent: Agent, user_id: str) -> None:
    english = weather_agent.respond(user_id, "is it going to rain tomorrow?")
    chinese = weather_agent.respond(user_id, "明天会下雨吗？")
    assert english.route == chinese.route == "skill:weather"
    assert english.intent.name == "skill:weather" and english.intent.source == "classifier"


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("What is the capital of Peru?", KBQA),
        ("Which countries border Chile?", KBQA),
        ("智利的首都是哪里？", KBQA),
        ("how are you doing today?", CHITCHAT),
        ("你今天过得怎么样", CHITCHAT),
        ("do you like movies", CHITCHAT),
    ],
)
def test_the_policy_routes_knowledge_questions_and_chit_chat(
    weather_agent: Agent, user_id: str, text: str, route: str
) -> None:
    reply = weather_agent.respond(user_id, text)
    assert reply.trace["decision"]["route"] == route, reply.trace["decision"]
    assert reply.trace["decision"]["reason"]


@pytest.mark.parametrize(
    ("graph_question", "intent", "route"),
    [(True, "chitchat", KBQA), (False, "chitchat", CHITCHAT), (False, "knowledge", KBQA)],
)
def test_a_linked_entity_tries_kbqa_when_knowledge_reads_a_question_about_it(
    graph_question: bool, intent: str, route: str
) -> None:
    """ "Muhammed Ali" links the city of Ali but asks nothing of the graph."""
    now = time.time()
    turn = Turn("policy-user", "test", "Muhammed Ali", DialogueState.new("policy-user", now), now)
    turn.nlu.entities = [Entity(id="1", name="Ali", type="City", mention="Ali")]
    turn.nlu.graph_question = graph_question
    turn.nlu.intent = Intent(name=intent, confidence=0.6)
    decision = HierarchicalPolicy(SkillRegistry(), skill_threshold=0.6, knowledge_threshold=0.5).decide(turn)
    assert decision.route == route, decision.reason


def test_the_model_retrains_only_when_the_skill_set_changes(tmp_path, settings: Settings) -> None:
    empty, weather = SkillRegistry(), SkillRegistry([WeatherSkill()])
    first = load_or_train(tmp_path, empty)
    saved = (model_dir(tmp_path) / "model.joblib").stat().st_mtime_ns
    assert load_or_train(tmp_path, empty).fingerprint == first.fingerprint
    assert (model_dir(tmp_path) / "model.joblib").stat().st_mtime_ns == saved  # loaded, not retrained
    retrained = load_or_train(tmp_path, weather)
    assert retrained.fingerprint == fingerprint(weather) != first.fingerprint
    assert "skill:weather" in retrained.labels and "skill:weather" not in first.labels
    assert IntentModel.load(model_dir(tmp_path)).fingerprint == retrained.fingerprint


# ------------------------------------------------------------------ topic manager


def test_boredom_gets_a_new_topic_in_the_users_language(agent: Agent, user_id: str) -> None:
    english = agent.respond(user_id, "I'm bored")
    chinese = agent.respond(user_id, "好无聊啊，换个话题吧")
    assert english.route == chinese.route == TOPIC
    assert is_cjk(chinese.text)
    state = agent.state(user_id)
    assert len(state.topics_used) == 2 and state.topics_used[0] != state.topics_used[1]  # fresh topics


def test_two_bare_acknowledgements_in_a_row_trigger_a_topic(agent: Agent, user_id: str) -> None:
    assert agent.respond(user_id, "hello there").route != TOPIC
    assert agent.respond(user_id, "嗯").trace["decision"]["route"] != TOPIC
    reply = agent.respond(user_id, "嗯嗯")
    assert reply.route == TOPIC and "acknowledgements" in reply.trace["topic"]["reason"]


def test_topics_follow_the_users_interests(agent: Agent, user_id: str) -> None:
    agent.respond(user_id, "I really love jazz and rock")
    reply = agent.respond(user_id, "let's talk about something else")
    assert reply.trace["topic"]["chosen"] == "music"


# ------------------------------------------------------------------ session metrics


def test_stats_report_turns_per_session_and_routes(settings: Settings) -> None:
    home = settings.model_copy(update={"session_idle_timeout_s": 3.0, "key_prefix": "statstest"})
    agent = Agent.from_settings(home)
    try:
        for turns in (2, 4):
            for n in range(turns):
                agent.respond("stats-user", f"message {n}")
            time.sleep(3.5)
        agent.respond("stats-user", "I'm bored")  # the open session
        stats = collect(agent.store)
    finally:
        agent.close()
    assert (stats.users, stats.finished_sessions, stats.open_sessions) == (1, 2, 1)
    assert stats.turns_per_session == [4, 2] and stats.cps_mean == 3.0
    assert sum(stats.routes.values()) == 7 and stats.routes[TOPIC] >= 1


def test_the_api_shows_and_forgets_the_profile(serve, user_id: str) -> None:
    import httpx

    server = serve()
    httpx.post(f"{server.url}/v1/chat", json={"user_id": user_id, "text": "My name is Ada"}, timeout=60)
    assert httpx.get(f"{server.url}/v1/users/{user_id}/profile", timeout=30).json() == {"name": "Ada"}
    assert httpx.delete(f"{server.url}/v1/users/{user_id}/profile", timeout=30).json() == {"forgotten": True}
    assert httpx.get(f"{server.url}/v1/users/{user_id}/profile", timeout=30).json() == {}
    history = httpx.get(f"{server.url}/v1/users/{user_id}/state", timeout=30).json()["history"]
    assert [t["user"] for t in history] == ["My name is Ada"]  # the conversation stays


def test_the_repl_forgets_the_profile(home) -> None:
    from tests.conftest import run_dialog

    script = "my name is Ada\n/profile\n/forget\nwhat's my name?\n/quit\n"
    result = run_dialog(
        "chat", "--user", "repl-forget", env={"DIALOG_HOME": str(home)}, input=script, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "Ada" in result.stdout and "Forgotten" in result.stdout and "haven't told me" in result.stdout
