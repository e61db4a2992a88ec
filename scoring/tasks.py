"""Thin Celery entry points for scoring: they take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from leadqual.celery import TASK_OPTIONS

from . import services


@shared_task(name="scoring.score_lead", **TASK_OPTIONS)
def score_lead(self, lead_id: int, reason: str = "lead_change") -> None:
    services.score_lead(lead_id=lead_id, reason=reason)


@shared_task(name="scoring.score_pending", **TASK_OPTIONS)
def score_pending(self) -> None:
    _, more = services.score_pending_leads()
    if more:
        score_pending.delay()  # the lease is still ours: hand it to the next drain


@shared_task(name="scoring.score_leads", **TASK_OPTIONS)
def score_leads(self, lead_ids: list[int], reason: str = "lead_change") -> None:
    services.score_leads(lead_ids=lead_ids, reason=reason)


@shared_task(name="scoring.run_rescore_job", **TASK_OPTIONS)
def run_rescore_job(self, job_id: int) -> None:
    services.run_rescore_job(job_id=job_id)


@shared_task(name="scoring.sweep_stale_scores", **TASK_OPTIONS)
def sweep_stale_scores(self) -> None:
    services.resume_stalled_jobs()
    services.kick_pending_drain()
    services.sweep_stale_scores()


@shared_task(name="scoring.apply_decay", **TASK_OPTIONS)
def apply_decay(self) -> None:
    services.apply_decay()
