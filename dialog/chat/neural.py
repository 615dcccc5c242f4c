"""The neural generator: any Hugging Face causal or seq2seq model, by local path or hub name.

The default is the small model `dialog train generator` writes into the data dir. The prompt
carries the persona, the user's emotion and the recent turns, through the tokenizer's chat
template when it has one. Generation runs under a time budget; past it the candidates are
dropped and the trace says so.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path

from dialog.chat.artifacts import ArtifactError
from dialog.chat.core import Candidate
from dialog.chat.empathy import EmotionReader
from dialog.chat.features import ChatContext
from dialog.chat.persona import Persona
from dialog.turn import Turn

OWN_FORMAT = "dialog-tiny-v1"  # marker of models trained by `dialog train generator`
MARKER_FILE = "dialog.json"


def own_system_prompt(language: str, emotion: str) -> str:
    """The compact conditioning line the project's own model is trained with."""
    return f"{language} {emotion}"


class NeuralGenerator:
    name = "neural"

    def __init__(self, model: str, persona: Persona, reader: EmotionReader, budget_s: float,
                 count: int = 2, max_new_tokens: int = 24, seed: int | None = None) -> None:  # fmt: skip
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        from dialog.chat.embedding import quiet_transformers

        quiet_transformers()
        try:
            config = AutoConfig.from_pretrained(model)
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            loader = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
            self.model = loader.from_pretrained(model)
        except (OSError, ValueError) as error:
            raise ArtifactError(f"The generator model '{model}' cannot be loaded ({error}).") from error
        self.model.eval()
        self.model_name = model
        self.seq2seq = bool(config.is_encoder_decoder)
        marker = Path(model) / MARKER_FILE
        self.own = marker.is_file() and json.loads(marker.read_text()).get("format") == OWN_FORMAT
        self.persona = persona
        self.reader = reader
        self.budget_s = budget_s
        self.count = count
        self.max_new_tokens = max_new_tokens
        self._random = random.Random(seed)

    def candidates(self, turn: Turn) -> list[Candidate]:
        context = ChatContext.from_turn(turn, self.reader)
        texts, timed_out = self.generate(context)
        if timed_out:
            turn.trace.record("generator_timeout", f"over the {self.budget_s * 1000:.0f} ms budget: skipped")
            return []
        return [Candidate(text=text, source=self.name, score=round(score, 4)) for text, score in texts]

    def generate(self, context: ChatContext) -> tuple[list[tuple[str, float]], bool]:
        """(text, mean token probability) per distinct reply, and whether the budget ran out."""
        import torch

        started = time.perf_counter()
        inputs = self._encode(context)
        left = self.budget_s - (time.perf_counter() - started)
        if left <= 0:
            return [], True
        torch.manual_seed(self._random.randrange(2**31))
        with torch.inference_mode():
            out = self.model.generate(
                **inputs,
                do_sample=True, top_p=0.9, temperature=0.8, num_return_sequences=self.count,
                max_new_tokens=self.max_new_tokens, max_time=left,
                output_scores=True, return_dict_in_generate=True,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )  # fmt: skip
        if time.perf_counter() - started >= self.budget_s:
            return [], True
        prompt_length = 0 if self.seq2seq else inputs["input_ids"].shape[1]
        generated = out.sequences[:, prompt_length:]
        steps = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
        replies: dict[str, float] = {}
        for row, logprobs in zip(generated, steps, strict=True):
            keep = row != (self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else -1)
            text = self.tokenizer.decode(row[keep], skip_special_tokens=True).strip()
            finite = logprobs[keep[: len(logprobs)] & torch.isfinite(logprobs)]
            score = math.exp(float(finite.mean())) if len(finite) else 0.0
            if text and "\ufffd" not in text and score > replies.get(text, -1.0):  # no half characters
                replies[text] = score
        return list(replies.items()), False

    def _encode(self, context: ChatContext) -> dict:
        if self.own:
            system = own_system_prompt(context.language, context.emotion.label)
        else:
            system = f"{self.persona.describe(context.language)} The user seems {context.emotion.label}."
        messages = [{"role": "system", "content": system}]
        for i, text in enumerate(context.context):
            role = "assistant" if (len(context.context) - i) % 2 == 1 else "user"
            messages.append({"role": role, "content": text})
        messages.append({"role": "user", "content": context.query})
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
        if positions and not self.seq2seq:  # keep the newest tokens; leave room for the reply
            keep = max(1, positions - self.max_new_tokens)
            encoded = {name: value[:, -keep:] for name, value in encoded.items()}
        return encoded
