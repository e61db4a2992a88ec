"""Scoring through a real Celery worker, Redis and PostgreSQL: lead changes, a killed job, a rule change mid-job."""

from __future__ import annotations

import time

import pytest

from leads import services as lead_services
from leads.jobs import JobState
from leads.models import Company, Lead, Qualification
from scoring import services
from scoring.models import LeadScore, RescoreJob, ScoreHistory
from scoring.selectors import get_current_rules_version, list_stale_lead_ids
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration]

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
        "name": "Budget approved",
        "attribute": "bant.budget",
        "operator": "eq",
        "value": "approved",
        "points": 10,
        "category": "qualification",
    },
]


def _bulk_leads(n: int) -> None:
    company = Company.objects.create(name="Acme", industry="manufacturing")
    leads = Lead.objects.bulk_create(Lead(email=f"l{i}@acme.com", company=company) for i in range(n))
    Qualification.objects.bulk_create(Qualification(lead=lead) for lead in leads)


def test_lead_change_is_scored_by_the_worker(start_worker):
    services.replace_rule_set(rules=RULES, start_job=False)
    start_worker(concurrency=2)
    company = lead_services.create_company(data={"name": "Acme", "industry": "manufacturing"})
    lead = lead_services.create_lead(data={"email": "ada@acme.com", "company": company})
    assert wait_until(lambda: LeadScore.objects.filter(lead=lead, total=20).exists(), timeout=30)
    started = time.monotonic()
    lead_services.update_qualification(lead=lead, data={"budget": "approved"})
    assert wait_until(lambda: LeadScore.objects.filter(lead=lead, total=30, lead_version=2).exists(), timeout=30)
    assert time.monotonic() - started < 30
    assert list(ScoreHistory.objects.filter(lead=lead).order_by("id").values_list("old_total", "total")) == [
        (None, 20),
        (20, 30),
    ]


def test_killed_worker_mid_bulk_job_resumes_and_finishes(start_worker):
    """SIGKILL a worker in the middle of a bulk rescore; a new worker finishes it: no stale lead."""
    services.replace_rule_set(rules=RULES[:1], start_job=False)
    _bulk_leads(6000)
    # Small chunks so the job is certainly in progress when the worker dies.
    small_chunks = {"SCORING_CHUNK_SIZE": "150"}
    worker = start_worker(concurrency=1, env=small_chunks)
    job = services.start_rescore_job()
    assert wait_until(lambda: RescoreJob.objects.get(pk=job.pk).chunks_done >= 2, timeout=60, interval=0.02)
    worker.kill()
    job.refresh_from_db()
    assert job.state == JobState.RUNNING
    assert 0 < job.done < job.total
    done_at_kill = job.chunks_done
    # A new worker gets the unacknowledged message back (acks_late) and resumes from the cursor.
    start_worker(concurrency=1, env=small_chunks)
    assert wait_until(lambda: RescoreJob.objects.get(pk=job.pk).state == JobState.DONE, timeout=120)
    job.refresh_from_db()
    assert job.chunks_done >= done_at_kill
    assert LeadScore.objects.filter(total=20).count() == 6000
    assert list_stale_lead_ids() == []
    assert ScoreHistory.objects.count() == 6000  # no chunk wrote history twice


def test_rule_change_during_bulk_job_ends_at_newest_version(start_worker):
    services.replace_rule_set(rules=RULES[:1], start_job=False)
    _bulk_leads(3000)
    start_worker(concurrency=2)
    first = services.start_rescore_job()
    services.replace_rule_set(rules=[{**RULES[0], "points": 25}])
    newest = get_current_rules_version()
    assert wait_until(
        lambda: RescoreJob.objects.filter(rules_version=newest, state=JobState.DONE).exists(), timeout=120
    )
    first.refresh_from_db()
    assert first.state in (JobState.SUPERSEDED, JobState.DONE)
    assert set(LeadScore.objects.values_list("total", flat=True)) == {25}
    assert LeadScore.objects.count() == 3000
    assert list_stale_lead_ids() == []
