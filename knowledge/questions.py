"""Question understanding: linked entities + lexicon cues -> a typed question and a relation path.

Nothing here is a template per sentence. The lexicon marks what the words of a question mean
(relationship, attribute, answer type, superlative, comparison, counting, yes/no); the planner then
searches the relation paths that fit the types: relations are tried in every order (closest to the
entity first), each one forwards or backwards as the types allow, with the graph's containment
relations (city -> country -> continent) added where a step needs them. "What currency is used in
the country whose capital is Nairobi?" becomes Nairobi <-HAS_CAPITAL- Country -USES_CURRENCY->
Currency because that is the only order in which the types fit.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from knowledge.lexicon import PLACEHOLDER, AttributeSpec, Cue, Lexicon, RelationSpec
from knowledge.linking import Candidate, Mention, Node, _fold_with_offsets

MAX_RELATIONS = 3
MAX_IMPLICIT = 2
MAX_UNEXPLAINED = 1  # content words a question may have beyond its cues and entities ("these days")


@dataclass(frozen=True)
class Step:
    relation: RelationSpec
    forward: bool  # from the relationship's start to its end
    target: str  # the label reached
    implicit: bool = False  # added by the planner, not named in the question


@dataclass
class Plan:
    start: str | None  # label of the subject; None: every node of `end` (a world-wide superlative)
    steps: list[Step]
    attribute: AttributeSpec | None = None
    end_label: str = ""

    @property
    def end(self) -> str:
        return self.steps[-1].target if self.steps else (self.end_label or self.start or "")


@dataclass
class Subject:
    node: Node
    mention: Mention | None  # None: taken from the dialogue context


@dataclass
class Question:
    kind: str  # value | count | superlative | compare | check | describe
    subjects: list[Subject]
    plan: Plan | None
    order: str | None = None  # max | min (superlative, compare)
    yes_no: bool = False
    parsed: Cues | None = None  # what the question's words said (to re-plan for another reading)

    def describe(self) -> dict[str, object]:
        """For the trace."""
        plan = self.plan
        return {
            "kind": self.kind,
            "subjects": [f"{s.node.type}:{s.node.id} {s.node.name}" for s in self.subjects],
            "path": [
                f"{'' if s.forward else '~'}{s.relation.type}{'*' if s.implicit else ''}->{s.target}"
                for s in plan.steps
            ]
            if plan
            else None,
            "attribute": plan.attribute.name if plan and plan.attribute else None,
            "order": self.order,
            "yes_no": self.yes_no,
        }


@dataclass
class Cues:
    relations: list[Cue]
    attribute: str | None
    hints: list[str]
    location: bool
    superlative: str | None
    comparative: str | None
    count: bool
    describe: bool
    yes_no: bool
    world: bool
    all: list[Cue]
    unexplained: list[str]  # content words that are neither cues nor entities
    asks_unknown_type: bool  # "Which sea...": asks for a kind of thing the graph does not hold

    @property
    def asks_something(self) -> bool:
        return bool(self.relations or self.attribute or self.hints or self.location or self.superlative)


class QuestionParser:
    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon

    # ------------------------------------------------------------------ cues

    def cues(self, text: str, mentions: list[Mention]) -> Cues:
        masked = list(text)
        for mention in mentions:
            masked[mention.start : mention.end] = " " * (mention.end - mention.start)
        folded, offsets = _fold_with_offsets("".join(masked))
        found = [Cue(c.kind, c.key, offsets[c.start], offsets[c.end]) for c in self.lexicon.scan(folded)]
        remainder = list(text)  # each cue and entity replaced by one placeholder word
        for start, end in [(m.start, m.end) for m in mentions] + [(c.start, c.end) for c in found]:
            remainder[start:end] = [f" {PLACEHOLDER} "] + [""] * (end - start - 1)
        unexplained, asks_unknown_type = self.lexicon.unexplained("".join(remainder))
        by_kind: dict[str, list[Cue]] = {}
        for cue in found:
            by_kind.setdefault(cue.kind, []).append(cue)
        attributes = [c.key for c in by_kind.get("attribute", [])]
        specific = [name for name in attributes if not self.lexicon.attributes[name].same_as]
        words = folded.split()
        yes_no = bool(by_kind.get("yes_no")) or bool(words and words[0] in self.lexicon.yes_no_en)
        first = {kind: cues[0].key for kind, cues in by_kind.items()}
        return Cues(
            relations=by_kind.get("relation", []),
            attribute=(specific or attributes or [None])[0],
            hints=list(dict.fromkeys(c.key for c in by_kind.get("type", []))),
            location="location" in by_kind,
            superlative=first.get("superlative"),
            comparative=first.get("comparative"),
            count="count" in by_kind,
            describe="describe" in by_kind,
            yes_no=yes_no,
            world="world" in by_kind,
            all=found,
            unexplained=unexplained,
            asks_unknown_type=asks_unknown_type,
        )

    # ------------------------------------------------------------------ questions

    def parse(
        self,
        text: str,
        mentions: list[Mention],
        context: list[Node],
        previous: Cues | None = None,
    ) -> Question | None:
        """The question `text` asks, or None when it asks nothing the graph can answer.

        `context`: recent entities, most recent first (for "And its population?"); `previous`: the cues
        of the last knowledge question (for "What about Uganda?").
        """
        cues = self.cues(text, mentions)
        if len(cues.unexplained) > MAX_UNEXPLAINED or cues.asks_unknown_type:
            return None  # about something the graph does not hold
        if mentions and previous is not None and _elliptical(text, mentions, cues):
            cues = _carry_over(previous, cues)
        distinct = _distinct(mentions)
        if len(distinct) >= 2 and cues.comparative and self._comparable(text, cues):
            return self._compare(distinct[:2], cues)
        if len(distinct) >= 2 and cues.yes_no and (cues.relations or cues.location or cues.hints):
            checked = self._check(distinct, cues)
            if checked:
                return checked
        if cues.superlative:
            return self._superlative(distinct, context, cues)
        if cues.asks_something:
            return self._value(distinct, context, cues)
        # "Tell me about Kenya", not "Who is the president of the USA?": a word left unexplained
        # is what the question is about, and a description would not answer it
        if distinct and cues.describe and len(distinct) == 1 and not cues.unexplained:
            return Question("describe", [Subject(distinct[0].best.node, distinct[0])], None, parsed=cues)
        return None

    def _comparable(self, text: str, cues: Cues) -> bool:
        """Chinese one-character comparatives (大, 多) count only in a comparison (比, 哪个)."""
        cue = next(c for c in cues.all if c.kind == "comparative")
        return cue.end - cue.start > 1 or any(word in text for word in ("比", "哪"))

    def _value(self, mentions: list[Mention], context: list[Node], cues: Cues) -> Question | None:
        for subject in self._subjects(mentions, context, cues):
            plan = self.plan(subject.node.type, cues)
            if plan is None:
                continue
            ends_in_nodes = plan.attribute is None
            kind = "count" if cues.count and ends_in_nodes else "value"
            return Question(kind, [subject], plan, yes_no=cues.yes_no, parsed=cues)
        return None

    def _superlative(self, mentions: list[Mention], context: list[Node], cues: Cues) -> Question | None:
        order, _, implied = (cues.superlative or "").partition(" ")
        attribute = implied or cues.attribute or "size"
        hint = cues.hints[0] if cues.hints else None
        if not mentions and (cues.world or not context) and hint:
            spec = self._attribute(attribute, hint)
            if spec is None:
                return None
            return Question("superlative", [], Plan(None, [], spec, hint), order=order, parsed=cues)
        ranked = dict(cues.__dict__, attribute=None)
        for subject in self._subjects(mentions, context, cues):
            plan = self.plan(subject.node.type, Cues(**ranked))
            if plan is None or not plan.steps:
                continue
            spec = self._attribute(attribute, plan.end)
            if spec is not None:
                plan.attribute = spec
                return Question("superlative", [subject], plan, order=order, parsed=cues)
        return None

    def _compare(self, mentions: list[Mention], cues: Cues) -> Question | None:
        order, _, implied = (cues.comparative or "").partition(" ")
        attribute = implied or cues.attribute or "size"
        subjects = [Subject(m.best.node, m) for m in mentions]
        label = subjects[0].node.type
        if subjects[1].node.type != label:  # "Is Tokyo bigger than Japan?": retype the second if it can be
            other = _retype(mentions[1], label)
            if other is None:
                return None
            subjects[1] = Subject(other.node, mentions[1])
        spec = self._attribute(attribute, label)
        if spec is None:
            return None
        return Question(
            "compare", subjects, Plan(label, [], spec), order=order, yes_no=cues.yes_no, parsed=cues
        )

    def _check(self, mentions: list[Mention], cues: Cues) -> Question | None:
        """ "Is Nairobi the capital of Kenya?": a path from one entity that should reach the other."""
        options = []
        for first, second in itertools.permutations(mentions[:2]):
            plan = self.plan(first.best.node.type, dataclass_replace(cues, hints=[second.best.node.type]))
            if plan is not None and plan.attribute is None and plan.end == second.best.node.type:
                forward = sum(step.forward for step in plan.steps)
                options.append(
                    (
                        -forward,
                        Question(
                            "check",
                            [Subject(first.best.node, first), Subject(second.best.node, second)],
                            plan,
                            yes_no=True,
                            parsed=cues,
                        ),
                    )
                )
        return min(options, key=lambda option: option[0])[1] if options else None

    def _subjects(self, mentions: list[Mention], context: list[Node], cues: Cues) -> list[Subject]:
        """Candidate subjects, the most plausible first: mentions nearest the cues (and their other
        readings), then the dialogue's recent entities."""
        anchors = [c.start for c in cues.all if c.kind in ("relation", "attribute", "type", "superlative")]

        def distance(mention: Mention) -> int:
            return min((abs(mention.start - a) for a in anchors), default=0)

        subjects = []
        for mention in sorted(mentions, key=distance):
            subjects.extend(Subject(c.node, mention) for c in mention.candidates)
        if not mentions:
            subjects.extend(Subject(node, None) for node in context)
        return subjects

    def _attribute(self, name: str, label: str) -> AttributeSpec | None:
        spec = self.lexicon.attributes.get(name)
        if spec is None:
            return None
        if label in spec.same_as:
            return self._attribute(spec.same_as[label], label)
        return spec if label in spec.properties else None

    # ------------------------------------------------------------------ planning

    def plan(self, start: str, cues: Cues) -> Plan | None:
        """The relation path from a `start` node that the cues ask for, or None if none fits."""
        relations = [self.lexicon.relations[c.key] for c in cues.relations if c.key in self.lexicon.relations]
        relations = list(dict.fromkeys(r.type for r in relations))[:MAX_RELATIONS]
        best: Plan | None = None
        for order in itertools.permutations(relations):
            plan = self._walk(start, [self.lexicon.relations[name] for name in order], cues)
            if plan is not None and (best is None or _implicit(plan) < _implicit(best)):
                best = plan
        return best

    def _walk(self, start: str, relations: list[RelationSpec], cues: Cues) -> Plan | None:
        label, steps = start, []
        for relation in relations:
            step = _step(relation, label)
            if step is None:  # "the currency of Nairobi": up to its country first
                up = self._up(label)
                step = _step(relation, up.target) if up else None
                if step is None:
                    return None
                steps.append(up)
            steps.append(step)
            label = step.target
        attribute = None
        if cues.attribute:
            attribute = self._attribute(cues.attribute, label)
            if attribute is None:
                up = self._up(label)
                attribute = self._attribute(cues.attribute, up.target) if up else None
                if attribute is None:
                    return None
                steps.append(up)
                label = up.target
        elif not relations and cues.location and not cues.hints:
            up = self._up(label)
            if up is None:
                return None
            steps.append(up)
            label = up.target
        hinted = [h for h in cues.hints if h != start or relations]
        if attribute is None and hinted and not any(h in {start, *(s.target for s in steps)} for h in hinted):
            path = self._reach(label, hinted[0])
            if path is None:
                return None
            steps.extend(path)
        if not steps and attribute is None:
            return None
        return Plan(start, steps, attribute)

    def _up(self, label: str) -> Step | None:
        """The containment step out of `label` (a city's country, a country's continent)."""
        for relation in self.lexicon.relations.values():
            if relation.container and label in relation.sources:
                return Step(relation, True, relation.targets[0], implicit=True)
        return None

    def _reach(self, label: str, target: str) -> list[Step] | None:
        """Up to MAX_IMPLICIT containment steps from `label` to `target`, up or down."""
        containers = [r for r in self.lexicon.relations.values() if r.container]
        frontier: list[tuple[str, list[Step]]] = [(label, [])]
        for _ in range(MAX_IMPLICIT):
            grown = []
            for current, path in frontier:
                for relation in containers:
                    if current in relation.sources:
                        for end in relation.targets:
                            grown.append((end, [*path, Step(relation, True, end, implicit=True)]))
                    if current in relation.targets:
                        for begin in relation.sources:
                            grown.append((begin, [*path, Step(relation, False, begin, implicit=True)]))
            for end, path in grown:
                if end == target:
                    return path
            frontier = grown
        return self._direct(label, target)

    def _direct(self, label: str, target: str) -> list[Step] | None:
        """The one relationship between the two types, if only one ("Which countries use the euro?")."""
        steps = []
        for relation in self.lexicon.relations.values():
            if relation.container or not relation.sources or not relation.targets:
                continue
            if label in relation.sources and target in relation.targets:
                steps.append(Step(relation, True, target))
            elif label in relation.targets and target in relation.sources:
                steps.append(Step(relation, False, target))
        return steps if len(steps) == 1 else None


