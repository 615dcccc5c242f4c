"""Empathy and conversation flow (#17): dialogue acts, the bot's own question answered, empathetic
editorial replies that name the user's subject, no topic switch after a disclosure, and each
topic's acceptance rate learned in the real embedded Redis.

Expected lines come from the shipped data file (data/empathy.yaml), not written into the test."""

from __future__ import annotations

import time
import uuid

import pytest
import yaml

from dialog.agent import Agent
from dialog.chat.empathetic import EmpatheticReplies
from dialog.topic import TopicAcceptance, TopicManager, load_topics
from dialog.understanding.acts import (
    ACKNOWLEDGEMENT,
    ANSWER,
    ASK_BACK,
    DISCLOSURE,
    EMPATHY_FILE,
    QUESTION,
    STATEMENT,
)
from dialog_core.state import DialogueState, TurnRecord
from dialog_core.turn import EDITORIAL, TOPIC, Turn

DATA = yaml.safe_load(EMPATHY_FILE.read_text(encoding="utf-8"))


def understood(agent: Agent, text: str, bot_said: str | None = None, user_said: str = "hi") -> Turn:
    """A turn through the agent's real understanding stages, after one earlier exchange if given."""
    state = DialogueState.new("acts", time.time())
    if bot_said is not None:
        state.record_turn(TurnRecord(index=1, at=time.time(), channel="test", user=user_said, reply=bot_said,
                                     route="chitchat"), 10)  # fmt: skip
    turn = Turn("acts", "test", text, state, time.time())
    for stage in agent.stages:
        stage(turn)
    return turn


@pytest.mark.parametrize(
    ("text", "act"),
    [
        ("what about you?", ASK_BACK),
        ("And you?", ASK_BACK),
        ("那你呢？", ASK_BACK),
        ("haha", ACKNOWLEDGEMENT),
        ("lol", ACKNOWLEDGEMENT),
        ("哈哈哈", ACKNOWLEDGEMENT),
        ("嗯", ACKNOWLEDGEMENT),
        ("do you like music?", QUESTION),
        ("你喜欢音乐吗", QUESTION),
        ("I went hiking with some friends yesterday", STATEMENT),
        ("我昨天和朋友去爬山了", STATEMENT),
        ("my cat is sick", DISCLOSURE),
        ("我的猫生病了", DISCLOSURE),
    ],
)
def test_each_dialogue_act_in_both_languages(agent: Agent, text: str, act: str) -> None:
    assert understood(agent, text).nlu.act == act


def test_the_bots_own_question_is_answered_as_an_answer(agent: Agent) -> None:
    turn = understood(agent, "I slept terribly", bot_said="Good morning! Did you sleep well?")
    assert turn.nlu.act == ANSWER and turn.state.last_bot_question() == "Did you sleep well?"
    turn = understood(agent, "还行吧，就是有点累", bot_said="你昨晚睡得好吗？")
    assert turn.nlu.act == ANSWER
    # the same words with no question before them are a plain statement
    assert understood(agent, "I slept terribly").nlu.act != ANSWER


def test_a_disclosure_gets_empathy_that_names_its_subject(agent: Agent) -> None:
    user = f"sad-{uuid.uuid4().hex[:8]}"
    reply = agent.respond(user, "my dog died last week")
    assert reply.route == EDITORIAL and reply.trace["decision"]["route"] == EDITORIAL
    assert reply.trace["editorial"]["kind"] == "disclosure:loss"
    assert "your dog" in reply.text.lower()
    assert reply.text in [line.format(subject="your dog", subject_cap="Your dog")
                          for line in DATA["disclosures"]["loss"]["with_subject"]["en"]]  # fmt: skip
    reply = agent.respond(user, "我的猫生病了")
    assert reply.trace["editorial"]["kind"] == "disclosure:illness" and "猫" in reply.text


