"""The empathy signal (XiaoIce's empathetic computing): from the user's emotion, intent and profile
to the emotion and style the reply should have. Core chat's features and generator read it."""

from __future__ import annotations

from dialog_core.turn import Empathy, Turn

# user emotion -> (response emotion, style)
RESPONSES = {
    "sad": ("caring", "comfort"),
    "angry": ("calm", "acknowledge"),
    "anxious": ("reassuring", "reassure"),
    "happy": ("happy", "share_joy"),
    "neutral": ("neutral", "engage"),
}
INFORMATIVE_INTENTS = {"knowledge"}


def empathy_for(emotion_label: str, confidence: float, intent: str, name: str | None) -> Empathy:
    response, style = RESPONSES.get(emotion_label, RESPONSES["neutral"])
    if emotion_label == "neutral" and intent in INFORMATIVE_INTENTS:
        style = "inform"
    intensity = confidence if emotion_label != "neutral" else 0.0
    # name the user when they are upset: it reads as attention, not as a formula
    address = name if name and emotion_label in {"sad", "angry", "anxious"} else None
    return Empathy(user_emotion=emotion_label, response_emotion=response, style=style,
                   intensity=round(intensity, 3), address_by_name=address)  # fmt: skip


class EmpathySignal:
    """Understanding stage (after emotion and intent): fills `turn.nlu.empathy`."""

    name = "empathy"

    def __call__(self, turn: Turn) -> None:
        nlu = turn.nlu
        name = turn.state.profile.get("name") or nlu.profile_facts.get("name")
        turn.nlu.empathy = empathy_for(nlu.emotion.label, nlu.emotion.confidence, nlu.intent.name, name)
