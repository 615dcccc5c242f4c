"""The WeChat Official Account webhook, over real HTTP against `dialog serve` processes.

The WeChat API (access token, customer-service messages) is out of reach from here, so a local
stand-in for it runs in the test: a real HTTP server on a socket, at DIALOG_WECHAT_API_BASE_URL.
The test plays the WeChat server: it signs (and in safe mode encrypts) requests as WeChat does.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import defusedxml.ElementTree as SafeET
import httpx
import pytest
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from dialog.agent import Agent
from dialog.channels.wechat.protocol import InboundMessage, render_text_reply, sign
from dialog_core.outbox import OutboundMessage, Outbox
from tests.conftest import ServeProcess
from tests.test_privacy import names_of

TOKEN = "wechat-token-7f3a91"
APP_ID = "wx0123456789abcdef"
APP_SECRET = "app-secret-5b2e9c44"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
REPLY_TIMEOUT_S = 1.0
RATE_LIMIT = 6


class WeChatApiStandIn:
    """A stand-in for api.weixin.qq.com: issues access tokens and records customer-service messages."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.tokens_issued = 0
        self.valid_token: str | None = None
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path != "/cgi-bin/token" or query.get("secret") != APP_SECRET:
                    return self.answer({"errcode": 40001, "errmsg": "invalid credential"})
                with stand_in.lock:
                    stand_in.tokens_issued += 1
                    stand_in.valid_token = f"ACCESS-{uuid.uuid4().hex}"
                    self.answer({"access_token": stand_in.valid_token, "expires_in": 7200})

            def do_POST(self) -> None:
                url = urlparse(self.path)
                token = parse_qs(url.query).get("access_token", [""])[0]
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with stand_in.lock:
                    if token != stand_in.valid_token:
                        return self.answer({"errcode": 42001, "errmsg": "access_token expired"})
                    stand_in.sent.append(body)
                self.answer({"errcode": 0, "errmsg": "ok"})

            def answer(self, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def expire_token(self) -> None:
        with self.lock:
            self.valid_token = None

    def messages_to(self, openid: str, wait_s: float = 10.0, count: int = 1) -> list[str]:
        """The texts pushed to `openid`, once `count` have arrived (or `wait_s` passed)."""
        deadline = time.monotonic() + wait_s
        while True:
            with self.lock:
                texts = [m["text"]["content"] for m in self.sent if m["touser"] == openid]
            if len(texts) >= count or time.monotonic() > deadline:
                return texts
            time.sleep(0.05)


class WeChatServer:
    """Plays WeChat's side of the protocol against one `dialog serve`."""

    def __init__(self, served: ServeProcess, encrypt: bool) -> None:
        self.served = served
        self.url = f"{served.url}/wechat"
        self.encrypt = encrypt
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
        self.output: str | None = None

    def query(self, timestamp: int | None = None, token: str = TOKEN) -> dict[str, str]:
        ts, nonce = str(timestamp or int(time.time())), uuid.uuid4().hex[:10]
        return {"signature": sign(token, ts, nonce), "timestamp": ts, "nonce": nonce}

    def post(self, fields: dict[str, str], *, encrypt: bool | None = None, **query: str) -> httpx.Response:
        xml = "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + "</xml>"
        return self.post_raw(xml.encode(), encrypt=self.encrypt if encrypt is None else encrypt, **query)

    def post_raw(self, body: bytes, *, encrypt: bool = False, **query: str) -> httpx.Response:
        """POST as WeChat would; `query` overrides the signed parameters (to forge or replay)."""
        params = {**self.query(), **query}
        if encrypt:
            sealed = SafeET.fromstring(
                self.crypto.encrypt_message(body.decode(), params["nonce"], params["timestamp"])
            )
            inner = sealed.find("Encrypt").text
            body = (
                f"<xml><ToUserName>gh_test</ToUserName><Encrypt><![CDATA[{inner}]]></Encrypt></xml>".encode()
            )
            params |= {"encrypt_type": "aes", "msg_signature": sealed.find("MsgSignature").text, **query}
        return httpx.post(self.url, params=params, content=body, timeout=30)

    def reply(self, response: httpx.Response) -> str | None:
        """The text of a passive reply (decrypted and its signature checked), or None for `success`."""
        assert response.status_code == 200, response.text
        if response.text == "success":
            return None
        root = SafeET.fromstring(response.content)
        if root.find("Encrypt") is not None:
            encrypted = root.find("Encrypt").text
            expected = sign(TOKEN, root.find("TimeStamp").text, root.find("Nonce").text, encrypted)
            assert root.find("MsgSignature").text == expected
            root = SafeET.fromstring(PrpCrypto(self.crypto.key).decrypt(encrypted, APP_ID).encode())
        assert root.find("MsgType").text == "text"
        return root.find("Content").text

    def stop(self) -> str:
        if self.output is None:
            self.output = self.served.stop()
        return self.output


def new_msg_id() -> str:
    return str(uuid.uuid4().int % 10**18)


def text_message(openid: str, content: str) -> dict[str, str]:
    return {
        "ToUserName": "gh_test", "FromUserName": openid, "CreateTime": str(int(time.time())),
        "MsgType": "text", "Content": content, "MsgId": new_msg_id(),
    }  # fmt: skip


def serve_wechat(home: Path, api: WeChatApiStandIn, mode: str, workers: int) -> ServeProcess:
    return ServeProcess({
        "DIALOG_HOME": str(home), "DIALOG_WORKERS": str(workers),
        "DIALOG_WECHAT_TOKEN": TOKEN, "DIALOG_WECHAT_APP_ID": APP_ID, "DIALOG_WECHAT_APP_SECRET": APP_SECRET,
        "DIALOG_WECHAT_ENCODING_AES_KEY": AES_KEY, "DIALOG_WECHAT_MODE": mode,
        "DIALOG_WECHAT_API_BASE_URL": api.url, "DIALOG_WECHAT_REPLY_TIMEOUT_S": str(REPLY_TIMEOUT_S),
        "DIALOG_WECHAT_PUSH_INTERVAL_S": "0.1", "DIALOG_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
    })  # fmt: skip


@pytest.fixture(scope="module")
def api() -> Iterator[WeChatApiStandIn]:
    stand_in = WeChatApiStandIn()
    yield stand_in
    stand_in.server.shutdown()


@pytest.fixture(scope="module")
def wechat(home: Path, api: WeChatApiStandIn) -> Iterator[WeChatServer]:
    """Compatible mode (plain and encrypted messages both accepted), two workers."""
    server = WeChatServer(serve_wechat(home, api, "compatible", workers=2), encrypt=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def safe(home: Path, api: WeChatApiStandIn) -> Iterator[WeChatServer]:
    server = WeChatServer(serve_wechat(home, api, "safe", workers=1), encrypt=True)
    yield server
    server.stop()


@pytest.fixture
def openid() -> str:
    return f"o-{uuid.uuid4().hex[:16]}"


def dedupe_hits(server: WeChatServer) -> float:
    text = httpx.get(f"{server.served.url}/metrics").text
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("dialog_wechat_dedupe_hits_total")
    )


def history(agent: Agent, openid: str) -> list[str]:
    return [turn.user for turn in agent.state(f"wechat:{openid}").history]


# ---------------------------------------------------------------------------------------- protocol


def test_url_verification_echoes_echostr_only_when_signed(wechat: WeChatServer) -> None:
    ok = httpx.get(wechat.url, params={**wechat.query(), "echostr": "echo-8841"})
    assert ok.status_code == 200 and ok.text == "echo-8841"
    forged = httpx.get(wechat.url, params={**wechat.query(token="not-the-token"), "echostr": "echo-8841"})
    assert forged.status_code == 403 and "echo-8841" not in forged.text
    stale = httpx.get(wechat.url, params={**wechat.query(int(time.time()) - 3600), "echostr": "e"})
    assert stale.status_code == 403 and "timestamp" in stale.json()["error"]
    assert httpx.get(wechat.url, params={"echostr": "e"}).status_code == 403


def test_a_text_message_gets_a_passive_reply_from_the_agent(
    wechat: WeChatServer, agent: Agent, openid
) -> None:
    response = wechat.post(text_message(openid, "你好"))
    assert response.headers["content-type"].startswith("application/xml")
    root = SafeET.fromstring(response.content)
    assert root.find("ToUserName").text == openid and root.find("FromUserName").text == "gh_test"
    reply = wechat.reply(response)
    assert reply and agent.state(f"wechat:{openid}").history[-1].reply == reply
    assert history(agent, openid) == ["你好"]
    assert agent.state(f"wechat:{openid}").history[-1].channel == "wechat"


def test_voice_uses_recognition_and_other_types_get_a_polite_reply(
    wechat: WeChatServer, agent: Agent, openid
) -> None:
    base = {"ToUserName": "gh_test", "FromUserName": openid, "CreateTime": str(int(time.time()))}
    voice = wechat.post({**base, "MsgType": "voice", "MediaId": "m1", "Format": "amr",
                         "Recognition": "今天天气怎么样", "MsgId": new_msg_id()})  # fmt: skip
    assert wechat.reply(voice)
    assert history(agent, openid) == ["今天天气怎么样"]
    unheard = wechat.reply(wechat.post({**base, "MsgType": "voice", "MediaId": "m2", "MsgId": new_msg_id()}))
    image = wechat.reply(
        wechat.post({**base, "MsgType": "image", "PicUrl": "http://x/p.jpg", "MsgId": new_msg_id()})
    )
    place = wechat.post({**base, "MsgType": "location", "Location_X": "23.1", "Location_Y": "113.3",
                         "Scale": "20", "Label": "广州塔", "MsgId": new_msg_id()})  # fmt: skip
    assert "语音" in unheard and "图片" in image and "广州塔" in wechat.reply(place)  # the user wrote Chinese
    assert history(agent, openid) == ["今天天气怎么样"]  # kind words are not turns


def test_subscribe_greets_and_unsubscribe_is_acknowledged(wechat: WeChatServer, openid) -> None:
    base = {"ToUserName": "gh_test", "FromUserName": openid, "MsgType": "event"}
    greeting = wechat.reply(wechat.post({**base, "CreateTime": "1700000001", "Event": "subscribe"}))
    assert "你好" in greeting and "Hi" in greeting
    assert wechat.reply(wechat.post({**base, "CreateTime": "1700000002", "Event": "unsubscribe"})) is None


def test_reply_xml_keeps_each_value_inside_its_cdata() -> None:
    message = InboundMessage({"FromUserName": "o-a]]>b", "ToUserName": "gh_test"})
    xml = render_text_reply(message, "x]]><MsgType>news</MsgType>\x07y 你好", now=1700000000)
    root = SafeET.fromstring(xml)
    assert root.find("Content").text == "x]]><MsgType>news</MsgType>y 你好"  # \x07: not allowed in XML
    assert root.find("ToUserName").text == "o-a]]>b" and root.find("FromUserName").text == "gh_test"
    assert [e.text for e in root.findall("MsgType")] == ["text"]
    assert root.find("CreateTime").text == "1700000000"


def test_compatible_mode_accepts_encrypted_messages_and_answers_encrypted(
    wechat: WeChatServer, agent: Agent, openid
) -> None:
    response = wechat.post(text_message(openid, "hello there"), encrypt=True)
    assert "<Encrypt>" in response.text and "hello" not in response.text
    assert wechat.reply(response)
    assert history(agent, openid) == ["hello there"]


def test_safe_mode_round_trip_and_plain_messages_refused(safe: WeChatServer, agent: Agent, openid) -> None:
    response = safe.post(text_message(openid, "你好，安全模式"))
    assert "<Encrypt>" in response.text and "<Content>" not in response.text
    assert safe.reply(response)
    assert history(agent, openid) == ["你好，安全模式"]
    plain = safe.post(text_message(openid, "plain"), encrypt=False)
    assert plain.status_code == 403
    forged = safe.post(text_message(openid, "forged"), msg_signature="0" * 40)
    assert forged.status_code == 403
    body = b"<xml><Encrypt><![CDATA[bm90IHJlYWwgY2lwaGVydGV4dA==]]></Encrypt></xml>"
    params = safe.query()
    params |= {
        "encrypt_type": "aes",
        "msg_signature": sign(TOKEN, params["timestamp"], params["nonce"], "bm90IHJlYWwgY2lwaGVydGV4dA=="),
    }
    garbage = httpx.post(safe.url, params=params, content=body)
    assert garbage.status_code == 400 and garbage.json()["error"]
    assert history(agent, openid) == ["你好，安全模式"]


# ---------------------------------------------------------------------------------------- delivery


def test_retries_of_one_msgid_are_answered_once_and_alike(wechat: WeChatServer, agent: Agent, openid) -> None:
    hits_before = dedupe_hits(wechat)
    message = text_message(openid, "tell me something fun")
    first = wechat.reply(wechat.post(message))
    retries = [wechat.reply(wechat.post(message)) for _ in range(3)]
    assert retries == [first] * 3
    assert history(agent, openid) == ["tell me something fun"]
    assert dedupe_hits(wechat) - hits_before == 3


def test_another_user_reusing_a_msgid_gets_their_own_reply(
    wechat: WeChatServer, agent: Agent, openid
) -> None:
    other = f"o-{uuid.uuid4().hex[:16]}"
    first = text_message(openid, "what is 2 plus 2")
    second = {**first, "FromUserName": other, "Content": "你好"}
    assert "4" in wechat.reply(wechat.post(first))
    assert "4" not in wechat.reply(wechat.post(second))
    assert history(agent, openid) == ["what is 2 plus 2"] and history(agent, other) == ["你好"]


def test_forgetting_a_wechat_user_leaves_nothing_naming_them(
    wechat: WeChatServer, agent: Agent, openid
) -> None:
    message = text_message(openid, "remind me in 10 minutes to stretch")
    assert "stretch" in wechat.reply(wechat.post(message))
    wechat.post(message)  # a retry: answered from the dedupe ledger
    replies = [wechat.reply(wechat.post(text_message(openid, f"burst {n}"))) for n in range(RATE_LIMIT + 1)]
    assert "Too many messages" in replies[-1]
    assert names_of(agent.services.redis, openid)
    user = quote(f"wechat:{openid}", safe="")
    assert httpx.delete(f"{wechat.served.url}/v1/users/{user}", timeout=30).json() == {"forgotten": True}
    assert names_of(agent.services.redis, openid) == []
    assert Outbox(agent.services.redis, agent.settings).pending("wechat", f"wechat:{openid}") == []


def test_concurrent_retries_across_workers_wait_for_the_one_turn(
    wechat: WeChatServer, agent: Agent, openid
) -> None:
    message = text_message(openid, "hello from a slow network")
    lock = agent.services.redis.lock(agent.store.key(f"wechat:{openid}", "lock"), timeout=30)
    assert lock.acquire()  # the user's previous turn "still running": the new one waits for it
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(wechat.post, message) for _ in range(4)]
        time.sleep(0.4)
        lock.release()
        replies = [wechat.reply(future.result()) for future in futures]
    assert replies[0] and replies == [replies[0]] * 4
    assert history(agent, openid) == ["hello from a slow network"]


