"""Segment admin: member counts, and the preview that counts moves before anything is saved."""

from __future__ import annotations

import json

import pytest

from leads.models import Lead
from segments import services
from segments.models import LeadPlacement, Segment
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_manager(manager):
    manager.is_staff = True
    manager.save()
    return manager


def test_preview_shows_moves_and_saves_nothing(client, staff_manager, first_stage, queue):
    for _ in range(3):
        factories.LeadFactory(qualification={"budget": "none"})
    factories.LeadFactory()
    Segment.objects.create(name="Rest", is_fallback=True, stage=first_stage)
    services.route_leads(lead_ids=list(Lead.objects.values_list("id", flat=True)))
    client.force_login(staff_manager)
    form = {
        "name": "No budget",
        "description": "",
        "priority": 1,
        "conditions": json.dumps([{"attribute": "bant.budget", "operator": "eq", "value": "none"}]),
        "queue": queue.pk,
        "active": "on",
        "_preview": "1",
    }
    response = client.post("/admin/segments/segment/add/", form)
    assert response.status_code == 200
    text = response.content.decode()
    assert "3 leads: Rest → No budget" in text
    assert not Segment.objects.filter(name="No budget").exists()
    assert LeadPlacement.objects.filter(segment__name="Rest").count() == 4
    listing = client.get("/admin/segments/segment/")
    assert listing.status_code == 200 and ">4<" in listing.content.decode().replace(" ", "")


def test_queue_and_pipeline_admin_lists_render(client, staff_manager, first_stage, queue):
    client.force_login(staff_manager)
    assert client.get("/admin/segments/nurturequeue/").status_code == 200
    assert client.get("/admin/segments/pipeline/").status_code == 200
    assert client.get("/admin/segments/routingjob/").status_code == 200


def test_reps_get_no_segment_admin(client, rep):
    client.force_login(rep)
    assert client.get("/admin/segments/segment/").status_code in (302, 403)
