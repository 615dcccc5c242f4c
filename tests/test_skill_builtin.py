"""The built-in skills on a real agent, each in English and Chinese: clock (timezones from the graph),
calculator, unit conversion, reminders (outbox in Redis, delivered after a restart) and order status."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dialog.agent import Agent
from dialog.runtime.embedded import EmbeddedServer
from dialog.runtime.services import Services
from dialog.testing import skill_agent
from dialog_core.outbox import Outbox
from dialog_core.settings import Settings
from skills.builtin.calculator import CalculatorSkill
from skills.builtin.clock import ClockSkill
from skills.builtin.orders import OrderStatusSkill
from skills.builtin.reminders import ReminderSkill
from skills.builtin.units import UnitConversionSkill

TZ = "Asia/Shanghai"
CITIES = [  # the world graph's schema (knowledge importer); a second, smaller Paris tests popularity
    {"id": "1850147", "name": "Tokyo", "name_zh": "东京", "aliases": ["Tokyo", "東京", "东京"],
     "population": 8336599, "timezone": "Asia/Tokyo", "country_iso2": "JP"},
    {"id": "5128581", "name": "New York City", "name_zh": "纽约", "aliases": ["New York", "NYC", "纽约"],
     "population": 8175133, "timezone": "America/New_York", "country_iso2": "US"},
    {"id": "2988507", "name": "Paris", "name_zh": "巴黎", "aliases": ["Paris", "巴黎"],
     "population": 2138551, "timezone": "Europe/Paris", "country_iso2": "FR"},
    {"id": "4717560", "name": "Paris", "name_zh": "巴黎", "aliases": ["Paris"],
     "population": 25171, "timezone": "America/Chicago", "country_iso2": "US"},
]  # fmt: skip


def builtins() -> list:
    return [ClockSkill(), CalculatorSkill(), UnitConversionSkill(), ReminderSkill(), OrderStatusSkill()]


@pytest.fixture(scope="module")
def builtin_settings(home: Path) -> Settings:
    return Settings(home=home, timezone=TZ, graph_name="skills_builtin_test")


@pytest.fixture(scope="module")
def builtin_agent(builtin_settings: Settings) -> Iterator[Agent]:
    agent = skill_agent(builtin_settings, builtins())
    graph = agent.services.graph
    graph.query("MATCH (n) DETACH DELETE n")
    for city in CITIES:
        graph.query(
            "CREATE (:City {id: $id, name: $name, name_zh: $name_zh, aliases: $aliases,"
            " population: $population, timezone: $timezone, country_iso2: $country_iso2})",
            city,
        )
    graph.query(
        "CREATE (:Country {id: 'JP', iso2: 'JP', name: 'Japan', name_zh: '日本', aliases: ['Japan', '日本']})"
    )
    graph.query("MATCH (c:Country {iso2: 'JP'}), (t:City {id: '1850147'}) CREATE (c)-[:HAS_CAPITAL]->(t)")
    yield agent
    agent.close()


def ask(agent: Agent, user_id: str, text: str, route: str, channel: str = "api") -> str:
    reply = agent.respond(user_id, text, channel=channel)
    assert reply.route == route, (text, reply.route, reply.text, reply.trace.get("skill"))
    return reply.text


def clock_readings(zone: str) -> set[str]:
    """HH:MM now and a minute on (a turn may cross a minute)."""
    now = datetime.now(ZoneInfo(zone))
    return {f"{now:%H:%M}", f"{now + timedelta(minutes=1):%H:%M}"}


# ---------------------------------------------------------------------- clock


def test_time_and_date_here(builtin_agent: Agent, user_id: str) -> None:
    text = ask(builtin_agent, user_id, "what time is it?", "skill:clock")
    assert any(f"It's {hhmm}" in text for hhmm in clock_readings(TZ))
    zh = ask(builtin_agent, user_id, "现在几点了", "skill:clock")
    assert any(f"现在是 {hhmm}" in zh for hhmm in clock_readings(TZ))
    today = datetime.now(ZoneInfo(TZ))
    assert str(today.year) in ask(builtin_agent, user_id, "what's the date today?", "skill:clock")
    assert f"{today.month}月{today.day}日" in ask(builtin_agent, user_id, "今天几号", "skill:clock")


@pytest.mark.parametrize(
    ("question", "zone", "shown"),
    [
        ("what time is it in Tokyo?", "Asia/Tokyo", "In Tokyo"),
        ("what's the time in new york right now", "America/New_York", "In New York City"),
        ("what time is it in Paris", "Europe/Paris", "In Paris"),  # the populous Paris
        ("what time is it in Japan", "Asia/Tokyo", "In Japan"),  # a country: its capital
        ("东京现在几点", "Asia/Tokyo", "东京现在是"),
        ("纽约几点了？", "America/New_York", "纽约现在是"),
    ],
)
def test_time_in_a_city_from_the_graph(
    builtin_agent: Agent, user_id: str, question: str, zone: str, shown: str
) -> None:
    text = ask(builtin_agent, user_id, question, "skill:clock")
    assert text.startswith(shown) and zone in text
    assert any(hhmm in text for hhmm in clock_readings(zone))


def test_an_unknown_city_is_said_plainly(builtin_agent: Agent, user_id: str) -> None:
    assert "don't know where Atlantis is" in ask(
        builtin_agent, user_id, "what time is it in Atlantis?", "skill:clock"
    )
    assert "不知道亚特兰蒂斯在哪里" in ask(builtin_agent, user_id, "亚特兰蒂斯现在几点", "skill:clock")


# ---------------------------------------------------------------------- calculator and units


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("what is 3 + 4 * 2", "= 11"),
        ("calculate 15% of 80", "= 12"),
        ("what's 2 to the power of 10?", "= 1024"),
        ("square root of 144", "= 12"),
        ("三加五等于多少", "= 8"),
        ("一百除以四等于几", "= 25"),
        ("2的10次方是多少", "= 1024"),
    ],
)
def test_calculator(builtin_agent: Agent, user_id: str, question: str, answer: str) -> None:
    assert ask(builtin_agent, user_id, question, "skill:calculator").endswith(answer)


def test_calculator_follow_ups_go_on_from_the_last_result(builtin_agent: Agent, user_id: str) -> None:
    assert ask(builtin_agent, user_id, "what's 15 times 12?", "skill:calculator").endswith("= 180")
    assert ask(builtin_agent, user_id, "and divided by 3?", "skill:calculator") == "180 ÷ 3 = 60"
    assert ask(builtin_agent, user_id, "再加上50呢", "skill:calculator").endswith("= 110")
    # with no result just before, a bare operation is not a sum of its own
    other = f"{user_id}-fresh"
    assert builtin_agent.respond(other, "and divided by 3?").route != "skill:calculator"


def test_calculator_errors_are_explained(builtin_agent: Agent, user_id: str) -> None:
    assert ask(builtin_agent, user_id, "what is 1 / 0", "skill:calculator") == "You can't divide by zero."
    assert ask(builtin_agent, user_id, "五除以零等于多少", "skill:calculator") == "除数不能为零。"
    assert (
        ask(builtin_agent, user_id, "what is 9 ** 9 ** 9", "skill:calculator")
        == "That number is too large for me."
    )


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("convert 5 km to miles", "5 km = 3.106856 miles"),
        ("how many feet in 3 meters?", "3 meters = 9.84252 feet"),
        ("100 fahrenheit in celsius", "100 fahrenheit = 37.777778 celsius"),
        ("5公里是多少英里", "5公里 = 3.106856英里"),
        ("把30摄氏度换算成华氏度", "30摄氏度 = 86华氏度"),
        ("2斤是多少公斤", "2斤 = 1公斤"),
    ],
)
def test_unit_conversion(builtin_agent: Agent, user_id: str, question: str, answer: str) -> None:
    assert ask(builtin_agent, user_id, question, "skill:units") == answer


def test_the_unit_registry_is_built_when_the_agent_starts(builtin_settings: Settings) -> None:
    """Not in the first turn's can_handle: under its 1 s limit on a busy machine, the first "convert 5 km
    to miles" after a start scored 0 and got the editorial reply (seen in a CI run)."""
    from skills.builtin.units import _registry

    _registry.cache_clear()
    agent = skill_agent(builtin_settings, [UnitConversionSkill()])
    try:
        assert _registry.cache_info().currsize == 1
    finally:
        agent.close()


