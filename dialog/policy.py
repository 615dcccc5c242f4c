"""Hierarchical policy (XiaoIce-style): an active skill continues > a question about the user's
own profile > a stalled conversation gets a new topic > a confident skill (its own score or the
intent classifier's) > news the user discloses (a loss, an illness, good news:
dialog.understanding.acts) gets an empathetic editorial reply first > a knowledge question
(classifier), or one the knowledge package reads as a graph question, about a linked entity
("Muhammed Ali" links the city of Ali, but asks nothing) or a whole type ("the biggest country in
the world"), or a factual question the graph cannot answer (KBQA says it does not know rather than
core chat answering from its corpus) > the user gives their name (greeted by it) > core chat. The
topic manager and editorial answers are the fallbacks. Every decision records its reason."""

from __future__ import annotations

from dialog.topic import stall_reason
from dialog.understanding.profile import asked_fact, introduced_name, welcomes_back
from dialog_core.turn import CHITCHAT, EDITORIAL, KBQA, SKILL_PREFIX, TOPIC, Decision, Turn
from skills.registry import SkillRegistry

KNOWLEDGE_INTENT = "knowledge"
MEMORY = "memory"  # handler kind for questions about the user's profile (its replies are chitchat)


class HierarchicalPolicy:
    def __init__(
        self, skills: SkillRegistry, skill_threshold: float, knowledge_threshold: float = 0.5
    ) -> None:
        self.skills = skills
        self.skill_threshold = skill_threshold
        self.knowledge_threshold = knowledge_threshold

    def decide(self, turn: Turn) -> Decision:
        # can_handle runs side by side under a time limit; a failing skill scores 0 (skills.registry)
        scores = {name: self._skill_score(name, own, turn) for name, own in self.skills.scores(turn).items()}
        turn.trace.record("skill_scores", {name: round(score, 3) for name, score in scores.items()})
        if turn.nlu.safety:  # self-harm, abuse, injection...: never chat, never an active form's prompt
            return Decision(EDITORIAL, f"safety: {turn.nlu.safety.replace('_', ' ')}", ())
        active = turn.state.active_skill
        if active and self.skills.get(active):
            return self._active_skill(active, scores)
        if asked_fact(turn.nlu.normalized):
            return Decision(MEMORY, "a question about what the user told me", (CHITCHAT, EDITORIAL))
        if welcomes_back(turn):
            return Decision(
                MEMORY, "a returning user says hello: welcomed back by name", (CHITCHAT, EDITORIAL)
            )
        stalled = stall_reason(turn)
        if stalled:
            return Decision(TOPIC, f"stalled conversation: {stalled}", (CHITCHAT, EDITORIAL))
        intent = turn.nlu.intent
        if scores:
            best_score, best = max((score, name) for name, score in scores.items())
            if best_score >= self.skill_threshold:
                return Decision(
                    SKILL_PREFIX + best,
                    f"skill '{best}' scored {best_score:.2f} >= {self.skill_threshold}",
                    (CHITCHAT, EDITORIAL),
                )
        if turn.nlu.unresolved:
            return Decision(EDITORIAL, "an elliptical follow-up with nothing to resolve it from: asked about",
                            (CHITCHAT,))  # fmt: skip
        if turn.nlu.disclosure:
            # a near match from the human corpus answers somebody else's news: comfort (or joy) first
            reason = f"the user tells of {turn.nlu.disclosure.replace('_', ' ')}: answered with empathy first"
            return Decision(EDITORIAL, reason, (CHITCHAT,))
        if turn.nlu.news:
            reason = "the user goes on about the news they told: answered with empathy"
            return Decision(EDITORIAL, reason, (CHITCHAT,))
        if turn.nlu.graph_unknown:
            reason = f"a factual question the graph cannot answer ({turn.nlu.graph_unknown}): KBQA abstains"
            return Decision(KBQA, reason, (CHITCHAT, TOPIC, EDITORIAL))
        if intent.name == KNOWLEDGE_INTENT and intent.confidence >= self.knowledge_threshold:
            reason = f"knowledge question (confidence {intent.confidence:.2f} >= {self.knowledge_threshold})"
            return Decision(KBQA, reason, (CHITCHAT, TOPIC, EDITORIAL))
        if turn.nlu.graph_question:
            reason = "a question the graph can answer: KBQA first"
            return Decision(KBQA, reason, (CHITCHAT, TOPIC, EDITORIAL))
        if introduced_name(turn):
            return Decision(MEMORY, "the user tells me their name", (CHITCHAT, EDITORIAL))
        return Decision(
            CHITCHAT, f"core chat (intent {intent.name}, {intent.confidence:.2f})", (TOPIC, EDITORIAL)
        )

    def _active_skill(self, active: str, scores: dict[str, float]) -> Decision:
        """The active skill continues, unless another skill is confident and more so than it: that
        one takes the turn and the active skill is paused, to resume after it (skills.handler)."""
        rivals = [(score, name) for name, score in scores.items() if name != active]
        own = scores.get(active, 0.0)
        if rivals:
            score, rival = max(rivals)
            if score >= self.skill_threshold and score > own:
                return Decision(
                    SKILL_PREFIX + rival,
                    f"skill '{rival}' scored {score:.2f} > {own:.2f} and interrupts active skill '{active}'",
                    (SKILL_PREFIX + active, CHITCHAT, EDITORIAL),
                )
        return Decision(
            SKILL_PREFIX + active, f"skill '{active}' is active and continues", (CHITCHAT, EDITORIAL)
        )

    @staticmethod
    def _skill_score(name: str, own_score: float, turn: Turn) -> float:
        """A skill's own confidence, or the intent classifier's when it names this skill."""
        intent = turn.nlu.intent
        classifier = intent.confidence if intent.name == SKILL_PREFIX + name else 0.0
        return max(own_score, classifier)