def test_no_topic_switch_right_after_a_disclosure_but_one_on_a_real_stall(agent: Agent) -> None:
    user = f"stall-{uuid.uuid4().hex[:8]}"
    agent.respond(user, "我和男朋友分手了")
    assert agent.respond(user, "嗯").route != TOPIC  # right after the news: stay with the user
    assert agent.respond(user, "嗯").route != TOPIC  # still the news's turns
    assert agent.respond(user, "嗯").route == TOPIC  # bare acknowledgements once the news is answered


def test_the_turns_after_news_stay_with_it_and_a_thanks_is_answered(agent: Agent) -> None:
    """ "yeah", "he was 14" after the bot's comfort: the news's own follow-up lines, naming its subject
    (a near match from the human corpus answers somebody else's conversation); then the talk moves on."""
    user = f"news-{uuid.uuid4().hex[:8]}"
    agent.respond(user, "my dog died last week")
    sad = DATA["after_news"]["sad"]["with_subject"]["en"]
    reply = agent.respond(user, "he was 14, we got him when I was a kid")
    assert reply.route == EDITORIAL and reply.trace["editorial"]["kind"] == "news:sad"
    assert reply.text in [line.format(subject="your dog") for line in sad]
    reply = agent.respond(user, "thanks for listening")
    assert reply.trace["editorial"]["kind"] == "news:thanks"
    assert reply.text in DATA["after_news"]["thanks"]["en"]
    assert agent.respond(user, "ok").trace["decision"]["route"] != EDITORIAL  # two turns, then on
    asked = f"news-{uuid.uuid4().hex[:8]}"  # news told in answer to the bot's own question
    agent.respond(asked, "I'm back")
    reply = agent.respond(asked, "my cat died last night")
    assert reply.trace["editorial"]["kind"] == "disclosure:loss"
    assert agent.respond(asked, "she was 16").trace["editorial"]["kind"] == "news:sad"
    other = f"news-{uuid.uuid4().hex[:8]}"
    agent.respond(other, "我和男朋友分手了")
    reply = agent.respond(other, "在一起四年了")
    assert reply.trace["editorial"]["kind"] == "news:sad"
    zh_sad = DATA["after_news"]["sad"]["with_subject"]["zh"]
    assert reply.text in [line.format(subject="男朋友") for line in zh_sad]
    reply = agent.respond(other, "你喜欢什么音乐？")  # a question to the bot leaves the news
    assert reply.trace.get("editorial", {}).get("kind") != "news:sad"


@pytest.mark.parametrize(
    ("text", "news"),
    [
        ("I'm so stressed about money right now", True),
        ("my landlord is raising the rent again and I'm furious", True),
        ("室友太吵了烦死了", True),
        ("I hate horror movies", False),  # an opinion about a thing, not news
        ("the movie was sad", False),  # not about the user
        ("I went to the park", False),
    ],
)
def test_strong_feelings_no_cue_names_are_answered_with_empathy_first(
    agent: Agent, text: str, news: bool
) -> None:
    turn = understood(agent, text)
    assert (turn.nlu.act == DISCLOSURE) == news, turn.nlu
    if news:
        reply = agent.respond(f"felt-{uuid.uuid4().hex[:8]}", text)
        assert reply.route == EDITORIAL and reply.trace["editorial"]["kind"].startswith("disclosure:")


def test_the_empathetic_fallback_refers_to_what_the_user_said(agent: Agent) -> None:
    replies = EmpatheticReplies(DATA, seed=3)
    turn = understood(agent, "I just got back from the gym")
    choice = replies.choose(turn)
    assert choice is not None and choice.kind == "act:statement" and "the gym" in choice.text
    turn = understood(agent, "我今天做了红烧肉")
    choice = replies.choose(turn)
    assert choice is not None and "红烧肉" in choice.text


def test_an_ask_back_gets_the_personas_own_answer_about_the_same_subject(agent: Agent) -> None:
    films = next(s for s in DATA["opinions"]["subjects"] if "movies" in s["keywords"]["en"])
    turn = understood(agent, "what about you?", bot_said="Nice! Which one is your favourite?",
                      user_said="I love watching movies on the weekend")  # fmt: skip
    choice = EmpatheticReplies(DATA).choose(turn)
    assert choice is not None and choice.kind == "act:ask_back" and choice.text in films["en"]
    turn = understood(agent, "你呢？", bot_said="真不错！你最喜欢哪部？", user_said="我周末喜欢看电影")
    choice = EmpatheticReplies(DATA).choose(turn)
    assert choice is not None and choice.text in films["zh"]


