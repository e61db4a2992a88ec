"""Single-lead changes gather in a Redis set and one drain task scores them (scoring/pending.py)."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.db import OperationalError

from leadqual.celery import app
from leads import services as lead_services
from leads.models import Company, Lead, Qualification
from scoring import services
from scoring.models import LeadScore, ScoreHistory
from scoring.pending import PendingLeads, _redis_client, pending_leads
from tests.conftest import wait_until

RULES = [
    {
        "name": "Manufacturing",
        "attribute": "company.industry",
        "operator": "eq",
        "value": "manufacturing",
        "points": 20,
        "category": "fit",
    },
    {
        "name": "Ops title",
        "attribute": "lead.job_title",
        "operator": "contains",
        "value": "ops",
        "points": 5,
        "category": "fit",
    },
]


@pytest.fixture
def pending(require_redis):
    queue = f"test-pending-{uuid.uuid4().hex[:8]}"
    found = PendingLeads(_redis_client(settings.REDIS_URL), queue)
    yield found
    found.client.delete(found.members, found.lease)


def test_the_first_change_takes_the_lease_and_later_ones_join_the_set(pending):
    assert pending.add([1]) is True  # schedule a drain
    assert pending.add([2, 1]) is False  # a drain is scheduled: just wait in the set
    assert pending.size() == 2
    assert pending.pop(10) == [1, 2]
    assert pending.pop(10) == []
    assert pending.release() is False  # nothing waits: the lease is dropped
    assert pending.add([3]) is True  # so the next change schedules a new drain


def test_a_change_arriving_during_the_last_empty_pop_is_not_stranded(pending):
    assert pending.add([1]) is True
    assert pending.pop(10) == [1]
    assert pending.pop(10) == []  # the drain is about to finish...
    assert pending.add([7]) is False  # ...and this change sees the lease still held
    assert pending.release() is True  # the drain sees it, takes the lease back and goes on
    assert pending.pop(10) == [7]


def test_claim_takes_the_lease_only_when_ids_wait_without_a_drain(pending):
    assert pending.claim() is False  # nothing waits
    pending.client.sadd(pending.members, 5)  # an id whose drain was lost
    assert pending.claim() is True
    assert pending.claim() is False  # the lease is held now


def test_without_a_redis_broker_or_with_inline_tasks_every_change_keeps_its_own_task(settings):
    assert app.conf.task_always_eager is True  # the unit-test default (tests/conftest.py)
    assert pending_leads() is None


@pytest.mark.django_db
def test_a_failed_drain_puts_its_leads_back(require_redis, monkeypatch):
    queue = f"test-pending-{uuid.uuid4().hex[:8]}"
    previous = app.conf.task_default_queue
    app.conf.task_always_eager = False  # the autouse fixture sets it back
    app.conf.task_default_queue = queue
    try:
        pending = pending_leads()
        assert pending is not None and pending.members.endswith(f"{queue}:pending")
        pending.add(range(1, 11))

        def fail(**kwargs):
            raise OperationalError("server closed the connection")

        monkeypatch.setattr(services, "score_leads", fail)
        with pytest.raises(OperationalError):
            services.score_pending_leads()
        assert pending.size() == 10  # the retry finds them again
    finally:
        pending.client.delete(pending.members, pending.lease)
        app.conf.task_default_queue = previous


@pytest.mark.integration
def test_a_burst_of_single_lead_changes_is_scored_by_few_drain_tasks(start_worker):
    services.replace_rule_set(rules=RULES, start_job=False)
    company = Company.objects.create(name="Acme", industry="manufacturing")
    leads = Lead.objects.bulk_create(Lead(email=f"l{i}@acme.com", company=company) for i in range(300))
    Qualification.objects.bulk_create(Qualification(lead=lead) for lead in leads)
    services.score_leads(lead_ids=[lead.pk for lead in leads])
    worker = start_worker(concurrency=2)
    for lead in leads:  # 300 separate commits, each announcing one changed lead
        lead_services.update_lead(lead=lead.pk, data={"job_title": "Head of Ops"})
    assert wait_until(lambda: LeadScore.objects.filter(total=25, lead_version=2).count() == 300, timeout=60)
    assert ScoreHistory.objects.filter(total=25).count() == 300  # one history row per change of total
    log = worker.log_path.read_text()
    drains = sum(1 for line in log.splitlines() if "Task scoring.score_pending[" in line and "succeeded" in line)
    assert "Task scoring.score_lead[" not in log  # no per-change task on the Redis path
    assert 1 <= drains < 300
    pending = pending_leads()
    assert pending is not None and pending.size() == 0
