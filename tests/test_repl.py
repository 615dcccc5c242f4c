"""The chat REPL: piped (plain lines, no colours) and on a real pseudo-terminal (pexpect)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pexpect
from rich.console import Console

from dialog.agent import Agent
from dialog.channels.repl import candidate_table
from dialog_core.outbox import OutboundMessage, Outbox
from tests.conftest import BIN, run_dialog


def remind(agent: Agent, user: str, text: str, in_s: float = 0.0) -> OutboundMessage:
    outbox = Outbox(agent.services.redis, agent.settings)
    return outbox.schedule(
        OutboundMessage(user_id=user, channel="repl", text=text, due_at=time.time() + in_s, kind="reminder")
    )


def test_piped_chat_shows_reminders_once_for_its_user_only_and_the_profile(home: Path, agent: Agent) -> None:
    user, other = f"repl-{uuid.uuid4().hex[:8]}", f"repl-{uuid.uuid4().hex[:8]}"
    with agent.store.locked(user):
        state = agent.store.load(user, time.time())
        state.profile = {"name": "小明", "likes": ["hiking", "茶"]}
        agent.store.save(state)
    remind(agent, user, "[red]drink water[/red] 该喝水了")  # markup in a message is shown as written
    later = remind(agent, user, "not yet", in_s=3600)
    theirs = remind(agent, other, "for someone else")
    env = {"DIALOG_HOME": str(home), "COLUMNS": "120"}
    result = run_dialog("chat", "--user", user, env=env, input="/profile\n/profle\nhello\n/quit\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "⏰ [red]drink water[/red] 该喝水了" in out
    assert "not yet" not in out and "for someone else" not in out
    assert "小明" in out and '["hiking", "茶"]' in out and "0 turns in all" in out
    assert "Unknown command /profle; /help lists them." in out  # a typo is not sent as a message
    pending = {m.id for m in Outbox(agent.services.redis, agent.settings).pending("repl")}
    assert {later.id, theirs.id} <= pending
    again = run_dialog("chat", "--user", user, env=env, input="/profile\n/quit\n").stdout
    assert "drink water" not in again and "1 turns in all" in again  # each reminder is shown once


def test_why_table_ranks_candidates_with_scores_and_features() -> None:
    candidates = [
        {"text": f"answer [{n}]", "source": "retrieval", "score": 0.5, "rank_score": 1 - n / 20,
         "features": {"bm25": 2.0 - n / 10, "cosine": 0.3, "length": -0.1, "tiny": 0.01, "missing": None}}
        for n in range(12)
    ]  # fmt: skip
    console = Console(record=True, width=140, no_color=True)
    console.print(candidate_table(candidates))
    text = console.export_text()
    assert "answer [0]" in text and "1.000" in text and "bm25 2.00, cosine 0.30, length -0.10" in text
    assert "answer [10]" not in text and "2 more not shown" in text
    assert "tiny" not in text and "missing" not in text  # a missing feature (None in the trace) is left out


def spawn_chat(home: Path, user: str) -> pexpect.spawn:
    env = {**os.environ, "DIALOG_HOME": str(home), "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"}
    child = pexpect.spawn(
        str(BIN / "dialog"), ["chat", "--user", user], env=env, encoding="utf-8", timeout=60
    )
    child.expect("you>")
    return child


def test_terminal_paste_newline_chinese_history_and_reminders_above_the_prompt(
    home: Path, agent: Agent
) -> None:
    user = f"tty-{uuid.uuid4().hex[:8]}"
    child = spawn_chat(home, user)
    child.send("\x1b[200~first line\nsecond line\x1b[201~")  # a bracketed paste of two lines
    child.send("\r")
    child.expect("bot>")
    child.expect("you>")
    child.send("one")
    child.send("\x1b\r")  # Esc Enter: a new line by hand
    child.send("two\r")
    child.expect("bot>")
    child.expect("you>")
    child.sendline("你好")
    child.expect("bot>")
    child.expect("you>")
    remind(agent, user, "该喝水了 time for water")  # falls due while the prompt waits
    child.expect("⏰ 该喝水了 time for water", timeout=15)
    child.sendline("/quit")
    child.expect("Bye")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert [t.user for t in agent.state(user).history] == ["first line\nsecond line", "one\ntwo", "你好"]
    history = (home / "repl_history").read_text(encoding="utf-8")
    assert "+first line\n+second line" in history and "+你好" in history


def test_a_slow_turn_shows_that_the_bot_is_typing_and_a_quick_one_does_not() -> None:
    from dialog.channels.repl import typing_notice

    console = Console(record=True, width=80, no_color=True)
    with typing_notice(console, after_s=0.05):
        time.sleep(0.3)  # the generator writing
    with typing_notice(console, after_s=0.5):
        pass  # a retrieved reply
    time.sleep(0.6)
    assert console.export_text().count("bot is typing…") == 1