def test_units_that_do_not_convert(builtin_agent: Agent, user_id: str) -> None:
    assert "measure different things" in ask(builtin_agent, user_id, "convert 5 km to kg", "skill:units")
    assert "不是同一类单位" in ask(builtin_agent, user_id, "5公里是多少公斤", "skill:units")


# ---------------------------------------------------------------------- reminders


def reminders_of(agent: Agent, user_id: str, channel: str) -> list:
    return [
        m
        for m in Outbox(agent.services.redis, agent.settings).pending(channel, user_id)
        if m.kind == "reminder"
    ]


def test_reminder_in_english_is_scheduled_in_the_outbox(builtin_agent: Agent, user_id: str) -> None:
    before = time.time()
    text = ask(
        builtin_agent, user_id, "remind me in 10 minutes to stretch", "skill:reminders", channel="repl"
    )
    assert text.startswith("OK, I'll remind you to stretch in 10 min")
    [message] = reminders_of(builtin_agent, user_id, "repl")
    assert message.text == "⏰ Reminder: stretch" and message.channel == "repl"
    assert before + 600 - 2 <= message.due_at <= time.time() + 600 + 2


def test_reminder_in_chinese_tomorrow_morning(builtin_agent: Agent, user_id: str) -> None:
    text = ask(builtin_agent, user_id, "明天早上8点提醒我开会", "skill:reminders", channel="repl")
    assert text == "好的，我会在明天08:00提醒你开会。"
    [message] = reminders_of(builtin_agent, user_id, "repl")
    due = datetime.fromtimestamp(message.due_at, ZoneInfo(TZ))
    assert message.text == "⏰ 提醒：开会"
    assert (due.date() - datetime.now(ZoneInfo(TZ)).date()).days == 1 and (due.hour, due.minute) == (8, 0)


