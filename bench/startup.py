"""Start-up time: from process start to the agent's first reply, phase by phase.

    .venv/bin/python bench/startup.py --home DIR [--runs 3] [--top 12] [--message "hi, how are you?"]

Each run is a fresh Python process (cold imports, nothing loaded), timed in phases: `import
dialog.agent`, `Agent.from_settings()` (services, then each component's `build(parts)`, timed around
the call as from_settings makes it), `warm_up()` and the first `respond()`. "first reply" counts from
the moment the process was spawned (interpreter start included). The median of the runs is printed
with the load average (1 min) before and after each figure: the machine may be shared.

One more run under `python -X importtime` (not counted: it is slower) lists the packages whose imports
cost most, before and after `import dialog.agent` returns.

The data dir is one that `dialog setup` prepared; its embedded server is started first (it outlives
the processes, as it does in use), so the runs measure the agent, not the server's start.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

MARKER = "startup-bench: dialog.agent imported"
PHASES = ("interpreter", "import", "services", "build", "warm_up", "respond", "first_reply")


# ---------------------------------------------------------------------- the measured process


def child(message: str, spawned: float) -> None:
    """Runs in the fresh process: one start, its phases as one JSON line on stdout."""
    began = time.time()
    started = time.perf_counter()
    import dialog.agent  # noqa: F401  (the import is what is measured)

    imported = time.perf_counter()
    print(MARKER, file=sys.stderr, flush=True)
    from dialog.agent import Agent
    from dialog_core.component import AgentParts, BaseComponent, Component, DoctorLine, load_components
    from dialog_core.settings import Settings

    builds: dict[str, float] = {}

    class Timed(BaseComponent):
        """A component whose `build` is timed (what the agent asks of it besides is the component's)."""

        def __init__(self, component: Component) -> None:
            self.component, self.name, self.order = component, component.name, component.order

        def build(self, parts: AgentParts) -> None:
            at = time.perf_counter()
            self.component.build(parts)
            builds[self.name] = time.perf_counter() - at

        def describe(self) -> list[DoctorLine]:
            return self.component.describe()

    components, broken = load_components()
    if broken:
        print(f"broken components: {broken}", file=sys.stderr)
    at = time.perf_counter()
    agent = Agent.from_settings(Settings(), components=[Timed(c) for c in components])
    built = time.perf_counter()
    agent.warm_up()
    warm = time.perf_counter()
    reply = agent.respond("startup-bench", message)
    answered = time.perf_counter()
    replied_at = time.time()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    agent.close()
    phases = {
        "interpreter": began - spawned,
        "import": imported - started,
        "services": (built - at) - sum(builds.values()),
        "build": sum(builds.values()),
        "warm_up": warm - built,
        "respond": answered - warm,
        "first_reply": replied_at - spawned,
    }
    cpu = usage.ru_utime + usage.ru_stime  # every thread's, to the first reply
    result = {"phases": phases, "builds": builds, "cpu": cpu, "reply": reply.text, "route": reply.route}
    print(json.dumps(result, ensure_ascii=False), flush=True)


# ---------------------------------------------------------------------- the runner


def run_once(home: Path, message: str, importtime: bool = False) -> tuple[dict, str, tuple[float, float]]:
    """One start in a fresh process: its result, its stderr, and the load average before and after."""
    before = os.getloadavg()[0]
    spawned = time.time()
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), __file__,
               "--child", "--message", message, "--spawned", repr(spawned)]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "DIALOG_HOME": str(home)}, check=False
    )
    after = os.getloadavg()[0]
    if done.returncode != 0:
        sys.exit(f"the measured process failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr, (before, after)


def import_offenders(stderr: str, top: int) -> list[tuple[str, float, float]]:
    """(top-level package, seconds imported by `import dialog.agent`, seconds imported after it),
    from -X importtime's self times, the costliest first."""
    spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    phase = 0
    for line in stderr.splitlines():
        if line == MARKER:
            phase = 1
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = (part.strip() for part in line[len("import time:") :].split("|"))
        spent[name.split(".")[0]][phase] += int(self_us) / 1e6
    ranked = sorted(spent.items(), key=lambda item: -sum(item[1]))
    return [(name, agent, later) for name, (agent, later) in ranked[:top]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a data dir `dialog setup` prepared")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--top", type=int, default=12, help="packages listed from -X importtime")
    parser.add_argument("--message", default="hi, how are you?", help="the first user message")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--spawned", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.message, args.spawned)
        return
    if args.home is None:
        parser.error("--home is required")

    from dialog.runtime.embedded import EmbeddedServer

    EmbeddedServer(args.home).ensure_running()
    print(f"{os.cpu_count()} CPUs; data dir {args.home}; first message {args.message!r}")
    results, loads = [], []
    for number in range(1, args.runs + 1):
        result, _, load = run_once(args.home, args.message)
        results.append(result)
        loads.append(load)
        builds = ", ".join(f"{name} {s:.2f}" for name, s in result["builds"].items())
        print(f"run {number}: first reply {result['phases']['first_reply']:.2f} s, CPU {result['cpu']:.2f} s "
              f"(load {load[0]:.2f} -> {load[1]:.2f}); builds: {builds}")  # fmt: skip
    print(f"reply: {results[-1]['reply']!r} ({results[-1]['route']})")

    names = list(results[0]["builds"])
    print(f"\n{'phase':<26}{'median s':>10}   {'runs':<28}")
    for phase in PHASES:
        values = [r["phases"][phase] for r in results]
        row = "  ".join(f"{v:.2f}" for v in values)
        print(f"{phase:<26}{statistics.median(values):>10.2f}   {row}")
        if phase == "build":
            for name in names:
                values = [r["builds"].get(name, 0.0) for r in results]
                row = "  ".join(f"{v:.2f}" for v in values)
                print(f"{'  ' + name:<26}{statistics.median(values):>10.2f}   {row}")
    median_load = statistics.median(sum(load) / 2 for load in loads)
    first = statistics.median(r["phases"]["first_reply"] for r in results)
    cpu = statistics.median(r["cpu"] for r in results)
    print(f"\nto the first reply: median {first:.2f} s (CPU time {cpu:.2f} s) over {len(results)} runs "
          f"(load average 1 min: median {median_load:.2f}, {os.cpu_count()} CPUs)")  # fmt: skip

    result, stderr, load = run_once(args.home, args.message, importtime=True)
    print(f"\n-X importtime run (load {load[0]:.2f} -> {load[1]:.2f}): costliest packages, self time in s")
    print(f"{'package':<28}{'by dialog.agent':>16}{'later':>10}")
    for name, agent, later in import_offenders(stderr, args.top):
        print(f"{name:<28}{agent:>16.2f}{later:>10.2f}")


if __name__ == "__main__":
    main()
