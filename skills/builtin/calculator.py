"""Arithmetic in words or symbols: "what is 3 + 4 * 2", "15% of 80", "三加五等于多少", "2的10次方".

The words are turned into an expression that simpleeval evaluates safely (numbers, + - * / // %
**, parentheses and a few math functions; no names, no attribute access, bounded powers).
"""

from __future__ import annotations

import math
import re
from typing import ClassVar

from simpleeval import NumberTooHigh, SimpleEval

from skills import Language, Skill, SkillResult, Turn, arabic_numbers, is_cjk, say

_LEAD_EN = re.compile(
    r"^\W*(?:hey\s+|please\s+|can\s+you\s+|could\s+you\s+)*(?:what(?:'s|\s+is|\s+are)|calculate|compute"
    r"|how\s+much\s+is|evaluate|work\s+out|tell\s+me|solve)?\s*",
    re.IGNORECASE,
)
_WORDS_EN = [
    (r"\bsquare\s+root\s+of\s+(-?[\d.]+)", r"sqrt(\1)"),
    (r"\bsqrt\s+of\s+", "sqrt "),
    (r"([\d.]+)\s*(?:%|percent)\s+of\b", r"\1/100*"),
    (r"\bto\s+the\s+power\s+of\b", "**"),
    (r"\bsquared\b", "**2"),
    (r"\bcubed\b", "**3"),
    (r"\bplus\b", "+"),
    (r"\bminus\b", "-"),
    (r"\b(?:times|multiplied\s+by)\b", "*"),
    (r"\bdivided\s+by\b", "/"),
    (r"\bmod(?:ulo)?\b", "%"),
    (r"(?<=\d)\s*x\s*(?=[\d(])", "*"),
]
_LEAD_ZH = re.compile(r"^\W*(?:请问|请|帮我|帮忙)?(?:计算|算一下|算算|算)?(?:一下)?")
_WORDS_ZH = [
    (r"百分之([\d.]+)", r"(\1/100)"),
    (r"([\d.]+)的平方根", r"sqrt(\1)"),
    (r"(?:根号|开方)([\d.]+)", r"sqrt(\1)"),
    (r"的([\d.]+)次方", r"**\1"),
    (r"的平方", "**2"),
    (r"的立方", "**3"),
    (r"加上|加", "+"),
    (r"减去|减", "-"),
    (r"乘以|乘", "*"),
    (r"除以", "/"),
]
_TAIL = re.compile(r"(?:等于多少|等于几|是多少|是几|得多少|等于|多少|呢|吗|啊|\?|？|=|。|!|！)+\s*$")
_EXPRESSION = re.compile(
    r"^[\d\s.+\-*/()%,]*(?:(?:sqrt|abs|round|sin|cos|tan|log|ln|pi|e)[\d\s.+\-*/()%,]*)*$"
)
_HAS_OPERATION = re.compile(r"\d\s*(?:\*\*|[+\-*/%])\s*[\d(]|sqrt|abs|round|sin|cos|tan|log|ln")

_DASHED_NUMBER = re.compile(r"\d+(?:-\d+)+")
# a follow-up that goes on from the last result: "and divided by 3?", "then times 2", "再加上50呢"
_FOLLOW_EN = re.compile(
    r"^\W*(?:(?:and|then|now|ok|so)\s+)*(?:what\s+if\s+(?:i\s+|you\s+)?)?"
    r"(?=(?:plus|minus|times|multiplied\s+by|divided\s+by|to\s+the\s+power|squared|cubed|mod)\b|[+\-*/×÷^]\s*\d)",
    re.IGNORECASE,
)
_FOLLOW_ZH = re.compile(r"^\W*(?:那|然后)?(?:再)?(?=加上|加|减去|减|乘以|乘|除以|的平方|的立方|的\d+次方)")
LAST = "last"  # the skill's memory: the last result, for follow-ups

