"""KBQA handler: a knowledge question answered from the graph, or declined (core chat takes over).

Answering itself is an `Answerer` (entity + relation path -> Cypher -> verbalised answer). The graph
answerer declines what is not a question it understands ("I love Paris"); a question it understands
but the graph cannot answer gets an honest "I don't know", never an invented fact: so does a factual
question about a name the graph does not hold ("Which currency is used in Wakanda?") or asking for
what the graph does not hold ("Who is the president of France?"), which core chat would otherwise
answer from its corpus with a fact about something else. The trace says why (`abstain`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Protocol

from dialog_core.errors import ServiceUnavailable
from dialog_core.text import fold
from dialog_core.turn import KBQA, Entity, HandlerResult, Turn
from knowledge import paths
from knowledge.base import KnowledgeBase, Tools
from knowledge.linking import Node
from knowledge.questions import TO_THE_BOT, UNKNOWN_ENTITY, Cues, Plan, Question, Subject
from knowledge.verbalise import name

MAX_READINGS = (
    12  # readings of an ambiguous name tried when the first finds nothing (Victoria, Seychelles is the 10th)
)
FOLLOW_UP_DEPTH = 10  # turns looked back for the question an elliptical follow-up continues
MAX_ANSWERED = 20  # answer nodes remembered for follow-ups about the answer ("is it a big city?")
PARSED = "knowledge.question"  # Turn.scratch: the turn's question (a Question, or None: it asks none)


class Answerer(Protocol):
    def answer(self, turn: Turn) -> str | None: ...


class KbqaHandler:
    def __init__(self, answerers: list[Answerer]) -> None:
        self.answerers = answerers

    def handle(self, turn: Turn, route: str) -> HandlerResult | None:
        for answerer in self.answerers:
            text = answerer.answer(turn)
            if text:
                return HandlerResult(text, KBQA)
        return None


class GraphQuestionStage:
    """Understanding stage, after the linker: whether the message reads as a question KBQA can take.
    The policy tries KBQA on a linked entity only then ("I love Paris" and "Muhammed Ali" link an
    entity but ask nothing of the graph), and on a question about a whole type ("What is the biggest
    country in the world?", which links nothing) whatever the intent classifier says: of the 1,499
    chatterbot-corpus questions, one links nothing and reads as a graph question, "What is the
    smallest country in the world?"."""

    name = "graph_question"

    def __init__(self, answerer: GraphAnswerer) -> None:
        self.answerer = answerer

    def __call__(self, turn: Turn) -> None:
        try:
            question = self.answerer.question(turn)
        except ServiceUnavailable as error:  # without the graph the turn goes on, as chat
            turn.trace.record("graph_question", f"not read: {error}")
            return
        turn.nlu.graph_question = question is not None
        if question is not None and question.unknown is not None:
            turn.nlu.graph_unknown = question.abstain_reason()


class GraphAnswerer:
    """Questions about the graph: one and two hops, inverse, lists, counts, superlatives,
    comparisons, yes/no checks, follow-ups from the dialogue state."""

    def __init__(self, base: KnowledgeBase, facts: Any | None = None) -> None:
        self.base = base
        self.facts = facts  # GraphFacts, for "tell me about X"

    def answer(self, turn: Turn) -> str | None:
        question = self.question(turn)
        if question is None:
            turn.trace.record("kbqa", {"question": None})
            return None
        turn.trace.record("kbqa", {"question": question.describe()})
        answered: list[dict[str, Any]] = []
        text = self.respond(question, turn.nlu.language, answered)
        if text and question.plan is not None:
            label, language = question.plan.end, turn.nlu.language
            turn.answered = [
                Entity(id=str(node["id"]), name=node["name"], type=label,
                       mention=name(node, language), score=1.0)
                for node in answered[:MAX_ANSWERED]
            ]  # fmt: skip
        return text

    # ------------------------------------------------------------------ understanding

    def question(self, turn: Turn) -> Question | None:
        """The question the turn asks, parsed once: the `graph_question` stage parses it and KBQA
        answers that; a turn the stage did not parse (no such stage ran, or the graph did not answer
        then) is parsed here."""
        if PARSED not in turn.scratch:
            turn.scratch[PARSED] = self.understand(turn)
        question: Question | None = turn.scratch[PARSED]
        return question

    def understand(self, turn: Turn) -> Question | None:
        tools = self.base.tools()
        text = turn.nlu.rewritten or turn.nlu.normalized
        recent = [(e.type, e.id) for e in turn.state.last_entities]
        mentions = self.base.linker.link(text, recent)
        context = [tools.index.nodes[tools.index.by_key[key]] for key in recent if key in tools.index.by_key]
        if not mentions and TO_THE_BOT.search(text):  # "where would you go?" after talk of Italy asks the bot
            context = []
        question = tools.parser.parse(text, mentions, context, self._previous(turn, tools))
        unknown = question.unknown if question is not None else None
        if (
            unknown is not None
            and unknown.reason == UNKNOWN_ENTITY
            and tools.index.matcher.get(fold(unknown.name))
        ):
            return (
                None  # a name of the graph the linker found unlikely here ("Male"): never "I couldn't find"
            )
        return question

    def _previous(self, turn: Turn, tools: Tools) -> Cues | None:
        """The cues of the last knowledge question ("What about Uganda?"), looking past elliptical
        follow-ups ("What about Uganda?" then "乌干达呢？") to the question they continue."""
        for record in reversed(turn.state.history[-FOLLOW_UP_DEPTH:]):
            if record.route != KBQA:
                return None
            cues = tools.parser.cues(record.user, self.base.linker.link(record.user))
            if cues.asks_something or cues.describe or cues.comparative:
                return cues
        return None

    # ------------------------------------------------------------------ answering

    def respond(
        self, question: Question, language: str, answered: list[dict[str, Any]] | None = None
    ) -> str | None:
        """The reply; the nodes it gives as the answer are added to `answered` (for follow-ups)."""
        answered = answered if answered is not None else []
        if question.kind == "value":
            return self._value(question, language, answered)
        handler = {
            "count": self._count,
            "superlative": self._superlative,
            "compare": self._compare,
            "check": self._check,
            "describe": self._describe,
            "abstain": self._abstain,
        }[question.kind]
        return handler(question, language)

    def _readings(self, question: Question) -> Iterator[Question]:
        """The question, then as asked of the other readings of its entity's name ("the country whose
        capital is Hamilton": not the largest Hamilton, Canada's, but Bermuda's)."""
        yield question
        mention, parsed = question.subjects[0].mention, question.parsed
        if mention is None or parsed is None:
            return
        for candidate in mention.candidates[1:MAX_READINGS]:
            plan = self.base.tools().parser.plan(candidate.node.type, parsed)
            if plan is not None:
                yield replace(question, subjects=[Subject(candidate.node, mention)], plan=plan)

    def _value(self, question: Question, language: str, answered: list[dict[str, Any]]) -> str:
        verbaliser = self.base.tools().verbaliser
        for reading in self._readings(question):
            assert reading.plan is not None
            found = paths.follow(self.base.store, reading.plan, reading.subjects[0].node.id)
            if found:
                question = reading
                break
        plan, subject = question.plan, question.subjects[0].node
        assert plan is not None
        if not found:
            return verbaliser.unknown(self._what(plan, language), _node_map(subject), language)
        answered.extend({str(path[-1]["id"]): path[-1] for path in found}.values())
        sentences = verbaliser.path_facts(plan, found, language)
        if plan.attribute is not None:
            ends = list({str(path[-1]["id"]): path[-1] for path in found}.values())[:5]
            sentences += [verbaliser.attribute_fact(plan.attribute, plan.end, end, language) for end in ends]
        return _join(sentences, language)

    def _count(self, question: Question, language: str) -> str:
        tools, plan, subject = self.base.tools(), question.plan, question.subjects[0].node
        assert plan is not None
        total = paths.count(self.base.store, plan, subject.id)
        found = paths.follow(self.base.store, plan, subject.id) if total else []
        facts = tools.verbaliser.path_facts(plan, found, language)
        noun = tools.lexicon.type_noun(plan.end, language, total)
        return tools.lexicon.answer("count", language, n=f"{total:,}", noun=noun, fact=_join(facts, language))

    def _superlative(self, question: Question, language: str) -> str | None:
        tools, plan = self.base.tools(), question.plan
        assert plan is not None and plan.attribute is not None
        if not paths.attribute_properties(plan):
            return None
        subject = question.subjects[0].node if question.subjects else None
        best, total = paths.extreme(
            self.base.store, plan, subject.id if subject else None, question.order or "max"
        )
        noun = tools.lexicon.type_noun(plan.end, language, total)
        scope = self._scope(plan, subject, language)
        if best is None:
            return tools.lexicon.answer("nothing", language, noun=noun, scope=scope)
        spec, most = plan.attribute, question.order != "min"
        words = spec.most if most else spec.least
        order = words.get(language) or tools.lexicon.answer("most" if most else "least", language)
        return tools.lexicon.answer(
            "superlative",
            language,
            answer=name(best, language),
            attr=spec.noun.get(language, spec.name),
            v=tools.verbaliser.value(spec, plan.end, best, language),
            order=order,
            n=f"{total:,}",
            noun=noun,
            scope=scope,
        )

    def _scope(self, plan: Plan, subject: Node | None, language: str) -> str:
        lexicon = self.base.tools().lexicon
        if subject is None:
            return lexicon.answer("world_scope", language)
        scope, subject_name = plan.steps[0].relation.scope.get(language), name(_node_map(subject), language)
        return scope.format(s=subject_name) if scope else lexicon.answer("scope", language, s=subject_name)

    def _compare(self, question: Question, language: str) -> str:
        tools, plan = self.base.tools(), question.plan
        assert plan is not None and plan.attribute is not None
        spec, label = plan.attribute, plan.start or ""
        props = spec.properties.get(label, [])
        nodes = [
            paths.node(self.base.store, label, s.node.id, props) or _node_map(s.node)
            for s in question.subjects
        ]
        values = [n.get(props[0]) if props else None for n in nodes]
        facts = [tools.verbaliser.attribute_fact(spec, label, n, language) for n in nodes]
        numbers = [v for v in values if isinstance(v, int | float)]
        if len(numbers) < len(values):
            return _join(facts, language)
        first_wins = numbers[0] > numbers[1] if question.order != "min" else numbers[0] < numbers[1]
        if question.yes_no:
            return tools.lexicon.answer(
                "compare_yes" if first_wins else "compare_no", language, facts=_join(facts, language)
            )
        winner = nodes[0] if first_wins else nodes[1]
        return tools.lexicon.answer(
            "compare_which", language, answer=name(winner, language), facts=_join(facts, language)
        )

    def _check(self, question: Question, language: str) -> str:
        tools, plan = self.base.tools(), question.plan
        assert plan is not None
        subject, expected = question.subjects[0].node, question.subjects[1].node
        found = paths.follow(self.base.store, plan, subject.id)
        hit = [path for path in found if str(path[-1]["id"]) == expected.id]
        facts = tools.verbaliser.path_facts(plan, hit or found, language)
        if not found:
            return tools.verbaliser.unknown(self._what(plan, language), _node_map(subject), language)
        return tools.lexicon.answer("check_yes" if hit else "check_no", language, fact=_join(facts, language))

    def _describe(self, question: Question, language: str) -> str | None:
        if self.facts is None:
            return None
        facts = self.facts.about(question.subjects[0].node, language, limit=4)
        return _join(facts, language) if facts else None

    def _abstain(self, question: Question, language: str) -> str:
        unknown, lexicon = question.unknown, self.base.tools().lexicon
        assert unknown is not None
        what = unknown.what.get(language) or unknown.what.get("en", "")
        if unknown.reason == UNKNOWN_ENTITY:
            return lexicon.answer("unknown_entity", language, what=what, s=unknown.name)
        subject = name(_node_map(question.subjects[0].node), language)
        return lexicon.answer("not_held" if what else "not_held_any", language, what=what, s=subject)

    def _what(self, plan: Plan, language: str) -> str:
        if plan.attribute is not None:
            return plan.attribute.noun.get(language, plan.attribute.name)
        return self.base.tools().verbaliser.relation_noun(plan.steps[-1], language)


def _node_map(node: Node) -> dict[str, Any]:
    return {"id": node.id, "name": node.name, "name_zh": node.name_zh}


def _join(sentences: list[str], language: str) -> str:
    return ("" if language == "zh" else " ").join(sentences)
