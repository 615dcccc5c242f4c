"""Reminders from natural language: "remind me in 10 minutes to stretch", "明天早上8点提醒我开会".

A reminder is a form with two slots (when, what), so a missing part is asked for and a correction
is understood. It is scheduled in the outbox (Redis) for the channel the user spoke on; that
channel delivers it when due (the REPL prints it, WeChat pushes it, the JSON API hands it out,
`dialog ask` prints it), also after a restart. On a channel that delivers nothing later, it says so.
"Show my reminders" and "cancel my reminder(s) [to ...]" work on the reminders of that channel.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, ClassVar

from skills import (
    CJK_CHARS,
    DateTimeKind,
    Form,
    FormSlot,
    Found,
    InvalidSlot,
    Language,
    OutboundMessage,
    SkillResult,
    SlotInput,
    TextKind,
    Turn,
    find_times,
    say,
    show_moment,
)

KIND = "reminder"
DEFAULT_HOUR = 9  # "tomorrow" without a time means 09:00

_LIST = re.compile(
    r"\b(?:list|show|see|check|what\s+are|do\s+i\s+have\s+any)\s+(?:all\s+)?(?:of\s+)?my\s+reminders\b"
    r"|^\W*my\s+reminders\W*$|(?:我的|我有哪些|有哪些|看看|查看|列出)(?:所有的?|全部的?)?提醒",
    re.IGNORECASE,
)
_CANCEL = re.compile(
    r"\b(?:cancel|delete|remove|clear|drop)\s+(?P<all>all\s+)?(?:of\s+)?(?:my\s+|the\s+)?reminders?\b"
    r"|(?:取消|删除|删掉|清除|不要)(?P<all_zh>所有|全部)?(?:的)?(?:那个|这个)?提醒",
    re.IGNORECASE,
)
_TRIGGER_EN = re.compile(
    r"^.*?\b(?:please\s+)?(?:remind\s+me|set\s+(?:a\s+|an\s+)?(?:reminder|alarm)|reminder)\b", re.IGNORECASE
)
_TRIGGER_ZH = re.compile(
    r"(?:请|帮我|记得|麻烦)?(?:设置?|定)?(?:一个|个)?提醒(?:一下)?我?|(?:设置?|定)(?:一个|个)?闹钟"
)
_CONNECTOR_EN = re.compile(r"^(?:to|that|about|of|for|:|,)\s+|\s+(?:to|at|on|in|for|,)$", re.IGNORECASE)
_PRONOUNS_EN = {"my": "your", "me": "you", "i": "you", "myself": "yourself", "mine": "yours", "i'm": "you're"}


class MomentKind(DateTimeKind):
    """When to remind: a date without a time means 09:00 that day."""

    def extract(self, given: SlotInput) -> list[Found]:
        found = []
        for mention in find_times(given.text, given.language, given.now):
            when = mention.when
            if mention.has_date and not mention.has_time:
                when = when.replace(hour=DEFAULT_HOUR, minute=0)
            found.append(Found(when.isoformat(timespec="seconds"), mention.start, mention.end))
        return found


class ReminderSkill(Form):
    name = "reminders"
    description = "Reminders from natural language, delivered through the channel you used."
    title = ("your reminder", "设置提醒")
    triggers: ClassVar[list[str]] = [
        r"\bremind\s+me\b", r"\bset\s+(?:a\s+|an\s+)?(?:reminder|alarm)\b",
        r"\breminder\s+(?:to|for|at|in)\b",
        r"提醒我", r"(?:设置?|定)(?:一个|个)?(?:提醒|闹钟)",
    ]  # fmt: skip
    trigger_score = 0.95
    slots: ClassVar[list[FormSlot]] = [
        FormSlot("when", kind=MomentKind(), prompt=("When should I remind you?", "什么时候提醒你？"),
                 label=("time", "时间")),
        FormSlot("task", kind=TextKind(), prompt=("What should I remind you about?", "要提醒你什么事？"),
                 label=("reminder", "事项")),
    ]  # fmt: skip
    intents: ClassVar[dict[str, list[str]]] = {
        "reminders.set": [
            "remind me in 10 minutes to stretch", "remind me tomorrow at 8am to call mom",
            "set a reminder for 5pm to leave the office", "remind me to drink water in an hour",
            "can you remind me to take my medicine at 9pm", "remind me next monday to pay the rent",
            "明天早上8点提醒我开会", "10分钟后提醒我喝水", "晚上9点提醒我吃药", "提醒我下午三点去取快递",
            "帮我设个提醒，明天交报告", "一小时后提醒我休息一下",
        ],
        "reminders.list": ["show my reminders", "what are my reminders", "我的提醒", "查看所有提醒"],
        "reminders.cancel": ["cancel my reminder", "delete all my reminders", "取消提醒", "删除所有提醒"],
    }  # fmt: skip

    def can_handle(self, turn: Turn) -> float:
        if not self._active(turn) and (
            _LIST.search(turn.nlu.normalized) or _CANCEL.search(turn.nlu.normalized)
        ):
            return 0.95
        return super().can_handle(turn)

    def handle(self, turn: Turn) -> SkillResult:
        if not self._active(turn):
            if _LIST.search(turn.nlu.normalized):
                return self._list(turn)
            cancel = _CANCEL.search(turn.nlu.normalized)
            if cancel:
                return self._cancel(turn, cancel)
            if not self.ctx.outbox.delivers(turn.channel):
                return SkillResult(say(
                    turn.nlu.language,
                    "Sorry, I can't send you reminders here: nothing on this channel delivers them later.",
                    "抱歉，这里没法给你发提醒：这个渠道收不到我之后发的消息。",
                ))  # fmt: skip
        return super().handle(turn)

    # ------------------------------------------------------------------ the form

    def extract(self, turn: Turn, memory: dict[str, Any]) -> dict[str, Any]:
        found = super().extract(turn, memory)
        if "task" not in found:
            task = _task_text(turn, self._now(turn))
            if task:
                found["task"] = task
        return found

    def validate_when(self, value: str, turn: Turn) -> str:
        if datetime.fromisoformat(value) <= self._now(turn):
            raise InvalidSlot("That time has already passed.", "这个时间已经过去了。")
        return value

    def submit(self, turn: Turn, values: dict[str, Any]) -> str:
        language = turn.nlu.language
        due = datetime.fromisoformat(values["when"])
        text = say(language, "⏰ Reminder: {task}", "⏰ 提醒：{task}", task=values["task"])
        self.ctx.outbox.schedule(
            OutboundMessage(
                user_id=turn.user_id, channel=turn.channel, text=text, due_at=due.timestamp(), kind=KIND
            )
        )
        when = _describe(due, self._now(turn), language)
        return say(language, "OK, I'll remind you to {task} {when}.", "好的，我会在{when}提醒你{task}。",
                   task=values["task"], when=when)  # fmt: skip

    # ------------------------------------------------------------------ list and cancel

    def _list(self, turn: Turn) -> SkillResult:
        language = turn.nlu.language
        pending = self._pending(turn)
        if not pending:
            return SkillResult(say(language, "You have no reminders set.", "你目前没有设置提醒。"))
        now = self._now(turn)
        lines = [f"- {_describe(_at(m.due_at, now), now, language)}: {_task_of(m.text)}" for m in pending]
        head = say(language, "Your reminders:", "你的提醒：")
        return SkillResult("\n".join([head, *lines]))

    def _cancel(self, turn: Turn, match: re.Match[str]) -> SkillResult:
        language = turn.nlu.language
        pending = self._pending(turn)
        words = _task_words(turn.nlu.normalized[match.end() :])
        if match.group("all") or match.group("all_zh"):
            chosen = pending
        elif words:
            chosen = [m for m in pending if words & _task_words(_task_of(m.text))]
        else:
            chosen = pending[:1]  # the next one due
        if not chosen:
            return SkillResult(say(language, "I found no such reminder.", "没有找到这个提醒。"))
        for message in chosen:
            self.ctx.outbox.cancel(turn.channel, message.id)
        tasks = (
            ", ".join(_task_of(m.text) for m in chosen)
            if language == "en"
            else "、".join(_task_of(m.text) for m in chosen)
        )
        return SkillResult(say(language, "Cancelled: {tasks}.", "已取消：{tasks}。", tasks=tasks))

    def _pending(self, turn: Turn) -> list[OutboundMessage]:
        return [m for m in self.ctx.outbox.pending(turn.channel, turn.user_id) if m.kind == KIND]

    def _now(self, turn: Turn) -> datetime:
        return datetime.fromtimestamp(turn.now, self._timezone())


def _at(timestamp: float, now: datetime) -> datetime:
    return datetime.fromtimestamp(timestamp, now.tzinfo)


def _task_of(text: str) -> str:
    return text.split("：", 1)[-1].split(": ", 1)[-1]


def _task_words(text: str) -> set[str]:
    text = re.sub(
        r"\b(?:to|the|a|my|reminder|reminders|about|for|please)\b|[的了吧呢啊，。,.!?？！]", " ", text.lower()
    )
    words = set(re.findall(r"[a-z0-9']+", text))
    for run in re.findall(rf"[{CJK_CHARS}]+", text):
        words |= {run[i : i + 2] for i in range(max(1, len(run) - 1))}
    return words


def _task_text(turn: Turn, now: datetime) -> str:
    """What to be reminded of: the message without the trigger words and the time expression."""
    text, language = turn.nlu.normalized, turn.nlu.language
    for mention in reversed(find_times(text, language, now)):
        text = f"{text[: mention.start]} {text[mention.end :]}"
    if language == "zh":
        text = _TRIGGER_ZH.sub(" ", text)
        text = re.sub(r"\s+", "", text).strip("，,。.!！?？:：的")
        return text.replace("我", "你")
    match = _TRIGGER_EN.search(text)
    if match:
        text = text[match.end() :]
    text = re.sub(r"\s+", " ", text).strip(" ,.!?:;")
    previous = None
    while previous != text:
        previous, text = text, _CONNECTOR_EN.sub("", text).strip(" ,.!?:;")
    return " ".join(_PRONOUNS_EN.get(word.lower(), word) for word in text.split())


def _describe(due: datetime, now: datetime, language: Language) -> str:
    """ "in 10 minutes (at 10:40)", "tomorrow at 08:00", "on Mon 24 Nov at 09:00"; 中文同理."""
    delta = due - now
    days = (due.date() - now.date()).days
    if delta < timedelta(hours=1):
        minutes = max(1, round(delta.total_seconds() / 60))
        return say(language, "in {n} min (at {t:%H:%M})", "{n}分钟后（{t:%H:%M}）", n=minutes, t=due)
    if days == 0:
        return say(language, "today at {t:%H:%M}", "今天{t:%H:%M}", t=due)
    if days == 1:
        return say(language, "tomorrow at {t:%H:%M}", "明天{t:%H:%M}", t=due)
    return say(language, "on {d}", "{d}", d=show_moment(due, language))
