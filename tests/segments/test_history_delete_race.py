"""A lead deleted while routing writes its history leaves no history behind (PostgreSQL, two connections).

Decisions, queue stays and stage visits carry no database constraint to their lead
(segments.models.HISTORY_LEAD), so these races are what keeps them from outliving it:
a deletion waits for a routing write in flight (Django deletes the placement, whose row the
write holds, before the history) and deletes what it wrote, and a routing write after a
deletion writes nothing for the deleted lead.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads.models import Lead, Qualification
from segments import services
from segments.models import LeadPlacement, NurtureMembership, RoutingDecision, Segment, StageVisit
from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def segments(require_postgres, first_stage, queue):
    Segment.objects.create(
        name="No budget", priority=1, queue=queue,
        conditions=[{"attribute": "bant.budget", "operator": "eq", "value": "none"}],
    )  # fmt: skip
    return Segment.objects.create(name="Rest", is_fallback=True, stage=first_stage)


def _history(lead_id):
    return (
        RoutingDecision.objects.filter(lead_id=lead_id).count()
        + NurtureMembership.objects.filter(lead_id=lead_id).count()
        + StageVisit.objects.filter(lead_id=lead_id).count()
    )


def _in_thread(target):
    errors = []

    def run():
        try:
            target()
        except BaseException as exc:  # re-raised by the test
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def _blocked_pids():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0")
        return cursor.fetchone()[0]


def _wait_until_blocked(thread):
    for _ in range(200):
        if _blocked_pids():
            return True
        thread.join(timeout=0.02)
    return False


def test_deleting_a_lead_deletes_its_placement_before_its_history(segments):
    lead = factories.LeadFactory()
    with CaptureQueriesContext(connection) as queries:
        Lead.objects.filter(pk=lead.pk).delete()
    deletes = [q["sql"].split('"')[1] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    history = ("segments_stagevisit", "segments_nurturemembership", "segments_routingdecision")
    assert all(deletes.index("segments_leadplacement") < deletes.index(table) for table in history), deletes


def test_a_deletion_waits_for_the_routing_write_in_flight_and_deletes_its_history(segments):
    lead = factories.LeadFactory(qualification={"budget": "unknown"})
    services.route_lead(lead_id=lead.pk)  # placed in the pipeline: one decision, one visit
    Qualification.objects.filter(lead=lead).update(budget="none")
    written, release = threading.Event(), threading.Event()

    def reroute():
        with transaction.atomic():
            services.route_leads_sql(leads=Lead.objects.filter(pk=lead.pk), reason="rescore")
            written.set()
            assert release.wait(timeout=10)

    router, router_errors = _in_thread(reroute)
    assert written.wait(timeout=10)
    deleter, deleter_errors = _in_thread(lambda: Lead.objects.filter(pk=lead.pk).delete())
    assert _wait_until_blocked(deleter), "the deletion should wait for the routing write's placement lock"
    release.set()
    router.join(timeout=10)
    deleter.join(timeout=10)
    assert router_errors == [] and deleter_errors == []
    assert not Lead.objects.filter(pk=lead.pk).exists()
    assert _history(lead.pk) == 0


def test_a_routing_write_after_a_deletion_writes_nothing_for_the_deleted_lead(segments):
    gone, kept = (factories.LeadFactory(qualification={"budget": "unknown"}) for _ in range(2))
    services.route_leads(lead_ids=[gone.pk, kept.pk])
    Qualification.objects.update(budget="none")
    before = RoutingDecision.objects.filter(lead=kept).count()

    # The routing write's moves were read while the lead still existed; the deletion commits
    # before the write (what a job's second lane, or a slow chunk, can meet).
    with transaction.atomic(), connection.cursor() as cursor:
        now = timezone.now()
        targets = services._targets_sql(Lead.objects.filter(pk__in=[gone.pk, kept.pk]), now)
        moves = services._collect_moves(cursor, *targets, now=now)
        deleter, errors = _in_thread(lambda: Lead.objects.filter(pk=gone.pk).delete())
        deleter.join(timeout=10)
        assert errors == [] and not Lead.objects.filter(pk=gone.pk).exists()
        services._write_moves(cursor, moves, reason="rescore", job_id=None)
    assert _history(gone.pk) == 0 and not LeadPlacement.objects.filter(lead_id=gone.pk).exists()
    assert RoutingDecision.objects.filter(lead=kept).count() == before + 1
    assert NurtureMembership.objects.filter(lead=kept, left_at__isnull=True).exists()


def test_a_lead_placed_by_another_routing_between_reading_and_writing_is_updated(segments):
    lead = factories.LeadFactory(qualification={"budget": "none"})  # never routed: no placement yet
    with transaction.atomic(), connection.cursor() as cursor:
        now = timezone.now()
        moves = services._collect_moves(cursor, *services._targets_sql(Lead.objects.filter(pk=lead.pk), now), now=now)
        other, errors = _in_thread(lambda: services.route_lead(lead_id=lead.pk))
        other.join(timeout=10)
        assert errors == [] and LeadPlacement.objects.filter(lead=lead).exists()
        # The placement this write expected to insert exists now: it updates it instead, no error.
        assert services._write_moves(cursor, moves, reason="rescore", job_id=None) == [lead.pk]
    placement = LeadPlacement.objects.get(lead=lead)
    assert (
        placement.queue_id is not None
        and NurtureMembership.objects.filter(lead=lead, left_at__isnull=True).count() == 1
    )