def _step(relation: RelationSpec, label: str) -> Step | None:
    if relation.starts_at(label):
        return Step(relation, True, relation.targets[0] if relation.targets else "")
    if relation.ends_at(label) and relation.sources:
        return Step(relation, False, relation.sources[0])
    return None


def _implicit(plan: Plan) -> int:
    return sum(step.implicit for step in plan.steps)


def _distinct(mentions: list[Mention]) -> list[Mention]:
    seen: set[int] = set()
    distinct = []
    for mention in mentions:
        if mention.best.index not in seen:
            seen.add(mention.best.index)
            distinct.append(mention)
    return distinct


def _elliptical(text: str, mentions: list[Mention], cues: Cues) -> bool:
    """An entity and at most a follow-up phrase: "What about Uganda?", "乌干达呢？", "Uganda?"."""
    if cues.asks_something or cues.comparative or cues.describe:
        return False
    rest = list(text)
    for cue in [*mentions, *(c for c in cues.all if c.kind == "follow_up")]:
        rest[cue.start : cue.end] = " " * (cue.end - cue.start)
    residue = "".join(char for char in "".join(rest) if char.isalnum())
    asked = any(c.kind == "follow_up" for c in cues.all) or text.rstrip().endswith(("?", "？"))
    return asked and not residue


def _retype(mention: Mention, label: str) -> Candidate | None:
    return next((c for c in mention.candidates if c.node.type == label), None)


def _carry_over(previous: Cues, current: Cues) -> Cues:
    """ "What about Uganda?": the previous question's cues, with this message's entity."""
    return dataclass_replace(previous, yes_no=current.yes_no or previous.yes_no)


def dataclass_replace(cues: Cues, **changes: object) -> Cues:
    return Cues(**{**cues.__dict__, **changes})
