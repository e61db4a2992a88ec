"""The periodic pick-up of import jobs whose task message was lost."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from leads.imports import service
from leads.models import ImportJob, ImportState, Lead
from tests.leads.test_import_resume import _job


def test_stalled_import_is_picked_up_and_finished(db, tmp_path, monkeypatch):
    job = _job(tmp_path, dry_run=False)
    ImportJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(minutes=10))
    other = tmp_path / "other"
    other.mkdir()
    fresh = _job(other, dry_run=True)
    assert service.resume_stalled_imports() == [job.pk]  # the fresh one is not stalled
    job.refresh_from_db()
    assert job.state == ImportState.DONE  # eager in tests: the re-enqueued task ran the import
    assert Lead.objects.filter(import_job=job).exists()
    assert ImportJob.objects.get(pk=fresh.pk).state == ImportState.PENDING
    assert service.resume_stalled_imports() == []


def test_beat_runs_the_import_pick_up():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "leads.resume_stalled_imports" in tasks
