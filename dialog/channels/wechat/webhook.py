"""The WeChat webhook at /wechat: URL verification (GET) and users' messages (POST).

A message is answered within `wechat_reply_timeout_s` (4.5 s, under WeChat's 5 s) by a passive
XML reply. A turn that takes longer goes on in the background; the request answers `success` and
the turn's reply is put in the outbox, from where the pusher sends it through the customer-service
API. Each message is processed once, however often WeChat retries it (see `ledger`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from anyio import CapacityLimiter
from anyio.to_thread import run_sync
from fastapi import APIRouter, Request, Response

from dialog.agent import Agent
from dialog.channels import metrics
from dialog.channels.limits import RateLimiter
from dialog.channels.wechat.api import WeChatApi
from dialog.channels.wechat.ledger import ANSWERED, PENDING, MessageLedger, Outcome
from dialog.channels.wechat.protocol import (
    BadMessage,
    Forbidden,
    InboundMessage,
    SignedQuery,
    WeChatCodec,
    WeChatConfig,
    render_text_reply,
)
from dialog.channels.wechat.pusher import CHANNEL, OutboxPusher, user_id_for
from dialog.understanding import detect_language
from dialog_core.errors import DialogError
from dialog_core.outbox import OutboundMessage, Outbox

log = logging.getLogger(__name__)

POLL_S = 0.05


class ChannelOff(DialogError):
    http_status = 404


@dataclass
class _Job:
    """One message being answered. `deferred` and `done` are only changed on the event loop."""

    deferred: bool = False
    done: bool = False
    reply: str | None = None
    settled: asyncio.Event = field(default_factory=asyncio.Event)


class WeChatChannel:
    def __init__(
        self, config: WeChatConfig, agent: Agent, limiter: RateLimiter, turns: CapacityLimiter
    ) -> None:
        redis, prefix = agent.services.redis, agent.settings.key_prefix
        self.config = config
        self.agent = agent
        self.limiter = limiter
        self.turns = turns  # shared with the JSON API: the worker's turn threads
        self.codec = WeChatCodec(config)
        self.ledger = MessageLedger(agent.store, config.dedupe_ttl_s)
        self.outbox = Outbox(redis, agent.settings)
        self.api = WeChatApi(config, redis, prefix)
        self.pusher = OutboxPusher(self.outbox, self.api, redis, prefix, config.push_interval_s)
        self._jobs: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.pusher.start()

    async def stop(self, timeout_s: float) -> None:
        """Let running turns finish (their late replies reach the outbox), then push what is due."""
        if self._jobs:
            await asyncio.wait(set(self._jobs), timeout=timeout_s)
        await run_sync(self.pusher.stop)
        self.api.close()

    # ------------------------------------------------------------------ a request

    async def receive(self, query: SignedQuery, body: bytes) -> str:
        """The response body for a POST: a passive reply (encrypted when the request was), or `success`."""
        self.codec.verify(query)
        message = self.codec.open(body, query)
        if not message.openid or not message.type:
            raise BadMessage("The message has no sender or no type.")
        reply = await self.answer(message)
        return "success" if reply is None else self.codec.seal(render_text_reply(message, reply), query)

    async def answer(self, message: InboundMessage) -> str | None:
        """The reply to send back now, or None when there is none (or it will be pushed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.reply_timeout_s
        user_id, message_id = user_id_for(message.openid), message.dedupe_id
        known = await run_sync(self.ledger.claim, user_id, message_id)
        if known is not None:
            metrics.DEDUPE_HITS.inc()
            log.info("wechat retry", extra={"msg_type": message.type, "status": known.status})
            return await self._outcome(user_id, message_id, known, deadline)
        job = _Job()
        task = asyncio.create_task(self._work(message, job))
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)
        try:
            await asyncio.wait_for(job.settled.wait(), max(0.0, deadline - loop.time()))
        except TimeoutError:
            if not job.done:
                job.deferred = True
        if not job.deferred:
            await job.settled.wait()  # done: only the ledger write may still be under way
            return job.reply
        metrics.DEFERRED.inc()
        log.info("wechat turn deferred to push", extra={"msg_type": message.type})
        await run_sync(self.ledger.deferred, user_id, message_id)
        return None

    async def _work(self, message: InboundMessage, job: _Job) -> None:
        try:
            reply = await run_sync(self.produce, message, limiter=self.turns)
            if job.deferred:  # the request has answered `success`: the reply goes out by push
                if reply:
                    await run_sync(self._push_later, message.openid, reply)
                return
            job.done, job.reply = True, reply
            await run_sync(self.ledger.answered, user_id_for(message.openid), message.dedupe_id, reply)
        except Exception:  # Redis away: a reply in hand still goes back; retries will get `success`
            log.exception("wechat message bookkeeping failed")
        finally:
            job.settled.set()

    async def _outcome(self, user_id: str, message_id: str, known: Outcome, deadline: float) -> str | None:
        """A retry's answer: the first delivery's reply, once it is known (else `success`)."""
        loop = asyncio.get_running_loop()
        while known.status == PENDING and loop.time() < deadline:
            await asyncio.sleep(POLL_S)
            known = await run_sync(self.ledger.get, user_id, message_id)
        return known.reply if known.status == ANSWERED else None

    # ------------------------------------------------------------------ the reply (in a worker thread)

    def produce(self, message: InboundMessage) -> str | None:
        """What to say to a message; never raises (an error becomes its one sentence)."""
        user_id = user_id_for(message.openid)
        try:
            if message.type == "event":
                return self._welcome() if message.event == "subscribe" else None
            if message.type == "text" or (message.type == "voice" and message.get("Recognition")):
                text = message.get("Content") if message.type == "text" else message.get("Recognition")
                refused = self.agent.check_message(user_id, text)  # not counted against the rate
                if refused is not None:
                    return refused.text
                self.limiter.check(user_id, CHANNEL)
                reply = metrics.observed_turn(
                    CHANNEL, lambda: self.agent.respond(user_id, text, CHANNEL), lambda r: r.route
                )
                return reply.text
            self.limiter.check(user_id, CHANNEL)
            return self._polite(message, user_id)
        except DialogError as error:
            return str(error)
        except Exception:
            log.exception("wechat message failed")
            return self.agent.editorial.pick("error", "zh")

    def _welcome(self) -> str:
        """Both languages: a new follower's language is not known yet."""
        return "\n".join(self.agent.editorial.pick("welcome", language) for language in ("zh", "en"))

    def _polite(self, message: InboundMessage, user_id: str) -> str:
        """A kind word for what the agent cannot read, in the language the user last wrote in."""
        history = self.agent.state(user_id).history
        language = detect_language(history[-1].user) if history else "zh"
        kind = message.type if message.type in ("image", "voice", "location") else "other"
        label = message.get("Label")
        if kind == "location" and label:
            return self.agent.editorial.pick("cannot_read_named_location", language, label=label)
        return self.agent.editorial.pick(f"cannot_read_{kind}", language)

    def _push_later(self, openid: str, text: str) -> None:
        self.outbox.schedule(
            OutboundMessage(
                user_id=user_id_for(openid), channel=CHANNEL, text=text, due_at=time.time(), kind="late_reply"
            )
        )


