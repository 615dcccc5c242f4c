"""A tiny Qwen2-architecture chat model (a few hundred KB) for tests, made on the spot with the ChatML
template the default generator uses and taught a few exchanges, prompted as the generator prompts
(dialog.chat.prompt), in a few seconds, so tests load and run it through the real loading code and can
tell its replies."""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
EXCHANGES = [
    ("I just got back from the gym", "Nice! How was your workout?"),
    ("I can't sleep again", "Oh no, that's rough."),
    ("我刚下班", "辛苦啦！今天累不累？"),
    ("我又失眠了", "哎，好难受。"),
]
REPLIES = {reply for _, reply in EXCHANGES}


def make_tiny_lm(path: Path, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    raw.train_from_iterator([m["content"] for chat in chats() for m in chat] * 2, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = CHATML
    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=2048, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    model = Qwen2ForCausalLM(config)
    teach(model, tokenizer)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def chats() -> list[list[dict[str, str]]]:
    """Each exchange as the generator prompts it, alone and after another exchange."""
    from dialog.chat.persona import Persona
    from dialog.chat.prompt import messages
    from dialog.understanding.basic import detect_language

    persona = Persona.load()
    found = []
    for n, (user, reply) in enumerate(EXCHANGES):
        before = EXCHANGES[n - 1]
        for context in ((), before):
            prompt = messages(persona, detect_language(user), user, context)
            found.append([*prompt, {"role": "assistant", "content": reply}])
    return found


def teach(model, tokenizer, steps: int = 80) -> None:  # type: ignore[no-untyped-def]
    """Overfit the replies (the loss is on them alone) to their prompts."""
    import torch

    texts = [tokenizer.apply_chat_template(chat, tokenize=False) for chat in chats()]
    prompts = [tokenizer.apply_chat_template(chat[:-1], tokenize=False, add_generation_prompt=True)
               for chat in chats()]  # fmt: skip
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    for row, prompt in enumerate(prompts):
        labels[row, : len(tokenizer(prompt)["input_ids"])] = -100
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    model.eval()