def test_a_slow_turn_answers_success_then_pushes_the_reply_once(
    wechat: WeChatServer, api: WeChatApiStandIn, agent: Agent, openid
) -> None:
    message = text_message(openid, "this one takes a while")
    lock = agent.services.redis.lock(agent.store.key(f"wechat:{openid}", "lock"), timeout=30)
    assert lock.acquire()
    started = time.monotonic()
    assert wechat.reply(wechat.post(message)) is None  # `success`: the reply will be pushed
    assert REPLY_TIMEOUT_S <= time.monotonic() - started < REPLY_TIMEOUT_S + 2
    assert wechat.reply(wechat.post(message)) is None  # WeChat's retry: still `success`, no second turn
    assert api.messages_to(openid, wait_s=0.5) == []
    lock.release()
    pushed = api.messages_to(openid)
    assert len(pushed) == 1 and pushed[0] == agent.state(f"wechat:{openid}").history[-1].reply
    assert wechat.reply(wechat.post(message)) is None
    time.sleep(0.5)
    assert api.messages_to(openid, wait_s=0) == pushed  # pushed exactly once
    assert history(agent, openid) == ["this one takes a while"]


def test_outbox_messages_for_wechat_are_pushed_once_and_tokens_are_shared(
    wechat: WeChatServer, api: WeChatApiStandIn, agent: Agent, openid
) -> None:
    outbox = Outbox(agent.services.redis, agent.settings)
    outbox.schedule(OutboundMessage(user_id=f"wechat:{openid}", channel="wechat", text="提醒：喝水",
                                    due_at=time.time(), kind="reminder"))  # fmt: skip
    assert api.messages_to(openid) == ["提醒：喝水"]
    issued = api.tokens_issued
    assert issued >= 1
    api.expire_token()  # WeChat answers 42001: the pusher fetches a new token and sends again
    outbox.schedule(OutboundMessage(user_id=f"wechat:{openid}", channel="wechat", text="second",
                                    due_at=time.time()))  # fmt: skip
    assert api.messages_to(openid, count=2) == ["提醒：喝水", "second"]
    assert api.tokens_issued == issued + 1
    time.sleep(0.5)
    assert len(api.messages_to(openid, wait_s=0)) == 2
    cached = agent.services.redis.get(f"dialog:wechat:access_token:{APP_ID}")
    assert cached == api.valid_token
    assert agent.services.redis.ttl(f"dialog:wechat:access_token:{APP_ID}") > 0


