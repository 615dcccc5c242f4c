"""Bounded skill execution on a real agent: a fixed pool of threads however long a skill hangs, a
circuit breaker that pauses a skill after repeated timeouts and tries it again after a cool-down,
and `dialog doctor`'s line about it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from dialog.agent import Agent
from dialog.doctor import skill_breakers_check
from dialog.testing import skill_agent
from dialog_core.settings import Settings
from skills import AsyncSkill, Skill, SkillResult, Turn

LIMIT_S = 0.2
THREADS = 4


class EchoSkill(Skill):
    name = "echo"

    def can_handle(self, turn: Turn) -> float:
        return 0.9 if turn.nlu.normalized.startswith("echo ") else 0.0

    def handle(self, turn: Turn) -> SkillResult:
        return SkillResult(turn.nlu.normalized.removeprefix("echo "))


class AsyncEchoSkill(AsyncSkill):
    name = "async_echo"

    async def can_handle(self, turn: Turn) -> float:
        return 0.95 if turn.nlu.normalized.startswith("async ") else 0.0

    async def handle(self, turn: Turn) -> SkillResult:
        return SkillResult(turn.nlu.normalized.removeprefix("async "))


class StuckSkill(Skill):
    """`can_handle` blocks while `hanging` is set, until `release` (a synchronous call: never killed)."""

    name = "stuck"
    hanging: ClassVar[bool] = True
    release: ClassVar[threading.Event] = threading.Event()

    def can_handle(self, turn: Turn) -> float:
        if type(self).hanging:
            type(self).release.wait(30)
        return 0.95 if turn.nlu.normalized.startswith("stuck ") else 0.0

    def handle(self, turn: Turn) -> SkillResult:
        return SkillResult("stuck answered")


def stuck_agent(home: Path, cooldown_s: float, threads: int = THREADS) -> Agent:
    StuckSkill.hanging = True
    StuckSkill.release = threading.Event()
    settings = Settings(
        home=home,
        skill_timeout_s=LIMIT_S,
        skill_score_timeout_s=LIMIT_S,
        skill_threads=threads,
        skill_stuck_calls=2,
        skill_breaker_timeouts=3,
        skill_breaker_cooldown_s=cooldown_s,
    )
    return skill_agent(settings, [EchoSkill(), AsyncEchoSkill(), StuckSkill()])


@pytest.fixture
def release_stuck() -> Iterator[None]:
    yield
    StuckSkill.release.set()  # the abandoned threads end


def test_threads_stay_bounded_over_100_turns_with_a_hanging_skill(
    home: Path, user_id: str, release_stuck: None
) -> None:
    agent = stuck_agent(home, cooldown_s=0.05)  # short: trial calls keep coming, and are refused
    try:
        agent.respond(user_id, "echo warm up")
        started, before = time.monotonic(), threading.active_count()
        for number in range(100):
            reply = agent.respond(user_id, f"echo {number}")
            assert (reply.route, reply.text) == ("skill:echo", str(number))
        assert threading.active_count() - before <= THREADS
        assert agent.skills.executor.workers <= THREADS
        assert agent.skills.executor.stuck("stuck") <= 2
        assert time.monotonic() - started < 100 * LIMIT_S / 4  # paused, not waited for
        assert agent.respond(user_id, "async still works").text == "still works"
    finally:
        agent.close()


def test_the_breaker_opens_after_repeated_timeouts_and_closes_after_the_cool_down(
    home: Path, user_id: str, release_stuck: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="skills.breaker")
    cooldown_s = 1.0
    agent = stuck_agent(home, cooldown_s)
    try:
        for number in range(3):  # two calls time out, the third is refused (two are stuck): 3 in a row
            assert agent.respond(user_id, f"echo {number}").text == str(number)
        opened = [record for record in caplog.records if "paused for" in record.message]
        assert len(opened) == 1 and "skill stuck paused for 1 s: 3 timeouts in a row" in opened[0].message

        started = time.monotonic()
        reply = agent.respond(user_id, "echo others still answer")
        assert time.monotonic() - started < LIMIT_S  # the paused skill is not waited for
        assert (reply.route, reply.text) == ("skill:echo", "others still answer")
        assert "stuck" in reply.trace["skills_paused"] and reply.trace["skill_scores"]["stuck"] == 0.0
        assert agent.respond(user_id, "async also").text == "also"
        assert agent.respond(user_id, "stuck now?").route != "skill:stuck"
        check = skill_breakers_check(agent.services)
        assert check.part == "skill circuit breakers" and "stuck in " in check.status
        assert "paused until" in check.status and "3 timeouts in a row" in check.status

        StuckSkill.hanging = False
        StuckSkill.release.set()
        time.sleep(cooldown_s)
        reply = agent.respond(user_id, "stuck again")  # the half-open trial answers: closed
        assert (reply.route, reply.text) == ("skill:stuck", "stuck answered")
        closed = [record for record in caplog.records if "answers in time again" in record.message]
        assert len(closed) == 1 and len([r for r in caplog.records if "paused for" in r.message]) == 1
        assert "stuck in " not in skill_breakers_check(agent.services).status
    finally:
        agent.close()


def test_a_full_pool_times_out_the_call_and_the_turn_goes_on(
    home: Path, user_id: str, release_stuck: None
) -> None:
    agent = stuck_agent(home, cooldown_s=30, threads=2)
    try:
        for number in range(2):  # the stuck skill holds both threads
            agent.respond(user_id, f"warm {number}")
        started = time.monotonic()
        reply = agent.respond(user_id, "echo anyone there")
        assert time.monotonic() - started < LIMIT_S * 3
        assert reply.route in ("chitchat", "editorial")  # echo's can_handle got no thread: score 0
        assert "every skill thread was busy" in reply.trace["skill_score_errors"]["echo"]
        assert agent.skills.executor.workers == 2
    finally:
        agent.close()
