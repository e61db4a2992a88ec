"""Outbound webhooks against a real local HTTP receiver: signature, retries with backoff, the log, one event
per transition, nothing on rollback; a real Celery worker waits out the backoff."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from leads import services as lead_services
from scoring import services as scoring_services
from scoring.models import ScoreBand
from segments import services, webhooks
from segments import tasks as segment_tasks
from segments.models import DeliveryState, Segment, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from tests.conftest import wait_until

pytestmark = pytest.mark.django_db

SECRET = "s3cret-for-tests"


@dataclass
class Receiver:
    """A local HTTP server that records every POST and answers with scripted status codes (then 200)."""

    codes: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _headers, body in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                state.requests.append((dict(self.headers.items()), body))
                code = state.codes.pop(0) if state.codes else 200
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    yield state
    server.shutdown()
    server.server_close()


def _endpoint(receiver: Receiver, events=tuple(WebhookEvent.values), **data) -> WebhookEndpoint:
    return webhooks.save_webhook_endpoint(
        data={"name": "CRM bridge", "url": receiver.url, "secret": SECRET, "events": list(events), **data}
    )


def _qualify(lead, capture) -> None:
    with capture(execute=True):
        lead_services.update_lead(lead=lead, data={"status": "qualified"})


def test_delivery_is_signed_and_a_receiver_can_verify_it(receiver, django_capture_on_commit_callbacks):
    _endpoint(receiver, events=[WebhookEvent.QUALIFIED])
    lead = lead_services.create_lead(data={"email": "ada@acme.com", "first_name": "Ada"})
    _qualify(lead, django_capture_on_commit_callbacks)

    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    # What a receiver does: HMAC-SHA256 of the raw body with the shared secret, constant-time compare.
    assert webhooks.verify_signature(SECRET, body, headers["X-Leadqual-Signature"])
    assert not webhooks.verify_signature("another secret", body, headers["X-Leadqual-Signature"])
    payload = json.loads(body)
    assert payload["event"] == "lead.qualified" == headers["X-Leadqual-Event"]
    assert payload["id"] == headers["X-Leadqual-Event-Id"]
    assert headers["X-Leadqual-Timestamp"].isdigit() and headers["Content-Type"] == "application/json"
    assert payload["data"]["lead"]["email"] == "ada@acme.com"
    assert (payload["data"]["old_status"], payload["data"]["status"]) == ("new", "qualified")

    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.response_code) == (DeliveryState.SUCCEEDED, 1, 200)
    assert delivery.delivered_at is not None and str(delivery.event_id) == payload["id"]
    attempt = WebhookAttempt.objects.get()
    assert (attempt.number, attempt.response_code, attempt.retry_at) == (1, 200, None)


def test_server_errors_are_retried_with_backoff_then_delivered(receiver, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 2
    receiver.codes = [503, 500]
    _endpoint(receiver, events=[WebhookEvent.QUALIFIED])
    lead = lead_services.create_lead(data={"email": "ada@acme.com"})
    _qualify(lead, django_capture_on_commit_callbacks)  # eager tasks: Celery runs the retries at once

    assert len(receiver.requests) == 3
    assert len({body for _h, body in receiver.requests}) == 1  # the same signed body every time
    assert [h["X-Leadqual-Attempt"] for h, _b in receiver.requests] == ["1", "2", "3"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.response_code) == (DeliveryState.SUCCEEDED, 3, 200)
    log = list(delivery.attempt_log.order_by("number"))
    assert [a.response_code for a in log] == [503, 500, 200]
    assert "HTTP 503" in log[0].error
    # Exponential: base, then twice the base; the last attempt schedules nothing.
    waits = [(a.retry_at - a.attempted_at).total_seconds() for a in log[:2]]
    assert 2 <= waits[0] < 3 and 4 <= waits[1] < 5
    assert log[2].retry_at is None
    assert [webhooks.backoff_seconds(n) for n in (1, 2, 3)] == [2, 4, 8]


def test_attempts_are_bounded_and_client_errors_are_not_retried(receiver, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.codes = [500] * 10
    _endpoint(receiver, events=[WebhookEvent.QUALIFIED])
    lead = lead_services.create_lead(data={"email": "ada@acme.com"})
    _qualify(lead, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.response_code) == (DeliveryState.FAILED, 3, 500)
    assert len(receiver.requests) == 3

    receiver.codes = [410]
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.redeliver(delivery_ids=[delivery.pk]) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.response_code) == (DeliveryState.FAILED, 1, 410)
    assert delivery.attempt_log.count() == 4


def test_connection_errors_are_logged_and_retried(receiver, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    endpoint = _endpoint(receiver, events=[WebhookEvent.QUALIFIED])
    endpoint.url = "http://127.0.0.1:9/closed"  # discard port: nothing listens
    endpoint.save()
    lead = lead_services.create_lead(data={"email": "ada@acme.com"})
    _qualify(lead, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.response_code) == (DeliveryState.FAILED, 2, None)
    assert all("refused" in a.error.lower() for a in delivery.attempt_log.all())


def test_each_event_fires_once_per_transition(receiver, first_stage, django_capture_on_commit_callbacks):
    _endpoint(receiver)
    capture = django_capture_on_commit_callbacks
    scoring_services.replace_rule_set(
        rules=[
            {
                "name": "Budget approved",
                "attribute": "bant.budget",
                "operator": "eq",
                "value": "approved",
                "points": 50,
                "category": "qualification",
            }
        ],
        start_job=False,
    )
    ScoreBand.objects.filter(name="A").update(min_score=25)  # reachable with one rule (qualification caps at 30)
    scoring_services.bump_rules_version(reason="test bands", start_job=False)
    Segment.objects.create(name="Everyone", is_fallback=True, stage=first_stage)

    def count(event: str) -> int:
        return WebhookDelivery.objects.filter(event=event).count()

    with capture(execute=True):
        lead = lead_services.create_lead(data={"email": "ada@acme.com"})
    assert count(WebhookEvent.ROUTED) == 1  # scored (band D), routed into the pipeline
    assert count(WebhookEvent.ENTERED_BAND_A) == 0
    with capture(execute=True):
        lead_services.update_qualification(lead=lead, data={"budget": "approved"})
    assert count(WebhookEvent.ENTERED_BAND_A) == 1
    with capture(execute=True):
        lead_services.update_lead(lead=lead, data={"job_title": "CTO"})  # rescored, still A, not moved
    assert count(WebhookEvent.ENTERED_BAND_A) == 1 and count(WebhookEvent.ROUTED) == 1

    _qualify(lead, capture)
    with capture(execute=True):
        lead_services.update_lead(lead=lead, data={"status": "qualified", "job_title": "CEO"})  # status unchanged
    assert count(WebhookEvent.QUALIFIED) == 1
    with capture(execute=True):
        lead_services.update_lead(lead=lead, data={"status": "won"})
    with capture(execute=True):
        lead_services.update_lead(lead=lead, data={"status": "lost", "status_reason": "Chose a competitor"})
    assert count(WebhookEvent.WON_LOST) == 2
    assert [b["data"]["status"] for b in receiver.bodies() if b["event"] == WebhookEvent.WON_LOST] == ["won", "lost"]

    # Leaving band A and coming back is a second transition.
    with capture(execute=True):
        lead_services.update_qualification(lead=lead, data={"budget": "none"})
    with capture(execute=True):
        lead_services.update_qualification(lead=lead, data={"budget": "approved"})
    assert count(WebhookEvent.ENTERED_BAND_A) == 2
    assert WebhookDelivery.objects.exclude(state=DeliveryState.SUCCEEDED).count() == 0
    assert len(receiver.requests) == WebhookDelivery.objects.count() == 6


def test_a_redelivered_emit_message_writes_no_second_delivery(receiver, django_capture_on_commit_callbacks):
    _endpoint(receiver)
    lead = lead_services.create_lead(data={"email": "ada@acme.com"})
    items = [[lead.pk, f"{lead.pk}:2", {"old_status": "new", "status": "qualified"}]]
    with django_capture_on_commit_callbacks(execute=True):
        first = webhooks.record_webhook_event(event=WebhookEvent.QUALIFIED, items=items)
        again = webhooks.record_webhook_event(event=WebhookEvent.QUALIFIED, items=items)
    assert len(first) == 1 and again == []  # written and enqueued once
    assert WebhookDelivery.objects.count() == 1 and len(receiver.requests) == 1


def test_nothing_is_sent_on_rollback(receiver, django_capture_on_commit_callbacks):
    _endpoint(receiver)
    lead = lead_services.create_lead(data={"email": "ada@acme.com"})

    def change_then_fail() -> None:
        with transaction.atomic():
            lead_services.update_lead(lead=lead, data={"status": "qualified"})
            raise RuntimeError("rolled back")

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        change_then_fail()
    assert callbacks == []
    assert WebhookDelivery.objects.count() == 0 and receiver.requests == []


def test_no_subscriber_enqueues_nothing(receiver, monkeypatch, django_capture_on_commit_callbacks):
    _endpoint(receiver, events=[WebhookEvent.ROUTED])
    webhooks.save_webhook_endpoint(
        data={"name": "off", "url": receiver.url, "events": [WebhookEvent.QUALIFIED], "active": False}
    )
    sent: list[tuple] = []
    monkeypatch.setattr(segment_tasks.emit_webhook_event, "delay", lambda *args: sent.append(args))
    lead = lead_services.create_lead(data={"email": "ada@acme.com"})
    _qualify(lead, django_capture_on_commit_callbacks)
    assert sent == []


def test_endpoint_urls_are_http_or_https_and_secrets_are_generated(receiver):
    with pytest.raises(ValidationError) as error:
        webhooks.save_webhook_endpoint(data={"name": "x", "url": "ftp://example.com/in", "events": []})
    assert "url" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        webhooks.save_webhook_endpoint(data={"name": "x", "url": receiver.url, "events": ["lead.deleted"]})
    assert "events" in error.value.message_dict
    endpoint = webhooks.save_webhook_endpoint(data={"name": "x", "url": receiver.url, "events": [], "secret": ""})
    assert len(endpoint.secret) == 64
    assert webhooks.mask_secret(endpoint.secret) == "…" + endpoint.secret[-4:]


def test_admin_is_for_managers_and_never_lists_a_secret(client, manager, rep, receiver):
    endpoint = _endpoint(receiver)
    for user in (rep, manager):
        user.is_staff = True
        user.save()
    client.force_login(rep)
    assert client.get(reverse("admin:segments_webhookendpoint_changelist")).status_code == 403
    client.force_login(manager)
    page = client.get(reverse("admin:segments_webhookendpoint_changelist"))
    assert page.status_code == 200
    assert SECRET not in page.content.decode() and "…ests" in page.content.decode()
    response = client.post(
        reverse("admin:segments_webhookendpoint_add"),
        {"name": "Second", "url": "https://hooks.example.com/in", "events": ["lead.routed"], "active": "on"},
    )
    assert response.status_code == 302
    added = WebhookEndpoint.objects.exclude(pk=endpoint.pk).get()
    assert added.events == ["lead.routed"] and len(added.secret) == 64
    assert client.get(reverse("admin:segments_webhookdelivery_changelist")).status_code == 200


def test_routing_moves_are_events(receiver, first_stage, queue, django_capture_on_commit_callbacks):
    _endpoint(receiver, events=[WebhookEvent.ROUTED])
    lead = lead_services.create_lead(data={"email": "ada@acme.com"})
    Segment.objects.create(name="Everyone", is_fallback=True, queue=queue)
    with django_capture_on_commit_callbacks(execute=True):
        services.route_lead(lead_id=lead.pk)
        services.route_lead(lead_id=lead.pk)  # already there: no move, no event
    [body] = receiver.bodies()
    assert body["data"]["segment"] == "Everyone" and body["data"]["queue"] == queue.name
    assert body["data"]["lead"]["id"] == lead.pk


@pytest.mark.integration
def test_a_real_worker_waits_out_the_backoff(receiver, start_worker):
    """Celery schedules each retry with its countdown: the gaps between attempts grow."""
    worker = start_worker(concurrency=1, env={"WEBHOOK_RETRY_BASE_SECONDS": "0.5"})
    assert worker
    receiver.codes = [500, 502]
    _endpoint(receiver, events=[WebhookEvent.QUALIFIED])
    lead = lead_services.create_lead(data={"email": "ada@acme.com"})
    lead_services.update_lead(lead=lead, data={"status": "qualified"})  # transactional_db: commits for real
    assert wait_until(lambda: WebhookDelivery.objects.filter(state=DeliveryState.SUCCEEDED).exists(), timeout=60), (
        receiver.requests
    )
    log = list(WebhookDelivery.objects.get().attempt_log.order_by("number"))
    assert [a.response_code for a in log] == [500, 502, 200]
    gaps = [(b.attempted_at - a.attempted_at).total_seconds() for a, b in itertools.pairwise(log)]
    assert gaps[0] >= 0.5 and gaps[1] >= 1.0, gaps
