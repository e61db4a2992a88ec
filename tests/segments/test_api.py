"""Segments API per role: what each role lists and exports, with pinned query counts."""

from __future__ import annotations

import csv
import io

import pytest

from leads.models import Lead
from segments import services
from segments.models import ExportRecord, Segment
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def routed(first_stage, queue, rep, other_rep, team):
    """Three leads in the nurture queue: one the rep owns, one of the rep's team pool, one of another rep."""
    Segment.objects.create(name="No budget", queue=queue, conditions=[])
    Segment.objects.create(name="Rest", is_fallback=True, stage=first_stage)
    mine = factories.LeadFactory(email="mine@acme.com", owner=rep, team=team)
    pool = factories.LeadFactory(email="pool@acme.com", team=team)
    theirs = factories.LeadFactory(email="theirs@acme.com", owner=other_rep)
    services.route_leads(lead_ids=[mine.pk, pool.pk, theirs.pk])
    return {"mine": mine, "pool": pool, "theirs": theirs}


def _export_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_segments_list_counts_only_visible_leads(client, rep, manager, routed, django_assert_num_queries):
    client.force_login(manager)
    with django_assert_num_queries(6):  # session, user, roles, count, page, member counts
        response = client.get("/api/v1/segments/")
    assert response.status_code == 200
    by_name = {s["name"]: s for s in response.json()["results"]}
    assert by_name["No budget"]["members"] == 3
    assert by_name["No budget"]["destination"]["kind"] == "queue"
    client.force_login(rep)
    response = client.get("/api/v1/segments/")
    by_name = {s["name"]: s for s in response.json()["results"]}
    assert by_name["No budget"]["members"] == 2  # their own lead and their team's pool


def test_queue_list_and_pipelines(client, marketer, routed, queue, django_assert_num_queries):
    client.force_login(marketer)
    with django_assert_num_queries(5):
        response = client.get("/api/v1/nurture-queues/")
    assert response.json()["results"][0]["members"] == 3
    with django_assert_num_queries(7):  # + stages prefetch and per-stage counts
        response = client.get("/api/v1/pipelines/")
    assert response.json()["results"][0]["stages"][0]["name"] == "New"


def test_queue_list_query_count_does_not_grow(client, marketer, routed, django_assert_num_queries):
    for i in range(5):
        services.create_nurture_queue(name=f"Q{i}")
    client.force_login(marketer)
    with django_assert_num_queries(5):
        client.get("/api/v1/nurture-queues/")


def test_marketer_exports_queue_and_the_export_is_recorded(client, marketer, routed, queue):
    Lead.objects.filter(pk=routed["pool"].pk).update(do_not_contact=True)
    client.force_login(marketer)
    response = client.get(f"/api/v1/nurture-queues/{queue.pk}/export.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    header, *rows = _export_rows(response)
    assert sorted(r[header.index("email")] for r in rows) == ["mine@acme.com", "theirs@acme.com"]
    record = ExportRecord.objects.get()
    assert (record.user, record.queue, record.rows) == (marketer, queue, 2)


def test_rep_cannot_export_a_queue_and_never_sees_another_reps_lead(client, rep, routed, queue):
    client.force_login(rep)
    assert client.get(f"/api/v1/nurture-queues/{queue.pk}/export.csv").status_code == 404
    assert client.get("/api/v1/leads/export.csv").status_code == 404
    response = client.get("/api/v1/nurture-queues/")
    assert response.json()["results"][0]["members"] == 2
    assert not ExportRecord.objects.exists()


def test_unknown_queue_is_404_and_anonymous_is_refused(client, manager, routed):
    assert client.get("/api/v1/segments/").status_code in (401, 403)
    client.force_login(manager)
    assert client.get("/api/v1/nurture-queues/999999/export.csv").status_code == 404


def test_filtered_lead_export(client, manager, routed, queue):
    client.force_login(manager)
    response = client.get("/api/v1/leads/export.csv", {"queue": queue.pk, "status": "new"})
    _header, *rows = _export_rows(response)
    assert len(rows) == 3
    assert ExportRecord.objects.get().filters == {"queue": str(queue.pk), "status": "new"}
    assert client.get("/api/v1/leads/export.csv", {"status": "nonsense"}).status_code == 400
