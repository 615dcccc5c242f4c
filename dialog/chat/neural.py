"""The neural generator: a pretrained instruct model (dialog.chat.local_lm, or any OpenAI-compatible
server through dialog.chat.remote_lm) writes candidates when retrieval has nothing good enough.

It is prompted with the persona, the user's feeling and profile and the last exchanges
(dialog.chat.prompt), under a time budget; past the budget its candidates are skipped and the trace
says so. Its replies are ranked with the others, and core chat's selection applies the same safety,
persona and language checks to them. Replies no chat partner would send are dropped here: an
assistant's refusal or offer of help, "you're welcome" when nobody said thanks, an echo of the message,
and numbers and lists (a small model's populations, dates and enumerations are guesses; the knowledge
graph answers those questions).
"""

from __future__ import annotations

import re

from dialog.chat.core import Candidate
from dialog.chat.empathy import EmotionReader
from dialog.chat.features import ChatContext
from dialog.chat.lm import GeneratorTimeout, LanguageModel
from dialog.chat.persona import Persona
from dialog.chat.prompt import messages
from dialog.safety import rules
from dialog_core.text import char_bigrams, jaccard
from dialog_core.turn import Turn

HISTORY_EXCHANGES = 3
ECHO = 0.8  # character-bigram Jaccard with the user's message from which a reply is an echo
ASSISTANT_TALK = re.compile(
    r"\b(?:as an ai(?: language model)?|i(?:'m| am) (?:sorry, but |not able|unable)"
    r"|i can(?:'t|not) (?:assist|help)|how (?:can|may) i (?:help|assist)|let me know if|feel free to"
    r"|here (?:is|are) (?:some|a few)|(?:i'm|i am) (?:always )?here to (?:help|assist)"
    r"|glad (?:i|to) (?:could )?help|any (?:other )?questions)\b"
    r"|我(?:不能|无法)(?:回答|帮|提供)|有(?:什么|啥)(?:我可以|可以帮|需要|问题)|作为(?:一个)?(?:AI|人工智能|语言模型)|以下是",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
_LIST = re.compile(r"[:：][^。！？]*、[^。！？]*、")  # "中国的四大省份：北京市、天津市、上海市"
_WELCOME = re.compile(r"^\W*(?:you'?re welcome|no problem|不客气|别客气|不用谢)", re.IGNORECASE)
_THANKS = re.compile(r"thank|thx|\bty\b|谢", re.IGNORECASE)


def unfit(text: str, query: str) -> str | None:
    """Why a generated reply is not sent, or None."""
    if ASSISTANT_TALK.search(text):
        return "assistant talk"
    if _DIGIT.search(text) or _LIST.search(text):
        return "a number or a list"
    if _WELCOME.search(text) and not _THANKS.search(query):
        return "a welcome nobody thanked for"
    if jaccard(char_bigrams(text), char_bigrams(query)) >= ECHO:
        return "an echo"
    return None


class NeuralGenerator:
    name = "neural"
    on_demand = True  # core chat asks it only when nothing retrieved is good enough

    def __init__(self, lm: LanguageModel, persona: Persona, reader: EmotionReader, budget_s: float,
                 count: int = 2, max_new_tokens: int = 32) -> None:  # fmt: skip
        self.lm = lm
        self.persona = persona
        self.reader = reader
        self.budget_s = budget_s
        self.count = count
        self.max_new_tokens = max_new_tokens

    def candidates(self, turn: Turn) -> list[Candidate]:
        context = ChatContext.from_turn(turn, self.reader)
        if rules().generator_avoids(context.query) or rules().generator_avoids(turn.text):
            turn.trace.record("generator_skipped", "a subject the generator does not answer (safety.yaml)")
            return []
        history = [text for t in turn.state.history[-HISTORY_EXCHANGES:] for text in (t.user, t.reply)]
        prompt = messages(self.persona, context.language, context.query, history, turn.nlu.empathy.style,
                          turn.state.profile)  # fmt: skip
        try:
            completions = self.lm.complete(prompt, count=self.count, max_new_tokens=self.max_new_tokens,
                                           timeout_s=self.budget_s)  # fmt: skip
        except GeneratorTimeout as error:
            budget = f"over the {self.budget_s * 1000:.0f} ms budget ({error}): skipped"
            turn.trace.record("generator_timeout", budget)
            return []
        kept, dropped = [], []
        for completion in completions:
            reason = unfit(completion.text, context.query)
            if reason:
                dropped.append({"text": completion.text, "why": reason})
            else:
                score = round(completion.score, 4)
                kept.append(Candidate(text=completion.text, source=self.name, score=score))
        if dropped:
            turn.trace.record("generator_dropped", dropped)
        return kept

    def generate(self, context: ChatContext) -> list[tuple[str, float]]:
        """(text, score) per fitting reply to `context`, none past the budget (the ranker's replies)."""
        prompt = messages(self.persona, context.language, context.query, context.context)
        try:
            completions = self.lm.complete(prompt, count=self.count, max_new_tokens=self.max_new_tokens,
                                           timeout_s=self.budget_s)  # fmt: skip
        except GeneratorTimeout:
            return []
        return [(c.text, c.score) for c in completions if unfit(c.text, context.query) is None]
