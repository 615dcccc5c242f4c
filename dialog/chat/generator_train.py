"""`dialog train generator`: a small GPT-2 and its byte-level BPE tokenizer, trained from scratch on
the indexed corpus pairs (the 'train' split only; never the ranker's or the held-out queries).

Reproducible: fixed seed, fixed epochs, one thread order. A chat template is saved with the
tokenizer, so the generator prompts it the way it prompts any chat model.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dialog.chat import artifacts
from dialog.chat.corpus import Pair, Splitter
from dialog.chat.empathy import EmotionReader
from dialog.chat.neural import MARKER_FILE, OWN_FORMAT, own_system_prompt
from dialog.understanding.basic import detect_language

SPECIALS = ["<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|bot|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}<|system|>{{ m['content'] }}"
    "{% elif m['role'] == 'user' %}<|user|>{{ m['content'] }}"
    "{% else %}<|bot|>{{ m['content'] }}</s>{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|bot|>{% endif %}"
)
MAX_RESPONSE_CHARS = 240  # code listings and essays are left to retrieval


@dataclass(frozen=True)
class GeneratorConfig:
    vocab_size: int = 2000
    layers: int = 2
    width: int = 160
    heads: int = 4
    max_tokens: int = 96
    epochs: int = 12
    batch_size: int = 32
    learning_rate: float = 3e-3
    seed: int = 13


def training_pairs(pairs: Sequence[Pair], splitter: Splitter) -> list[Pair]:
    return [p for p in pairs if splitter(p.query) == "train" and len(p.response) <= MAX_RESPONSE_CHARS]


def train_generator(home: Path, pairs: Sequence[Pair], reader: EmotionReader,
                    config: GeneratorConfig = GeneratorConfig(),
                    progress: Callable[[int, int, float], None] | None = None) -> dict:  # fmt: skip
    """Train, then publish into <home>/models/generator atomically. Returns a summary."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from dialog.chat.embedding import quiet_transformers

    if not pairs:
        raise artifacts.ArtifactError("No training pairs for the generator; build the index first.")
    quiet_transformers()
    started = time.perf_counter()
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    samples = [_messages(p, reader) for p in pairs]

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    texts = [m["content"] for sample in samples for m in sample]
    bpe.train_from_iterator(
        texts,
        trainers.BpeTrainer(vocab_size=config.vocab_size, special_tokens=SPECIALS, show_progress=False,
                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )  # fmt: skip
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        model_max_length=config.max_tokens,
    )  # fmt: skip
    tokenizer.chat_template = CHAT_TEMPLATE

    prepared = time.perf_counter()
    examples = [_example(tokenizer, sample, config.max_tokens) for sample in samples]
    prepared = time.perf_counter() - prepared
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tokenizer), n_positions=config.max_tokens, n_embd=config.width,
            n_layer=config.layers, n_head=config.heads, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        )
    )  # fmt: skip
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    steps_per_epoch = -(-len(examples) // config.batch_size)
    total = steps_per_epoch * config.epochs
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.learning_rate, total_steps=total)
    order = random.Random(config.seed)
    examples.sort(key=lambda example: len(example[0]))  # similar lengths per batch: little padding
    batches = [examples[i : i + config.batch_size] for i in range(0, len(examples), config.batch_size)]
    model.train()
    step, loss_value = 0, float("nan")
    for _ in range(config.epochs):
        order.shuffle(batches)
        for batch in batches:
            ids, labels = _batch(batch, tokenizer.pad_token_id)
            loss = model(input_ids=ids, attention_mask=(ids != tokenizer.pad_token_id), labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            loss_value = float(loss.detach())
            if progress:
                progress(step, total, loss_value)
    model.eval()
    summary = {
        "format": OWN_FORMAT, "pairs": len(pairs), "epochs": config.epochs, "steps": total,
        "final_loss": round(loss_value, 4), "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": round(time.perf_counter() - started, 1), "prepare_seconds": round(prepared, 1),
        "config": config.__dict__,
    }  # fmt: skip
    with artifacts.publishing(artifacts.generator_dir(home)) as out:
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        (out / MARKER_FILE).write_text(json.dumps({"format": OWN_FORMAT}))
        (out / "meta.json").write_text(json.dumps(summary, indent=2))
    return summary


def _messages(pair: Pair, reader: EmotionReader) -> list[dict[str, str]]:
    language = detect_language(pair.query)
    emotion = reader.detect(pair.query, language).label
    messages = [{"role": "system", "content": own_system_prompt(language, emotion)}]
    for i, text in enumerate(pair.context):
        role = "assistant" if (len(pair.context) - i) % 2 == 1 else "user"
        messages.append({"role": role, "content": text})
    messages += [{"role": "user", "content": pair.query}, {"role": "assistant", "content": pair.response}]
    return messages


def _example(tokenizer, messages: list[dict[str, str]], max_tokens: int) -> tuple[list[int], int]:  # type: ignore[no-untyped-def]
    """Token ids of the whole exchange, and where the reply starts (the loss covers the reply only)."""
    prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    overflow = max(0, len(full_ids) - max_tokens)  # drop the oldest context first
    return full_ids[overflow:], max(1, len(prompt_ids) - overflow)


def _batch(examples: Sequence[tuple[list[int], int]], pad: int):  # type: ignore[no-untyped-def]
    import torch

    width = max(len(ids) for ids, _ in examples)
    ids = torch.full((len(examples), width), pad, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    for row, (tokens, reply_start) in enumerate(examples):
        ids[row, : len(tokens)] = torch.tensor(tokens)
        labels[row, reply_start : len(tokens)] = torch.tensor(tokens[reply_start:])
    return ids, labels
