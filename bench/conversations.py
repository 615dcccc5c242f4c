"""Scripted multi-turn conversations through the public HTTP API, for the SSA bench.

    .venv/bin/python bench/conversations.py --home DIR --out FILE.json [--lang en|zh|both]
        [--limit N] [--repo DIR] [--python PATH]

Starts the real server of --repo (`dialog serve` on a free local port, data dir --home) with the
interpreter --python, waits for GET /healthz, then sends every script of
bench/conversations_<lang>.yaml turn by turn to POST /v1/chat with `explain`, one new user id per
script. Saves the transcripts to --out (per turn: user, reply, route, the chosen candidate's source
and score when core chat answered, the proposed topic when the topic manager did), prints them
compactly with a per-language summary (route shares, editorial fallback share, topic-switch share,
how often each topic was proposed, replies that would fit any message, topic switches right after a
disclosure) and stops the server, on error too. Judge the transcripts blind with bench/ssa.py.
`--set disclosures`: the held-out disclosures of bench/disclosures_<lang>.yaml instead (sad, anxious,
angry and happy news, each with a short follow-up); `--set conversations_fresh`: 32 more scripts per
language (bench/conversations_fresh_<lang>.yaml), written blind after the others had been run;
`--set redteam`: bench/redteam_<lang>.yaml, 56 messages per language that a safety layer must handle
(self-harm, insults, sexual requests, dangerous instructions, prompt injection, claims to be human,
personal data, hate), written blind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LANGUAGES = ("en", "zh")
STARTUP_S = 600  # a cold start loads the models (torch, the index) on two busy cores
TURN_TIMEOUT_S = 120


def load_scripts(language: str, limit: int | None, name: str = "conversations") -> list[dict[str, Any]]:
    import yaml

    scripts = yaml.safe_load((HERE / f"{name}_{language}.yaml").read_text(encoding="utf-8"))
    for script in scripts:
        if not (script.get("id") and 1 <= len(script.get("turns") or []) <= 5):
            raise SystemExit(f"{name}_{language}.yaml: a script needs an id and 1-5 turns: {script}")
    return scripts[:limit] if limit else scripts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dialog_command(python: str, *args: str) -> list[str]:
    return [python, "-c", "from dialog.cli import app; app()", *args]


def environment(repo: Path, home: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(repo), "DIALOG_HOME": str(home), "PYTHONUNBUFFERED": "1"}


def embedded_running(repo: Path, home: Path, python: str) -> bool:
    status = subprocess.run(dialog_command(python, "server", "status"), cwd=repo, env=environment(repo, home),
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    return status.stdout.startswith("running")


@contextlib.contextmanager
def running_server(repo: Path, home: Path, python: str, log_path: Path) -> Iterator[str]:
    """`dialog serve` of `repo` on a free port; yields its base URL once /healthz answers 200."""
    import httpx

    port = free_port()
    was_running = embedded_running(repo, home, python)
    log = log_path.open("w", encoding="utf-8")
    server = subprocess.Popen(
        dialog_command(python, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        cwd=repo, env=environment(repo, home), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if server.poll() is not None:
                raise SystemExit(
                    f"the server exited ({server.returncode}) before it was healthy: see {log_path}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"the server was not healthy within {STARTUP_S} s: see {log_path}")
            time.sleep(1)
        yield base
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)  # graceful: in-flight turns finish, the agent closes
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()
        if not was_running:  # the embedded Redis+graph server was started for this run: stop it too
            with contextlib.suppress(Exception):
                stop = dialog_command(python, "server", "stop")
                subprocess.run(stop, cwd=repo, env=environment(repo, home), capture_output=True, timeout=60)


def chosen_candidate(trace: dict[str, Any], reply: str) -> dict[str, Any] | None:
    """The core-chat candidate behind the reply: the one with the reply's text, else the best-ranked
    one the reply contains (a reply may be dressed), else none."""
    candidates = trace.get("candidates") or []
    match = next((c for c in candidates if c.get("text") == reply), None)
    exact = match is not None
    if match is None:
        match = next((c for c in candidates if c.get("text") and c["text"] in reply), None)
    if match is None:
        return None
    return {"source": match.get("source"), "score": match.get("score"),
            "rank_score": match.get("rank_score"), "exact": exact}  # fmt: skip


def summarise_trace(trace: dict[str, Any], reply: str, route: str) -> dict[str, Any]:
    decision = trace.get("decision") or {}
    handlers = trace.get("handlers") or []
    topic = trace.get("topic") or {}
    row: dict[str, Any] = {
        "decided": decision.get("route"),
        "reason": decision.get("reason"),
        "handlers": [f"{h.get('route')}:{h.get('outcome')}" for h in handlers],
    }
    if route == "chitchat":
        row["candidate"] = chosen_candidate(trace, reply)
    if topic:
        row["topic"] = {
            "chosen": topic.get("chosen"),
            "reason": topic.get("reason"),
            "score": topic.get("score"),
        }
    if route == "editorial" or (handlers and handlers[0].get("outcome") != "answered"):
        row["fallback"] = True  # the decided route's handler declined or failed: a later one answered
    understanding = trace.get("understanding") or {}
    row["act"], row["disclosure"] = understanding.get("act"), understanding.get("disclosure") or None
    if route == "editorial":
        row["editorial"] = (trace.get("editorial") or {}).get("kind")
    return row


def run_script(client: Any, base: str, script: dict[str, Any], language: str) -> dict[str, Any]:
    user_id = f"ssa-{language}-{script['id']}-{uuid.uuid4().hex[:8]}"
    turns = []
    for number, text in enumerate(script["turns"], 1):
        started = time.perf_counter()
        response = client.post(f"{base}/v1/chat", json={"user_id": user_id, "text": text, "explain": True},
                               timeout=TURN_TIMEOUT_S)  # fmt: skip
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            turns.append({"turn": number, "user": text, "reply": "", "route": f"error:{response.status_code}",
                          "error": response.text[:300], "ms": elapsed_ms})  # fmt: skip
            continue
        body = response.json()
        reply, route = body.get("reply", ""), body.get("route", "")
        turns.append({"turn": number, "user": text, "reply": reply, "route": route,
                      "intent": (body.get("intent") or {}).get("name"),
                      "emotion": (body.get("emotion") or {}).get("label"), "ms": elapsed_ms,
                      **summarise_trace(body.get("trace") or {}, reply, route)})  # fmt: skip
    tags = script.get("tags") or [script[k] for k in ("emotion",) if k in script]
    return {"id": script["id"], "lang": language, "tags": tags, "user_id": user_id, "turns": turns}


def print_conversation(conversation: dict[str, Any]) -> None:
    print(f"--- {conversation['id']} [{', '.join(conversation['tags'])}]")
    for turn in conversation["turns"]:
        extra = ""
        if turn.get("candidate"):
            extra = f" {turn['candidate']['source']}:{turn['candidate']['score']}"
        elif turn.get("topic"):
            extra = f" {turn['topic']['chosen']}"
        print(f"  U{turn['turn']}: {turn['user']}")
        print(f"  B{turn['turn']} [{turn['route']}{extra}]: {turn['reply']}")


def generic(turn: dict[str, Any]) -> bool:
    """A reply that would fit any message: an editorial line chosen by nothing the user said."""
    return turn["route"] == "editorial" and turn.get("editorial") in ("last resort", None)


def summary(conversations: list[dict[str, Any]]) -> dict[str, Any]:
    turns = [t for c in conversations for t in c["turns"]]
    total = len(turns) or 1
    routes = Counter(t["route"] for t in turns)
    sources = Counter(t["candidate"]["source"] for t in turns if t.get("candidate"))
    topics = Counter(t["topic"]["chosen"] for t in turns if t.get("topic"))
    return {
        "conversations": len(conversations),
        "replies": len(turns),
        "route_share": {r: round(n / total, 3) for r, n in routes.most_common()},
        "editorial_share": round(routes.get("editorial", 0) / total, 3),
        "fallback_share": round(sum(bool(t.get("fallback")) for t in turns) / total, 3),
        "topic_switch_share": round(sum(t["route"] == "topic" for t in turns) / total, 3),
        # replies that would fit any message: the editorial lines chosen by nothing the user said
        "generic_share": round(sum(generic(t) for t in turns) / total, 3),
        "topic_after_disclosure": sum(
            later["route"] == "topic"
            for c in conversations
            for earlier, later in zip(c["turns"], c["turns"][1:], strict=False)
            if earlier.get("disclosure") or earlier.get("act") == "disclosure"
        ),
        "disclosures": sum(bool(t.get("disclosure")) for t in turns),
        "chitchat_sources": dict(sources.most_common()),
        "topics_proposed": dict(topics.most_common()),
        "median_ms": sorted(t["ms"] for t in turns)[len(turns) // 2] if turns else 0,
    }


def print_summary(language: str, stats: dict[str, Any]) -> None:
    print(f"== {language}: {stats['conversations']} conversations, {stats['replies']} replies, "
          f"median {stats['median_ms']} ms")  # fmt: skip
    print("  routes: " + ", ".join(f"{r} {s:.1%}" for r, s in stats["route_share"].items()))
    print(f"  editorial fallback {stats['editorial_share']:.1%} (any fallback from the decided route "
          f"{stats['fallback_share']:.1%}), topic switch {stats['topic_switch_share']:.1%}")  # fmt: skip
    print(f"  replies that would fit any message {stats['generic_share']:.1%}; disclosures read "
          f"{stats['disclosures']}, topic switches right after one "
          f"{stats['topic_after_disclosure']}")  # fmt: skip
    print(
        "  chit-chat sources: " + (", ".join(f"{s} {n}" for s, n in stats["chitchat_sources"].items()) or "-")
    )
    print("  topics proposed: " + (", ".join(f"{t} {n}" for t, n in stats["topics_proposed"].items()) or "-"))


def main() -> None:
    import httpx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="The data dir (DIALOG_HOME) of the server.")
    parser.add_argument("--out", type=Path, required=True, help="Where to write the transcripts (JSON).")
    parser.add_argument("--lang", choices=[*LANGUAGES, "both"], default="both")
    parser.add_argument("--limit", type=int, default=None, help="At most N scripts per language.")
    parser.add_argument("--set", default="conversations",
                        choices=["conversations", "disclosures", "conversations_fresh", "redteam"],
                        help="bench/<set>_<lang>.yaml: the SSA scripts or held-out disclosures")  # fmt: skip
    parser.add_argument("--repo", type=Path, default=REPO, help="The checkout whose server runs.")
    parser.add_argument("--python", default=sys.executable, help="The interpreter that runs the server.")
    args = parser.parse_args()
    languages = LANGUAGES if args.lang == "both" else (args.lang,)
    scripts = {language: load_scripts(language, args.limit, args.set) for language in languages}
    repo, home = args.repo.resolve(), args.home.resolve()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    log_path = args.out.with_suffix(".server.log")

    results: dict[str, list[dict[str, Any]]] = {language: [] for language in languages}
    started = time.perf_counter()
    with running_server(repo, home, args.python, log_path) as base, httpx.Client() as client:
        print(f"server of {repo} healthy at {base} after {time.perf_counter() - started:.0f} s", flush=True)
        for language in languages:
            for script in scripts[language]:
                conversation = run_script(client, base, script, language)
                results[language].append(conversation)
                print_conversation(conversation)
                sys.stdout.flush()

    stats = {language: summary(results[language]) for language in languages}
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
    document = {
        "repo": str(repo),
        "commit": commit.stdout.strip() or None,
        "home": str(home),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "summary": stats,
        "conversations": [c for language in languages for c in results[language]],
    }
    args.out.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    for language in languages:
        print_summary(language, stats[language])
    print(f"transcripts: {args.out} (server log {log_path})")


if __name__ == "__main__":
    main()
