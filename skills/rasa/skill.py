"""RasaSkill: rasa_sdk actions and forms as a skill.

Our state is adapted to a Rasa tracker (slots, latest message with intent and entities, recent
events, active loop), each action's dispatcher messages become the reply, and the events it
returns are applied to our state:

- `slot` (SlotSet) sets a conversation slot (returned in `SkillResult.slots`, and seen by the
  turn's later actions); `reset_slots` (AllSlotsReset) clears the skill's domain slots;
  `restart` (Restarted) clears them and ends the skill's loop;
- `followup` (FollowupAction) runs that action next in the same turn (`utter_*` names render a
  domain response); `active_loop` (ActiveLoop) starts or ends a form loop; `bot` (BotUttered) adds
  its text; other events are recorded in the trace and otherwise ignored.

A form loop works like Rasa's FormAction: the slots a message fills (slot mappings from_entity,
from_text, from_intent) go to the form's `validate_<form>` action (a FormValidationAction), then
the next empty required slot is asked for (`action_ask_<slot>`, or the `utter_ask_<slot>`
response). When all are filled the loop ends and the trigger's `then` action runs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dialog_core.errors import InvalidInput
from dialog_core.turn import Language, Turn
from skills.api import AsyncSkill, SkillResult, say
from skills.language import is_cancel
from skills.rasa.transport import ActionRunner, ActionServer, InProcessActions

MAX_CHAIN = 10  # actions one turn may run (FollowupAction chains)
HISTORY_TURNS = 10  # recent exchanges passed to actions as user/bot events
REQUESTED_SLOT = "requested_slot"
CLASSIFIER_CONFIDENCE = 0.9  # the intent classifier alone starts a trigger only when this sure


@dataclass(frozen=True)
class Trigger:
    """What starts the skill: a pattern (or the intent classifier naming `intent`), then an action
    to run or a form to fill; `then` runs after the form is complete."""

    pattern: str
    intent: str
    action: str | None = None
    form: str | None = None
    then: str | None = None
    score: float = 0.9


@dataclass
class _TurnRun:
    """What one turn of the skill collects: messages, slots set (None: cleared), events applied
    and events ignored."""

    messages: list[str] = field(default_factory=list)
    slots: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    requested_set: bool = False  # an action set `requested_slot` this turn

    def current_slots(self, turn: Turn) -> dict[str, Any]:
        """The conversation slots with this turn's changes so far."""
        merged = {**turn.state.slots, **self.slots}
        return {name: value for name, value in merged.items() if value is not None}


