"""The rasa-sdk bridge: the same rasa_sdk actions (data/skills/rasa_example) in-process and on a real
`python -m rasa_sdk` action server subprocess over its HTTP webhook; timeouts and a server that is down."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dialog.agent import Agent
from dialog.testing import skill_agent
from dialog_core.settings import Settings
from skills.rasa import ActionServer, InProcessActions, RasaSkill, Trigger
from tests.conftest import free_port

EXAMPLE = Path(__file__).parent.parent / "data" / "skills" / "rasa_example"


@pytest.fixture(scope="module")
def action_server() -> Iterator[str]:
    """A real Rasa action server running the example actions."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        cwd=EXAMPLE, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the rasa_sdk action server did not start")
        time.sleep(0.2)
    yield f"{url}/webhook"
    process.terminate()
    process.wait(timeout=30)


def remote_config(tmp_dir: Path, url: str, timeout_s: float = 5) -> Path:
    """The example's .rasa.yaml pointed at an action server instead of the in-process actions."""
    text = (EXAMPLE / "restaurant.rasa.yaml").read_text(encoding="utf-8")
    text = text.replace("actions: actions.py", f"url: {url}").replace(
        "domain: domain.yml", f"domain: {EXAMPLE / 'domain.yml'}"
    )
    text = text.replace("timeout_s: 5", f"timeout_s: {timeout_s}")
    path = tmp_dir / "restaurant.rasa.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=["in-process", "action server"])
def rasa_agent(
    request: pytest.FixtureRequest, home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Agent]:
    if request.param == "in-process":
        skill = RasaSkill.from_file(EXAMPLE / "restaurant.rasa.yaml")
    else:
        url = request.getfixturevalue("action_server")
        skill = RasaSkill.from_file(remote_config(tmp_path_factory.mktemp("rasa"), url))
    agent = skill_agent(Settings(home=home), [skill])
    yield agent
    agent.close()


def say(agent: Agent, user_id: str, text: str) -> str:
    reply = agent.respond(user_id, text)
    assert reply.route == "skill:restaurant", (text, reply.route, reply.text, reply.trace.get("skill"))
    return reply.text


def test_dispatcher_messages_and_a_followup_response(rasa_agent: Agent, user_id: str) -> None:
    assert say(rasa_agent, user_id, "hello rasa") == "Hello from Rasa!\nHow can I help?"
    assert say(rasa_agent, user_id, "你好 rasa") == "你好！\n有什么可以帮你？"


def test_slot_set_events_reach_our_state_and_come_back(rasa_agent: Agent, user_id: str) -> None:
    assert say(rasa_agent, user_id, "count my visits") == "Visit number 1."
    assert rasa_agent.state(user_id).slots["visits"] == 1
    assert say(rasa_agent, user_id, "please count my visits again") == "Visit number 2."


def test_a_followup_action_runs_in_the_same_turn(rasa_agent: Agent, user_id: str) -> None:
    assert say(rasa_agent, user_id, "check in") == "Checking in.\nVisit number 1."
    assert say(rasa_agent, user_id, "签到") == "签到。\n第2次。"


def test_an_action_can_start_a_form_with_active_loop(rasa_agent: Agent, user_id: str) -> None:
    assert say(rasa_agent, user_id, "let's eat") == "Good idea!\nWhat cuisine would you like?"
    assert say(rasa_agent, user_id, "mexican for 2 people") == "Booked: mexican for 2."


def test_all_slots_reset_and_restarted(rasa_agent: Agent, user_id: str) -> None:
    say(rasa_agent, user_id, "count my visits")
    assert say(rasa_agent, user_id, "forget everything") == "I've forgotten everything."
    assert "visits" not in rasa_agent.state(user_id).slots
    assert say(rasa_agent, user_id, "count my visits now") == "Visit number 1."


def test_a_form_with_a_form_validation_action(rasa_agent: Agent, user_id: str) -> None:
    assert say(rasa_agent, user_id, "book a table") == "What cuisine would you like?"
    assert rasa_agent.state(user_id).active_skill == "restaurant"
    assert (
        say(rasa_agent, user_id, "thai")
        == "Sorry, we only book italian, chinese, indian or mexican.\nWhat cuisine would you like?"
    )
    assert say(rasa_agent, user_id, "italian") == "For how many people?"
    assert say(rasa_agent, user_id, "20") == "We take tables of 1 to 12 people.\nFor how many people?"
    reply = rasa_agent.respond(user_id, "4")
    assert (reply.route, reply.text) == ("skill:restaurant", "Booked: italian for 4.")
    applied = [event["event"] for event in reply.trace["rasa.restaurant"]["events"]]
    assert "reset_slots" in applied and "active_loop" in applied
    state = rasa_agent.state(user_id)
    assert state.active_skill is None and state.slots == {"booked": True}


