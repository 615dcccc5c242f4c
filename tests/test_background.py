"""Loading in the background (dialog.runtime.background): what waits for the end of start-up, what a
caller waits for, and how a failed load is reported (once, in the log) without hanging anybody."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from dialog.chat.lm import GeneratorResting, GeneratorUnavailable
from dialog.runtime import background
from dialog.runtime.background import Background, start_up_over


@pytest.fixture
def starting(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process whose agent has not been warmed up yet (an earlier test may have warmed one)."""
    monkeypatch.setattr(background, "_started_up", False)


def test_a_load_after_start_up_waits_for_it(starting: None) -> None:
    began = threading.Event()

    def load() -> int:
        began.set()
        return 42

    loaded = Background("a model", load, after_start_up=True)
    assert not began.wait(0.3) and not loaded.ready()
    start_up_over()
    assert began.wait(5) and loaded.get() == 42


def test_a_load_needed_before_the_end_of_start_up_begins_at_once(starting: None) -> None:
    loaded = Background("a model", lambda: 42, after_start_up=True)
    started = time.perf_counter()
    assert loaded.get() == 42 and time.perf_counter() - started < 5


def test_a_failed_load_is_logged_once_and_raised_to_every_caller(caplog: pytest.LogCaptureFixture) -> None:
    sentence = "The generator model 'x' cannot be loaded (no such file)."

    def load() -> int:
        raise GeneratorUnavailable(sentence)

    with caplog.at_level(logging.ERROR, logger="dialog.runtime.background"):
        failed = Background("a model", load)
        for _ in range(3):
            with pytest.raises(GeneratorUnavailable, match="cannot be loaded"):
                failed.get()
    assert [r.getMessage() for r in caplog.records] == [sentence]


def test_a_bug_in_a_load_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="dialog.runtime.background"):
        broken = Background("a model", lambda: 1 // 0)
        with pytest.raises(ZeroDivisionError):
            broken.get()
    assert caplog.records[0].getMessage() == "loading the a model failed" and caplog.records[0].exc_info


def test_a_generator_model_that_cannot_be_loaded_leaves_turns_quietly_without_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from dialog.chat.local_lm import BackgroundLM

    with caplog.at_level(logging.ERROR, logger="dialog.runtime.background"):
        lm = BackgroundLM(str(tmp_path / "nothing-here"))
        assert lm.name == "nothing-here, in process"  # named without loading it (dialog doctor)
        for _ in range(2):
            with pytest.raises(GeneratorResting, match="cannot be loaded"):
                lm.complete([{"role": "user", "content": "hi"}], count=1, max_new_tokens=4, timeout_s=1)
    assert len(caplog.records) == 1 and "cannot be loaded" in caplog.records[0].getMessage()
