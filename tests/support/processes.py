"""Running `liaison` as a real process in tests: the command line, free ports, waiting."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

LIAISON = [sys.executable, "-m", "scheduler.cli.main"]


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Wait until ``condition()`` holds, at most ``timeout`` seconds (polls; no fixed sleep)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        if condition():
            return True
        pause.wait(0.05)
    return condition()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`liaison ARGS` as a process with ``env`` (in ``cwd``, default this process's), output
    captured (bounded by a timeout)."""
    return subprocess.run(
        [*LIAISON, *args], env=env, capture_output=True, text=True, timeout=120, cwd=cwd
    )