def test_a_form_filled_from_entities_in_chinese(rasa_agent: Agent, user_id: str) -> None:
    assert say(rasa_agent, user_id, "订个座，川菜") == "几位用餐？"
    assert say(rasa_agent, user_id, "3位") == "已预订：川菜，3位。"


def test_an_action_that_rejects_the_turn_passes_it_on(rasa_agent: Agent, user_id: str) -> None:
    reply = rasa_agent.respond(user_id, "be fussy")
    assert reply.route != "skill:restaurant"
    assert reply.trace["skill"] == {"name": "restaurant", "outcome": "declined"}


def test_the_python_api_with_an_action_class(home: Path, user_id: str) -> None:
    from rasa_sdk import Action
    from rasa_sdk.events import SlotSet

    class ActionWhoAmI(Action):
        def name(self) -> str:
            return "action_who_am_i"

        def run(self, dispatcher, tracker, domain):  # type: ignore[no-untyped-def]
            entity = next(tracker.get_latest_entity_values("name"), None) or tracker.get_slot("name")
            dispatcher.utter_message(
                text=f"You are {entity} (intent {tracker.get_intent_of_latest_message()})."
            )
            return [SlotSet("name", entity)]

    skill = RasaSkill(
        "whoami", InProcessActions(ActionWhoAmI),
        [Trigger(r"\bi am\b|\bsay my name\b", intent="identify", action="action_who_am_i")],
        entities=[r"\bi am (?P<name>\w+)"],
    )  # fmt: skip
    agent = skill_agent(Settings(home=home), [skill])
    try:
        assert agent.respond(user_id, "I am Grace").text == "You are Grace (intent identify)."
        assert agent.respond(user_id, "say my name").text == "You are Grace (intent identify)."
    finally:
        agent.close()


# ---------------------------------------------------------------------- action server failures


def test_an_action_server_that_is_down_is_a_clear_error_and_a_polite_reply(
    home: Path, tmp_path: Path, user_id: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}/webhook"  # nothing listens there
    skill = RasaSkill.from_file(remote_config(tmp_path, url))
    assert skill.health() == f"The Rasa action server at {url} is not reachable."
    agent = skill_agent(Settings(home=home), [skill])
    try:
        reply = agent.respond(user_id, "hello rasa")
    finally:
        agent.close()
    assert reply.route == "skill:restaurant" and reply.text.startswith(
        "Sorry, restaurant is not available right now"
    )
    assert reply.trace["skill"]["error"] == f"The Rasa action server at {url} is not reachable."


def test_a_slow_action_server_times_out(home: Path, tmp_path: Path, action_server: str, user_id: str) -> None:
    skill = RasaSkill.from_file(remote_config(tmp_path, action_server, timeout_s=1))
    agent = skill_agent(Settings(home=home), [skill])
    try:
        started = time.monotonic()
        reply = agent.respond(user_id, "take your time")
        assert time.monotonic() - started < 5
    finally:
        agent.close()
    assert "took too long" in reply.text
    assert reply.trace["skill"] == {
        "name": "restaurant",
        "outcome": "timeout",
        "error": f"The Rasa action server at {action_server} did not answer within 1 s.",
    }


def test_an_unknown_action_on_the_server(home: Path, action_server: str, user_id: str) -> None:
    skill = RasaSkill(
        "ghost", ActionServer(action_server), [Trigger(r"\bghost\b", intent="ghost", action="action_ghost")]
    )
    assert skill.health() is None
    agent = skill_agent(Settings(home=home), [skill])
    try:
        reply = agent.respond(user_id, "ghost")
    finally:
        agent.close()
    assert reply.text.startswith("Sorry, something went wrong")
    assert (
        reply.trace["skill"]["error"]
        == f"The Rasa action server at {action_server} has no action named 'action_ghost'."
    )
