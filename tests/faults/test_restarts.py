"""Fault suite restarts (issue 8): 2 Redis restarted without persistence during a burst of lead changes.

Never the shared servers: each scenario starts a private, throwaway server on a free port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from django.utils import timezone

from leads import services as lead_services
from leads.models import Lead
from scoring import services
from scoring.engine import evaluate
from scoring.models import LeadScore
from scoring.selectors import get_lead_snapshot, list_stale_lead_ids
from tests.conftest import skip_or_fail, wait_until
from tests.faults.conftest import size
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


def _wrong_scores() -> int:
    """Leads whose stored score is missing, stale, or not what the engine computes from their state now."""
    rules = services.load_rule_set()
    now = timezone.now()
    stored = {s.lead_id: s for s in LeadScore.objects.all()}
    wrong = 0
    for lead in Lead.objects.only("id", "version"):
        score = stored.get(lead.pk)
        snapshot = get_lead_snapshot(lead_id=lead.pk, now=now, window_days=rules.max_window_days)
        expected = evaluate(snapshot, rules, now=now).total
        wrong += score is None or score.lead_version != lead.version or score.total != expected
    return wrong


def test_02_redis_restarted_during_a_burst(private_redis, start_worker, record_figure):
    from scoring.tasks import sweep_stale_scores

    services.replace_rule_set(rules=RULES, start_job=False)
    n = size(500, 500)
    leads = _bulk_leads(n)
    env = {"REDIS_URL": private_redis.url, "CELERY_BROKER_URL": private_redis.url}
    start_worker(concurrency=2, env=env)
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
        sweep_stale_scores.delay()
        healed = wait_until(lambda: list_stale_lead_ids() == [], timeout=10, interval=0.5)
    heal_seconds = time.monotonic() - restarted_at
    wrong = _wrong_scores()
    record_figure("2 Redis restart", f"scores wrong after sweep ({n} changes)", wrong, "0")
    record_figure("2 Redis restart", "s from restart to healed", round(heal_seconds, 1), "-")
    record_figure("2 Redis restart", "enqueue errors during restart (writes kept)", enqueue_errors, "-")
    assert healed
    assert wrong == 0
    assert LeadScore.objects.count() == n