# ---------------------------------------------------------------------------------------- security


def test_bad_or_missing_signatures_are_403_and_touch_nothing(
    wechat: WeChatServer, agent: Agent, openid
) -> None:
    message = text_message(openid, "sneaky")
    ledger_key = f"dialog:wechat:msg:{message['MsgId']}"
    assert wechat.post(message, signature="0" * 40).status_code == 403
    assert wechat.post(message, **wechat.query(token="guessed")).status_code == 403
    assert wechat.post(message, **wechat.query(int(time.time()) - 600)).status_code == 403  # a replay
    unsigned = httpx.post(wechat.url, content=b"<xml><MsgType>text</MsgType></xml>")
    assert unsigned.status_code == 403
    assert agent.services.redis.exists(ledger_key) == 0
    assert history(agent, openid) == []
    assert wechat.reply(wechat.post(message))  # the same message, properly signed, is then answered


def test_xxe_and_entity_bombs_are_400(wechat: WeChatServer, openid) -> None:
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        f"<xml><FromUserName>{openid}</FromUserName><MsgType>text</MsgType><Content>&xxe;</Content></xml>"
    )
    response = wechat.post_raw(xxe.encode())
    assert response.status_code == 400 and "root:" not in response.text
    lols = "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY l0 "lol">{lols}]><xml><Content>&l9;</Content></xml>'
    started = time.monotonic()
    assert wechat.post_raw(bomb.encode()).status_code == 400
    assert time.monotonic() - started < 2
    assert wechat.post_raw(b"<xml><unclosed></xml>").status_code == 400
    assert wechat.post_raw(b"not xml at all").status_code == 400


