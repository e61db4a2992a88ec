"""Thin Celery entry points for the leads app: they take ids and call one service."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .imports import service as import_service
from .models import ImportState

RETRYABLE = (OperationalError, InterfaceError, ConnectionError)


@shared_task(
    name="leads.run_import_job",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=RETRYABLE,
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=5,
)
def run_import_job(self, job_id: int) -> None:
    job = import_service.run_import(job_id=job_id)
    if job.state == ImportState.RUNNING:
        # Another run holds the job, or a dead worker's run has not yet counted as stalled
        # (Redis can redeliver sooner): look again when it would, so no job is left running.
        raise self.retry(countdown=import_service.seconds_until_resumable(job), max_retries=None)


@shared_task(
    name="leads.resume_stalled_imports",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=RETRYABLE,
    retry_backoff=True,
    max_retries=5,
)
def resume_stalled_imports(self) -> None:
    import_service.resume_stalled_imports()
