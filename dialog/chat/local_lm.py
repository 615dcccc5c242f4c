"""The in-process language model: any Hugging Face causal LM, by directory, by name in the local cache,
or as a `.gguf` file, prompted through its chat template. bfloat16 on CPU generates 2.3-2.6 times as
fast as float32 (bench/generator.py); generation stops at a sentence end (see dialog.chat.lm.enough) or at
the deadline."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dialog.chat.lm import (
    Completion,
    GeneratorResting,
    GeneratorTimeout,
    GeneratorUnavailable,
    Message,
    chat_reply,
    enough,
)
from dialog.runtime.background import Background

if TYPE_CHECKING:
    import torch

_THREADS_LOCK = threading.Lock()  # torch's thread count is process-wide


def _load(spec: str, dtype: str) -> tuple[Any, Any]:
    """(tokenizer, model) from a directory, a cached hub name or a .gguf file (de-quantized). Typed Any:
    transformers types `generate` and `decode` too loosely to call them as the model is used here."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    from dialog.chat.embedding import quiet_transformers

    quiet_transformers()
    path = Path(spec)
    try:
        if path.suffix == ".gguf":
            where = dict(pretrained_model_name_or_path=str(path.parent), gguf_file=path.name)
            tokenizer = AutoTokenizer.from_pretrained(**where)
            model = AutoModelForCausalLM.from_pretrained(
                **where, dtype=getattr(torch, dtype), quantization_config=GgufConfig(dequantize=True)
            )
        else:
            tokenizer = AutoTokenizer.from_pretrained(spec)
            model = AutoModelForCausalLM.from_pretrained(spec, dtype=getattr(torch, dtype))
    except (OSError, ValueError, KeyError) as error:
        raise GeneratorUnavailable(f"The generator model '{spec}' cannot be loaded ({error}).") from error
    model.eval()
    return tokenizer, model


def convert_gguf(gguf: Path, into: Path, dtype: str = "bfloat16") -> None:
    """Save a .gguf model as a plain Hugging Face model (weights and tokenizer) in `into`."""
    tokenizer, model = _load(str(gguf), dtype)
    model.save_pretrained(into)
    tokenizer.save_pretrained(into)


class _SentenceStop:
    """Stops each sequence once its new text is a complete chat reply (a StoppingCriteria)."""

    def __init__(self, tokenizer: Any, prompt_length: int) -> None:
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: object) -> torch.Tensor:
        import torch

        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_length :], skip_special_tokens=True)
        return torch.tensor([enough(text) or "\n" in text.strip() for text in texts], device=input_ids.device)


def model_name(spec: str) -> str:
    """How `dialog doctor` names the model: the prepared default's meta says which model it is."""
    meta = Path(spec) / "meta.json"
    named = json.loads(meta.read_text(encoding="utf-8"))["model"] if meta.is_file() else Path(spec).name
    return f"{named or spec}, in process"


class LocalLM:
    def __init__(self, spec: str, *, dtype: str = "bfloat16", threads: int = 2,
                 seed: int | None = None) -> None:  # fmt: skip
        started = time.perf_counter()
        self.tokenizer, self.model = _load(spec, dtype)
        self.load_s = time.perf_counter() - started
        self.name = model_name(spec)
        self.threads = threads
        self.seed = seed
        self._calls = 0

    def complete(self, messages: list[Message], *, count: int, max_new_tokens: int,
                 timeout_s: float) -> list[Completion]:  # fmt: skip
        import torch
        from transformers import StoppingCriteriaList

        started = time.perf_counter()
        inputs = self._encode(messages, max_new_tokens)
        prompt_length = inputs["input_ids"].shape[1]
        pad = self.tokenizer.pad_token_id
        pad = self.tokenizer.eos_token_id if pad is None else pad
        with _THREADS_LOCK, torch.inference_mode():  # the time left is counted once the lock is ours
            left = timeout_s - (time.perf_counter() - started)
            if left <= 0:
                raise GeneratorTimeout(f"no time left to generate within {timeout_s * 1000:.0f} ms")
            if self.seed is not None:
                torch.manual_seed(self.seed + self._calls)
            self._calls += 1
            before = torch.get_num_threads()
            torch.set_num_threads(self.threads)
            try:
                out = self.model.generate(
                    **inputs, do_sample=True, top_p=0.9, temperature=0.7, num_return_sequences=count,
                    max_new_tokens=max_new_tokens, max_time=left, pad_token_id=pad,
                    stopping_criteria=StoppingCriteriaList([_SentenceStop(self.tokenizer, prompt_length)]),
                    output_scores=True, return_dict_in_generate=True,
                )  # fmt: skip
            finally:
                torch.set_num_threads(before)
        out_of_time = time.perf_counter() - started >= timeout_s
        steps = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
        replies: dict[str, float] = {}
        for row, logprobs in zip(out.sequences[:, prompt_length:], steps, strict=True):
            real = row != pad
            finished = bool((row == self.tokenizer.eos_token_id).any()) or enough(
                self.tokenizer.decode(row[real], skip_special_tokens=True)
            )
            text = chat_reply(self.tokenizer.decode(row[real], skip_special_tokens=True), finished)
            finite = logprobs[real[: len(logprobs)] & torch.isfinite(logprobs)]
            score = math.exp(float(finite.mean())) if len(finite) else 0.0
            if text and "\ufffd" not in text and score > replies.get(text, -1.0):  # no half characters
                replies[text] = score
        if not replies and out_of_time:
            raise GeneratorTimeout(f"no complete reply within {timeout_s * 1000:.0f} ms")
        return [Completion(text, score) for text, score in replies.items()]

    def _encode(self, messages: list[Message], max_new_tokens: int) -> dict:
        if self.tokenizer.chat_template:
            encoded = dict(
                self.tokenizer.apply_chat_template(
                    messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
                )
            )
        else:
            lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages] + ["Assistant:"]
            encoded = dict(self.tokenizer("\n".join(lines), return_tensors="pt"))
        positions = getattr(self.model.config, "max_position_embeddings", None)
        if positions:  # keep the newest tokens; leave room for the reply
            keep = max(1, positions - max_new_tokens)
            encoded = {name: value[:, -keep:] for name, value in encoded.items()}
        return encoded


class BackgroundLM:
    """A LocalLM that loads in the background (dialog.runtime.background): the agent starts and
    answers without waiting for torch and the weights (about 10 s of CPU), which only the turns that
    retrieval cannot answer need. A turn that needs the model before it is loaded waits for it; the
    time budget counts from then, as it did when the model loaded before the first turn."""

    def __init__(self, spec: str, *, threads: int = 2, seed: int | None = None,
                 before: Callable[[], None] | None = None) -> None:  # fmt: skip
        """`before`: run in the loading thread first (what torch needs set once it is imported)."""
        self.name = model_name(spec)

        def load() -> LocalLM:
            if before is not None:
                before()
            return LocalLM(spec, threads=threads, seed=seed)

        self._lm = Background("generator model", load, after_start_up=True)

    def complete(self, messages: list[Message], *, count: int, max_new_tokens: int,
                 timeout_s: float) -> list[Completion]:  # fmt: skip
        try:
            lm = self._lm.get()
        except GeneratorUnavailable as error:  # said once in the log when the load failed
            raise GeneratorResting(str(error)) from None
        return lm.complete(messages, count=count, max_new_tokens=max_new_tokens, timeout_s=timeout_s)
