"""API benchmark: lead detail and the 50 hottest leads via the API vs plain views; batch event ingest.

``DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadqual python -m bench.api_bench``

Reads run against the leads already in ``leadqual_bench`` (nothing there is reloaded or changed,
apart from one API token for its ``manager`` user). The ingest writes 100,000 events, so it runs
against a scratch database of its own (``leadqual_apibench``, synthetic leads), never the shared one.
Both are served by gunicorn with 4 workers on a free loopback port, driven by 16 client threads.
"""

from __future__ import annotations

import argparse
import http.client
import json
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from bench import ensure_database

ROOT = Path(__file__).resolve().parent.parent
READ_DB = "leadqual_bench"
INGEST_DB = "leadqual_apibench"
CLIENTS = 16
WORKERS = 4
FLAGS = ("--log-level", "warning", "--timeout", "120")


def _db_url(base: str, name: str) -> str:
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_gunicorn(*, database_url: str, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    port = _free_port()
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
        [sys.executable, "-m", "gunicorn", "leadqual.wsgi", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}", *FLAGS],
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
    _stop(proc)
    raise RuntimeError("gunicorn did not start")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _load(
    *, port: int, seconds: float, make_request: Callable[[random.Random], tuple[str, str, bytes | None]], headers: dict
) -> dict[str, float]:
    """CLIENTS threads on keep-alive connections for ``seconds``; every answer must be 2xx."""
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    errors = [0] * CLIENTS
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        rng = random.Random(index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop:
            method, url, body = make_request(rng)
            started = time.perf_counter()
            conn.request(method, url, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            latencies[index].append(time.perf_counter() - started)
            if response.status >= 300:
                errors[index] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
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


# --- reads -----------------------------------------------------------------------------------------


def _read_fixture(url: str) -> tuple[str, list[int]]:
    """The manager's API token (created once) and a sample of scored lead ids, from leadqual_bench."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT id FROM auth_user WHERE username = 'manager'")
        row = cursor.fetchone()
        if row is None:
            raise SystemExit(f"{READ_DB} has no 'manager' user; run python -m bench first")
        user_id = row[0]
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, now(), %s) ON CONFLICT DO NOTHING",
            [secrets.token_hex(20), user_id],
        )
        cursor.execute("SELECT key FROM authtoken_token WHERE user_id = %s", [user_id])
        token = cursor.fetchone()[0]
        cursor.execute("SELECT lead_id FROM scoring_leadscore TABLESAMPLE SYSTEM (1) LIMIT 2000")
        ids = [r[0] for r in cursor.fetchall()]
    conn.close()
    return token, ids


def bench_reads(*, base_url: str, seconds: float) -> list[dict]:
    url = _db_url(base_url, READ_DB)
    token, ids = _read_fixture(url)
    proc, port = _start_gunicorn(database_url=url)
    rows = []
    try:
        auth = {"Authorization": f"Token {token}", "Accept": "application/json"}
        plain = {"Accept": "application/json"}
        scenarios = [
            ("detail", "api", lambda r: ("GET", f"/api/v1/leads/{r.choice(ids)}/", None), auth),
            ("detail", "plain", lambda r: ("GET", f"/plain/leads/{r.choice(ids)}/", None), plain),
            ("hottest 50", "api", lambda r: ("GET", "/api/v1/leads/?ordering=-score&page_size=50", None), auth),
            ("hottest 50", "plain", lambda r: ("GET", "/plain/hottest/", None), plain),
        ]
        for name, kind, make, headers in scenarios:
            _load(port=port, seconds=2, make_request=make, headers=headers)  # warm up
            result = _load(port=port, seconds=seconds, make_request=make, headers=headers)
            rows.append({"scenario": name, "via": kind, **result})
    finally:
        _stop(proc)
    return rows


# --- ingest ------------------------------------------------------------------------------------------


def _prepare_ingest_db(base_url: str, leads: int) -> tuple[str, list[int]]:
    """A scratch database with synthetic leads and a manager token (the shared bench db stays untouched)."""
    url = ensure_database(base_url, INGEST_DB)
    code = f"""
import django, json
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, interactive=False)
from leads.models import Lead, EngagementEvent
if Lead.objects.count() < {leads}:
    from bench.dataset import load_synthetic
    load_synthetic(leads={leads})
EngagementEvent.objects.filter(client_event_id__startswith="apibench-").delete()
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from leads.roles import Role
from leads.services import assign_role
user, _ = get_user_model().objects.get_or_create(username="apibench-manager")
assign_role(user=user, role=Role.SALES_MANAGER)
token, _ = Token.objects.get_or_create(user=user)
print(json.dumps({{"token": token.key, "ids": list(Lead.objects.values_list("id", flat=True)[:{leads}])}}))
"""
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "leadqual.settings"}
    env.pop("REDIS_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return data["token"], data["ids"]


def bench_ingest(*, base_url: str, events: int, leads: int, batch: int = 1000) -> dict:
    token, ids = _prepare_ingest_db(base_url, leads)
    # Score tasks go to an in-memory broker: this measures the ingest path, and no worker of
    # another run ever receives lead ids from this scratch database.
    proc, port = _start_gunicorn(
        database_url=_db_url(base_url, INGEST_DB), extra_env={"CELERY_BROKER_URL": "memory://", "REDIS_URL": ""}
    )
    now = datetime.now(UTC)
    batches = []
    rng = random.Random(7)
    kinds = ["email_open", "email_click", "page_visit", "webinar_attended", "content_download"]
    for b in range(events // batch):
        items = [
            {
                "lead": rng.choice(ids),
                "kind": rng.choice(kinds),
                "occurred_at": (now - timedelta(minutes=rng.randint(1, 40000))).isoformat(),
                "client_event_id": f"apibench-{b}-{i}",
            }
            for i in range(batch)
        ]
        batches.append(json.dumps({"events": items}).encode())
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    lock = threading.Lock()
    queue = list(enumerate(batches))
    latencies: list[float] = []
    created = [0]

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                if not queue:
                    break
                _index, body = queue.pop()
            started = time.perf_counter()
            conn.request("POST", "/api/v1/events/", body=body, headers=headers)
            response = conn.getresponse()
            payload = json.loads(response.read())
            if response.status != 201:
                raise RuntimeError(payload)
            with lock:
                latencies.append(time.perf_counter() - started)
                created[0] += payload["created"]

    try:
        began = time.perf_counter()
        threads = [threading.Thread(target=sender) for _ in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
    finally:
        _stop(proc)
    latencies.sort()
    return {
        "events": events,
        "created": created[0],
        "seconds": elapsed,
        "events_per_s": events / elapsed,
        "batch_p50_ms": 1000 * statistics.median(latencies),
        "batch_p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api_bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per read scenario")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--ingest-leads", type=int, default=20_000)
    parser.add_argument("--skip-ingest", action="store_true")
    args = parser.parse_args(argv)
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        print("bench.api_bench: DATABASE_URL must point at PostgreSQL", file=sys.stderr)
        return 2
    rows = bench_reads(base_url=base, seconds=args.seconds)
    print(f"reads: gunicorn {WORKERS} workers, {CLIENTS} clients, {args.seconds:.0f} s each, db {READ_DB}")
    print(f"{'scenario':<12}{'via':<7}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for row in rows:
        print(
            f"{row['scenario']:<12}{row['via']:<7}{row['rps']:>9.0f}{row['p50_ms']:>9.1f}"
            f"{row['p99_ms']:>9.1f}{row['errors']:>8}"
        )
    for name in ("detail", "hottest 50"):
        api, plain = (next(r for r in rows if r["scenario"] == name and r["via"] == v) for v in ("api", "plain"))
        print(f"{name}: API/plain throughput {api['rps'] / plain['rps']:.2f}")
    if not args.skip_ingest:
        result = bench_ingest(base_url=base, events=args.events, leads=args.ingest_leads)
        print(
            f"ingest: {result['events']} events in batches of 1,000 by {WORKERS} senders: "
            f"{result['events_per_s']:.0f} events/s ({result['seconds']:.1f} s), created {result['created']}, "
            f"batch p50 {result['batch_p50_ms']:.0f} ms, p99 {result['batch_p99_ms']:.0f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
