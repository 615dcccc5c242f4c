"""`dialog serve`: uvicorn with N workers, JSON logs, shared metrics and a graceful shutdown.

On SIGTERM or Ctrl-C uvicorn stops taking connections, lets in-flight requests finish (up to
SHUTDOWN_GRACE_S), then runs the app's shutdown, which waits for WeChat turns still running.
With the embedded default, the serving process also restarts the embedded server if it dies.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path
from types import FrameType

from dialog.channels.logs import uvicorn_log_config
from dialog.channels.wechat.protocol import WeChatConfig
from dialog.runtime.embedded import EmbeddedServer
from dialog.runtime.supervisor import EmbeddedSupervisor
from dialog_core.settings import Settings

SHUTDOWN_GRACE_S = 30
# uvicorn kills a worker that does not answer its supervisor's ping in time (5 s by default); a
# worker importing torch on a busy machine can take longer than that, and would be killed in a loop.
WORKER_HEALTHCHECK_S = 30


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    WeChatConfig.from_settings(settings)  # settings mistakes: one sentence now, not one per worker
    supervisor = None
    if settings.embedded:  # start it once here, before the workers race for it; restart it if it dies
        server = EmbeddedServer(settings.home)
        server.ensure_running()
        supervisor = EmbeddedSupervisor(server, settings.key_prefix)
        supervisor.start()
    metrics_dir = _shared_metrics_dir(settings, workers)
    # After a graceful shutdown uvicorn raises the signal it caught again, under the handler it
    # found: with the default one a single in-process worker died of it (exit -15) before the
    # cleanup below ran. This handler turns it into a normal exit, as with several workers.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        uvicorn.run(
            "dialog.channels.http:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
            log_config=uvicorn_log_config(),
            access_log=False,
        )
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        if supervisor:
            supervisor.stop()


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _shared_metrics_dir(settings: Settings, workers: int) -> Path | None:
    """A fresh folder for prometheus-client's multiprocess mode, named in the environment the workers
    inherit. It must be set before prometheus-client is imported; a single in-process worker that
    finds it already imported keeps its own registry instead."""
    _remove_stale_metrics_dirs(settings.home / "run")
    if workers == 1 and "prometheus_client" in sys.modules:
        return None
    path = settings.home / "run" / f"metrics-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def _remove_stale_metrics_dirs(run_dir: Path) -> None:
    """The metrics folders of `dialog serve` processes that are gone. A stop removes its own folder;
    one that was killed (SIGKILL, a closed terminal, a crash) leaves it behind."""
    for path in run_dir.glob("metrics-*"):
        pid = path.name.removeprefix("metrics-")
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # it exists, and belongs to another user
        pass
    return True
