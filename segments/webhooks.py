"""Outbound webhooks: endpoints, what each event carries, and signed deliveries with bounded, logged retries.

Flow: a committed change (a band change from scoring, a routing move, a status
change from leads) calls ``emit_on_commit``; after the commit, and only when an
active endpoint subscribes to the event, one ``emit`` task per slice of leads
runs ``record_webhook_event``, which writes one ``WebhookDelivery`` per
(endpoint, event) and enqueues one ``deliver`` task each. ``attempt_delivery``
posts the JSON body with its HMAC-SHA256 signature, logs the attempt and says
whether and when to retry. No scoring or routing task ever waits on HTTP.

Event ids are derived from what happened (uuid5 of the event name and a key
such as lead id + version), so a redelivered task message writes no second
delivery: the (endpoint, event id) pair is unique.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from http.client import HTTPException
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from leads.models import Lead, LeadStatus
from scoring.models import LeadScore

from .models import (
    DeliveryState,
    RoutingDecision,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    new_webhook_secret,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Leadqual-Signature"
EVENT_HEADER = "X-Leadqual-Event"
EVENT_ID_HEADER = "X-Leadqual-Event-Id"
TIMESTAMP_HEADER = "X-Leadqual-Timestamp"
DELIVERY_HEADER = "X-Leadqual-Delivery"
ATTEMPT_HEADER = "X-Leadqual-Attempt"
# uuid5 namespace of event ids (any fixed UUID; changing it would re-send nothing, only rename).
EVENT_NAMESPACE = uuid.UUID("8c5e2f0e-4a47-4c43-9a0e-6f1b3c7d2a91")
# Leads per emit task message.
EMIT_SLICE = 500
TOP_BAND = "A"
# Responses worth another try: the receiver is down, overloaded or timed out.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
ENDPOINT_FIELDS = frozenset({"name", "url", "secret", "events", "active"})

# (lead id, key unique for this happening, facts for the payload)
EventItem = tuple[int, str, dict[str, Any]]


# --- endpoints (admin writes) -------------------------------------------------------------------


@transaction.atomic
def save_webhook_endpoint(*, endpoint: WebhookEndpoint | None = None, data: Mapping[str, Any]) -> WebhookEndpoint:
    """Create or change an endpoint; an empty secret gets a new random one."""
    unknown = sorted(set(data) - ENDPOINT_FIELDS)
    if unknown:
        raise ValidationError({name: _("This field cannot be written.") for name in unknown})
    endpoint = endpoint or WebhookEndpoint()
    for name, value in data.items():
        setattr(endpoint, name, value.strip() if isinstance(value, str) else value)
    if not endpoint.secret:
        endpoint.secret = new_webhook_secret()
    bad = sorted(set(endpoint.events) - set(WebhookEvent.values))
    if bad:
        raise ValidationError({"events": _("Unknown events: %(names)s.") % {"names": ", ".join(bad)}})
    endpoint.events = sorted(set(endpoint.events))
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def mask_secret(secret: str) -> str:
    """What lists show of a secret: its last four characters."""
    return f"…{secret[-4:]}" if secret else ""


def has_subscribers(event: str) -> bool:
    """Any active endpoint for ``event``? (A tiny table: one read, no cache to go stale.)"""
    return any(
        event in events for events in WebhookEndpoint.objects.filter(active=True).values_list("events", flat=True)
    )


# --- emitting -------------------------------------------------------------------------------------


def emit_on_commit(*, event: str, items: Sequence[EventItem] | Callable[[], Sequence[EventItem]]) -> None:
    """After the surrounding transaction commits (at once outside one), enqueue recording the event.

    Nothing is enqueued on rollback, nor when no active endpoint subscribes. ``items`` may be a
    function making them: it is called only then (a reroute moves thousands of leads a batch,
    usually with nobody subscribed).
    """
    from .tasks import emit_webhook_event

    make = items if callable(items) else None
    frozen = [] if make is not None else [list(item) for item in items]
    if make is None and not frozen:
        return

    def enqueue() -> None:
        if not has_subscribers(event):
            return
        rows = [list(item) for item in make()] if make is not None else frozen
        for start in range(0, len(rows), EMIT_SLICE):
            emit_webhook_event.delay(event, rows[start : start + EMIT_SLICE])

    transaction.on_commit(enqueue)


def emit_band_changes(*, changes: Iterable[Sequence[Any]]) -> None:
    """Scoring's band changes: the ones into the top band from another (or none) are events."""
    items = [
        (lead_id, f"{lead_id}:{lead_version}:{rules_version}", {"old_band": old_band, "band": new_band})
        for lead_id, old_band, new_band, lead_version, rules_version in changes
        if new_band == TOP_BAND and old_band != TOP_BAND
    ]
    emit_on_commit(event=WebhookEvent.ENTERED_BAND_A, items=items)


