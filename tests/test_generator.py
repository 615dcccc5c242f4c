"""The neural generator's parts: the shipped weights' assembly and checksum, the in-process model, the
prompt, and what is cut or dropped from a generated reply. Agent-level behaviour (asked only when
retrieval has nothing good enough, the time budget) is in test_chat.py; the remote backend in
test_generator_remote.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dialog.chat.artifacts import ArtifactError
from dialog.chat.lm import chat_reply, enough
from dialog.chat.neural import unfit
from dialog.chat.persona import Persona
from dialog.chat.prompt import messages
from dialog.chat.shipped_model import DEFAULT_MODEL, ShippedModel, assemble, is_prepared, part_paths
from dialog_core.settings import Settings
from tests.tiny_lm import REPLIES, make_tiny_lm


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


def write_parts(folder: Path) -> tuple[list[Path], str]:
    parts = []
    for n, data in enumerate([b"GGUF" + b"a" * 1000, b"b" * 700, b"c" * 3]):
        parts.append(folder / f"part{n}.bin")
        parts[-1].write_bytes(data)
    return parts, hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest()


def test_the_parts_are_joined_in_order_when_the_checksum_matches(tmp_path: Path) -> None:
    parts, sha256 = write_parts(tmp_path)
    joined = assemble(parts, sha256, tmp_path / "model.gguf")
    assert joined.read_bytes() == b"".join(p.read_bytes() for p in parts)


def test_a_corrupted_file_is_refused_with_one_sentence_and_removed(tmp_path: Path) -> None:
    parts, sha256 = write_parts(tmp_path)
    parts[1].write_bytes(b"b" * 699 + b"X")  # one byte changed
    with pytest.raises(ArtifactError) as refused:
        assemble(parts, sha256, tmp_path / "model.gguf")
    message = str(refused.value)
    assert "corrupted" in message and "sha256" in message and message.count(". ") == 0 and "\n" not in message
    assert not (tmp_path / "model.gguf").exists()


def test_a_missing_part_package_is_named() -> None:
    missing = ShippedModel("m", (("no_such_part_package_42", "data/x.bin"),), "0" * 64, "nowhere")
    with pytest.raises(ArtifactError, match="no_such_part_package_42 is missing"):
        part_paths(missing)


def test_the_installed_part_packages_give_the_upstream_model(tmp_path: Path) -> None:
    """The pinned packages, found without importing them, concatenate to Qwen2.5-Coder-0.5B-Instruct."""
    joined = assemble(part_paths(DEFAULT_MODEL), DEFAULT_MODEL.sha256, tmp_path / "qwen.gguf")
    assert joined.stat().st_size > 400_000_000 and joined.read_bytes()[:4] == b"GGUF"


def test_nothing_to_prepare_when_the_settings_name_another_model(tmp_path: Path) -> None:
    assert not is_prepared(Settings(home=tmp_path))
    assert is_prepared(Settings(home=tmp_path, chat_generator_model="/models/mine"))
    assert is_prepared(Settings(home=tmp_path, chat_generator_url="http://gpu:8000/v1"))
    assert is_prepared(Settings(home=tmp_path, chat_generator_enabled=False))


def test_the_local_model_loads_by_path_and_answers_through_its_chat_template(tiny_lm: Path) -> None:
    from dialog.chat.local_lm import LocalLM

    lm = LocalLM(str(tiny_lm), seed=1)
    assert lm.tokenizer.chat_template
    prompt = messages(Persona.load(), "en", "I just got back from the gym")
    completions = lm.complete(prompt, count=2, max_new_tokens=24, timeout_s=30)
    assert completions and {c.text for c in completions} <= REPLIES
    assert all(0 < c.score <= 1 for c in completions)


def test_a_model_that_cannot_be_loaded_gives_one_sentence(tmp_path: Path) -> None:
    from dialog.chat.lm import GeneratorUnavailable
    from dialog.chat.local_lm import LocalLM

    with pytest.raises(GeneratorUnavailable, match="cannot be loaded"):
        LocalLM(str(tmp_path / "nothing-here"))


@pytest.mark.parametrize(
    ("text", "finished", "sent"),
    [
        ("Nice! How was it? Tell me everything. And more.", True, "Nice! How was it?"),
        ("That sounds fun. I'd love to hear about the", False, "That sounds fun."),
        ("I'd love to hear about the", False, ""),
        ("Sure thing\n\n1. first item", True, "Sure thing"),
        ("辛苦啦！今天累不累？还有什么", False, "辛苦啦！今天累不累？"),
        ("哈哈", True, "哈哈"),
    ],
)
def test_a_reply_is_cut_like_a_chat_message(text: str, finished: bool, sent: str) -> None:
    assert chat_reply(text, finished) == sent


def test_generation_may_stop_at_a_sentence_end_after_two_sentences_or_a_message_length() -> None:
    assert not enough("Nice!") and enough("Nice! How was it?") and not enough("Nice! How was")
    assert enough("That is such a lovely thing to hear from you today, it really is.")
    assert not enough("好的。") and enough("辛苦啦！今天累不累？")


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("I'm sorry, but I can't assist with that.", "assistant talk"),
        ("That's okay, I'm here to help. Let me know if you need anything!", "assistant talk"),
        ("有什么我可以帮你的吗？", "assistant talk"),
        ("Paris has about 2 million people.", "a number or a list"),
        ("中国的四大省份：北京市、天津市、上海市。", "a number or a list"),
        ("不客气，加油！", "a welcome nobody thanked for"),
        ("很抱歉，我不能提供治疗癌症的信息。", "assistant talk"),
        ("I'm learning to play the guitar.", "an echo"),
        ("Oh nice, what songs are you learning?", None),
    ],
)
def test_replies_no_chat_partner_would_send_are_dropped(reply: str, why: str | None) -> None:
    assert unfit(reply, "I'm learning to play the guitar") == why


def test_the_prompt_carries_persona_feeling_profile_and_the_last_exchanges() -> None:
    persona = Persona.load()
    prompt = messages(persona, "en", "my dog died", ("hi", "Hello! How are you?"), "comfort",
                      {"name": "Ann", "likes": ["jazz", "tea"]})  # fmt: skip
    system = prompt[0]["content"]
    assert prompt[0]["role"] == "system" and "Xiaodi" in system and "not a human" in system
    assert "comfort" in system and "Ann" in system and "jazz, tea" in system
    assert [m["role"] for m in prompt[1:]] == ["user", "assistant"] * 4 + ["user"]
    assert [m["content"] for m in prompt[-3:]] == ["hi", "Hello! How are you?", "my dog died"]
    chinese = messages(persona, "zh", "我的狗死了", (), "comfort", {"name": "小王"})
    assert all(word in chinese[0]["content"] for word in ("小迪", "安慰", "小王"))
    assert not any("我" in m["content"] for m in prompt)  # no Chinese example in an English prompt
