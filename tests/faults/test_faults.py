"""The fault-and-abuse suite (issue 8): one test per scenario, each asserting its figure and recording it."""

from __future__ import annotations

import csv
import io
import time

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.jobs import JobState
from leads.models import Company, Lead, Qualification
from scoring import services
from scoring.models import LeadScore, RescoreJob, ScoreHistory
from scoring.selectors import list_stale_lead_ids
from segments.exports import iter_csv
from tests import factories
from tests.conftest import wait_until
from tests.faults.conftest import size

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

# Cells a spreadsheet runs as formulas (OWASP CSV injection), and what starts one.
FORMULA_PAYLOADS = ["=1+1", '=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")


def _bulk_leads(n: int) -> list[Lead]:
    company = Company.objects.create(name="Acme", industry="manufacturing")
    leads = Lead.objects.bulk_create(Lead(email=f"l{i}@acme.com", company=company) for i in range(n))
    Qualification.objects.bulk_create(Qualification(lead=lead) for lead in leads)
    return leads


# --- 1. worker SIGKILLed mid bulk rescore ---------------------------------------------------


@pytest.mark.integration
def test_01_worker_killed_mid_bulk_rescore(start_worker, record_figure):
    n = size(3000, 50000)
    services.replace_rule_set(rules=RULES[:1], start_job=False)
    _bulk_leads(n)
    chunks = {"SCORING_CHUNK_SIZE": str(max(100, n // 40))}
    worker = start_worker(concurrency=1, env=chunks)
    job = services.start_rescore_job()
    assert wait_until(lambda: RescoreJob.objects.get(pk=job.pk).chunks_done >= 2, timeout=120, interval=0.02)
    worker.kill()
    job.refresh_from_db()
    done_at_kill = job.chunks_done
    assert job.state == JobState.RUNNING and job.done < job.total
    started = time.monotonic()
    start_worker(concurrency=1, env=chunks)
    assert wait_until(lambda: RescoreJob.objects.get(pk=job.pk).state == JobState.DONE, timeout=600)
    job.refresh_from_db()
    stale = len(list_stale_lead_ids())
    record_figure("1 worker SIGKILL", f"stale leads of {n}", stale, "0")
    record_figure("1 worker SIGKILL", "chunks done at kill / total after", f"{done_at_kill}/{job.chunks_done}", "-")
    record_figure("1 worker SIGKILL", "s to finish after restart", round(time.monotonic() - started, 2), "-")
    assert stale == 0
    assert LeadScore.objects.filter(total=20).count() == n
    assert ScoreHistory.objects.count() == n  # a redone chunk wrote no history twice


# --- 5. duplicate and out-of-order delivery -------------------------------------------------


@pytest.mark.django_db
def test_05_duplicate_and_out_of_order_delivery(record_figure):
    from leads import services as lead_services

    services.replace_rule_set(rules=RULES, start_job=False)
    n = size(20, 500)
    leads = [factories.LeadFactory(company=factories.CompanyFactory(industry="manufacturing")) for _ in range(n)]
    regressions = duplicates = 0
    for lead in leads:
        services.score_lead(lead_id=lead.pk)  # version 1 scored: 20
        lead_services.update_qualification(lead=lead, data={"budget": "approved"})
        services.score_lead(lead_id=lead.pk)  # version 2 scored: 30
        newest = LeadScore.objects.get(lead=lead)
        history_before = ScoreHistory.objects.filter(lead=lead).count()
        # The same message three more times, as a broker redelivers it.
        for _ in range(3):
            services.score_lead(lead_id=lead.pk)
        # A late task computed from version 1 arrives now: it must not land over version 2.
        LeadScore.objects.filter(lead=lead).update(lead_version=newest.lead_version + 10)
        services.score_lead(lead_id=lead.pk)
        after = LeadScore.objects.get(lead=lead)
        regressions += after.total != newest.total or after.lead_version < newest.lead_version
        duplicates += ScoreHistory.objects.filter(lead=lead).count() - history_before
    record_figure("5 duplicate/out-of-order", f"regressions in {n} leads", regressions, "0")
    record_figure("5 duplicate/out-of-order", "duplicate history rows", duplicates, "0")
    assert regressions == 0
    assert duplicates == 0


@pytest.mark.django_db(transaction=True)
def test_05_a_bulk_job_delivered_twice_at_once(require_postgres, monkeypatch, record_figure):
    """A redelivered job message (a job running past the visibility timeout, or resumed as stalled) runs
    alongside the first delivery: the second must finish or give its chunk back, never fail the job.

    The first run is inside its first chunk when the duplicate runs the whole job; the first run's
    cursor update then finds the cursor moved. That path queried inside its rolled-back transaction,
    raised TransactionManagementError and marked the finished job FAILED (found by scenario 12).
    """
    import threading

    from django.db import connection

    services.replace_rule_set(rules=RULES[:1], start_job=False)
    n = size(200, 2000)
    _bulk_leads(n)
    job = services.start_rescore_job(enqueue=False)
    original = services.apply_scores_sql
    duplicate_errors: list[BaseException] = []

    def duplicate() -> None:
        try:
            services.run_rescore_job(job_id=job.pk, chunk_size=n // 10)
        except BaseException as exc:
            duplicate_errors.append(exc)
        finally:
            connection.close()

    def first_chunk_meets_a_duplicate(**kwargs):
        if not duplicate_errors and not getattr(first_chunk_meets_a_duplicate, "ran", False):
            first_chunk_meets_a_duplicate.ran = True  # type: ignore[attr-defined]
            thread = threading.Thread(target=duplicate)
            thread.start()
            thread.join(timeout=120)
        return original(**kwargs)

    monkeypatch.setattr(services, "apply_scores_sql", first_chunk_meets_a_duplicate)
    first_error = None
    try:
        services.run_rescore_job(job_id=job.pk, chunk_size=n // 10)
    except Exception as exc:
        first_error = exc
    job.refresh_from_db()
    failed = int(job.state != JobState.DONE) + int(first_error is not None) + len(duplicate_errors)
    record_figure("5 duplicate/out-of-order", "bulk job delivered twice at once: failed runs or job", failed, "0")
    assert duplicate_errors == [] and first_error is None, (first_error, duplicate_errors)
    assert job.state == JobState.DONE
    assert ScoreHistory.objects.count() == n  # the chunk done twice wrote its history once
    assert len(list_stale_lead_ids()) == 0


# --- 8. login brute force -------------------------------------------------------------------


@pytest.mark.django_db
def test_08_login_brute_force_locks(client, rep, settings, record_figure):
    settings.AXES_ENABLED = True
    limit = settings.AXES_FAILURE_LIMIT
    locked_at = None
    for attempt in range(1, limit + 3):
        response = client.post(reverse("pages:login"), {"username": rep.username, "password": f"guess-{attempt}"})
        if response.status_code in (403, 429):
            locked_at = attempt
            break
    right = client.post(reverse("pages:login"), {"username": rep.username, "password": "pw-Secret-123"})
    refused = right.status_code in (403, 429) and "_auth_user_id" not in client.session
    record_figure("8 login brute force", "failed attempt that locks", locked_at, f"{limit} (AXES_FAILURE_LIMIT)")
    record_figure("8 login brute force", "correct password refused while locked", refused, "True")
    assert locked_at == limit
    assert refused


# --- 9. CSV export with formula payloads -----------------------------------------------------


@pytest.mark.django_db
def test_09_export_formula_payloads(record_figure):
    ids = []
    for payload in FORMULA_PAYLOADS * size(3, 30):
        company = factories.CompanyFactory(name=payload)
        lead = factories.LeadFactory(first_name=payload, last_name=payload, job_title=payload, company=company)
        LeadScore.objects.create(
            lead=lead,
            total=-5,
            fit=0,
            engagement=0,
            qualification=0,
            band="A",
            rules_version=1,
            lead_version=1,
            computed_at=timezone.now(),
        )
        ids.append(lead.pk)
    text = "".join(iter_csv(leads=Lead.objects.filter(id__in=ids)))
    _header, *rows = list(csv.reader(io.StringIO(text)))
    live = 0
    for row in rows:
        for cell in row:
            try:
                float(cell)  # numbers stay numbers (a negative score is not a formula)
                continue
            except ValueError:
                pass
            live += cell.startswith(FORMULA_STARTS)
    record_figure("9 export formulas", f"live formulas in {len(rows)} rows", live, "0")
    assert len(rows) == len(ids)
    assert any(cell.startswith("'=") for row in rows for cell in row)  # the payloads are in the file, defused
    assert live == 0
