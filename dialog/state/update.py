"""The last stage of a turn: fold what happened into the (working copy of the) dialogue state."""

from __future__ import annotations

from dialog_core.state import EmotionPoint, EntityRef, TurnRecord
from dialog_core.turn import HandlerResult, Turn


class StateUpdater:
    def __init__(self, max_history: int) -> None:
        self.max_history = max_history

    def apply(self, turn: Turn, result: HandlerResult) -> None:
        state, nlu = turn.state, turn.nlu
        state.record_turn(
            TurnRecord(
                index=state.session.turns + 1,
                at=turn.now,
                channel=turn.channel,
                user=turn.text,
                reply=result.text,
                route=result.route,
                intent=nlu.intent.name,
                emotion=nlu.emotion.label,
                act=nlu.act,
                subject=nlu.subject,
                disclosure=nlu.disclosure,
            ),
            self.max_history,
        )
        if nlu.emotion.confidence > 0:
            state.record_emotion(
                EmotionPoint(at=turn.now, label=nlu.emotion.label, polarity=nlu.emotion.polarity)
            )
        if nlu.entities:
            state.remember_entities(
                [EntityRef(id=e.id, name=e.name, type=e.type, mention=e.mention) for e in nlu.entities]
            )
        state.last_answers = [
            EntityRef(id=e.id, name=e.name, type=e.type, mention=e.mention) for e in turn.answered
        ]
        state.profile.update(nlu.profile_facts)
