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


def _placements(first_stage, n=2):
    Segment.objects.create(name="Rest", is_fallback=True, stage=first_stage)
    leads = [factories.LeadFactory() for _ in range(n)]
    services.route_leads(lead_ids=[lead.pk for lead in leads])
    return leads


def test_pin_and_unpin_actions_go_through_the_service(client, staff_manager, first_stage):
    leads = _placements(first_stage)
    client.force_login(staff_manager)
    url = "/admin/segments/leadplacement/"
    selected = [str(lead.pk) for lead in leads]
    response = client.post(url, {"action": "pin_leads", "_selected_action": selected})
    assert response.status_code == 302
    assert LeadPlacement.objects.filter(pinned=True).count() == 2
    client.post(url, {"action": "unpin_leads", "_selected_action": selected[:1]})
    assert list(LeadPlacement.objects.filter(pinned=True).values_list("lead_id", flat=True)) == [leads[1].pk]
    assert client.get(url).status_code == 200


def test_set_owner_action_marks_the_owner_as_set_by_hand(client, staff_manager, first_stage, reps):
    leads = _placements(first_stage)
    client.force_login(staff_manager)
    url = "/admin/segments/leadplacement/"
    response = client.post(
        url, {"action": "set_owner", "owner": reps[1].pk, "_selected_action": [str(leads[0].pk)]}, follow=True
    )
    assert response.status_code == 200, response.content
    placement = LeadPlacement.objects.get(lead=leads[0])
    assert placement.manual_owner and Lead.objects.get(pk=leads[0].pk).owner == reps[1]
    assert not LeadPlacement.objects.get(lead=leads[1]).manual_owner
    # Without an owner chosen nothing changes.
    before = Lead.objects.get(pk=leads[1].pk).owner_id
    client.post(url, {"action": "set_owner", "owner": "", "_selected_action": [str(leads[1].pk)]})
    assert Lead.objects.get(pk=leads[1].pk).owner_id == before
    client.post(url, {"action": "release_owner", "_selected_action": [str(leads[0].pk)]})
    placement.refresh_from_db()
    assert not placement.manual_owner and placement.routed_owner == reps[1]


def test_reps_get_no_placement_admin(client, rep):
    client.force_login(rep)
    assert client.get("/admin/segments/leadplacement/").status_code in (302, 403)
