"""The API's real entry point, `gunicorn --config gunicorn.conf.py 'api:create_app()'`, as a subprocess
on a free port of 127.0.0.1, for the tests that break it or its database on purpose."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_pids(master: int) -> set[int]:
    """The pids of the gunicorn master's worker processes."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def start_gunicorn(
    app_spec: str, port: int, env: dict[str, str], log: Path | None = None
) -> subprocess.Popen:
    """``gunicorn --config gunicorn.conf.py --bind 127.0.0.1:<port> <app_spec>`` from the repository root
    with exactly ``env``, so every app runs with the project's gunicorn settings. Its stderr is appended
    to ``log`` if given."""
    with open(log, "ab") if log else open(os.devnull, "wb") as stderr:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                app_spec,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


@contextmanager
def running_api(env: dict[str, str], log: Path | None = None) -> Iterator[tuple[subprocess.Popen, str]]:
    """The API with ``env`` on top of this process's environment, up once /healthz answers; yields
    (master process, base URL) and stops it on exit."""
    port = free_port()
    server = start_gunicorn("api:create_app()", port, {**os.environ, **env}, log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(base + "/healthz", timeout=3).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        yield server, base
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
