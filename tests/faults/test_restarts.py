"""Fault suite restarts (issue 8): 2 Redis restarted without persistence, 3 PostgreSQL restarted, mid-burst.

Never the shared servers: each scenario starts a private, throwaway server on a free port.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone

from leads import services as lead_services
from leads.models import Lead
from scoring import services
from scoring.engine import evaluate
from scoring.models import LeadScore
from scoring.selectors import get_lead_snapshot, list_stale_lead_ids
from tests.conftest import WorkerProcess, _database_url_for_worker, skip_or_fail, wait_until
from tests.faults.conftest import ROOT, size
from tests.faults.test_faults import RULES, _bulk_leads

pytestmark = [pytest.mark.integration]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server subprocess without persistence; restart() loses everything it held."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis.from_url(self.url)
        assert wait_until(lambda: _pings(client), timeout=10), "private redis did not start"

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


@pytest.fixture
def private_redis(require_redis) -> Iterator[PrivateRedis]:
    """A throwaway Redis that this test's producer and workers use as broker and pending set."""
    if shutil.which("redis-server") is None:
        skip_or_fail("needs redis-server on PATH for a private, restartable Redis")
    from leadqual.celery import app

    server = PrivateRedis()
    server.start()
    previous = app.conf.broker_url
    _use_broker(app, server.url)
    yield server
    _use_broker(app, previous)
    server.kill()


def _use_broker(app, url: str) -> None:
    """Point this process's producer at another broker (Celery caches its pools per connection)."""
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


def wrong_scores(lead_ids: list[int] | None = None) -> int:
    """Leads (all, or these) whose stored score is missing, stale, or not what the engine computes now."""
    rules = services.load_rule_set()
    now = timezone.now()
    leads = Lead.objects.only("id", "version")
    scores = LeadScore.objects.all()
    if lead_ids is not None:
        leads, scores = leads.filter(id__in=lead_ids), scores.filter(lead_id__in=lead_ids)
    stored = {s.lead_id: s for s in scores}
    wrong = 0
    for lead in leads:
        score = stored.get(lead.pk)
        snapshot = get_lead_snapshot(lead_id=lead.pk, now=now, window_days=rules.max_window_days)
        expected = evaluate(snapshot, rules, now=now).total
        wrong += score is None or score.lead_version != lead.version or score.total != expected
    return wrong


def test_02_redis_restarted_during_a_burst(private_redis, start_worker, record_figure):
    from scoring.tasks import sweep_stale_scores

    services.replace_rule_set(rules=RULES, start_job=False)
    n = size(200, 500)
    leads = _bulk_leads(n)
    env = {"REDIS_URL": private_redis.url, "CELERY_BROKER_URL": private_redis.url}
    workers = [start_worker(concurrency=2, env=env)]
    exited: list[str] = []

    def supervise() -> None:
        """Start a new worker when the last one exited, as compose's `restart: unless-stopped` does.

        A worker holding an unacknowledged task when Redis goes away can exit with kombu's
        "Unrecoverable error: AttributeError('NoneType' object has no attribute 'hostname')" (its
        channel close restores unacked messages through a connection already torn down).
        """
        proc = workers[-1].proc
        if proc is not None and proc.poll() is not None:
            log = workers[-1].log_path.read_text(errors="replace")
            exited.append(next((line for line in log.splitlines() if "Unrecoverable error" in line), "exited"))
            workers.append(start_worker(concurrency=2, env=env))

    enqueue_errors = 0
    restarted_at = None
    for i, lead in enumerate(leads):
        if i == n // 2:
            private_redis.kill()  # everything queued or pending is gone
            private_redis.start()
            restarted_at = time.monotonic()
        try:
            lead_services.update_qualification(lead=lead.pk, data={"budget": "approved"})
        except Exception:
            enqueue_errors += 1  # the write committed; only its scoring message was lost
    # The periodic sweep (beat sends it to the worker) heals what the restart lost.
    healed = False
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not healed:
        supervise()
        sweep_stale_scores.delay()
        wait_until(lambda: not list_stale_lead_ids() or workers[-1].proc.poll() is not None, timeout=10)
        healed = not list_stale_lead_ids()
    heal_seconds = time.monotonic() - restarted_at
    wrong = wrong_scores()
    record_figure("2 Redis restart", f"scores wrong after sweep ({n} changes)", wrong, "0")
    record_figure("2 Redis restart", "s from restart to healed", round(heal_seconds, 1), "-")
    record_figure("2 Redis restart", "enqueue errors during restart (writes kept)", enqueue_errors, "-")
    record_figure("2 Redis restart", "workers that exited on the restart (restarted)", len(exited), "-")
    assert healed, exited
    assert wrong == 0
    assert LeadScore.objects.count() == n