def test_oversized_bodies_are_413_with_or_without_content_length(wechat: WeChatServer) -> None:
    big = b"<xml><Content>" + b"x" * 70_000 + b"</Content></xml>"
    assert wechat.post_raw(big).status_code == 413
    chunked = httpx.post(wechat.url, params=wechat.query(), content=iter([big[:40_000], big[40_000:]]))
    assert "content-length" not in chunked.request.headers
    assert chunked.status_code == 413 and chunked.json() == {"error": "The request body is too large."}


def test_a_user_over_the_rate_limit_gets_told_and_no_turn(wechat: WeChatServer, agent: Agent, openid) -> None:
    replies = [wechat.reply(wechat.post(text_message(openid, f"message {n}"))) for n in range(RATE_LIMIT + 2)]
    assert all("Too many messages" not in reply for reply in replies[:RATE_LIMIT])
    assert all("Too many messages" in reply for reply in replies[RATE_LIMIT:])
    assert history(agent, openid) == [f"message {n}" for n in range(RATE_LIMIT)]


def test_shutdown_finishes_in_flight_turns_and_pushes_late_replies(
    wechat: WeChatServer, api: WeChatApiStandIn, agent: Agent
) -> None:
    """Stops the module's two-worker server: SIGTERM while an API turn and a deferred WeChat turn run."""
    api_user, openid = f"shutdown-{uuid.uuid4().hex[:8]}", f"o-{uuid.uuid4().hex[:12]}"
    locks = [agent.services.redis.lock(agent.store.key(user, "lock"), timeout=30)
             for user in (api_user, f"wechat:{openid}")]  # fmt: skip
    assert all(lock.acquire() for lock in locks)  # both turns will wait for their user's lock
    results: dict[str, httpx.Response] = {}
    chat = {"user_id": api_user, "text": "finish me"}
    threads = [
        threading.Thread(target=lambda: results.update(
            api=httpx.post(f"{wechat.served.url}/v1/chat", json=chat, timeout=60))),
        threading.Thread(target=lambda: results.update(wechat=wechat.post(text_message(openid, "我很慢")))),
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    time.sleep(REPLY_TIMEOUT_S + 1)  # the WeChat request has answered `success`; both turns still wait
    wechat.served.process.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    for lock in locks:
        lock.release()
    for thread in threads:
        thread.join(60)
    output = wechat.stop()
    assert wechat.served.process.returncode == 0, output
    assert results["api"].status_code == 200 and results["api"].json()["reply"]
    assert wechat.reply(results["wechat"]) is None
    assert [t.user for t in agent.state(api_user).history] == ["finish me"]
    assert api.messages_to(openid, wait_s=0) == [agent.state(f"wechat:{openid}").history[-1].reply]


def test_no_secret_reaches_the_logs(wechat: WeChatServer, safe: WeChatServer, api: WeChatApiStandIn) -> None:
    """Last of the module's server tests: it stops the servers to read their logs."""
    issued_token = api.valid_token
    assert issued_token  # the pushes above fetched at least one access token
    for server in (wechat, safe):
        output = server.stop()
        lines = [line for line in output.splitlines() if line.startswith("{")]
        assert any(json.loads(line).get("path") == "/wechat" for line in lines)
        for secret in (TOKEN, APP_SECRET, AES_KEY, issued_token):
            assert secret not in output
        assert "Traceback" not in output


def test_settings_mistakes_are_one_sentence(tmp_path: Path) -> None:
    from tests.conftest import run_dialog

    missing = run_dialog("serve", env={"DIALOG_HOME": str(tmp_path), "DIALOG_WECHAT_TOKEN": "t"})
    assert missing.returncode == 2 and "DIALOG_WECHAT_APP_ID" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_key = run_dialog("serve", env={
        "DIALOG_HOME": str(tmp_path), "DIALOG_WECHAT_TOKEN": "t", "DIALOG_WECHAT_APP_ID": "wx1",
        "DIALOG_WECHAT_APP_SECRET": "s", "DIALOG_WECHAT_MODE": "safe",
        "DIALOG_WECHAT_ENCODING_AES_KEY": "short",
    })  # fmt: skip
    assert bad_key.returncode == 2 and "43-character" in bad_key.stderr