def test_topic_acceptance_is_learned_in_redis_and_ranks_topics(agent: Agent) -> None:
    acceptance = TopicAcceptance(agent.services.redis, f"test-{uuid.uuid4().hex[:8]}")
    topics = [t for t in load_topics() if t.id in ("food", "movies")]
    state = DialogueState.new("u", time.time())
    for _ in range(10):
        acceptance.record("food", engaged=False)
        acceptance.record("movies", engaged=True)
    rates = acceptance.rates()
    assert rates["movies"] > 0.9 and rates["food"] < 0.1
    for seed in range(20):  # whatever the jitter that takes turns among topics that score alike
        assert (
            next(t.id for _, t in TopicManager(topics, acceptance, seed=seed).rank(state, "", rates))
            == "movies"
        )


def test_a_reply_to_a_proposed_topic_is_counted_by_the_agent(agent: Agent) -> None:
    user = f"topic-{uuid.uuid4().hex[:8]}"
    reply = agent.respond(user, "I'm bored, let's talk about something else")
    assert reply.route == TOPIC
    topic = agent.state(user).topic
    before = TopicAcceptance(agent.services.redis, agent.settings.key_prefix).rates().get(topic, 0.5)
    reply = agent.respond(user, "sure, I really love that kind of thing actually")
    assert reply.trace["topic_acceptance"] == {"topic": topic, "engaged": True}
    assert TopicAcceptance(agent.services.redis, agent.settings.key_prefix).rates()[topic] > before


def _a_day_later(agent: Agent, user: str) -> None:
    """The user's last activity moved a day back: their next message opens a new session."""
    with agent.store.locked(user):
        state = agent.store.load(user, time.time())
        state.session.last_active_at -= 86_400
        agent.store.save(state)


def test_a_profile_fact_is_used_in_a_later_session(agent: Agent) -> None:
    user = f"memory-{uuid.uuid4().hex[:8]}"
    agent.respond(user, "my name is Anna")
    agent.respond(user, "my cat is called Mimi")
    assert agent.respond(user, "hello").trace["decision"]["route"] != "memory"  # same session: no welcome
    _a_day_later(agent, user)
    welcome = agent.respond(user, "hi")
    assert (
        welcome.trace["decision"]["route"] == "memory" and "Anna" in welcome.text and "Mimi" in welcome.text
    )
    chinese = f"memory-zh-{uuid.uuid4().hex[:8]}"
    agent.respond(chinese, "我叫小明")
    agent.respond(chinese, "我家狗狗叫旺财")
    _a_day_later(agent, chinese)
    welcome = agent.respond(chinese, "你好")
    assert "小明" in welcome.text and "旺财" in welcome.text
    assert agent.state(chinese).profile["pets"] == {"旺财": "狗狗"}


def test_chit_chat_ellipsis_is_resolved_from_the_last_exchange(agent: Agent) -> None:
    user = f"ellipsis-{uuid.uuid4().hex[:8]}"
    agent.respond(user, "do you like movies?")
    reply = agent.respond(user, "what's your favorite one?")
    assert reply.trace["understanding"]["rewritten"] == "what's your favorite movie?"
    agent.respond(user, "你喜欢看电影吗？")
    reply = agent.respond(user, "你最喜欢哪部？")
    assert reply.trace["understanding"]["rewritten"].rstrip("?？") == "你最喜欢哪部电影"
    fresh = agent.respond(f"{user}-new", "what's your favorite one?")  # nothing to resolve it from: asked
    assert fresh.trace["understanding"]["rewritten"] == "what's your favorite one?"
    assert fresh.trace["editorial"]["kind"] == "act:clarify" and fresh.text in DATA["acts"]["clarify"]["en"]