def test_a_missing_time_or_task_is_asked_for(builtin_agent: Agent, user_id: str) -> None:
    assert (
        ask(builtin_agent, user_id, "remind me to water my plants", "skill:reminders")
        == "When should I remind you?"
    )
    done = ask(builtin_agent, user_id, "in 2 hours", "skill:reminders")
    assert done.startswith("OK, I'll remind you to water your plants")
    assert ask(builtin_agent, user_id, "10分钟后提醒我", "skill:reminders") == "要提醒你什么事？"
    assert ask(builtin_agent, user_id, "喝水", "skill:reminders").startswith("好的，我会在10分钟后")
    assert sorted(m.text for m in reminders_of(builtin_agent, user_id, "api")) == [
        "⏰ Reminder: water your plants",
        "⏰ 提醒：喝水",
    ]


def test_a_time_in_the_past_is_refused(builtin_agent: Agent, user_id: str) -> None:
    text = ask(builtin_agent, user_id, "remind me yesterday at 9am to vote", "skill:reminders")
    assert "When should I remind you?" in text


def test_list_and_cancel_reminders(builtin_agent: Agent, user_id: str) -> None:
    ask(builtin_agent, user_id, "remind me in 30 minutes to stretch", "skill:reminders")
    ask(builtin_agent, user_id, "remind me tomorrow at 9am to call the bank", "skill:reminders")
    listed = ask(builtin_agent, user_id, "show my reminders", "skill:reminders")
    assert listed.startswith("Your reminders:") and "stretch" in listed and "call the bank" in listed
    assert ask(builtin_agent, user_id, "cancel my reminder to call the bank", "skill:reminders") == (
        "Cancelled: call the bank."
    )
    assert [m.text for m in reminders_of(builtin_agent, user_id, "api")] == ["⏰ Reminder: stretch"]
    assert ask(builtin_agent, user_id, "我的提醒", "skill:reminders").startswith("你的提醒：")
    assert ask(builtin_agent, user_id, "取消所有提醒", "skill:reminders") == "已取消：stretch。"
    assert ask(builtin_agent, user_id, "show my reminders", "skill:reminders") == "You have no reminders set."


def test_a_channel_that_delivers_nothing_later_says_so(builtin_agent: Agent, user_id: str) -> None:
    english = ask(builtin_agent, user_id, "remind me in 10 minutes to stretch", "skill:reminders", "sms")
    assert english.startswith("Sorry, I can't send you reminders here")
    chinese = ask(builtin_agent, user_id, "10分钟后提醒我喝水", "skill:reminders", channel="sms")
    assert chinese.startswith("抱歉，这里没法给你发提醒")
    assert reminders_of(builtin_agent, user_id, "sms") == []


