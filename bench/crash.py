"""Crash probe: users chat through `dialog serve` while its embedded server is killed (kill -9).

    .venv/bin/python bench/crash.py [--users 16] [--seconds 40] [--crashes 2] [--workers 2]

Starts `dialog serve` on a fresh temporary data dir (the embedded default, which `dialog serve`
supervises). Each simulated user sends numbered messages one after another over the JSON API; every
`seconds / (crashes + 1)` the embedded redis-server is killed with SIGKILL. Prints, per crash, how
long until the next acknowledged turn (supervisor restart + AOF replay), the answers by status
(200, 409 user still locked, 503 store unreachable), and then checks that no acknowledged turn was
lost: each user's stored history must hold every message answered 200.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from dialog.runtime.embedded import EmbeddedServer, is_redis_process

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_serve(home: Path, workers: int) -> tuple[subprocess.Popen, str]:
    """`dialog serve`, its log in `home`/serve.log (a pipe nobody reads would fill and stall it)."""
    port = free_port()
    env = {**os.environ, "DIALOG_HOME": str(home), "DIALOG_WORKERS": str(workers)}
    env |= {"DIALOG_RATE_LIMIT_PER_MINUTE": "0", "DIALOG_HISTORY_MAX_TURNS": "10000"}
    process = subprocess.Popen(
        [str(BIN / "dialog"), "serve", "--port", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=(home / "serve.log").open("w"),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("dialog serve did not start")


class Probe:
    def __init__(self, url: str, users: int) -> None:
        self.url = url
        self.users = [f"crash-user-{n}" for n in range(users)]
        self.acknowledged: dict[str, list[str]] = {user: [] for user in self.users}
        self.statuses: collections.Counter[str] = collections.Counter()
        self.ok_times: dict[str, list[float]] = {user: [] for user in self.users}
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def user_loop(self, user: str) -> None:
        with httpx.Client(timeout=30) as client:
            n = 0
            while not self.stop.is_set():
                text = f"message {n} from {user}"
                try:
                    status = str(
                        client.post(f"{self.url}/v1/chat", json={"user_id": user, "text": text}).status_code
                    )
                except httpx.TransportError:
                    status = "connection error"
                with self.lock:
                    self.statuses[status] += 1
                    if status == "200":
                        self.acknowledged[user].append(text)
                        self.ok_times[user].append(time.monotonic())
                if status == "200":
                    n += 1
                else:
                    time.sleep(0.1)

    def recovery(self, moment: float) -> tuple[float, float] | None:
        """Seconds from `moment` to the first acknowledged turn of any user, and of every user."""
        with self.lock:
            firsts = [min((t for t in times if t > moment), default=None) for times in self.ok_times.values()]
        if None in firsts:
            return None
        return min(firsts) - moment, max(firsts) - moment


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--crashes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="dialog-crash-"))
    process, url = start_serve(home, args.workers)
    probe = Probe(url, args.users)
    threads = [threading.Thread(target=probe.user_loop, args=(user,), daemon=True) for user in probe.users]
    for thread in threads:
        thread.start()
    server = EmbeddedServer(home)
    crashes: list[float] = []
    try:
        interval = args.seconds / (args.crashes + 1)
        for _ in range(args.crashes):
            time.sleep(interval)
            pid = server.pid()
            os.kill(pid, signal.SIGKILL)
            crashes.append(time.monotonic())
            while is_redis_process(pid):
                time.sleep(0.01)
        time.sleep(interval)
    finally:
        probe.stop.set()
        for thread in threads:
            thread.join(timeout=35)

    lost = 0
    with httpx.Client(timeout=30) as client:
        for user, sent in probe.acknowledged.items():
            stored = {turn["user"] for turn in client.get(f"{url}/v1/users/{user}/state").json()["history"]}
            lost += sum(text not in stored for text in sent)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    log = (home / "serve.log").read_text()
    server.stop()

    acknowledged = sum(len(sent) for sent in probe.acknowledged.values())
    print(f"{args.users} users, {args.workers} workers, {args.seconds:g} s, {args.crashes} kill -9s")
    for n, moment in enumerate(crashes, 1):
        recovered = probe.recovery(moment)
        if recovered is None:
            print(f"  crash {n}: some users never got an answer again")
        else:
            first, every = recovered
            print(f"  crash {n}: first acknowledged turn {first:.2f} s after, every user's {every:.2f} s")
    print(f"  answers by status: {dict(sorted(probe.statuses.items()))}")
    print(f"  acknowledged turns {acknowledged}, lost {lost}")
    print(f"  supervisor restarts logged: {log.count('the embedded server is up again')}")
    print(f"  dialog serve exit code on SIGTERM: {process.returncode}")


if __name__ == "__main__":
    main()
