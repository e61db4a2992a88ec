"""Thin Celery entry points for routing: they take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from leadqual.celery import TASK_OPTIONS

from . import services


@shared_task(name="segments.route_lead", **TASK_OPTIONS)
def route_lead(self, lead_id: int, reason: str = "score_change") -> None:
    services.route_lead(lead_id=lead_id, reason=reason)


@shared_task(name="segments.route_leads", **TASK_OPTIONS)
def route_leads(self, lead_ids: list[int], reason: str = "score_change") -> None:
    services.route_leads(lead_ids=lead_ids, reason=reason)


@shared_task(name="segments.start_routing_job", **TASK_OPTIONS)
def start_routing_job(self, reason: str = "rescore") -> None:
    services.start_routing_job(reason=reason)


@shared_task(name="segments.run_routing_job", **TASK_OPTIONS)
def run_routing_job(self, job_id: int) -> None:
    services.run_routing_job(job_id=job_id)


@shared_task(name="segments.resume_stalled_routing_jobs", **TASK_OPTIONS)
def resume_stalled_routing_jobs(self) -> None:
    services.resume_stalled_routing_jobs()
