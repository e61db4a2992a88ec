"""HTTP load helpers the web benches share: gunicorn on a free loopback port, keep-alive client threads.

``start_gunicorn`` serves leadqual with production settings (DEBUG off) and the bench URLconf
(``bench.api_settings``; pass ``DJANGO_SETTINGS_MODULE`` in ``extra_env`` for another);
``load`` drives it from client threads for a number of seconds and returns requests/s and
p50/p99 latency.
"""

from __future__ import annotations

import http.client
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 16
WORKERS = 4
FLAGS = ("--log-level", "warning", "--timeout", "120")


def db_url(base: str, name: str) -> str:
    """``base`` (a database URL) pointing at database ``name``."""
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(
    *, database_url: str, extra_env: dict[str, str] | None = None, workers: int = WORKERS
) -> tuple[subprocess.Popen, int]:
    """gunicorn with ``workers`` sync workers on a free port, once /healthz answers; returns (process, port)."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.api_settings",
        "DATABASE_URL": database_url,
        "DEBUG": "False",
        "SECRET_KEY": "bench-" + secrets.token_hex(16),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "False",
        "LOG_LEVEL": "WARNING",
        # The bench measures the API, not the throttle's refusal: one user sends everything.
        "API_THROTTLE_USER": "100000000/minute",
        **(extra_env or {}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "leadqual.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}", *FLAGS],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    stop(proc)
    raise RuntimeError("gunicorn did not start")


def stop(proc: subprocess.Popen) -> None:
    """Stop a process started by ``start_gunicorn`` (its own session: the workers go with it)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def load(
    *,
    port: int,
    seconds: float,
    make_request: Callable[[random.Random], tuple[str, str, bytes | None]],
    headers: dict,
    clients: int = CLIENTS,
    check: Callable[[int, bytes], bool] | None = None,
) -> dict[str, float]:
    """``clients`` threads on keep-alive connections for ``seconds``; every answer must be 2xx.

    ``check(status, body)`` may look closer at each answer (a page that is 200 but empty is
    an error too). Returns requests, errors, rps, p50_ms and p99_ms.
    """
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop_at = time.monotonic() + seconds

    def client(index: int) -> None:
        rng = random.Random(index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop_at:
            method, url, body = make_request(rng)
            started = time.perf_counter()
            conn.request(method, url, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            latencies[index].append(time.perf_counter() - started)
            if response.status >= 300 or (check is not None and not check(response.status, data)):
                errors[index] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    flat = sorted(x for per in latencies for x in per)
    return {
        "requests": len(flat),
        "errors": sum(errors),
        "rps": len(flat) / elapsed,
        "p50_ms": 1000 * statistics.median(flat),
        "p99_ms": 1000 * flat[int(0.99 * (len(flat) - 1))],
    }
