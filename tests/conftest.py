"""Shared fixtures: service detection (skip, or fail under CI), a real Celery worker, users per role."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings

from leads.roles import Role
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
# CI sets this: a test that would skip for want of PostgreSQL, Redis or the
# shared data fails instead, so CI never passes on a skipped integration suite.
REQUIRE_SERVICES = os.environ.get("LEADQUAL_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (LEADQUAL_REQUIRE_SERVICES=1 turns this skip into a failure)")
    pytest.skip(reason)


def uses_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


@pytest.fixture(autouse=True)
def _fast_hashing_and_eager_tasks(settings):
    """Unit tests run tasks inline; the integration fixtures below switch to a real worker."""
    from leadqual.celery import app

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    _ = app.conf.broker_url  # load the configuration first, or loading it later undoes ours
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def require_postgres() -> None:
    if not uses_postgres():
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://...")


@pytest.fixture
def require_redis() -> None:
    if not settings.REDIS_URL:
        skip_or_fail("needs Redis: set REDIS_URL=redis://...")


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        skip_or_fail(f"needs the shared lead data at {SHARED_DATA}")
    return SHARED_DATA


# --- users per role ------------------------------------------------------------------


@pytest.fixture
def team(db):
    return factories.TeamFactory(name="DACH", countries=["DE", "AT", "CH"])


@pytest.fixture
def rep(team):
    return factories.UserFactory(role=Role.SALES_REP, team=team)


@pytest.fixture
def other_rep(db):
    return factories.UserFactory(role=Role.SALES_REP, team=factories.TeamFactory(name="Nordics"))


@pytest.fixture
def manager(db):
    return factories.UserFactory(role=Role.SALES_MANAGER)


@pytest.fixture
def marketer(db):
    return factories.UserFactory(role=Role.MARKETER)


# --- a real Celery worker ------------------------------------------------------------


def _database_url_for_worker() -> str:
    """The URL of the database the tests use right now (the test database)."""
    from django.db import connection

    s = connection.settings_dict
    user = s.get("USER") or ""
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{s['NAME']}"


class WorkerProcess:
    """A `celery worker` subprocess on its own queue; stop() or kill() it."""

    def __init__(self, queue: str, concurrency: int, log_path: Path, extra_env: dict[str, str] | None = None) -> None:
        self.extra_env = extra_env or {}
        self.queue = queue
        self.concurrency = concurrency
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        env = {
            **os.environ,
            "DATABASE_URL": _database_url_for_worker(),
            "CELERY_QUEUE": self.queue,
            "LEADQUAL_ROUTING_QUEUE": f"{self.queue}-routing",
            "CELERY_UNACKED_RESTORE_THROTTLE": "0.5",
            "CELERY_VISIBILITY_TIMEOUT": os.environ.get("TEST_CELERY_VISIBILITY_TIMEOUT", "5"),
            **self.extra_env,
        }
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "leadqual",
                "worker",
                "-Q",
                f"{self.queue},{self.queue}-routing",
                "-c",
                str(self.concurrency),
                "--pool",
                "prefork",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",
                "-n",
                f"test-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text()[-3000:]}")
            if "ready." in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group: the work in flight is lost, not acked."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def celery_queue(require_postgres, require_redis) -> Iterator[str]:
    """A fresh queue name, used by this test's producer and its workers alone."""
    from leadqual.celery import app

    queue = f"test-{uuid.uuid4().hex[:10]}"
    routing = f"{queue}-routing"
    app.conf.task_always_eager = False
    previous = app.conf.task_default_queue, app.conf.task_routes
    app.conf.task_default_queue = queue
    _set_routes(app, {"segments.*": {"queue": routing}})
    app.amqp.queues.select_add(queue)
    app.amqp.queues.select_add(routing)
    yield queue
    from scoring.pending import pending_leads

    pending = pending_leads()
    if pending is not None:
        pending.client.delete(pending.members, pending.lease)
    app.conf.task_default_queue = previous[0]
    _set_routes(app, previous[1])
    with app.connection_for_write() as conn:
        for name in (queue, routing):
            conn.default_channel.queue_delete(name)


def _set_routes(app, routes) -> None:
    """Change task routes at run time (Celery caches its router)."""
    app.conf.task_routes = routes
    app.amqp.flush_routes()
    app.amqp.__dict__.pop("router", None)


@pytest.fixture
def start_worker(celery_queue, transactional_db, tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real `celery worker` processes against the test database and Redis."""
    if shutil.which("celery") is None and not (Path(sys.executable).parent / "celery").exists():
        skip_or_fail("celery is not installed")
    workers: list[WorkerProcess] = []

    def _start(concurrency: int = 2, env: dict[str, str] | None = None) -> WorkerProcess:
        worker = WorkerProcess(celery_queue, concurrency, tmp_path / f"worker-{len(workers)}.log", env).start()
        workers.append(worker)
        return worker

    yield _start
    for worker in workers:
        worker.stop()


def wait_until(predicate: Callable[[], bool], *, timeout: float = 60, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
