"""Load on the WeChat webhook: concurrent simulated users against a running `dialog serve`.

    .venv/bin/python bench/load.py [--users 100] [--messages 10] [--think-s 2] [--workers 2]
                                   [--mode plain|safe]

Starts `dialog serve` (several workers) on a fresh temporary data dir with its embedded server,
and a local stand-in for the WeChat API (customer-service pushes of late replies). Each simulated
user sends its messages one after another, waiting for each reply and then a random pause (0 to
2 x `--think-s`) as a person would; `--think-s 0` gives the saturation throughput. One message in
ten is sent again with the same MsgId, as WeChat retries. Prints throughput, latency
percentiles, and checks that no message was lost (every message answered, passively or by push)
or answered twice (each user's stored history holds each message exactly once, in order).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import defusedxml.ElementTree as SafeET
import httpx
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from dialog.channels.wechat.protocol import sign
from dialog.runtime.embedded import EmbeddedServer

TOKEN, APP_ID, APP_SECRET = "bench-token", "wxbench000000000", "bench-secret"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
MESSAGES = [
    "hello there", "how are you today?", "你好呀", "今天天气怎么样", "tell me something fun",
    "我有点累了", "what's the capital of France?", "我喜欢爬山", "good night", "谢谢你",
]  # fmt: skip
BIN = Path(sys.executable).parent


class PushStandIn:
    """A local stand-in for the WeChat API: hands out a token and records customer-service messages."""

    def __init__(self) -> None:
        self.pushed: dict[str, list[str]] = {}
        lock = threading.Lock()
        pushed = self.pushed

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer({"access_token": "bench-access-token", "expires_in": 7200})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with lock:
                    pushed.setdefault(body["touser"], []).append(body["text"]["content"])
                self._answer({"errcode": 0, "errmsg": "ok"})

            def _answer(self, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    retry_latencies: list[float] = field(default_factory=list)
    passive: int = 0
    deferred: int = 0  # answered `success`: the reply must come by push
    deferred_by_user: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    inconsistent_retries: int = 0
    transport_retries: int = 0  # sent again after a dropped connection, as WeChat does
    sent: dict[str, list[str]] = field(default_factory=dict)


class WeChatSide:
    """Signs (and in safe mode encrypts) requests as WeChat does, and reads the replies."""

    def __init__(self, url: str, encrypt: bool) -> None:
        self.url = url
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID) if encrypt else None

    def request(self, openid: str, text: str, msg_id: str) -> tuple[dict[str, str], bytes]:
        ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        params = {"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}
        xml = (
            f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>"
        )
        if self.crypto is None:
            return params, xml.encode()
        sealed = SafeET.fromstring(self.crypto.encrypt_message(xml, nonce, ts))
        encrypted = sealed.find("Encrypt").text
        params |= {"encrypt_type": "aes", "msg_signature": sealed.find("MsgSignature").text}
        return params, f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()

    def reply(self, response: httpx.Response) -> str | None:
        response.raise_for_status()
        if response.text == "success":
            return None
        root = SafeET.fromstring(response.content)
        if self.crypto is not None:
            plain = PrpCrypto(self.crypto.key).decrypt(root.find("Encrypt").text, APP_ID)
            root = SafeET.fromstring(plain.encode())
        return root.find("Content").text


async def send(
    client: httpx.AsyncClient, side: WeChatSide, params: dict, body: bytes, results: Results
) -> str | None:
    """POST like WeChat: a request whose connection drops is sent again (three tries in all)."""
    tries_left = 3
    while True:
        try:
            return side.reply(await client.post(side.url, params=params, content=body))
        except httpx.TransportError:
            tries_left -= 1
            if not tries_left:
                raise
            results.transport_retries += 1


async def simulate_user(
    client: httpx.AsyncClient, side: WeChatSide, openid: str, args: argparse.Namespace, results: Results,
    rng: random.Random,
) -> None:  # fmt: skip
    results.sent[openid] = []
    for n in range(args.messages):
        await asyncio.sleep(rng.uniform(0, 2 * args.think_s))
        text = f"{rng.choice(MESSAGES)} #{n}"
        msg_id = str(uuid.uuid4().int % 10**18)
        params, body = side.request(openid, text, msg_id)
        started = time.perf_counter()
        try:
            reply = await send(client, side, params, body, results)
        except (httpx.HTTPError, AttributeError, SafeET.ParseError) as error:
            results.errors.append(f"{type(error).__name__}: {error}")
            continue
        results.latencies.append(time.perf_counter() - started)
        results.sent[openid].append(text)
        if reply is None:
            results.deferred += 1
            results.deferred_by_user[openid] = results.deferred_by_user.get(openid, 0) + 1
        else:
            results.passive += 1
        if rng.random() < 0.1:  # WeChat's retry of the same MsgId: the same answer, no second turn
            started = time.perf_counter()
            try:
                again = await send(client, side, params, body, results)
            except (httpx.HTTPError, AttributeError, SafeET.ParseError) as error:
                results.errors.append(f"retry: {type(error).__name__}: {error}")
                continue
            results.retry_latencies.append(time.perf_counter() - started)
            results.inconsistent_retries += again != reply


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(home: Path, port: int, workers: int, mode: str, api_url: str) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DIALOG_")},
        "DIALOG_HOME": str(home), "DIALOG_WECHAT_TOKEN": TOKEN, "DIALOG_WECHAT_APP_ID": APP_ID,
        "DIALOG_WECHAT_APP_SECRET": APP_SECRET, "DIALOG_WECHAT_ENCODING_AES_KEY": AES_KEY,
        "DIALOG_WECHAT_MODE": mode, "DIALOG_WECHAT_API_BASE_URL": api_url,
        "DIALOG_RATE_LIMIT_PER_MINUTE": "0",  # the bench's users are fast on purpose
    }  # fmt: skip
    log = open(home / "serve.log", "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [str(BIN / "dialog"), "serve", "--port", str(port), "--workers", str(workers)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"dialog serve exited; see {home / 'serve.log'}")
        started = (home / "serve.log").read_text(errors="replace").count("Application startup complete")
        if started >= workers:  # every worker is serving
            return process
        time.sleep(0.2)
    raise SystemExit("dialog serve did not start in 300 s")


def stored_histories(url: str, openids: list[str]) -> dict[str, list[str]]:
    with httpx.Client(base_url=url, timeout=30) as client:
        return {
            openid: [t["user"] for t in client.get(f"/v1/users/wechat:{openid}/state").json()["history"]]
            for openid in openids
        }


def request_durations_ms(log: Path, since: float) -> list[float]:
    """How long the server itself took over each /wechat request (from its JSON request log)."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"path": "/wechat"' in line:
            entry = json.loads(line)
            if datetime.fromisoformat(entry["ts"].replace("Z", "+00:00")).timestamp() >= since:
                found.append(entry["duration_ms"])
    return found


