"""Question understanding: linked entities + lexicon cues -> a typed question and a relation path.

Nothing here is a template per sentence. The lexicon marks what the words of a question mean
(relationship, attribute, answer type, superlative, comparison, counting, yes/no); the planner then
searches the relation paths that fit the types: relations are tried in every order (closest to the
entity first), each one forwards or backwards as the types allow, with the graph's containment
relations (city -> country -> continent) added where a step needs them. "What currency is used in
the country whose capital is Nairobi?" becomes Nairobi <-HAS_CAPITAL- Country -USES_CURRENCY->
Currency because that is the only order in which the types fit.

A factual question the graph cannot answer is read as one too, so that KBQA can say it does not know
instead of leaving it to core chat, whose corpus would answer with a fact about something else
("Which currency is used in Wakanda?" -> "Rand"): one about a name the graph does not hold, or one
asking an entity for something the graph does not hold (the lexicon's `not_held`: "the president of
France").
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace

import jieba

from dialog_core.text import fold, is_cjk
from knowledge.lexicon import (
    ASKING_WORDS,
    NAME_TAGS,
    PLACEHOLDER,
    AttributeSpec,
    Cue,
    Lexicon,
    RelationSpec,
    Word,
)
from knowledge.linking import Candidate, Mention, Node, _fold_with_offsets

MAX_RELATIONS = 3
MAX_IMPLICIT = 2
MAX_UNEXPLAINED = 1  # content words a question may have beyond its cues and entities ("these days")
# ... when an asking word names what it asks for ("what currency", "什么钱"): the words around it are
# the setting, not the subject ("If I travel to Peru, what currency will I need?", "去秘鲁旅游要用什么钱？")
MAX_UNEXPLAINED_FOCUSED = 3
GLUED_TAGS = ("j",)  # jieba's abbreviations (巴 of 巴西, 塔): glued to a name, they make a longer one
UNKNOWN_ENTITY = "unknown entity"  # abstention reasons: the graph holds no such name
NOT_HELD = "not in the graph"  # the graph holds nothing of the kind about the entity
QUESTION_WORDS = {*ASKING_WORDS, "who", "whom", "whose", "where", "when", "how", "谁", "哪", "多少", "几"}
# a request opening the sentence asks too ("Tell me the capital city of Genovia.", "请告诉我…"); the
# thing right after it (and an article or "me") is what it asks for ("Name the continent of ...")
REQUEST_WORDS = {"tell", "name", "give", "show", "告诉"}
_AFTER_REQUEST = {"me", "us", "the", "a", "an"}
_KIND_OF = re.compile(r"\b(?:what|which)\s+(?:kind|sort|type)s?\s+of$")  # "what kind of money"
TO_THE_BOT = re.compile(r"\byou\b|\byour\b|你|您", re.IGNORECASE)
_WH_WORDS = QUESTION_WORDS | {"what's", "whats", "who's"}  # the first word of an English question
_ZH_ASKING = ("什么", "哪", "谁", "多少", "几", "怎么", "何时")
_PLACES = ("Country", "City")  # what a question "about something it does not hold" is asked of
# an opinion or advice asked of a place is chit-chat, not a fact the graph lacks
_OPINION = re.compile(
    r"\b(?:best|worst|favou?rite|like|love|think|recommend|should)\b|最好|最喜欢|推荐|觉得|应该"
)
_YOUR = re.compile(r"\byour\b|你的|您的", re.IGNORECASE)  # "What's your favourite currency?"


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


@dataclass(frozen=True)
class Unknown:
    """Why KBQA will answer "I don't know" to a question the graph cannot answer."""

    reason: str  # UNKNOWN_ENTITY | NOT_HELD
    what: dict[str, str]  # the thing asked for, by language ("currency", "货币")
    name: str = ""  # UNKNOWN_ENTITY: the name as written ("Wakanda")


@dataclass
class Question:
    kind: str  # value | count | superlative | compare | check | describe | abstain
    subjects: list[Subject]
    plan: Plan | None
    order: str | None = None  # max | min (superlative, compare)
    yes_no: bool = False
    parsed: Cues | None = None  # what the question's words said (to re-plan for another reading)
    unknown: Unknown | None = None  # abstain: why

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
            **({"abstain": self.abstain_reason()} if self.unknown else {}),
        }

    def abstain_reason(self) -> str:
        """ "unknown entity: Wakanda", "not in the graph: president of Country:FR France"."""
        assert self.unknown is not None
        if self.unknown.reason == UNKNOWN_ENTITY:
            return f"{UNKNOWN_ENTITY}: {self.unknown.name}"
        node = self.subjects[0].node
        what = self.unknown.what.get("en") or "something the lexicon has no word for"
        return f"{NOT_HELD}: {what} of {node.type}:{node.id} {node.name}"


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
    not_held: list[str]  # what it asks that the graph does not hold ("president")
    asked_type: str | None  # the type right after an asking word ("Which part of the world ...")
    unknown_name: str | None  # a name that is no entity of the graph ("Wakanda")
    besides_name: list[str]  # the unexplained words other than that name
    focused: bool = False  # a relationship or attribute right after an asking word ("what currency")

    @property
    def tolerated(self) -> int:
        """How many unexplained words the question may have."""
        return MAX_UNEXPLAINED_FOCUSED if self.focused else MAX_UNEXPLAINED

    @property
    def asks_something(self) -> bool:
        return bool(self.relations or self.attribute or self.hints or self.location or self.superlative)


class QuestionParser:
    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon

    # ------------------------------------------------------------------ cues

    def cues(self, text: str, mentions: list[Mention], words: list[Word] | None = None) -> Cues:
        masked = list(text)
        for mention in mentions:
            masked[mention.start : mention.end] = " " * (mention.end - mention.start)
        folded, offsets = _fold_with_offsets("".join(masked))
        found = [Cue(c.kind, c.key, offsets[c.start], offsets[c.end]) for c in self.lexicon.scan(folded)]
        words = words if words is not None else self.lexicon.words(text)
        found = [c for c in found if not _inside_a_name(text, c, words)]
        spans = [(m.start, m.end) for m in mentions] + [(c.start, c.end) for c in found]
        unexplained, asks_unknown_type = self.lexicon.unexplained(_blanked(text, spans))
        name = self._unknown_name(words, spans)
        besides = unexplained
        if name is not None:
            besides = self.lexicon.unexplained(_blanked(text, [*spans, name]))[0]
        by_kind: dict[str, list[Cue]] = {}
        for cue in found:
            by_kind.setdefault(cue.kind, []).append(cue)
        attributes = [c.key for c in by_kind.get("attribute", [])]
        specific = [name for name in attributes if not self.lexicon.attributes[name].same_as]
        first_words = folded.split()
        yes_no = bool(by_kind.get("yes_no")) or bool(first_words and first_words[0] in self.lexicon.yes_no_en)
        first = {kind: cues[0].key for kind, cues in by_kind.items()}
        return Cues(
            relations=by_kind.get("relation", []),
            attribute=next(iter(specific or attributes), None),
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
            not_held=[c.key for c in by_kind.get("not_held", [])],
            asked_type=_asked_type(text, by_kind.get("type", [])),
            unknown_name=text[name[0] : name[1]] if name else None,
            besides_name=besides,
            focused=any(c.kind in ("relation", "attribute") and _after_asking_word(text, c) for c in found),
        )

    def _unknown_name(self, words: list[Word], spans: list[tuple[int, int]]) -> tuple[int, int] | None:
        """The first name outside every cue and entity, as a span of the text: adjacent words that read
        as names ("New Genovia"); in Chinese, adjacent content words with a name among them ("自由" +
        "尼亚": jieba knows 自由 as a word)."""
        run: list[Word] = []
        for word in [*words, None]:
            free = word is not None and not any(start < word.end and word.start < end for start, end in spans)
            joins = word is not None and (word.name or (is_cjk(word.text) and self.lexicon.is_content(word)))
            if free and joins and word is not None:
                run.append(word)
            elif word is not None and free and not word.text.strip() and run and not is_cjk(run[-1].text):
                continue  # the space between two Latin words
            else:
                if any(w.name for w in run):
                    last = run[-1]  # "阿格拉巴用" (jieba's words "阿格拉", "巴用"): the name is "阿格拉巴"
                    functional = "".join(c for c in last.text if is_cjk(c) and c in self.lexicon.explained)
                    kept = last.text.rstrip(functional) or last.text
                    return run[0].start, last.start + len(kept)
                run = []
        return None

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
        words = self.lexicon.words(text)
        mentions = [m for m in mentions if not self._inside_a_longer_name(text, m, mentions, words)]
        mentions = self._outside_cues(text, mentions)
        cues = self.cues(text, mentions, words)
        if cues.asks_unknown_type:
            return self._unheld(text, mentions, cues)  # "Which sea ...": a kind the graph does not hold
        unknown = self._abstention(text, mentions, cues)
        if unknown is not None:
            return unknown
        if len(cues.unexplained) > cues.tolerated:
            return self._unheld(text, mentions, cues)  # about something the graph does not hold
        # every word understood yet no question parsed: a phrasing the parser misses, not a sign that
        # the graph lacks the answer; core chat takes it rather than a false "I don't know"
        return self._question(text, mentions, context, previous, cues)

    def _question(
        self, text: str, mentions: list[Mention], context: list[Node], previous: Cues | None, cues: Cues
    ) -> Question | None:
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

    def _unheld(self, text: str, mentions: list[Mention], cues: Cues) -> Question | None:
        """ "What is the unemployment rate in Peru?", "秘鲁最有名的人是谁？": a question asked of a place
        of the graph about something it does not hold, which no word of the lexicon names: an honest
        "I don't know that about Peru" rather than a fact from core chat's corpus. Never a question
        to the bot ("What do you like about Peru?"), nor an opinion ("What's the best thing about
        Italy?"), nor one that asks nothing; and not when a word names what the graph holds (a
        relationship, an attribute, a type, a place, a count: "How many countries share a frontier
        with Andorra?"), where an unknown word is a phrasing the parser misses, not a missing fact."""
        distinct = _distinct(mentions)
        if not distinct or TO_THE_BOT.search(text) or _OPINION.search(text.lower()):
            return None
        if cues.relations or cues.attribute or cues.hints or cues.location or cues.count:
            return None
        words = fold(text).split()
        asks = bool(words and words[0] in _WH_WORDS) or (
            is_cjk(text) and any(word in text for word in _ZH_ASKING) and text.rstrip().endswith(("?", "？"))
        )
        named = [m for m in distinct if is_cjk(m.text) or m.text[:1].isupper()]  # "Nice", not "how nice"
        place = next((c for m in named for c in m.candidates if c.node.type in _PLACES), None)
        if not asks or place is None:
            return None
        unknown = Unknown(NOT_HELD, {})
        return Question("abstain", [Subject(place.node, None)], None, parsed=cues, unknown=unknown)

    def _inside_a_longer_name(
        self, text: str, mention: Mention, mentions: list[Mention], words: list[Word]
    ) -> bool:
        """ "Monroe" of "Marilyn Monroe", "索科" of "索科维亚": the mention touches a word in the same
        script, outside every other mention, that reads as a name and is no cue (a Latin word one space
        away; a Chinese word jieba tags as a name, not one it merely does not know: "安道尔人花"), so it
        names something else."""
        cjk = is_cjk(mention.text)
        if cjk and any(_glued_inside(text, mention, word) for word in words):
            return True  # 拉斯 (Ar Rass, a Saudi city) of 艾泽拉斯 (Azeroth), one name to jieba
        separator = "" if cjk else " "
        for word in words:
            if any(m.start < word.end and word.start < m.end for m in mentions):
                continue
            if word.end <= mention.start:
                touches = text[word.end : mention.start] == separator
            else:
                touches = word.start >= mention.end and text[mention.end : word.start] == separator
            glued = len(word.text) == 1 and word.tag.startswith(GLUED_TAGS)  # 阿格拉 + 巴 (Agrabah)
            named = (word.tag.startswith(NAME_TAGS) or glued) if cjk else word.name
            if touches and named and is_cjk(word.text) == cjk and not self._is_cue(word.text):
                return True
        return False

    def _outside_cues(self, text: str, mentions: list[Mention]) -> list[Mention]:
        """The mentions that are not part of a longer cue, nor exactly a type's name: 大洲 (Ōzu, a
        Japanese city) of 哪个大洲 or of 所在的大洲, Most (a Czech city) of "most populous" say what is
        asked, not about what."""
        folded, offsets = _fold_with_offsets(text)
        cues = [(offsets[c.start], offsets[c.end], c.kind) for c in self.lexicon.scan(folded)]
        return [
            m
            for m in mentions
            if not any(
                start <= m.start
                and m.end <= end
                and (end - start > m.end - m.start or (kind == "type" and is_cjk(m.text)))
                for start, end, kind in cues
            )
        ]

    def _is_cue(self, word: str) -> bool:
        folded = fold(word)
        return any(c.start == 0 and c.end == len(folded) for c in self.lexicon.scan(folded))

    def _abstention(self, text: str, mentions: list[Mention], cues: Cues) -> Question | None:
        """An honest "I don't know": a question about a name the graph does not hold, asking what the
        graph holds of its entities or what it does not hold of any ("the currency of Wakanda", "the
        president of Freedonia"), or one asking an entity for what the graph does not hold ("the
        president of France"). Never a question to the bot ("Do you speak Klingon?", "你喜欢日本吗？"),
        nor one that asks nothing ("I love Wakanda")."""
        words = fold(text).split()
        inquires = (
            text.rstrip().endswith(("?", "？"))
            or cues.describe
            or cues.count
            or bool(words and words[0] in QUESTION_WORDS | REQUEST_WORDS)
            or any(word in text for word in QUESTION_WORDS if is_cjk(word))
        )
        to_the_bot = (cues.yes_no and not cues.describe and TO_THE_BOT.search(text)) or _YOUR.search(text)
        # "the highest mountain in France" asks for what the graph does not hold; "the largest city
        # in France" is a superlative it answers
        ranks = (cues.superlative or cues.comparative) and not cues.not_held
        if not inquires or to_the_bot or ranks:
            return None
        distinct = _distinct(mentions)
        if cues.unknown_name and not distinct and len(cues.besides_name) <= cues.tolerated:
            what = self._asked(cues)
            if what is not None:
                unknown = Unknown(UNKNOWN_ENTITY, what, cues.unknown_name)
                return Question("abstain", [], None, parsed=cues, unknown=unknown)
        if cues.not_held and distinct and len(cues.unexplained) <= cues.tolerated:
            spec = self.lexicon.not_held[cues.not_held[0]]
            for mention in distinct:
                for candidate in mention.candidates:
                    if candidate.node.type in spec.of:
                        unknown = Unknown(NOT_HELD, spec.noun)
                        subject = Subject(candidate.node, mention)
                        return Question("abstain", [subject], None, parsed=cues, unknown=unknown)
        return None

    def _asked(self, cues: Cues) -> dict[str, str] | None:
        """What a question asks of its subject, by language: what the graph does not hold, a
        relationship or an attribute. None if it asks only for a type or a place, or for a type the
        relationship does not reach: then the name is seldom the subject ("Which country was the
        Caesar salad invented in?", "天佑女王是哪个国家的国歌？")."""
        lexicon = self.lexicon
        if cues.not_held:
            return None if cues.hints else lexicon.not_held[cues.not_held[0]].noun
        relation = next(
            (lexicon.relations[c.key] for c in cues.relations if c.key in lexicon.relations), None
        )
        if relation is not None:
            return relation.noun if all(hint in relation.targets for hint in cues.hints) else None
        if cues.attribute and not cues.hints:
            return lexicon.attributes[cues.attribute].noun
        # "Which continent is Genovia in?", "吉诺维亚在哪个洲？": the type asked for, and nothing else
        # but the name (not "Which country was the Caesar salad invented in?")
        if cues.asked_type and not cues.relations and not cues.attribute and not cues.besides_name:
            spec = lexicon.types.get(cues.asked_type)
            if spec is not None:
                return {language: spec.noun_for(language, 1) for language in ("en", "zh")}
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
            plan = self.plan(first.best.node.type, replace(cues, hints=[second.best.node.type]))
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

        subjects: list[Subject] = []
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
        named = [self.lexicon.relations[c.key] for c in cues.relations if c.key in self.lexicon.relations]
        types = list(dict.fromkeys(r.type for r in named))[:MAX_RELATIONS]
        best: Plan | None = None
        for order in itertools.permutations(types):
            plan = self._walk(start, [self.lexicon.relations[name] for name in order], cues)
            if plan is not None and (best is None or _implicit(plan) < _implicit(best)):
                best = plan
        return best

    def _walk(self, start: str, relations: list[RelationSpec], cues: Cues) -> Plan | None:
        label = start
        steps: list[Step] = []
        for relation in relations:
            step = _step(relation, label)
            if step is None:  # "the currency of Nairobi": up to its country first
                up = self._up(label)
                step = _step(relation, up.target) if up else None
                if up is None or step is None:
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
                if up is None or attribute is None:
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
        reached = {start, *(s.target for s in steps)}
        # the type asked for is reached even past another type the question names on the way ("Which
        # part of the world is the country with capital Nairobi in?": past the country, its continent)
        asked = [cues.asked_type] if cues.asked_type in hinted and cues.asked_type not in reached else []
        if attribute is None and hinted and (asked or not any(h in reached for h in hinted)):
            path = self._reach(label, (asked or hinted)[0])
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
    spans = [(m.start, m.end) for m in mentions]
    spans += [(c.start, c.end) for c in cues.all if c.kind == "follow_up"]
    for start, end in spans:
        rest[start:end] = " " * (end - start)
    residue = "".join(char for char in "".join(rest) if char.isalnum())
    asked = any(c.kind == "follow_up" for c in cues.all) or text.rstrip().endswith(("?", "？"))
    return asked and not residue


def _glued_inside(text: str, mention: Mention, word: Word) -> bool:
    """The mention lies inside a longer word jieba tags as a name, and what the word adds is no word of
    its own: 艾泽 + 拉斯 is another name (Azeroth), 亚美尼亚 + 人 (an Armenian) is still Armenia."""
    inside = word.start <= mention.start and mention.end <= word.end
    if (
        not inside
        or word.end - word.start == mention.end - mention.start
        or not word.tag.startswith(NAME_TAGS)
    ):
        return False
    added = [text[word.start : mention.start], text[mention.end : word.end]]
    return any(piece and not jieba.dt.FREQ.get(piece) for piece in added)


def _inside_a_name(text: str, cue: Cue, words: list[Word]) -> bool:
    """A Chinese cue inside a longer word jieba tags as a name is part of that name: 小 ("smaller")
    of 小人国 (Lilliput)."""
    return is_cjk(text[cue.start : cue.end]) and any(
        word.tag.startswith(NAME_TAGS)
        and word.start <= cue.start
        and cue.end <= word.end
        and word.end - word.start > cue.end - cue.start
        for word in words
    )


def _blanked(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each span (a cue, an entity) replaced by one placeholder word."""
    remainder = list(text)
    for start, end in spans:
        remainder[start:end] = [f" {PLACEHOLDER} "] + [""] * (end - start - 1)
    return "".join(remainder)


def _asked_type(text: str, types: list[Cue]) -> str | None:
    """The type a question asks for: the one right after an asking word ("Which continent ...",
    "哪个洲"), or in Chinese the head of the noun phrase that ends it ("…的国家所在的大洲。")."""
    asked = next((c.key for c in types if _after_asking_word(text, c)), None)
    if asked is None and types:
        last = types[-1]
        tail = text[last.end :].strip(" ?？。.!！")
        if (
            is_cjk(text[last.start : last.end])
            and text[: last.start].endswith("的")
            and tail in ("", "呢", "吗")
        ):
            asked = last.key
    return asked


def _after_asking_word(text: str, cue: Cue) -> bool:
    """ "Which continent", "哪个洲", "世界哪个地区": the type a question asks for."""
    before, phrase = fold(text[: cue.start]).rstrip(), fold(text[cue.start : cue.end])
    words = before.split()
    requested = words[:]
    while requested and requested[-1] in _AFTER_REQUEST:
        requested.pop()
    return (
        phrase.startswith("哪")
        or bool(words and words[-1] in ASKING_WORDS)
        or bool(_KIND_OF.search(before))
        or (len(requested) == 1 and requested[0] in REQUEST_WORDS)
        or before.endswith(tuple(w for w in ASKING_WORDS if is_cjk(w)))
    )


def _retype(mention: Mention, label: str) -> Candidate | None:
    return next((c for c in mention.candidates if c.node.type == label), None)


def _carry_over(previous: Cues, current: Cues) -> Cues:
    """ "What about Uganda?": the previous question's cues, with this message's entity."""
    return replace(previous, yes_no=current.yes_no or previous.yes_no)
