"""The generator's prompt: who the bot is, how it chats, how the user feels and what they told us, the
last exchanges, and three example exchanges that show the register (a friend texting, not an assistant).

Small instruct models follow examples better than rules: without them Qwen2.5-0.5B answered "I'm
learning to play the guitar" with "I'm learning to play the guitar." and a boss who yelled with
"I'm sorry, but I can't assist with that."
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dialog.chat.lm import Message
from dialog.chat.persona import Persona

STYLE = {
    "en": ("You are chatting with a friend. You are an AI: no body, no family, no job; you never eat, "
           "sleep or travel, and you never say you are human. Reply in English, in one or two short "
           "casual sentences like a text message, about what they just said; you may ask one short "
           "question back. No lists, no lectures, no numbers or facts about the world."),
    "zh": ("你在和朋友聊天。你是人工智能：没有身体、家人和工作，不吃饭、不睡觉、不旅行，从不说自己是人。"
           "用中文口语回复一两句短句，像发微信一样，接着对方的话说，可以反问一个小问题。"
           "不要列清单，不要说教，不要讲数字或世界知识。"),
}  # fmt: skip
FEELING = {  # by the empathy style understanding asks for (dialog_core.turn.Empathy)
    "comfort": {"en": "They are sad: comfort them gently, no advice.", "zh": "对方很难过：温柔地安慰。"},
    "reassure": {"en": "They are worried: reassure them calmly.", "zh": "对方很担心：平静地安抚。"},
    "acknowledge": {"en": "They are upset: stay calm and kind.", "zh": "对方不高兴：冷静、体贴地回应。"},
    "share_joy": {"en": "They are happy: share their joy.", "zh": "对方很开心：替对方高兴。"},
}  # fmt: skip
EXAMPLES = {
    "en": [
        ("I just got back from the gym", "Nice! How was your workout, tired or pumped?"),
        ("do you like pizza?", "I can't taste a thing, but pizza sounds like a party. Favourite topping?"),
        ("I can't sleep again", "Oh no, that's rough. Is something on your mind?"),
    ],
    "zh": [
        ("我刚下班", "辛苦啦！今天累不累？"),
        ("你喜欢吃火锅吗", "我尝不到味道，不过听起来就很热闹！你爱吃辣锅吗？"),
        ("我又失眠了", "哎，好难受。是有什么心事吗？"),
    ],
}
LIKES = {"en": "They like {}.", "zh": "对方喜欢{}。"}
NAME = {"en": "Their name is {}.", "zh": "对方叫{}。"}


def messages(persona: Persona, language: str, query: str, context: Sequence[str] = (),
             style: str = "engage", profile: Mapping[str, Any] | None = None) -> list[Message]:  # fmt: skip
    """Chat messages for a language model. `context`: the utterances before `query`, oldest first,
    alternating user and bot and ending with the bot's."""
    lang = language if language in STYLE else "en"
    system = [persona.describe(lang), STYLE[lang]]
    if style in FEELING:
        system.append(FEELING[style][lang])
    profile = profile or {}
    if isinstance(profile.get("name"), str):
        system.append(NAME[lang].format(profile["name"]))
    likes = [str(x) for x in profile.get("likes") or []][:3]
    if likes:
        system.append(LIKES[lang].format(("、" if lang == "zh" else ", ").join(likes)))
    out: list[Message] = [{"role": "system", "content": " ".join(system)}]
    for user, bot in EXAMPLES[lang]:
        out += [{"role": "user", "content": user}, {"role": "assistant", "content": bot}]
    for i, text in enumerate(context):
        out.append({"role": "assistant" if (len(context) - i) % 2 == 1 else "user", "content": text})
    out.append({"role": "user", "content": query})
    return out
