"""API benchmark: lead detail and the 50 hottest leads via the API vs plain views; batch event ingest.

``DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadqual python -m bench.api_bench``

Reads run against the leads already in ``leadqual_bench`` (nothing there is reloaded or changed,
apart from one API token for its ``manager`` user). The ingest writes 100,000 events, so it runs
against a scratch database of its own (``leadqual_apibench``, synthetic leads), never the shared one.
With REDIS_URL set, a real Celery worker on a private queue scores the ingest's changes as they come,
and the bench also reports how long after the last batch every affected lead's score is current.
Both are served by gunicorn with 4 workers on a free loopback port, driven by 16 client threads.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2

from bench import ensure_database, report
from bench.http_load import CLIENTS, WORKERS, db_url, free_port, load, start_gunicorn, stop

ROOT = Path(__file__).resolve().parent.parent
READ_DB = "leadqual_bench"
INGEST_DB = "leadqual_apibench"


# The web helpers live in bench.http_load (the pages bench uses them too); these names stay for callers.
_db_url = db_url
_free_port = free_port
_start_gunicorn = start_gunicorn
_stop = stop
_load = load


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


def _prepare_ingest_db(base_url: str, leads: int, db: str = INGEST_DB) -> tuple[str, list[int]]:
    """A scratch database with synthetic leads and a manager token (the shared bench db stays untouched)."""
    url = ensure_database(base_url, db)
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


def _start_worker(*, database_url: str, queue: str) -> tuple[subprocess.Popen, Path]:
    """A Celery worker (production settings, 2 processes) on a private queue pair, against ``database_url``."""
    log = Path(tempfile.mkstemp(prefix="apibench-worker-", suffix=".log")[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "leadqual", "worker", "-Q", f"{queue},{queue}-routing",
         "-c", "2", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
         "-n", f"apibench-{queue}@%h"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "CELERY_QUEUE": queue,
             "LEADQUAL_ROUTING_QUEUE": f"{queue}-routing", "DEBUG": "False", "ALLOWED_HOSTS": "localhost",
             "SECRET_KEY": "bench-" + secrets.token_hex(16), "SECURE_SSL_REDIRECT": "False"},
        stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise RuntimeError(f"worker did not start; see {log}")
        time.sleep(0.2)
    return proc, log


def _delete_queues(queue: str) -> None:
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    for name in (queue, f"{queue}-routing"):
        client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")


def _stale_scores(database_url: str, ids: list[int]) -> int:
    """Affected leads whose stored score is missing or older than the lead."""
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM leads_lead l LEFT JOIN scoring_leadscore s ON s.lead_id = l.id "
            "WHERE l.id = ANY(%s) AND (s.lead_id IS NULL OR s.lead_version < l.version)",
            [ids],
        )
        return cur.fetchone()[0]


def bench_ingest(
    *, base_url: str, events: int, leads: int, batch: int = 1000, db: str = INGEST_DB, score_lag: bool = True
) -> dict:
    """Events/s through the batch endpoint; with ``score_lag`` (needs REDIS_URL) a real worker consumes the
    score tasks meanwhile, and the seconds from the end of the ingest until every affected lead's stored
    score has the lead's version are measured too."""
    token, ids = _prepare_ingest_db(base_url, leads, db)
    database_url = _db_url(base_url, db)
    score_lag = score_lag and bool(os.environ.get("REDIS_URL"))
    worker = celery_queue = None
    if score_lag:
        celery_queue = f"apibench-{secrets.token_hex(4)}"
        worker, worker_log = _start_worker(database_url=database_url, queue=celery_queue)
        broker_env = {"CELERY_QUEUE": celery_queue, "LEADQUAL_ROUTING_QUEUE": f"{celery_queue}-routing"}
    else:
        # Score tasks go to an in-memory broker: this measures the ingest path alone, and no
        # worker of another run ever receives lead ids from this scratch database.
        broker_env = {"CELERY_BROKER_URL": "memory://", "REDIS_URL": ""}
    try:
        proc, port = _start_gunicorn(database_url=database_url, extra_env=broker_env)
    except Exception:
        if worker is not None:
            _stop(worker)
        raise
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

    affected = sorted({item["lead"] for body in batches for item in json.loads(body)["events"]})
    lag: dict = {}
    try:
        began = time.perf_counter()
        threads = [threading.Thread(target=sender) for _ in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ended = time.perf_counter()
        elapsed = ended - began
        if worker is not None:
            # From the last batch's answer until every affected lead's score is current.
            backlog = stale = _stale_scores(database_url, affected)
            while stale > 0:
                if time.perf_counter() - ended > 600:
                    raise RuntimeError(f"{stale} scores still stale after 600 s; see {worker_log}")
                time.sleep(0.05)
                stale = _stale_scores(database_url, affected)
            lag = {"score_lag_s": time.perf_counter() - ended, "stale_at_end": backlog}
    finally:
        _stop(proc)
        if worker is not None:
            _stop(worker)
            _delete_queues(celery_queue)
    latencies.sort()
    return {
        "events": events,
        "created": created[0],
        "seconds": elapsed,
        "events_per_s": events / elapsed,
        "batch_p50_ms": 1000 * statistics.median(latencies),
        "batch_p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "affected_leads": len(affected),
        "worker": worker is not None,
        **lag,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api_bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per read scenario")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--ingest-leads", type=int, default=20_000)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-reads", action="store_true")
    parser.add_argument("--ingest-db", default=INGEST_DB, help="scratch database of the ingest")
    parser.add_argument(
        "--no-score-lag", action="store_true", help="no worker: score tasks go nowhere (ingest path alone)"
    )
    args = parser.parse_args(argv)
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        print("bench.api_bench: DATABASE_URL must point at PostgreSQL", file=sys.stderr)
        return 2
    figures: list[dict] = []
    if not args.skip_reads:
        rows = bench_reads(base_url=base, seconds=args.seconds)
        print(f"reads: gunicorn {WORKERS} workers, {CLIENTS} clients, {args.seconds:.0f} s each, db {READ_DB}")
        print(f"{'scenario':<12}{'via':<7}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
        for row in rows:
            print(
                f"{row['scenario']:<12}{row['via']:<7}{row['rps']:>9.0f}{row['p50_ms']:>9.1f}"
                f"{row['p99_ms']:>9.1f}{row['errors']:>8}"
            )
        for name, p99_goal in (("detail", 35), ("hottest 50", 65)):
            api, plain = (next(r for r in rows if r["scenario"] == name and r["via"] == v) for v in ("api", "plain"))
            print(f"{name}: API/plain throughput {api['rps'] / plain['rps']:.2f}")
            where = f"gunicorn {WORKERS} workers, {CLIENTS} clients, {args.seconds:.0f} s; baseline: plain Django view"
            figures += [
                report.figure("api", f"{name}: requests/s vs plain view", api["rps"], unit="req/s",
                              baseline=plain["rps"], goal=("ratio", ">=", 0.5), note=f"{name}: {where}"),
                report.figure("api", f"{name}: p50 latency", api["p50_ms"], unit="ms", baseline=plain["p50_ms"]),
                report.figure("api", f"{name}: p99 latency", api["p99_ms"], unit="ms", baseline=plain["p99_ms"],
                              goal=("value", "<", p99_goal)),
            ]  # fmt: skip
    if not args.skip_ingest:
        result = bench_ingest(
            base_url=base,
            events=args.events,
            leads=args.ingest_leads,
            db=args.ingest_db,
            score_lag=not args.no_score_lag,
        )
        meanwhile = "a Celery worker (2 processes) scoring meanwhile" if result["worker"] else "no worker"
        print(
            f"ingest: {result['events']} events in batches of 1,000 by {WORKERS} senders, {meanwhile}: "
            f"{result['events_per_s']:.0f} events/s ({result['seconds']:.1f} s), created {result['created']}, "
            f"batch p50 {result['batch_p50_ms']:.0f} ms, p99 {result['batch_p99_ms']:.0f} ms"
        )
        if result["worker"]:
            print(
                f"scores current: {result['score_lag_s']:.2f} s after the ingest ended, every one of the "
                f"{result['affected_leads']} affected leads' stored score had the lead's version "
                f"({result['stale_at_end']} were stale when the last batch was answered)"
            )
        figures.append(
            report.figure("api", f"ingest {result['events']} events, batches of 1,000", result["events_per_s"],
                          unit="events/s", note=f"batch p50 {result['batch_p50_ms']:.0f} ms, "
                          f"p99 {result['batch_p99_ms']:.0f} ms; {meanwhile}")
        )  # fmt: skip
        if result["worker"]:
            figures.append(
                report.figure("api", "every affected score current, after the last batch", result["score_lag_s"],
                              unit="s", note=f"{result['affected_leads']} affected leads")
            )  # fmt: skip
    report.emit(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
