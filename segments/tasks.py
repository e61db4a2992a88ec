"""Thin Celery entry points for routing: they take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from leadqual.celery import TASK_OPTIONS

from . import services, webhooks


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


# Webhooks run on the default queue (settings route "segments.webhooks.*" there): a slow
# receiver holds up other deliveries at worst, never routing.


@shared_task(name="segments.webhooks.emit", **TASK_OPTIONS)
def emit_webhook_event(self, event: str, items: list[list]) -> None:
    webhooks.record_webhook_event(event=event, items=items)


@shared_task(name="segments.webhooks.deliver", **TASK_OPTIONS)
def deliver_webhook(self, delivery_id: int) -> None:
    retry_in = webhooks.attempt_delivery(delivery_id=delivery_id)
    if retry_in is not None:
        # The next attempt is a new message with a countdown (what self.retry sends too); the
        # service counts and bounds the attempts (WEBHOOK_MAX_ATTEMPTS).
        deliver_webhook.apply_async((delivery_id,), countdown=retry_in)


@shared_task(name="segments.webhooks.resume", **TASK_OPTIONS)
def resume_webhook_deliveries(self) -> None:
    webhooks.resume_due_deliveries()