class RasaSkill(AsyncSkill):
    description = "rasa-sdk actions"

    def __init__(
        self,
        name: str,
        runner: ActionRunner,
        triggers: list[Trigger],
        *,
        domain: dict[str, Any] | None = None,
        entities: Sequence[str] = (),
        intents: dict[str, list[str]] | None = None,
        description: str = "",
        timeout_s: float | None = None,
    ) -> None:
        self.name = name  # type: ignore[misc]
        self.runner = runner
        self.triggers = [(re.compile(t.pattern, re.IGNORECASE), t) for t in triggers]
        self.domain = _complete_domain(domain or {}, triggers)
        self.entity_patterns = [re.compile(pattern, re.IGNORECASE) for pattern in entities]
        self.intents = intents or {}  # type: ignore[misc]
        self.description = description or f"rasa-sdk actions ({runner.where})"  # type: ignore[misc]
        self.timeout_s = timeout_s  # type: ignore[misc]

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_file(cls, path: Path) -> RasaSkill:
        """A `*.rasa.yaml` file: name, actions (module/path, in-process) or url (action server),
        domain (a Rasa domain file), triggers, entities, intents, responses/slots/forms."""
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise InvalidInput(f"{path} cannot be read as YAML: {error}.") from error
        domain: dict[str, Any] = {}
        if config.get("domain"):
            domain = yaml.safe_load((path.parent / config["domain"]).read_text(encoding="utf-8")) or {}
        for key in ("responses", "slots", "forms", "entities", "actions"):
            if key in config:
                domain[key] = (
                    {**domain.get(key, {}), **config[key]} if isinstance(config[key], dict) else config[key]
                )
        timeout_s = config.get("timeout_s")
        if config.get("url"):
            runner: ActionRunner = ActionServer(config["url"], timeout_s or 5.0)
            timeout_s = (timeout_s or 5.0) + 1.0  # the server's own timeout fires first, with its message
        elif config.get("actions"):
            source = config["actions"]
            local = path.parent / source
            runner = InProcessActions(local if local.exists() else source)
        else:
            raise InvalidInput(f"{path} names neither `actions` (in-process) nor `url` (an action server).")
        triggers = [Trigger(**trigger) for trigger in config.get("triggers", [])]
        if not triggers:
            raise InvalidInput(f"{path} has no triggers.")
        return cls(
            config.get("name") or path.name.split(".", 1)[0],
            runner,
            triggers,
            domain=domain,
            entities=config.get("entities", []),
            intents=config.get("intents"),
            description=config.get("description", ""),
            timeout_s=timeout_s,
        )

    # ------------------------------------------------------------------ skill API

    async def can_handle(self, turn: Turn) -> float:
        if self.peek(turn).get("loop"):
            return 0.5 if not self._slot_candidates(turn, self.peek(turn)) else 1.0
        trigger = self._trigger(turn)
        return trigger.score if trigger else 0.0

    def health(self) -> str | None:
        return self.runner.health()

    async def handle(self, turn: Turn) -> SkillResult | None:
        memory = self.memory(turn)
        run = _TurnRun()
        if memory.get("loop"):
            if is_cancel(turn.nlu.normalized):
                memory.clear()
                return SkillResult(say(turn.nlu.language, "OK, cancelled.", "好的，已取消。"))
            proceed = await self._form_step(turn, memory, run)
        else:
            trigger = self._trigger(turn)
            if trigger is None:
                return None
            memory.update(intent=trigger.intent, then=trigger.then)
            if trigger.form:
                memory["loop"] = trigger.form
                proceed = await self._form_step(turn, memory, run)
            else:
                proceed = await self._chain(turn, memory, trigger.action or "", run)
        if not proceed:
            return None
        turn.trace.record(f"rasa.{self.name}", {"events": run.events, "ignored": run.ignored})
        done = not memory.get("loop")
        if done:
            memory.clear()
        return SkillResult("\n".join(run.messages), done=done, slots=run.slots)

    # ------------------------------------------------------------------ actions

    async def _chain(self, turn: Turn, memory: dict[str, Any], action: str, run: _TurnRun) -> bool:
        """Run an action and its follow-ups; False if the first action rejected the turn."""
        for step in range(MAX_CHAIN):
            if not action or action == "action_listen":
                return True
            if action.startswith("utter_"):
                run.messages.extend(self._response(action, turn, run))
                return True
            result = await self.runner.run(self._payload(turn, memory, action, run))
            if result is None:
                return step > 0
            run.messages.extend(self._render(message, turn, run) for message in result.get("responses", []))
            run.messages[:] = [m for m in run.messages if m]
            followup = self._apply(turn, memory, result.get("events", []), run)
            memory["last_action"] = action
            if memory.get("loop") and not followup:
                return await self._form_step(turn, memory, run, fresh=False)
            action = followup or ""
        return True

    def _apply(
        self, turn: Turn, memory: dict[str, Any], events: list[dict[str, Any]], run: _TurnRun
    ) -> str | None:
        """Apply the events an action returned; the follow-up action it asked for, if any."""
        followup = None
        for event in events:
            kind = event.get("event")
            if kind == "slot":
                if event.get("name") == REQUESTED_SLOT:
                    memory["requested"] = event.get("value")
                    run.requested_set = True
                else:
                    run.slots[event["name"]] = event.get("value")
            elif kind == "followup":
                followup = event.get("name")
            elif kind == "active_loop":
                memory["loop"] = event.get("name")
                memory.pop("requested", None)
            elif kind in ("reset_slots", "restart"):
                for slot in self.domain.get("slots", {}):
                    run.slots[slot] = None
                if kind == "restart":
                    memory.pop("loop", None)
                    memory.pop("requested", None)
            elif kind == "bot" and event.get("text"):
                run.messages.append(event["text"])
            else:
                run.ignored.append(str(kind))
                continue
            run.events.append(event)
        return followup

    # ------------------------------------------------------------------ forms

    async def _form_step(self, turn: Turn, memory: dict[str, Any], run: _TurnRun, fresh: bool = True) -> bool:
        """Fill the loop's slots from this message, validate them, ask for the next or finish."""
        form = memory["loop"]
        required = list(self.domain.get("forms", {}).get(form, {}).get("required_slots", []))
        if fresh:
            candidates = self._slot_candidates(turn, memory)
            slot_events = [
                {"event": "slot", "name": n, "value": v, "timestamp": time.time()}
                for n, v in candidates.items()
            ]
            validator = f"validate_{form}"
            if slot_events and self.runner.knows(validator) is not False:
                run.events.extend(slot_events)  # the validator sees them as the latest slot events
                run.slots.update(candidates)
                try:
                    result = await self.runner.run(self._payload(turn, memory, validator, run))
                except Exception:
                    if self.runner.knows(validator) is not False:
                        raise
                    result = {"events": [], "responses": []}  # no validation action: accept as is
                if result is None:
                    return False
                run.messages.extend(
                    m for m in (self._render(r, turn, run) for r in result.get("responses", [])) if m
                )
                self._apply(turn, memory, result.get("events", []), run)
            else:
                run.slots.update(candidates)
                run.events.extend(slot_events)
        if not memory.get("loop"):  # the validator ended the loop
            return True
        if run.requested_set:  # a FormValidationAction with its own required_slots decided
            requested = memory.get("requested")
        else:
            filled = run.current_slots(turn)
            requested = next((slot for slot in required if filled.get(slot) is None), None)
        if requested:
            memory["requested"] = requested
            ask = f"action_ask_{requested}"
            if self.runner.knows(ask):
                await self._chain(turn, memory, ask, run)
            else:
                run.messages.extend(
                    self._response(f"utter_ask_{form}_{requested}", turn, run)
                    or self._response(f"utter_ask_{requested}", turn, run)
                )
            return True
        memory.pop("loop", None)
        memory.pop("requested", None)
        run.events.append({"event": "active_loop", "name": None})
        then = memory.get("then")
        return await self._chain(turn, memory, then, run) if then else True

    def _slot_candidates(self, turn: Turn, memory: dict[str, Any]) -> dict[str, Any]:
        """Slot values this message gives the active form (Rasa slot mappings)."""
        form = memory.get("loop")
        if not form:
            return {}
        required = self.domain.get("forms", {}).get(form, {}).get("required_slots", [])
        entities = self._entities(turn)
        intent = memory.get("intent")
        found: dict[str, Any] = {}
        for slot in required:
            mappings = self.domain.get("slots", {}).get(slot, {}).get("mappings") or [
                {"type": "from_entity", "entity": slot},
                {"type": "from_text", "conditions": [{"requested_slot": slot}]},
            ]
            for mapping in mappings:
                value = _mapped(mapping, slot, memory.get("requested"), entities, intent, turn.nlu.normalized)
                if value is not None:
                    found[slot] = value
                    break
        return found

    # ------------------------------------------------------------------ tracker and domain

    def _trigger(self, turn: Turn) -> Trigger | None:
        for pattern, trigger in self.triggers:
            if pattern.search(turn.nlu.normalized):
                return trigger
        intent = turn.nlu.intent
        if intent.confidence < CLASSIFIER_CONFIDENCE:
            return None
        return next((t for _, t in self.triggers if intent.name in (t.intent, f"skill:{self.name}")), None)

    def _entities(self, turn: Turn) -> list[dict[str, Any]]:
        found = []
        for pattern in self.entity_patterns:
            for match in pattern.finditer(turn.nlu.normalized):
                for name, value in match.groupdict().items():
                    if value:
                        found.append({"entity": name, "value": value, "start": match.start(name),
                                      "end": match.end(name), "extractor": "regex"})  # fmt: skip
        for entity in turn.nlu.entities:
            found.append(
                {"entity": entity.type.lower() or "entity", "value": entity.name, "extractor": "dialog"}
            )
        return found

    def _payload(self, turn: Turn, memory: dict[str, Any], action: str, run: _TurnRun) -> dict[str, Any]:
        """The webhook action call: next action, tracker, domain (rasa_sdk's ActionCall)."""
        intent = memory.get("intent") or turn.nlu.intent.name
        latest = {
            "text": turn.text,
            "intent": {"name": intent, "confidence": 1.0},
            "intent_ranking": [{"name": intent, "confidence": 1.0}],
            "entities": self._entities(turn),
        }
        history: list[dict[str, Any]] = []
        for record in turn.state.history[-HISTORY_TURNS:]:
            history.append({"event": "user", "timestamp": record.at, "text": record.user})
            history.append({"event": "bot", "timestamp": record.at, "text": record.reply})
        now = time.time()
        events = [
            *history,
            {"event": "action", "timestamp": now, "name": "action_listen"},
            {
                "event": "user",
                "timestamp": now,
                "text": turn.text,
                "parse_data": latest,
                "input_channel": turn.channel,
            },
            *run.events,
        ]
        current = run.current_slots(turn)
        slot_names = list(self.domain.get("slots", {})) or list(current)
        slots = {name: current.get(name) for name in slot_names}
        slots[REQUESTED_SLOT] = memory.get("requested")
        loop = memory.get("loop")
        tracker = {
            "sender_id": turn.user_id,
            "user_id": turn.user_id,
            "slots": slots,
            "latest_message": latest,
            "events": events,
            "paused": False,
            "followup_action": None,
            "active_loop": {"name": loop} if loop else {},
            "latest_action_name": memory.get("last_action", "action_listen"),
            "latest_input_channel": turn.channel,
        }
        return {"next_action": action, "sender_id": turn.user_id, "tracker": tracker, "domain": self.domain,
                "version": "3.0.0"}  # fmt: skip

    def _response(self, name: str, turn: Turn, run: _TurnRun) -> list[str]:
        variants = self.domain.get("responses", {}).get(name) or []
        if not variants:
            return []
        chosen = _variant(variants, turn.nlu.language)
        return [self._render(chosen, turn, run)] if chosen else []

    def _render(self, message: dict[str, Any], turn: Turn, run: _TurnRun) -> str:
        """A dispatcher message (or domain response variant) as plain text."""
        response = message.get("response") or message.get("template")
        if response and not message.get("text"):
            return "\n".join(self._response(response, turn, run))
        parts = [_fill(message.get("text") or "", run.current_slots(turn), message)]
        if message.get("image"):
            parts.append(str(message["image"]))
        if message.get("attachment"):
            parts.append(str(message["attachment"]))
        for number, button in enumerate(message.get("buttons") or [], 1):
            parts.append(f"[{number}] {button.get('title', button.get('payload', ''))}")
        return "\n".join(part for part in parts if part)