# --- 3. PostgreSQL restarted during a burst -------------------------------------------------

PG_BIN = Path(os.environ.get("LEADQUAL_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port (trust auth, fsync off); stop() and start() restart it.

    initdb and pg_ctl refuse to run as root (CI runs as root): then they run as the ``postgres`` OS
    user, in a directory that user owns.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="leadqual-faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/leadqual"
        self.running = False

    def _run(self, *args: str | Path, timeout: float = 120) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, *map(str, args)], capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}{log}")

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run(PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.data}'\n"
                "fsync = off\nfull_page_writes = off\nmax_connections = 50\n"
            )
        self.start()
        self._run(PG_BIN / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "leadqual")

    def start(self) -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start")
        self.running = True

    def stop(self, mode: str = "immediate") -> None:
        """``immediate`` is a crash: every backend dies at once and the next start recovers from the WAL."""
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")
        self.running = False

    def destroy(self) -> None:
        if self.running:
            # A failed stop must not hide the test's own failure.
            with contextlib.suppress(Exception):
                self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres(db, require_postgres, require_redis) -> Iterator[PrivatePostgres]:
    """A private cluster holding a copy of the migrated test database's schema.

    ``migrate`` takes about 15 s here; copying the schema that pytest-django just migrated takes 1 s.
    """
    if not (PG_BIN / "initdb").exists():
        skip_or_fail(f"needs the PostgreSQL server binaries in {PG_BIN} (LEADQUAL_PG_BIN)")
    server = PrivatePostgres()
    try:
        server.init()
        dump = subprocess.run(
            [PG_BIN / "pg_dump", "--no-owner", "--no-privileges", "-d", _database_url_for_worker()],
            capture_output=True,
            check=True,
            timeout=120,
        )
        subprocess.run(
            [PG_BIN / "psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", server.url],
            input=dump.stdout,
            capture_output=True,
            check=True,
            timeout=120,
        )
        yield server
    finally:
        server.destroy()


