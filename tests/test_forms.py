"""Forms on a real agent: any order, several slots at once, corrections, cancel, switching away and
resuming, confirmation, validation, state in Redis — in English and Chinese."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from dialog.agent import Agent
from dialog.testing import skill_agent
from dialog_core.settings import Settings
from skills import ChoiceKind, DateKind, Form, FormSlot, InvalidSlot, NumberKind, TextKind, TimeKind, Turn
from skills.builtin.calculator import CalculatorSkill

BOOKED: list[dict[str, Any]] = []


class BookingForm(Form):
    name = "booking"
    title = ("your table booking", "订座")
    confirm = True
    triggers: ClassVar[list[str]] = [r"\bbook (?:a )?table\b", r"订(?:个)?(?:座|位|桌)"]
    slots: ClassVar[list[FormSlot]] = [
        FormSlot("date", kind=DateKind(), prompt=("Which day?", "哪一天？"), label=("date", "日期")),
        FormSlot("time", kind=TimeKind(), prompt=("What time?", "几点？"), label=("time", "时间")),
        FormSlot("people", kind=NumberKind(keywords=("people", "person", "guests", "of us", "人", "位")),
                 prompt=("For how many people?", "几位？"), label=("people", "人数")),
        FormSlot("area", kind=ChoiceKind({"inside": ["indoors", "室内", "里面"],
                                          "terrace": ["outside", "露台", "外面"]}),
                 prompt=("Inside or on the terrace?", "室内还是露台？"), label=("area", "区域")),
        FormSlot("guest", kind=TextKind(), prompt=("Under which name?", "请问贵姓？"),
                 label=("name", "姓名")),
    ]  # fmt: skip

    def validate_people(self, value: Any, turn: Turn) -> int:
        if not 1 <= value <= 12:
            raise InvalidSlot("We take 1 to 12 people per table.", "每桌 1 到 12 位。")
        return value

    def submit(self, turn: Turn, values: dict[str, Any]) -> str:
        BOOKED.append(values)
        return f"BOOKED {json.dumps(values, sort_keys=True, ensure_ascii=False)}"


@pytest.fixture(scope="module")
def settings_tz(home: Path) -> Settings:
    return Settings(home=home, timezone="Asia/Shanghai")


@pytest.fixture(scope="module")
def form_agent(settings_tz: Settings) -> Iterator[Agent]:
    agent = skill_agent(settings_tz, [BookingForm(), CalculatorSkill()])
    yield agent
    agent.close()


def talk(agent: Agent, user_id: str, *lines: str) -> list[str]:
    return [agent.respond(user_id, line).text for line in lines]


def booked(agent: Agent, user_id: str, text: str) -> dict[str, Any]:
    reply = agent.respond(user_id, text)
    assert reply.text.startswith("BOOKED"), reply.text
    assert agent.state(user_id).active_skill is None
    return json.loads(reply.text.removeprefix("BOOKED "))


def weekday_after(today: date, weekday: int) -> str:
    days = (weekday - today.weekday()) % 7 or 7
    return (today + timedelta(days=days)).isoformat()


def test_several_slots_in_one_message_then_the_rest_in_any_order(form_agent: Agent, user_id: str) -> None:
    first = form_agent.respond(user_id, "I'd like to book a table for 4 people tomorrow at 7pm")
    assert first.route == "skill:booking" and first.text == "Inside or on the terrace?"
    # the form asked for the area; the user gives the name and the area in one go, out of order
    reply = form_agent.respond(user_id, "outside please")
    assert reply.text == "Under which name?"
    confirm = form_agent.respond(user_id, "Lovelace").text
    assert confirm.endswith("Shall I go ahead?") and "people: 4" in confirm and "time: 19:00" in confirm
    values = booked(form_agent, user_id, "yes")
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert values == {
        "area": "terrace",
        "date": values["date"],
        "guest": "Lovelace",
        "people": 4,
        "time": "19:00",
    }
    assert values["date"] in {tomorrow, (date.today() + timedelta(days=2)).isoformat()}  # timezone edge


def test_a_correction_while_filling_and_while_confirming(form_agent: Agent, user_id: str) -> None:
    talk(form_agent, user_id, "book a table", "friday at 8pm", "2 people", "inside")
    corrected = form_agent.respond(user_id, "no, make it 3 people").text
    assert corrected.startswith("OK, people changed to 3.") and corrected.endswith("Under which name?")
    confirm = form_agent.respond(user_id, "Hopper").text
    assert "people: 3" in confirm
    again = form_agent.respond(user_id, "actually make it Tuesday").text
    assert again.startswith("OK, date changed to") and again.endswith("Shall I go ahead?")
    values = booked(form_agent, user_id, "yes please")
    assert values["date"] == weekday_after(date.fromisoformat(values["date"]) - timedelta(days=7), 1)
    assert values["people"] == 3


def test_chinese_out_of_order_with_a_correction(form_agent: Agent, user_id: str) -> None:
    assert talk(form_agent, user_id, "我想订个座，三位") == ["哪一天？"]
    assert talk(form_agent, user_id, "明天晚上7点") == ["室内还是露台？"]
    corrected = form_agent.respond(user_id, "不对，改成周二").text
    assert corrected.startswith("好的，日期改为") and corrected.endswith("室内还是露台？")
    assert talk(form_agent, user_id, "露台") == ["请问贵姓？"]
    confirm = form_agent.respond(user_id, "王").text
    assert confirm.endswith("确认吗？") and "人数：3" in confirm and "时间：19:00" in confirm
    values = booked(form_agent, user_id, "确认")
    assert date.fromisoformat(values["date"]).weekday() == 1 and values["guest"] == "王"


def test_saying_no_asks_what_to_change(form_agent: Agent, user_id: str) -> None:
    talk(form_agent, user_id, "book a table for 2 people on saturday at 6pm", "inside", "Curie")
    assert form_agent.respond(user_id, "no").text.startswith("What would you like to change")
    changed = form_agent.respond(user_id, "6 people").text
    assert "people changed to 6" in changed and changed.endswith("Shall I go ahead?")
    assert booked(form_agent, user_id, "ok")["people"] == 6


def test_invalid_values_are_refused_and_asked_again(form_agent: Agent, user_id: str) -> None:
    talk(form_agent, user_id, "book a table tomorrow at noon")
    refused = form_agent.respond(user_id, "20 people").text
    assert refused == "We take 1 to 12 people per table.\nFor how many people?"
    unclear = form_agent.respond(user_id, "hmm, purple").text
    assert unclear.startswith("Sorry, I didn't catch that") and unclear.endswith("For how many people?")
    assert form_agent.respond(user_id, "5").text == "Inside or on the terrace?"


def test_a_form_is_dropped_after_three_messages_that_fill_nothing(form_agent: Agent, user_id: str) -> None:
    talk(form_agent, user_id, "book a table tomorrow at noon")
    for text in ("hmm, purple", "my name is Ada"):
        assert form_agent.respond(user_id, text).text.startswith("Sorry, I didn't catch that")
    assert (
        form_agent.respond(user_id, "5").text == "Inside or on the terrace?"
    )  # a fill starts the count again
    for text in ("what a day", "I like jazz"):
        assert form_agent.respond(user_id, text).text.startswith("Sorry, I didn't catch that")
    dropped = form_agent.respond(user_id, "the weather is nice")
    assert dropped.text == "Let's leave your table booking for now; ask me again any time."
    assert form_agent.state(user_id).active_skill is None
    assert form_agent.respond(user_id, "what is 2 + 2").text == "2 + 2 = 4"  # no "back to" any more


@pytest.mark.parametrize("cancel", ["never mind", "算了"])
def test_cancel_at_any_point(form_agent: Agent, user_id: str, cancel: str) -> None:
    talk(form_agent, user_id, "book a table for 2 people")
    reply = form_agent.respond(user_id, cancel)
    assert reply.route == "skill:booking" and ("cancelled" in reply.text or "已取消" in reply.text)
    state = form_agent.state(user_id)
    assert state.active_skill is None and not state.skill_data.get("booking")


def test_switching_away_and_resuming(form_agent: Agent, user_id: str) -> None:
    talk(form_agent, user_id, "book a table for 2 people tomorrow")
    assert form_agent.state(user_id).active_skill == "booking"
    detour = form_agent.respond(user_id, "what is 12 * 7")
    assert detour.route == "skill:calculator"
    assert "interrupts active skill 'booking'" in detour.trace["decision"]["reason"]
    assert detour.text == "12 × 7 = 84\nBack to your table booking: What time?"
    assert form_agent.state(user_id).active_skill == "booking"
    assert form_agent.respond(user_id, "at 8pm").text == "Inside or on the terrace?"
    zh = form_agent.respond(user_id, "三加五等于多少")
    assert zh.text == "3+5 = 8\n我们继续订座：室内还是露台？"


def test_form_state_lives_in_redis_and_survives_a_new_agent(
    form_agent: Agent, settings_tz: Settings, user_id: str
) -> None:
    talk(form_agent, user_id, "book a table for 3 people")
    raw = form_agent.store.redis.hget(form_agent.store.key(user_id, "state"), "json")
    stored = json.loads(raw)
    assert stored["active_skill"] == "booking"
    assert stored["skill_data"]["booking"]["values"] == {"people": 3}
    other = skill_agent(settings_tz, [BookingForm()])  # another worker, same Redis
    try:
        assert other.respond(user_id, "monday").text == "What time?"
        assert other.state(user_id).skill_data["booking"]["values"]["people"] == 3
    finally:
        other.close()
