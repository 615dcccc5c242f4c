"""The Agent wires the stages of a turn together; each stage does one job (see `dialog_core.turn`).

respond(): validate -> lock user -> load state (new session after idle) -> understand -> decide ->
handle (fallbacks on decline or error) -> update state -> save atomically -> log the turn
(dialog.feedback.log) -> unlock -> Reply.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from dialog.chat.editorial import EditorialResponses
from dialog.feedback.log import TurnLog, TurnLogEntry, logged_candidates, new_turn_id
from dialog.runtime.background import start_up_over
from dialog.runtime.services import Services
from dialog.state.store import ConcurrentUpdate, StateStore
from dialog.state.update import StateUpdater
from dialog.understanding import detect_language
from dialog_core.component import AgentParts, BrokenComponent, Component, DoctorLine, load_components
from dialog_core.errors import Busy, DialogError, InvalidInput, MessageTooLong, is_valid_text
from dialog_core.outbox import Outbox
from dialog_core.settings import Settings
from dialog_core.state import DialogueState, TurnRecord
from dialog_core.turn import EDITORIAL, Handler, HandlerResult, Policy, Reply, Turn, UnderstandingStage
from skills.registry import SkillRegistry

log = logging.getLogger(__name__)


class Agent:
    def __init__(
        self,
        settings: Settings,
        services: Services,
        *,
        stages: Sequence[UnderstandingStage],
        policy: Policy,
        handlers: dict[str, Handler],
        editorial: EditorialResponses,
        skills: SkillRegistry,
        components: Sequence[Component] = (),
        broken: Sequence[BrokenComponent] = (),
    ) -> None:
        self.settings = settings
        self.services = services
        self.store = StateStore(services.redis, settings)
        self.stages = list(stages)
        self.policy = policy
        self.handlers = handlers
        self.editorial = editorial
        self.skills = skills
        self.components = list(components)
        self.broken = list(broken)
        self.updater = StateUpdater(settings.history_max_turns)
        self.turn_log = TurnLog(self.store, settings.feedback_max_turns)

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        skills: SkillRegistry | None = None,
        components: Sequence[Component] | None = None,
    ) -> Agent:
        """The default agent: embedded or configured services, and what each registered component
        (entry-point group `dialog.components`) builds into it, in order. `skills` replaces the
        discovered skills; `components` the registered components."""
        settings = settings or Settings()
        services = Services.connect(settings)
        broken: list[BrokenComponent] = []
        if components is None:
            components, broken = load_components()
        parts = AgentParts(settings, services)
        if skills is not None:
            parts.share(SkillRegistry, skills)
        for component in components:
            component.build(parts)
        return cls(
            settings,
            services,
            stages=parts.stages(),
            policy=parts.need(Policy),
            handlers=parts.handlers,
            editorial=parts.need(EditorialResponses),
            skills=parts.need(SkillRegistry),
            components=components,
            broken=broken,
        )

    # ------------------------------------------------------------------ turns

    def check_message(self, user_id: str, text: str) -> Reply | None:
        """Refuse what cannot be a turn before anything is counted or stored (InvalidInput, with one
        sentence); an empty message gets a short prompt back (the Reply), and no turn runs."""
        self.store.validate_user_id(user_id)
        if not isinstance(text, str) or not is_valid_text(text):
            raise InvalidInput("The message is not valid text (it holds a lone surrogate code point).")
        language = detect_language(text[: self.settings.max_message_chars])
        if len(text) > self.settings.max_message_chars:
            raise MessageTooLong(
                self.editorial.pick("too_long", language, limit=self.settings.max_message_chars)
            )
        if not text.strip():
            return Reply(text=self.editorial.pick("empty", language), route=EDITORIAL, session_id="")
        return None

    def respond(self, user_id: str, text: str, channel: str = "api") -> Reply:
        refused = self.check_message(user_id, text)
        if refused is not None:
            return refused
        with self.store.locked(user_id):
            now = time.time()
            state = self.store.load(user_id, now)
            idle = state.is_idle(now, self.settings.session_idle_timeout_s)
            previous = state.history[-1] if state.history and not idle else None  # in this session
            closed = state.start_new_session(now) if idle else None
            turn = Turn(user_id, channel, text, state, now)
            result = self._run(turn)
            state = turn.state  # a failed handler may have swapped in its rolled-back snapshot
            turn_id = state.history[-1].turn_id = new_turn_id()  # the updater recorded this turn last
            with turn.trace.timed("save"):
                try:
                    self.store.save(state, closed)
                except ConcurrentUpdate as error:
                    raise Busy(
                        "Your conversation changed while I was answering; please send that again."
                    ) from error
            trace = turn.trace.to_dict()
            self._log_turn(turn, result, turn_id, trace, previous)
        return Reply(
            text=result.text,
            route=result.route,
            session_id=state.session.id,
            turn_id=turn_id,
            intent=turn.nlu.intent,
            emotion=turn.nlu.emotion,
            trace=trace,
        )

    def _log_turn(
        self,
        turn: Turn,
        result: HandlerResult,
        turn_id: str,
        trace: dict[str, Any],
        previous: TurnRecord | None,
    ) -> None:
        """Log the answered turn (what the ranker saw, for feedback and the console) and the implicit
        signals it gives the turn before it. The state is saved already: a failure here is logged and
        the reply still goes out."""
        try:
            candidates, chosen = logged_candidates(trace, result.text)
            entry = TurnLogEntry(
                turn_id=turn_id,
                user_id=turn.user_id,
                session_id=turn.state.session.id,
                index=turn.state.history[-1].index,
                at=turn.now,
                channel=turn.channel,
                text=turn.text,
                reply=result.text,
                route=result.route,
                latency_ms=trace["timings_ms"]["total"],
                candidates=candidates,
                chosen=chosen,
                why={key: trace[key] for key in ("decision", "handlers", "timings_ms") if key in trace},
            )
            self.turn_log.record(entry)
            if previous is not None and previous.turn_id:
                self.turn_log.follow(turn.user_id, previous.turn_id, turn.now, turn.text)
        except Exception:  # Redis away a moment, or a bug: the answered turn must not fail for it
            log.warning("turn %s not logged", turn_id, exc_info=True)

    def warm_up(self) -> None:
        """A throwaway turn in each language, never saved: what loads on first use (the entity linker's
        alias index, the KBQA lexicon, core chat's models) loads now, not in a user's first turn, which
        took 3.8 s on a fresh server (past WeChat's passive-reply deadline on a busy machine). Then
        what loads in the background (the generator's model) begins to."""
        for text in ("hello", "你好"):
            now = time.time()
            try:
                self._run(Turn("warm-up", "warm-up", text, DialogueState.new("warm-up", now), now))
            except DialogError as error:  # a service that is down now is the first real turn's to report
                log.warning("warm-up turn skipped: %s", error)
            except Exception:  # a bug there must not keep the server from starting
                log.exception("warm-up turn failed")
        start_up_over()

    def _run(self, turn: Turn) -> HandlerResult:
        for stage in self.stages:
            with turn.trace.timed(f"understand.{stage.name}"):
                stage(turn)
        turn.trace.record("understanding", turn.nlu.model_dump())
        with turn.trace.timed("policy"):
            decision = self.policy.decide(turn)
        turn.trace.record(
            "decision",
            {"route": decision.route, "reason": decision.reason, "fallbacks": list(decision.fallbacks)},
        )
        result = self._handle(turn, decision.routes)
        with turn.trace.timed("update"):
            self.updater.apply(turn, result)
        return result

    def _handle(self, turn: Turn, routes: Sequence[str]) -> HandlerResult:
        """Try each route in order; a handler that declines or fails passes the turn on.

        A failing handler's changes to the state are rolled back, so they are never saved.
        """
        tried: list[dict[str, str]] = []
        turn.trace.record("handlers", tried)
        for route in routes:
            handler = self.handlers.get(route.split(":", 1)[0])
            if handler is None:
                continue
            snapshot = turn.state.model_copy(deep=True)
            try:
                with turn.trace.timed(f"handle.{route}"):
                    result = handler.handle(turn, route)
            except Exception as error:
                log.exception("handler for route %s failed", route)
                turn.state = snapshot
                tried.append({"route": route, "outcome": f"error: {type(error).__name__}: {error}"})
                continue
            tried.append({"route": route, "outcome": "answered" if result else "declined"})
            if result is not None:
                return result
        return HandlerResult(self.editorial.pick("error", turn.nlu.language), EDITORIAL)

    # ------------------------------------------------------------------ state access

    def state(self, user_id: str) -> DialogueState:
        self.store.validate_user_id(user_id)
        return self.store.load(user_id, time.time())

    def reset(self, user_id: str) -> DialogueState:
        """Start a new session now (the profile stays)."""
        self.store.validate_user_id(user_id)
        with self.store.locked(user_id):
            now = time.time()
            state = self.store.load(user_id, now)
            closed = state.start_new_session(now)
            self.store.save(state, closed)
        return state

    def forget_profile(self, user_id: str) -> DialogueState:
        """Delete what the user told about themself (name, likes, ...); the conversation stays."""
        self.store.validate_user_id(user_id)
        with self.store.locked(user_id):
            state = self.store.load(user_id, time.time())
            state.profile = {}
            self.store.save(state)
        return state

    def forget(self, user_id: str) -> None:
        """Delete everything stored about the user: what their hash tag holds (state, sessions,
        profile, rate log, WeChat dedupe entries, a quarantined state) and their outbox messages.
        The embedded server then rewrites its append-only file, so the data leaves the disk too."""
        self.store.validate_user_id(user_id)
        with self.store.locked(user_id):
            self.store.delete(user_id)
            Outbox(self.services.redis, self.settings).forget(user_id)
        self.services.compact()

    # ------------------------------------------------------------------ introspection

    def describe(self) -> list[DoctorLine]:
        """`dialog doctor`'s lines: the understanding pipeline, then each component's own."""
        lines = [DoctorLine("understanding", ", ".join(stage.name for stage in self.stages))]
        return lines + [line for component in self.components for line in component.describe()]

    def close(self) -> None:
        self.services.close()


__all__ = ["Agent", "DialogError", "Reply"]