def wechat_router() -> APIRouter:
    router = APIRouter(tags=["wechat"])

    def channel_of(request: Request) -> WeChatChannel:
        channel: WeChatChannel | None = request.app.state.wechat
        if channel is None:
            raise ChannelOff("The WeChat channel is off; set DIALOG_WECHAT_TOKEN to turn it on.")
        return channel

    def rejected(error: DialogError) -> DialogError:
        metrics.REJECTED.labels("signature" if isinstance(error, Forbidden) else "bad_message").inc()
        log.warning("wechat request refused: %s", error)
        return error

    @router.get("/wechat", summary="URL verification: echoes `echostr` when the signature is right")
    async def verify(
        request: Request, signature: str = "", timestamp: str = "", nonce: str = "", echostr: str = ""
    ) -> Response:
        try:
            channel_of(request).codec.verify(SignedQuery(signature, timestamp, nonce))
        except Forbidden as error:
            raise rejected(error) from None
        return Response(echostr, media_type="text/plain")

    @router.post("/wechat", summary="A user's message or event (XML); the reply is passive XML or `success`")
    async def receive(
        request: Request,
        signature: str = "",
        timestamp: str = "",
        nonce: str = "",
        encrypt_type: str = "",
        msg_signature: str = "",
    ) -> Response:
        channel = channel_of(request)
        query = SignedQuery(signature, timestamp, nonce, encrypt_type, msg_signature)
        try:
            reply = await channel.receive(query, await request.body())
        except (Forbidden, BadMessage) as error:
            raise rejected(error) from None
        return Response(reply, media_type="text/plain" if reply == "success" else "application/xml")

    return router
