"""CSV imports through a real Celery worker, Redis and PostgreSQL: progress, scoring once after, a killed worker."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from leads.imports import service
from leads.models import ImportJob, ImportState, Lead, Qualification
from scoring import services as scoring_services
from scoring.models import LeadScore
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration]

MAPPING = {
    "columns": {"Email": "lead.email", "Name": "lead.first_name", "Budget": "bant.budget", "Won": "outcome"},
    "not_answered": ["-"],
}
RULES = [
    {"name": "Budget approved", "attribute": "bant.budget", "operator": "eq", "value": "approved", "points": 10,
     "category": "qualification"},
]  # fmt: skip


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.LEADQUAL_IMPORT_DIR = tmp_path / "stored"


def _write_csv(path: Path, rows: int) -> Path:
    """Every third lead has an approved budget; every 50th row repeats an earlier one; every 100th is broken."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["Email", "Name", "Budget", "Won"])
        for i in range(rows):
            n = i - 37 if i % 50 == 49 else i
            email = f"lead{n}@acme.example" if i % 100 != 99 else f"broken{i}"
            writer.writerow([email, f"Lead {n}", "approved" if n % 3 == 0 else "-", "1" if n % 7 == 0 else ""])
    return path


def _dry_figures(path: Path) -> dict:
    """What an unbroken run does with the file (a dry run's figures equal the real run's)."""
    dry = service.run_import(
        job_id=service.create_import_job(source=path, file_name=path.name, mapping=MAPPING, dry_run=True).pk
    )
    assert dry.state == ImportState.DONE
    return _figures(dry)


def _figures(job: ImportJob) -> dict:
    names = ("rows_done", "created", "updated", "rejected", "duplicates_in_file", "won")
    return {name: getattr(job, name) for name in names}


def test_import_job_runs_in_the_worker_with_progress_then_scores_once(start_worker, tmp_path):
    scoring_services.replace_rule_set(rules=RULES, start_job=False)
    path = _write_csv(tmp_path / "leads.csv", 3 * service.CHUNK_SIZE)
    expected = _dry_figures(path)
    start_worker(concurrency=2)
    job = service.create_import_job(source=path, file_name=path.name, mapping=MAPPING, dry_run=False)
    service.start_import_job(job=job)

    progress: list[int] = []

    def finished() -> bool:
        current = ImportJob.objects.get(pk=job.pk)
        progress.append(current.rows_done)
        return current.state in (ImportState.DONE, ImportState.FAILED)

    assert wait_until(finished, timeout=180, interval=0.02)
    job.refresh_from_db()
    assert job.state == ImportState.DONE, job.error
    assert _figures(job) == expected
    # The bar moved chunk by chunk: it was seen between the start and the end, never going back.
    assert any(0 < done < job.rows_done for done in progress), progress
    assert progress == sorted(progress)
    # Scored once, in bulk, after the import: every lead it wrote gets a score.
    assert wait_until(lambda: LeadScore.objects.count() == job.created, timeout=120)
    approved = Lead.objects.filter(qualification__budget="approved").count()
    assert approved and LeadScore.objects.filter(total=10).count() == approved
    assert Lead.objects.count() == Qualification.objects.count() == job.created


def test_import_whose_worker_was_killed_resumes_in_a_new_worker(start_worker, tmp_path):
    path = _write_csv(tmp_path / "leads.csv", 8 * service.CHUNK_SIZE)
    expected = _dry_figures(path)
    worker = start_worker(concurrency=1)
    job = service.create_import_job(source=path, file_name=path.name, mapping=MAPPING, dry_run=False)
    service.start_import_job(job=job)
    assert wait_until(lambda: ImportJob.objects.get(pk=job.pk).rows_done >= service.CHUNK_SIZE, timeout=120,
                      interval=0.02)  # fmt: skip
    worker.kill()
    job.refresh_from_db()
    assert job.state == ImportState.RUNNING
    assert 0 < job.rows_done < expected["rows_done"]
    # The dead worker's job counts as stalled after RESUME_AFTER without progress: backdate it rather than wait.
    ImportJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - service.RESUME_AFTER - timedelta(seconds=1))
    # acks_late: Redis hands the unacknowledged message to the new worker, which resumes the job.
    start_worker(concurrency=1)
    assert wait_until(lambda: ImportJob.objects.get(pk=job.pk).state != ImportState.RUNNING, timeout=180)
    job.refresh_from_db()
    assert job.state == ImportState.DONE, job.error
    assert _figures(job) == expected
    assert Lead.objects.count() == Qualification.objects.count() == job.created
    assert job.issues.count() == job.rejected