_FUNCTIONS = {
    "sqrt": math.sqrt, "abs": abs, "round": round, "sin": math.sin, "cos": math.cos, "tan": math.tan,
    "log": math.log10, "ln": math.log,
}  # fmt: skip
_NAMES = {"pi": math.pi, "e": math.e}


def expression_in(text: str, language: Language) -> str | None:
    """The arithmetic expression the message asks for, or None when it asks for something else."""
    if language == "zh" or is_cjk(text):
        expression = _LEAD_ZH.sub("", arabic_numbers(text))
        for pattern, replacement in _WORDS_ZH:
            expression = re.sub(pattern, replacement, expression)
    else:
        expression = _LEAD_EN.sub("", text.lower())
        for pattern, replacement in _WORDS_EN:
            expression = re.sub(pattern, replacement, expression, flags=re.IGNORECASE)
    expression = _TAIL.sub("", expression.replace("×", "*").replace("÷", "/").replace("^", "**")).strip()
    expression = expression.replace(",", "")
    if not expression or not _EXPRESSION.match(expression) or not _HAS_OPERATION.search(expression):
        return None
    if _DASHED_NUMBER.fullmatch(expression) and expression == text.strip():
        return None  # "555-1234", "2025-03-14": a phone number or a date, not a subtraction
    return expression


def follow_up(text: str, language: Language, last: str) -> str | None:
    """ "and divided by 3?", "再加上50呢" after a result: the expression that applies it to `last`."""
    pattern = _FOLLOW_ZH if language == "zh" or is_cjk(text) else _FOLLOW_EN
    match = pattern.match(text)
    if match is None:
        return None
    return expression_in(f"{last} {text[match.end() :]}", language)


def evaluate(expression: str) -> float:
    evaluator = SimpleEval(functions=_FUNCTIONS, names=_NAMES)
    return evaluator.eval(expression)


def show_number(value: float) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return f"{value:.10g}"


class CalculatorSkill(Skill):
    name = "calculator"
    description = "Arithmetic in words or symbols, in English and Chinese."
    intents: ClassVar[dict[str, list[str]]] = {
        "calculator.compute": [
            "what is 3 + 4", "calculate 12 * 7", "what's 15% of 80", "how much is 100 divided by 4",
            "what is 2 to the power of 10", "square root of 144", "3 plus 5 times 2",
            "三加五等于多少", "12乘以3是多少", "100除以4等于几", "2的10次方是多少",
            "计算 7*8", "百分之十五乘以80",
        ],
    }  # fmt: skip

    def can_handle(self, turn: Turn) -> float:
        if self._expression(turn, self.peek(turn)):
            return 0.9
        return super().can_handle(turn)

    def _expression(self, turn: Turn, memory: dict) -> str | None:
        """The message's own expression, or a follow-up of the result given just before."""
        text, language = turn.nlu.normalized, turn.nlu.language
        history = turn.state.history
        if memory.get(LAST) is not None and history and history[-1].route == f"skill:{self.name}":
            applied = follow_up(text, language, memory[LAST])
            if applied:
                return applied
        return expression_in(text, language)

    def handle(self, turn: Turn) -> SkillResult | None:
        language = turn.nlu.language
        memory = self.memory(turn)
        expression = self._expression(turn, memory)
        if expression is None:
            return None  # routed here by the classifier, but there is nothing to compute
        try:
            result = evaluate(expression)
            value = show_number(result)
        except ZeroDivisionError:
            return SkillResult(say(language, "You can't divide by zero.", "除数不能为零。"))
        except (NumberTooHigh, OverflowError):
            return SkillResult(say(language, "That number is too large for me.", "这个数太大了，我算不了。"))
        except Exception:  # a malformed expression: say so rather than guess
            return SkillResult(
                say(language, "Sorry, I can't work out {expression}.", "抱歉，我算不出 {expression}。",
                    expression=expression)
            )  # fmt: skip
        memory[LAST] = f"{result:.15g}"
        shown = expression.replace("**", "^").replace("*", "×").replace("/", "÷")
        return SkillResult(f"{shown} = {value}")