def _delete_queue(queue: str) -> None:
    """Drop a private queue pair and its pending set from the shared Redis."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    for name in (queue, f"{queue}-routing"):
        client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
    client.delete(f"leadqual:scoring:{queue}:pending", f"leadqual:scoring:{queue}:drain")


# Celery's worker log: a task that gave up, and a task that will run again.
TASK_FAILED = re.compile(r"Task \S+\[[0-9a-f-]+\] raised unexpected|Task handler raised error")
TASK_RETRY = re.compile(r"Task \S+\[[0-9a-f-]+\] retry: ")
# A task that ran on a connection already known dead (a worker process that never reconnects).
DEAD_CONNECTION = re.compile(r"InterfaceError\('connection already closed'\)")


def test_03_postgres_restarted_during_a_burst(private_postgres, tmp_path, record_figure):
    # One change per lead, paced as web requests would arrive; the server goes down at the half and
    # stays down `outage` seconds, and the second half of the burst outlasts the restart.
    n = size(200, 3000)
    rate = size(50, 100)  # the second half lasts 2 s (small) or 15 s (full): longer than the restart
    outage = size(1, 5)
    queue = f"test-pg-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": private_postgres.url,
        "CELERY_QUEUE": queue,
        "LEADQUAL_ROUTING_QUEUE": f"{queue}-routing",
    }
    log, client_log = tmp_path / "worker.log", tmp_path / "client.log"
    with client_log.open("w") as stderr:
        client = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.pg_client", "--leads", str(n), "--rate", str(rate)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )

    def expect(line: str) -> None:
        assert client.stdout is not None and client.stdin is not None
        got = client.stdout.readline().strip()
        if got != line:
            client.kill()
            pytest.fail(f"pg_client said {got!r}, not {line!r}:\n{client_log.read_text()[-4000:]}")

    def answer() -> None:
        assert client.stdin is not None
        client.stdin.write("go\n")
        client.stdin.flush()

    worker = None
    try:
        # The client sets up while the worker starts; a real worker is consuming when the burst begins.
        # A visibility timeout far above the longest retry countdown, as in production.
        worker = WorkerProcess(
            queue, 2, log, {"DATABASE_URL": private_postgres.url, "CELERY_VISIBILITY_TIMEOUT": "600"}
        ).start()
        expect("ready")
        answer()
        expect("half")
        down_at = time.monotonic()
        private_postgres.stop("immediate")  # a crash: backends die mid-transaction, unflushed WAL is gone
        time.sleep(outage)
        private_postgres.start()
        down_for = time.monotonic() - down_at
        expect("idle")
        private_postgres.stop("fast")  # the worker is idle: its open connections die under it
        private_postgres.start()
        answer()
        out, _ = client.communicate(timeout=600)
        assert client.returncode == 0, f"pg_client failed:\n{client_log.read_text()[-4000:]}"
        result = json.loads(out.strip().splitlines()[-1])
        text = log.read_text(errors="replace")  # before stop(): its SIGTERM may cut a routing task short
    finally:
        if client.poll() is None:
            client.kill()
        if worker is not None:
            worker.stop()
        _delete_queue(queue)
    failed, retried = len(TASK_FAILED.findall(text)), len(TASK_RETRY.findall(text))
    dead = len(DEAD_CONNECTION.findall(text))
    scenario = "3 PostgreSQL restart"
    record_figure(scenario, f"failed tasks ({n} changes, down {down_for:.1f} s)", failed, "0")
    record_figure(scenario, "task retries on connection errors", retried, "-")
    record_figure(scenario, "task runs on a connection already closed", dead, "0")
    record_figure(scenario, "stale scores after the sweep", result["stale"], "0")
    record_figure(scenario, "stale scores after the idle restart and sweep", result["idle_stale"], "0")
    record_figure(scenario, "scores differing from a recompute", result["wrong"], "0")
    record_figure(scenario, "stale scores when the burst ended", result["stale_before_sweep"], "-")
    record_figure(scenario, "writes refused while down (producer lost)", result["refused"], "-")
    record_figure(scenario, "refusals that were not a clear database error", result["unclear"], "0")
    record_figure(scenario, "half-written writes", result["half_written"], "0")
    record_figure(scenario, "acknowledged writes lost", result["acked_lost"], "0")
    record_figure(scenario, "writes acknowledged after the first refusal", result["acked_after_refusal"], "> 0")
    assert failed == 0, "\n".join(line for line in text.splitlines() if TASK_FAILED.search(line))[:4000]
    assert dead == 0, "a worker process kept using a dead connection"
    assert result["healed"] and result["stale"] == 0
    assert result["idle_healed"] and result["idle_stale"] == 0
    assert result["wrong"] == 0
    assert result["unclear"] == 0, result["unclear_errors"]
    assert result["half_written"] == 0
    assert result["acked_lost"] == 0
    assert result["refused"] > 0  # the restart really hit the burst
    assert result["acked_after_refusal"] > 0  # and the writes came back with the server
    assert result["acked"] + result["refused"] == n
