"""The `dialog` command line, run as a real subprocess on the embedded server."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pexpect

from dialog.agent import Agent
from dialog_core.outbox import OutboundMessage, Outbox
from dialog_core.settings import Settings
from skills.registry import SkillRegistry
from tests.conftest import BIN, run_dialog


def test_ask_prints_the_reply_and_json_has_the_contract(home: Path) -> None:
    env = {"DIALOG_HOME": str(home)}
    plain = run_dialog("ask", "--user", "cli-ask", "hello", env=env)
    assert plain.returncode == 0 and plain.stdout.strip()
    reply = json.loads(run_dialog("ask", "--user", "cli-ask", "--json", "你好", env=env).stdout)
    assert {"reply", "route", "session_id", "intent", "emotion", "trace"} <= reply.keys()  # as POST /v1/chat
    assert reply["reply"] and reply["text"] == reply["reply"]  # `text`: the deprecated alias, for one release
    assert reply["trace"]["understanding"]["language"] == "zh"


def test_ask_prints_the_users_reminders_that_fell_due(home: Path) -> None:
    env = {"DIALOG_HOME": str(home)}
    set_it = run_dialog("ask", "--user", "cli-remind", "remind me in 10 minutes to stretch", env=env)
    assert set_it.stdout.startswith("OK, I'll remind you to stretch")
    agent = Agent.from_settings(Settings(home=home), skills=SkillRegistry())
    try:
        outbox = Outbox(agent.services.redis, agent.settings)
        due = OutboundMessage(user_id="cli-remind", channel="cli", text="⏰ Reminder: drink", due_at=0)
        outbox.schedule(due)
    finally:
        agent.close()
    later = run_dialog("ask", "--user", "cli-remind", "--json", "hello", env=env)
    assert [m["text"] for m in json.loads(later.stdout)["messages"]] == ["⏰ Reminder: drink"]
    again = run_dialog("ask", "--user", "cli-remind", "hello", env=env)
    assert "drink" not in again.stdout  # taken once


def test_ask_with_bad_input_or_redis_down_prints_one_sentence(home: Path) -> None:
    too_long = run_dialog("ask", "x" * 2001, env={"DIALOG_HOME": str(home)})
    assert too_long.returncode == 2 and "2000" in too_long.stderr and "Traceback" not in too_long.stderr
    down = run_dialog(
        "ask",
        "hello",
        env={
            "DIALOG_HOME": str(home),
            "DIALOG_REDIS_URL": "redis://127.0.0.1:1",
            "DIALOG_REDIS_TIMEOUT_S": "0.5",
        },
    )
    assert down.returncode == 1
    assert (
        down.stderr.strip()
        == "The conversation store (Redis) is not reachable right now; please try again shortly."
    )


def test_chat_reads_piped_lines_and_runs_slash_commands(home: Path) -> None:
    script = "hello\n/why\n/state\n/reset\n你好\n/quit\nnever read\n"
    result = run_dialog("chat", "--user", "cli-chat", env={"DIALOG_HOME": str(home)}, input=script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "route: editorial" in out and "tried chitchat: declined" in out  # /why
    assert '"user_id": "cli-chat"' in out  # /state
    assert "New session" in out and out.rstrip().endswith("Bye. 再见！")
    assert "\x1b[" not in out  # no colour codes when not a terminal


def test_chat_on_a_terminal_leaves_cleanly_on_ctrl_c_and_ctrl_d(home: Path) -> None:
    env = {**os.environ, "DIALOG_HOME": str(home), "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"}
    for key in ("\x03", "\x04"):
        child = pexpect.spawn(
            str(BIN / "dialog"), ["chat", "--user", "tty"], env=env, encoding="utf-8", timeout=30
        )
        child.expect("you>")
        child.sendline("hello")
        child.expect("bot>")
        child.expect("you>")
        child.send(key)
        child.expect("Bye")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0 and "Traceback" not in (child.before or "")


def test_config_show_masks_secrets_and_reads_the_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "dialog.toml"
    config.write_text('max_message_chars = 500\nneo4j_password = "toml-secret"\n')
    env = {
        "DIALOG_HOME": str(tmp_path),
        "DIALOG_CONFIG": str(config),
        "DIALOG_REDIS_URL": "redis://:redis-secret@cache:6379/0",
        "DIALOG_API_TOKEN": "token-secret",
    }
    result = run_dialog("config", "show", "--json", env=env)
    values = json.loads(result.stdout)
    assert values["max_message_chars"] == 500  # from the TOML file
    assert values["redis_url"] == "redis://:********@cache:6379/0"
    assert values["neo4j_password"] == values["api_token"] == "********"
    table = run_dialog("config", "show", env=env).stdout
    for secret in ("redis-secret", "toml-secret", "token-secret"):
        assert secret not in result.stdout and secret not in table
    env_wins = run_dialog("config", "show", "--json", env={**env, "DIALOG_MAX_MESSAGE_CHARS": "700"})
    assert json.loads(env_wins.stdout)["max_message_chars"] == 700


def test_invalid_settings_are_one_clear_error(tmp_path: Path) -> None:
    result = run_dialog(
        "config", "show", env={"DIALOG_HOME": str(tmp_path), "DIALOG_MAX_MESSAGE_CHARS": "lots"}
    )
    assert (
        result.returncode == 2 and "max_message_chars" in result.stderr and "Traceback" not in result.stderr
    )


def test_doctor_reports_each_service(home: Path) -> None:
    healthy = run_dialog("doctor", env={"DIALOG_HOME": str(home), "COLUMNS": "200"})
    assert healthy.returncode == 0, healthy.stdout
    for part in ("embedded server", "dialogue state (Redis)", "knowledge graph", "FalkorDB module"):
        assert part in healthy.stdout
    broken = run_dialog(
        "doctor",
        env={
            "DIALOG_HOME": str(home),
            "DIALOG_REDIS_URL": "redis://127.0.0.1:1",
            "DIALOG_REDIS_TIMEOUT_S": "0.5",
            "COLUMNS": "200",
        },
    )
    assert broken.returncode == 1 and "not reachable" in broken.stdout


def test_doctor_names_a_generator_model_that_does_not_load(home: Path, tmp_path: Path) -> None:
    """The generator loads in the background (the agent answers without waiting for it); doctor waits
    for it, so a model that cannot load is still a failed check, in one sentence."""
    missing = str(tmp_path / "no-model")
    env = {"DIALOG_HOME": str(home), "DIALOG_CHAT_GENERATOR_MODEL": missing, "COLUMNS": "300"}
    result = run_dialog("doctor", env=env, timeout=300)
    assert result.returncode == 1, result.stdout
    line = next(line for line in result.stdout.splitlines() if "generator model" in line)
    assert "cannot be loaded" in line and "Traceback" not in result.stdout


def test_the_package_exposes_the_python_contract() -> None:
    result = os.popen(
        f"{sys.executable} -c 'from dialog import Agent, Reply; print(Agent.from_settings.__name__)'"
    )
    assert result.read().strip() == "from_settings"