def test_reminders_survive_a_server_restart_and_are_delivered_once(own_home: Path, user_id: str) -> None:
    settings = Settings(home=own_home, timezone=TZ)
    agent = skill_agent(settings, [ReminderSkill()])
    try:
        ask(agent, user_id, "remind me in 5 minutes to take a break", "skill:reminders", channel="repl")
    finally:
        agent.close()
    assert EmbeddedServer(own_home).stop()
    services = Services.connect(settings)  # starts the server again; it replays its append-only file
    try:
        outbox = Outbox(services.redis, settings)
        assert outbox.claim_due("repl", now=time.time()) == []  # not due yet
        [delivered] = outbox.claim_due("repl", now=time.time() + 301)
        assert (delivered.user_id, delivered.text) == (user_id, "⏰ Reminder: take a break")
        assert outbox.claim_due("repl", now=time.time() + 301) == []
    finally:
        services.close()


# ---------------------------------------------------------------------- order status


def test_order_status_by_order_number(builtin_agent: Agent, user_id: str) -> None:
    asked = ask(builtin_agent, user_id, "where is my parcel?", "skill:order_status")
    assert asked.startswith("Please tell me your order number")
    text = ask(builtin_agent, user_id, "it's 2025031410300001", "skill:order_status")
    assert text.startswith("Order 2025031410300001 (wireless earbuds) is on its way: SF Express")
    assert builtin_agent.state(user_id).active_skill is None


def test_order_status_in_one_chinese_message(builtin_agent: Agent, user_id: str) -> None:
    text = ask(builtin_agent, user_id, "帮我查一下订单2025031316420003到哪了", "skill:order_status")
    assert text.startswith("订单2025031316420003（咖啡豆（1公斤））正在派送：京东物流")


def test_order_status_by_phone_lists_every_order(builtin_agent: Agent, user_id: str) -> None:
    assert ask(builtin_agent, user_id, "我的快递到哪了", "skill:order_status").startswith("请告诉我订单号")
    text = ask(builtin_agent, user_id, "138 0013 8000", "skill:order_status")
    assert text.splitlines() == [
        "你有2个订单：",
        "- 订单2025031410300001（无线耳机）运输中。",
        "- 订单2025031209150002（跑步鞋）已签收。",
    ]


def test_order_numbers_and_phones_are_validated(builtin_agent: Agent, user_id: str) -> None:
    ask(builtin_agent, user_id, "track my order", "skill:order_status")
    short = ask(builtin_agent, user_id, "12345678", "skill:order_status")
    assert short.startswith("An order number has 16 digits; 12345678 has 8")
    unknown = ask(builtin_agent, user_id, "9999999999999999", "skill:order_status")
    assert unknown.startswith("I can't find an order numbered 9999999999999999")
    nobody = ask(builtin_agent, user_id, "13700000000", "skill:order_status")
    assert nobody.startswith("I found no orders for the phone number 137****0000")
    assert re.search(r"delivered", ask(builtin_agent, user_id, "2025031209150002", "skill:order_status"))


def test_a_code_without_words_is_answered_in_the_language_of_the_form(
    builtin_agent: Agent, user_id: str
) -> None:
    assert ask(builtin_agent, user_id, "查一下我的订单", "skill:order_status").startswith("请告诉我订单号")
    assert ask(builtin_agent, user_id, "A1234567", "skill:order_status").startswith("订单号是16位数字")


# ---------------------------------------------------------------------- the default agent


def test_the_default_agent_discovers_the_builtins_and_routes_to_them(
    builtin_settings: Settings, user_id: str
) -> None:
    """The full pipeline (intent classifier included) with the skills found through entry points."""
    agent = Agent.from_settings(builtin_settings)
    try:
        assert {"clock", "calculator", "units", "reminders", "order_status"} <= {s.name for s in agent.skills}
        for text, route in [
            ("what time is it in Tokyo?", "skill:clock"),
            ("三加五等于多少", "skill:calculator"),
            ("convert 10 miles to km", "skill:units"),
            ("where is my package?", "skill:order_status"),
            ("never mind", "skill:order_status"),
            ("remind me in an hour to drink water", "skill:reminders"),
        ]:
            assert agent.respond(user_id, text).route == route, text
    finally:
        agent.close()