def turn_seconds(url: str) -> tuple[float, float]:
    """Server-side turn time from /metrics: (count, mean seconds)."""
    count = total = 0.0
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("dialog_turn_seconds_count"):
            count += float(line.rsplit(" ", 1)[1])
        elif line.startswith("dialog_turn_seconds_sum"):
            total += float(line.rsplit(" ", 1)[1])
    return count, total / count if count else 0.0


async def run_load(url: str, args: argparse.Namespace, prefix: str = "bench") -> tuple[Results, float]:
    side = WeChatSide(f"{url}/wechat", encrypt=args.mode == "safe")
    results, rng = Results(), random.Random(7)
    limits = httpx.Limits(max_connections=args.users, max_keepalive_connections=args.users)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        began = time.perf_counter()
        users = [f"{prefix}-{n:03d}" for n in range(args.users)]
        await asyncio.gather(*(simulate_user(client, side, u, args, results, rng) for u in users))
    return results, time.perf_counter() - began


def check(results: Results, histories: dict[str, list[str]], pushed: dict[str, list[str]]) -> dict[str, int]:
    """Lost and twice-answered messages, from the stored histories and the pushes received."""
    counts = {"lost": 0, "answered twice": 0, "histories out of order": 0}
    for openid, sent in results.sent.items():
        stored, deferred, pushes = (
            histories[openid],
            results.deferred_by_user.get(openid, 0),
            pushed.get(openid, []),
        )
        counts["lost"] += len(set(sent) - set(stored)) + max(0, deferred - len(pushes))
        counts["answered twice"] += len(stored) - len(set(stored)) + max(0, len(pushes) - deferred)
        counts["histories out of order"] += stored != sent
    return counts


