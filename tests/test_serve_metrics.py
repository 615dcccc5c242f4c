"""`dialog serve`'s metrics folder (`<home>/run/metrics-<pid>`): removed on a clean stop, and a killed
server's folder removed by the next start, in a real `dialog serve` process."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx

from tests.conftest import ServeProcess


def dead_pid() -> int:
    """The pid of a process that has exited."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def test_a_stop_leaves_no_metrics_folder_and_a_start_removes_those_of_dead_servers(own_home: Path) -> None:
    run = own_home / "run"
    stale = run / f"metrics-{dead_pid()}"  # a server killed before it could clean up
    stale.mkdir(parents=True)
    (stale / "counter_1234.db").write_bytes(b"\0" * 16)
    alive = run / f"metrics-{os.getpid()}"  # a folder whose process still runs: another server's
    alive.mkdir()
    served = ServeProcess({"DIALOG_HOME": str(own_home), "DIALOG_WORKERS": "1"})
    own = run / f"metrics-{served.process.pid}"
    try:
        assert httpx.get(f"{served.url}/healthz", timeout=30).status_code == 200
        assert not stale.exists() and alive.is_dir() and own.is_dir()
    finally:
        served.process.send_signal(signal.SIGINT)  # Ctrl-C (SIGTERM: tests/test_recovery.py)
        output, _ = served.process.communicate(timeout=60)
    assert served.process.returncode == 0, output
    assert sorted(run.glob("metrics-*")) == [alive]
