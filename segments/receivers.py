"""Receivers: after a score change or a finished bulk rescore, enqueue routing (receivers only enqueue)."""

from __future__ import annotations

from typing import Any

# A batch this large is routed set-based in one task per slice, not one task per lead.
SLICE = 200
# Bulk rescore jobs announce their end with rescore_finished; one bulk routing job follows then,
# so their per-chunk score_changed signals would only route the same leads twice.
BULK_REASONS = frozenset({"rule_change", "decay"})


def enqueue_routing(sender: Any, lead_ids: tuple[int, ...], reason: str, **kwargs: Any) -> None:
    """Runs after commit (scoring sends the signal from on_commit), so `.delay` is safe here."""
    from .tasks import route_lead, route_leads

    if reason in BULK_REASONS:
        return
    if len(lead_ids) == 1:
        route_lead.delay(lead_ids[0])
        return
    for start in range(0, len(lead_ids), SLICE):
        route_leads.delay(list(lead_ids[start : start + SLICE]))


def enqueue_routing_job(sender: Any, job_id: int, **kwargs: Any) -> None:
    from .tasks import start_routing_job

    start_routing_job.delay("rescore")


def enqueue_band_webhooks(sender: Any, changes: tuple[tuple[Any, ...], ...], **kwargs: Any) -> None:
    """Runs after commit: a lead entering band A may be a webhook event (enqueued only if someone listens)."""
    from .webhooks import emit_band_changes

    emit_band_changes(changes=changes)


def enqueue_status_webhooks(sender: Any, changes: tuple[tuple[Any, ...], ...], **kwargs: Any) -> None:
    """Runs after commit: qualified, won and lost may be webhook events (enqueued only if someone listens)."""
    from .webhooks import emit_status_changes

    emit_status_changes(changes=changes)