def emit_status_changes(*, changes: Iterable[Sequence[Any]]) -> None:
    """Lead status changes: into "qualified", and into "won" or "lost", are events."""
    by_event: dict[str, list[EventItem]] = {}
    for lead_id, old_status, new_status, version in changes:
        if new_status == LeadStatus.QUALIFIED:
            event = WebhookEvent.QUALIFIED
        elif new_status in (LeadStatus.WON, LeadStatus.LOST):
            event = WebhookEvent.WON_LOST
        else:
            continue
        facts = {"old_status": old_status, "status": new_status}
        by_event.setdefault(event, []).append((lead_id, f"{lead_id}:{version}", facts))
    for event, items in by_event.items():
        emit_on_commit(event=event, items=items)


def emit_routed(*, lead_ids: Iterable[int], decided_at: datetime) -> None:
    """Routing moved these leads (their decisions carry ``decided_at``)."""
    lead_ids = list(lead_ids)
    if not lead_ids:
        return
    stamp = decided_at.isoformat()
    emit_on_commit(
        event=WebhookEvent.ROUTED,
        items=lambda: [(lead_id, f"{lead_id}:{stamp}", {"decided_at": stamp}) for lead_id in lead_ids],
    )


def event_id_for(event: str, key: str) -> uuid.UUID:
    return uuid.uuid5(EVENT_NAMESPACE, f"{event}:{key}")


def _lead_data(lead: Lead, score: LeadScore | None) -> dict[str, Any]:
    return {
        "id": lead.pk,
        "email": lead.email,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "job_title": lead.job_title,
        "company": lead.company.name if lead.company else None,
        "status": lead.status,
        "owner": lead.owner.get_username() if lead.owner else None,
        "version": lead.version,
        "score": score.total if score else None,
        "band": score.band if score else None,
    }


def _routing_facts(lead_ids: Sequence[int], decided_at: str) -> dict[int, dict[str, Any]]:
    at = parse_datetime(decided_at)
    decisions = (
        RoutingDecision.objects.filter(lead_id__in=lead_ids, created_at=at)
        .select_related("to_segment", "to_stage__pipeline", "to_queue", "to_owner")
        .order_by("lead_id", "id")
    )
    facts: dict[int, dict[str, Any]] = {}
    for d in decisions:
        facts[d.lead_id] = {
            "reason": d.reason,
            "segment": d.to_segment.name if d.to_segment else None,
            "pipeline": d.to_stage.pipeline.name if d.to_stage else None,
            "stage": d.to_stage.name if d.to_stage else None,
            "queue": d.to_queue.name if d.to_queue else None,
            "owner": d.to_owner.get_username() if d.to_owner else None,
        }
    return facts


def record_webhook_event(*, event: str, items: Sequence[Sequence[Any]], now: datetime | None = None) -> list[int]:
    """Write one delivery per subscribed endpoint and item; enqueue each new one after commit.

    Idempotent: an item already recorded for an endpoint is not written again.
    Returns the ids of the deliveries enqueued.
    """
    from .tasks import deliver_webhook

    now = now or timezone.now()
    endpoints = [e for e in WebhookEndpoint.objects.filter(active=True) if event in e.events]
    if not endpoints or not items:
        return []
    lead_ids = sorted({int(item[0]) for item in items})
    leads = Lead.objects.select_related("company", "owner").in_bulk(lead_ids)
    scores = LeadScore.objects.in_bulk(lead_ids)
    routing: dict[int, dict[str, Any]] = {}
    if event == WebhookEvent.ROUTED:
        for stamp in {item[2]["decided_at"] for item in items}:
            routing.update(_routing_facts([int(i[0]) for i in items if i[2]["decided_at"] == stamp], stamp))
    event_ids = [event_id_for(event, str(item[1])) for item in items]
    # Already recorded (a redelivered task message): neither written nor enqueued again.
    existing = set(
        WebhookDelivery.objects.filter(event_id__in=event_ids, endpoint__in=endpoints).values_list(
            "endpoint_id", "event_id"
        )
    )
    rows = []
    for lead_id, key, facts in items:
        lead = leads.get(int(lead_id))
        if lead is None:
            continue  # deleted since: nothing to tell
        event_id = event_id_for(event, str(key))
        data = {"lead": _lead_data(lead, scores.get(lead.pk)), **facts, **routing.get(lead.pk, {})}
        payload = {"id": str(event_id), "event": event, "created_at": now.isoformat(), "data": data}
        rows += [
            WebhookDelivery(
                endpoint=endpoint, event=event, event_id=event_id, lead_id=lead.pk, payload=payload, next_attempt_at=now
            )
            for endpoint in endpoints
            if (endpoint.pk, event_id) not in existing
        ]
    if not rows:
        return []
    with transaction.atomic():
        WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        ids = [
            pk
            for pk, endpoint_id, event_id in WebhookDelivery.objects.filter(
                event_id__in=event_ids, endpoint__in=endpoints, state=DeliveryState.PENDING, attempts=0
            ).values_list("id", "endpoint_id", "event_id")
            if (endpoint_id, event_id) not in existing
        ]
        transaction.on_commit(lambda: [deliver_webhook.delay(delivery_id) for delivery_id in ids])
    return ids


# --- delivering -----------------------------------------------------------------------------------