def _mapped(
    mapping: dict[str, Any],
    slot: str,
    requested: str | None,
    entities: list[dict[str, Any]],
    intent: str | None,
    text: str,
) -> Any:
    conditions = mapping.get("conditions") or []
    if conditions and not any(c.get("requested_slot") in (None, requested) for c in conditions):
        return None
    kind = mapping.get("type")
    if kind == "from_entity":
        if mapping.get("intent") and mapping["intent"] != intent:
            return None
        values = [e["value"] for e in entities if e["entity"] == mapping.get("entity", slot)]
        return values[0] if values else None
    if kind == "from_text":
        return text if requested == slot and not is_cancel(text) else None
    if kind == "from_intent":
        return mapping.get("value") if mapping.get("intent") == intent else None
    return None


def _variant(variants: list[dict[str, Any]], language: Language) -> dict[str, Any] | None:
    """The response variant for the user's language (a variant may say `language: zh`)."""
    for variant in variants:
        if variant.get("language", variant.get("metadata", {}).get("language")) == language:
            return variant
    plain = [v for v in variants if not v.get("language") and not v.get("metadata", {}).get("language")]
    return (plain or variants)[0]


def _fill(text: str, slots: dict[str, Any], message: dict[str, Any]) -> str:
    values = {**slots, **{k: v for k, v in message.items() if isinstance(v, str | int | float)}}
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group())), text)


def _complete_domain(domain: dict[str, Any], triggers: list[Trigger]) -> dict[str, Any]:
    """A domain dict with every key rasa_sdk expects."""
    intents = list(domain.get("intents", [])) + [
        t.intent for t in triggers if t.intent not in domain.get("intents", [])
    ]
    return {
        "intents": intents,
        "entities": list(domain.get("entities", [])),
        "slots": dict(domain.get("slots", {})),
        "responses": dict(domain.get("responses", {})),
        "actions": list(domain.get("actions", [])),
        "forms": dict(domain.get("forms", {})),
    }
