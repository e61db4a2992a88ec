"""Thin Celery entry points for the leads app: they take ids and call one service."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .imports import service as import_service

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
    import_service.run_import(job_id=job_id)