def body_bytes(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes sent (and signed)."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def sign(secret: str, body: bytes) -> str:
    """The signature header value: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does (constant-time compare); used by our tests and documented for receivers."""
    return hmac.compare_digest(sign(secret, body), header or "")


def backoff_seconds(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...): base, 2x base, 4x base ..., capped."""
    base = float(settings.WEBHOOK_RETRY_BASE_SECONDS)
    return min(base * 2 ** (attempt - 1), float(settings.WEBHOOK_RETRY_MAX_SECONDS))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a place to re-post a signed body: it fails the attempt."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int | None, str]:
    """POST; return (status code or None, error text). Never raises for network trouble."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310 -- http(s) only, validated
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(1024)
            return response.status, ""
    except urllib.error.HTTPError as exc:
        excerpt = exc.read(300).decode(errors="replace") if exc.fp else ""
        return exc.code, f"HTTP {exc.code}: {excerpt}".strip()
    except (urllib.error.URLError, OSError, HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"{type(exc).__name__}: {reason}"[:500]


def attempt_delivery(*, delivery_id: int) -> float | None:
    """Make one attempt; return the seconds until the next one, or None when the delivery is settled.

    Settled: delivered (2xx), refused (another 4xx or 3xx), out of attempts, or
    its endpoint was turned off. Connection errors, timeouts, 408/425/429 and
    5xx are retried with exponential backoff up to WEBHOOK_MAX_ATTEMPTS.
    """
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.state != DeliveryState.PENDING:
            return None
        if delivery.locked_until and delivery.locked_until > now:
            return None  # another worker is posting it right now
        if not delivery.endpoint.active:
            delivery.state, delivery.error = DeliveryState.FAILED, _("The endpoint was turned off.")
            delivery.save(update_fields=["state", "error"])
            return None
        timeout = float(settings.WEBHOOK_TIMEOUT_SECONDS)
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.locked_until = now + timedelta(seconds=timeout + 30)
        delivery.save(update_fields=["attempts", "last_attempt_at", "locked_until"])
    endpoint, number = delivery.endpoint, delivery.attempts
    # The log numbers attempts across "send again" rounds; ``attempts`` counts the current round.
    logged = WebhookAttempt.objects.filter(delivery_id=delivery.pk).count()
    body = body_bytes(delivery.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "leadqual-webhooks/1",
        SIGNATURE_HEADER: sign(endpoint.secret, body),
        EVENT_HEADER: delivery.event,
        EVENT_ID_HEADER: str(delivery.event_id),
        TIMESTAMP_HEADER: str(int(now.timestamp())),
        DELIVERY_HEADER: str(delivery.pk),
        ATTEMPT_HEADER: str(number),
    }
    started = time.monotonic()
    code, error = _post(endpoint.url, body, headers, timeout)
    duration_ms = int((time.monotonic() - started) * 1000)
    done_at = timezone.now()
    retry_in: float | None = None
    if code is not None and 200 <= code < 300:
        state = DeliveryState.SUCCEEDED
    elif (code is None or code in RETRY_STATUS) and number < settings.WEBHOOK_MAX_ATTEMPTS:
        state, retry_in = DeliveryState.PENDING, backoff_seconds(number)
    else:
        state = DeliveryState.FAILED
    retry_at = done_at + timedelta(seconds=retry_in) if retry_in is not None else None
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery_id=delivery.pk,
            number=logged + 1,
            attempted_at=now,
            duration_ms=duration_ms,
            response_code=code,
            error=error,
            retry_at=retry_at,
        )
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=state,
            response_code=code,
            error=error,
            next_attempt_at=retry_at,
            delivered_at=done_at if state == DeliveryState.SUCCEEDED else None,
            locked_until=None,
        )
    if state == DeliveryState.FAILED:
        logger.warning(
            "webhook delivery %s to %s failed after %s attempts: %s", delivery.pk, endpoint.url, number, error
        )
    return retry_in


@transaction.atomic
def redeliver(*, delivery_ids: Iterable[int]) -> int:
    """Send failed deliveries again (admin action): back to pending with a fresh set of attempts."""
    from .tasks import deliver_webhook

    ids = list(
        WebhookDelivery.objects.filter(pk__in=list(delivery_ids), state=DeliveryState.FAILED).values_list(
            "id", flat=True
        )
    )
    WebhookDelivery.objects.filter(pk__in=ids).update(
        state=DeliveryState.PENDING, attempts=0, next_attempt_at=timezone.now(), locked_until=None
    )
    transaction.on_commit(lambda: [deliver_webhook.delay(delivery_id) for delivery_id in ids])
    return len(ids)


def resume_due_deliveries(*, late_by: timedelta = timedelta(minutes=2), limit: int = 1000) -> int:
    """Re-enqueue pending deliveries whose task message was lost (due more than ``late_by`` ago)."""
    from .tasks import deliver_webhook

    cutoff = timezone.now() - late_by
    ids = list(
        WebhookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lt=cutoff)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    for delivery_id in ids:
        deliver_webhook.delay(delivery_id)
    return len(ids)
