"""Qualification (BANT) and engagement-event endpoints, per role; batch idempotency."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import EngagementEvent, Lead, Qualification
from tests import factories

from .shapes import assert_error_shape

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events/"


def _qual_url(lead: Lead) -> str:
    return f"/api/v1/leads/{lead.pk}/qualification/"


# --- qualification -------------------------------------------------------------------------------


def test_rep_reads_and_writes_bant(api, rep, rep_lead):
    client = api(rep)
    assert client.get(_qual_url(rep_lead)).json()["budget"] == "unknown"
    response = client.patch(_qual_url(rep_lead), {"budget": "approved", "budget_amount": "25000.00"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["budget"] == "approved" and body["budget_amount"] == "25000.00"
    assert body["bant_met"] == 1 and body["budget_recorded_by"] == rep.pk and body["budget_recorded_at"]
    assert body["need_recorded_by"] is None
    rep_lead.refresh_from_db()
    assert rep_lead.version == 2


def test_qualification_roles(api, rep, other_rep, manager, marketer, rep_lead):
    before = Qualification.objects.get(lead=rep_lead).budget
    assert api(marketer).get(_qual_url(rep_lead)).status_code == 200
    response = api(marketer).patch(_qual_url(rep_lead), {"budget": "approved"}, format="json")
    assert response.status_code == 403
    assert_error_shape(response.json(), code="permission_denied")
    assert api(other_rep).get(_qual_url(rep_lead)).status_code == 404
    assert api(other_rep).patch(_qual_url(rep_lead), {"budget": "approved"}, format="json").status_code == 404
    assert api().get(_qual_url(rep_lead)).status_code == 401
    assert Qualification.objects.get(lead=rep_lead).budget == before
    assert api(manager).patch(_qual_url(rep_lead), {"need": "clear"}, format="json").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"budget": "millions"},
        {"budget_amount": "-3"},
        {"decision_date": "soon"},
        {"bant_met": 4},
        {"budget_recorded_by": 1},
        {"lead": 5},
    ],
)
def test_qualification_bad_input(api, rep, rep_lead, body):
    response = api(rep).patch(_qual_url(rep_lead), body, format="json")
    assert response.status_code == 400, response.content
    assert_error_shape(response.json(), code="invalid")
    assert set(body) <= set(response.json()["errors"])
    assert Qualification.objects.get(lead=rep_lead).bant_met == 0


# --- events ----------------------------------------------------------------------------------------


def test_one_event_by_id_and_by_email(api, rep, rep_lead):
    client = api(rep)
    response = client.post(EVENTS, {"lead": rep_lead.pk, "kind": "email_click"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json() == {"received": 1, "created": 1, "duplicates": 0}
    response = client.post(EVENTS, {"email": "OWN@Example.com", "kind": "webinar_attended"}, format="json")
    assert response.status_code == 201, response.content
    assert sorted(rep_lead.events.values_list("kind", flat=True)) == ["email_click", "webinar_attended"]
    rep_lead.refresh_from_db()
    assert rep_lead.version == 3


def _batch(leads, n: int, prefix: str = "evt") -> dict:
    now = timezone.now()
    return {
        "events": [
            {
                "lead": leads[i % len(leads)].pk,
                "kind": "page_visit",
                "occurred_at": (now - timedelta(minutes=i)).isoformat(),
                "metadata": {"url": f"/pricing/{i}"},
                "client_event_id": f"{prefix}-{i}",
            }
            for i in range(n)
        ]
    }


def test_batch_is_idempotent_with_client_event_ids(api, manager):
    leads = [factories.LeadFactory(email=f"b{i}@example.com") for i in range(5)]
    client = api(manager)
    body = _batch(leads, 1000)
    first = client.post(EVENTS, body, format="json")
    assert first.status_code == 201, first.content[:500]
    assert first.json() == {"received": 1000, "created": 1000, "duplicates": 0}
    versions = dict(Lead.objects.values_list("id", "version"))
    assert set(versions.values()) == {2}  # one bump per lead per batch, not per event
    again = client.post(EVENTS, body, format="json")
    assert again.json() == {"received": 1000, "created": 0, "duplicates": 1000}
    assert EngagementEvent.objects.count() == 1000
    assert dict(Lead.objects.values_list("id", "version")) == versions  # nothing new: no version bump
    # A partly new retry stores only the new events; a repeated id inside one batch counts once.
    mixed = {"events": [*body["events"][:3], *_batch(leads, 2, prefix="new")["events"], body["events"][0]]}
    assert client.post(EVENTS, mixed, format="json").json() == {"received": 6, "created": 2, "duplicates": 4}


def test_batch_limit_and_item_errors(api, manager, rep_lead):
    client = api(manager)
    too_many = client.post(EVENTS, _batch([rep_lead], 1001), format="json")
    assert too_many.status_code == 400
    assert "events" in too_many.json()["errors"]
    assert client.post(EVENTS, {"events": []}, format="json").status_code == 400
    bad = {
        "events": [
            {"lead": rep_lead.pk, "kind": "email_click"},
            {"lead": rep_lead.pk, "kind": "telepathy"},
            {"kind": "email_click"},
            {"lead": rep_lead.pk, "email": "own@example.com", "kind": "call"},
            {"lead": rep_lead.pk, "kind": "call", "metadata": [1]},
            {"lead": rep_lead.pk, "kind": "call", "occurred_at": "yesterday"},
        ]
    }
    response = client.post(EVENTS, bad, format="json")
    assert response.status_code == 400
    assert_error_shape(response.json(), code="invalid")
    assert set(response.json()["errors"]) == {
        "events.1.kind",
        "events.2.lead",
        "events.3.lead",
        "events.4.metadata",
        "events.5.occurred_at",
    }
    assert not EngagementEvent.objects.exists()


def test_unknown_or_invisible_leads_refuse_the_whole_batch(api, rep, rep_lead, other_lead):
    body = {
        "events": [
            {"lead": rep_lead.pk, "kind": "call"},
            {"lead": other_lead.pk, "kind": "call"},
            {"email": "nobody@example.com", "kind": "call"},
            {"lead": 10**12, "kind": "call"},
        ]
    }
    response = api(rep).post(EVENTS, body, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"events.1.lead", "events.2.email", "events.3.lead"}
    assert not EngagementEvent.objects.exists()


def test_future_event_is_a_400_not_a_500(api, manager, rep_lead):
    future = (timezone.now() + timedelta(days=2)).isoformat()
    response = api(manager).post(EVENTS, {"lead": rep_lead.pk, "kind": "call", "occurred_at": future}, format="json")
    assert response.status_code == 400
    assert "occurred_at" in response.json()["errors"]


def test_events_roles(api, marketer, other_rep, rep_lead):
    assert api(marketer).post(EVENTS, {"lead": rep_lead.pk, "kind": "email_open"}, format="json").status_code == 201
    response = api(other_rep).post(EVENTS, {"lead": rep_lead.pk, "kind": "email_open"}, format="json")
    assert response.status_code == 400 and "lead" in response.json()["errors"]
    assert api().post(EVENTS, {"lead": rep_lead.pk, "kind": "email_open"}, format="json").status_code == 401
