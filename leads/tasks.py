"""Thin Celery entry points for the leads app: they take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from leadqual.celery import TASK_OPTIONS

from .imports import service as import_service
from .models import ImportState


@shared_task(name="leads.run_import_job", **TASK_OPTIONS)
def run_import_job(self, job_id: int) -> None:
    job = import_service.run_import(job_id=job_id)
    if job.state == ImportState.RUNNING:
        # Another run holds the job, or a dead worker's run has not yet counted as stalled
        # (Redis can redeliver sooner): look again when it would, so no job is left running.
        raise self.retry(countdown=import_service.seconds_until_resumable(job), max_retries=None)


@shared_task(name="leads.resume_stalled_imports", **TASK_OPTIONS)
def resume_stalled_imports(self) -> None:
    import_service.resume_stalled_imports()