def ms(values: list[float], fraction: float) -> str:
    return f"{percentile(values, fraction):.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--messages", type=int, default=10, help="messages per user")
    parser.add_argument("--think-s", type=float, default=2.0, help="mean pause between a reply and the next")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mode", choices=["plain", "safe"], default="plain")
    args = parser.parse_args()

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average before the run: {load} on {os.cpu_count()} cores (other processes share the CPU)")
    api = PushStandIn()
    with tempfile.TemporaryDirectory() as tmp:
        home, port = Path(tmp), free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(home, port, args.workers, args.mode, api.url)
        try:
            warm_up = argparse.Namespace(**{**vars(args), "users": 8, "messages": 2, "think_s": 0})
            asyncio.run(run_load(url, warm_up, prefix="warm-up"))  # not measured
            began_at = time.time()
            results, elapsed = asyncio.run(run_load(url, args))
            time.sleep(3)  # late replies are pushed within a second or two
            histories = stored_histories(url, list(results.sent))
            turns, mean_turn = turn_seconds(url)
            server_ms = request_durations_ms(home / "serve.log", since=began_at)
            if results.errors:
                print((home / "serve.log").read_text(errors="replace")[-3000:])
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
            EmbeddedServer(home).stop()
        api.server.shutdown()

    counts = check(results, histories, api.pushed)
    latencies = [seconds * 1000 for seconds in results.latencies]
    print(
        f"{args.users} users x {args.messages} messages (think {args.think_s:g} s), {args.workers} workers, "
        f"{args.mode} mode: {len(latencies)} messages in {elapsed:.1f} s = {len(latencies) / elapsed:.0f}/s"
    )
    print(
        f"  client latency  p50 {ms(latencies, 0.5)}  p90 {ms(latencies, 0.9)}  p99 {ms(latencies, 0.99)}  "
        f"max {max(latencies):.0f} ms"
    )
    print(
        f"  server request  p50 {ms(server_ms, 0.5)}  p99 {ms(server_ms, 0.99)};  "
        f"turn mean {mean_turn * 1000:.1f} ms over {turns:.0f} turns"
    )
    if results.retry_latencies:
        print(
            f"  retries of a MsgId: {len(results.retry_latencies)}, "
            f"p50 {statistics.median(results.retry_latencies) * 1000:.0f} ms, "
            f"answered differently: {results.inconsistent_retries}"
        )
    pushes = sum(len(texts) for texts in api.pushed.values())
    print(f"  passive replies {results.passive}, `success` then push {results.deferred} (pushes {pushes})")
    print("  " + ", ".join(f"{name} {value}" for name, value in counts.items()))
    print(f"  requests failed {len(results.errors)}; sent again after a dropped connection (as WeChat "
          f"does) {results.transport_retries}")  # fmt: skip
    for error in results.errors[:5]:
        print(f"    {error}")
    ok = not (any(counts.values()) or results.errors or results.inconsistent_retries)
    print("OK: every message answered exactly once" if ok else "FAILED: see the counts above")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
