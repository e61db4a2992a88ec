"""A routing job in lanes (PostgreSQL: a chunk's reading overlaps the chunk before it's writing).

Committed data: the second lane is another connection, which sees only what is committed.
The lanes path must route exactly as one lane does (owners picked in the same order,
capacity held), and a crash or a newer job must stop it at a chunk boundary with the
cursor, the counters and the written rows agreeing.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from leads.models import Lead
from segments import services
from segments.models import (
    AssignmentPolicy,
    LeadPlacement,
    NurtureMembership,
    PolicyKind,
    RoutingDecision,
    RoutingJob,
    Segment,
    StageVisit,
)
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

BUDGET_NONE = [{"attribute": "bant.budget", "operator": "eq", "value": "none"}]
SMALL = [{"attribute": "company.employees", "operator": "lt", "value": 200}]


@pytest.fixture
def routed_base(first_stage, queue, reps):
    """40 leads over three segments: a queue, a round-robin pipeline with capacity, a least-loaded fallback."""
    team = reps[0].membership.team
    round_robin = services.save_assignment_policy(
        data={"name": "rr", "kind": PolicyKind.ROUND_ROBIN, "team": team, "capacity": 6}
    )
    least_loaded = services.save_assignment_policy(data={"name": "ll", "kind": PolicyKind.LEAST_LOADED, "team": team})
    for name, conditions, destination, priority in (
        ("No budget", BUDGET_NONE, {"queue": queue}, 1),
        ("Small", SMALL, {"stage": first_stage, "policy": round_robin}, 2),
    ):
        Segment.objects.create(name=name, conditions=conditions, priority=priority, **destination)
    Segment.objects.create(name="Rest", is_fallback=True, stage=first_stage, policy=least_loaded)
    for i in range(40):
        company = factories.CompanyFactory(country="DE", employee_count=50 if i % 3 else 900)
        factories.LeadFactory(company=company, qualification={"budget": "none" if i % 4 == 0 else "unknown"})
    return reps


def _routed_state():
    placements = {
        p.lead_id: (p.segment_id, p.stage_id, p.queue_id, p.routed_owner_id) for p in LeadPlacement.objects.all()
    }
    owners = dict(Lead.objects.values_list("id", "owner_id"))
    decisions = sorted(
        RoutingDecision.objects.values_list("lead_id", "to_segment_id", "to_owner_id", "policy_id", "policy_note")
    )
    stays = sorted(NurtureMembership.objects.filter(left_at__isnull=True).values_list("lead_id", "queue_id"))
    visits = sorted(StageVisit.objects.filter(left_at__isnull=True).values_list("lead_id", "stage_id"))
    return placements, owners, decisions, stays, visits


def _unroute(owners):
    RoutingDecision.objects.all().delete()
    NurtureMembership.objects.all().delete()
    StageVisit.objects.all().delete()
    LeadPlacement.objects.all().delete()
    for lead_id, owner_id in owners.items():
        Lead.objects.filter(pk=lead_id).update(owner_id=owner_id)
    AssignmentPolicy.objects.update(turns=0)


def _run(lanes, **kwargs):
    threads = set()

    def seen(job):
        threads.add(threading.current_thread().name)
        kwargs.get("on_chunk", lambda job: None)(job)

    job = services.start_routing_job(enqueue=False)
    job = services.run_routing_job(job_id=job.pk, chunk_size=3, lanes=lanes, on_chunk=seen)
    return job, threads


def test_lanes_route_exactly_as_one_lane(routed_base):
    before = dict(Lead.objects.values_list("id", "owner_id"))
    in_lanes, threads = _run(lanes=2)
    assert in_lanes.state == "done" and in_lanes.moved == 40 and in_lanes.chunks_done == 14
    if connection.vendor == "postgresql":  # elsewhere one lane runs whatever is asked
        assert "sweep-lane-1" in threads
    lanes_state = _routed_state()
    assert len(lanes_state[0]) == 40 and len(lanes_state[2]) == 40
    assert set(lanes_state[1].values()) >= {rep.pk for rep in routed_base}  # every rep got leads
    _unroute(before)
    one_lane, threads = _run(lanes=1)
    assert threads == {threading.current_thread().name}
    assert (one_lane.state, one_lane.moved) == ("done", 40)
    assert _routed_state() == lanes_state


def test_a_crash_in_lanes_stops_at_a_chunk_boundary(routed_base):
    def crash(job):
        if job.chunks_done == 3:
            raise RuntimeError("worker died")

    with pytest.raises(RuntimeError):
        _run(lanes=2, on_chunk=crash)
    job = RoutingJob.objects.get()
    assert job.state == "failed" and job.chunks_done == 3
    # What committed is exactly the three chunks the cursor covers (the next lane's chunk rolled back).
    routed = set(LeadPlacement.objects.values_list("lead_id", flat=True))
    assert routed == set(Lead.objects.filter(id__lte=job.cursor).values_list("id", flat=True))
    assert RoutingDecision.objects.filter(job=job).count() == job.moved == len(routed) == 9
    done, _threads = _run(lanes=2)
    assert done.state == "done" and LeadPlacement.objects.count() == 40


def test_a_newer_job_stops_lanes_at_the_next_chunk(routed_base):
    newer = []

    def supersede(job):
        if job.chunks_done == 2 and not newer:
            newer.append(services.start_routing_job(enqueue=False))

    old, _threads = _run(lanes=2, on_chunk=supersede)
    assert old.state == "superseded" and old.chunks_done == 2
    assert RoutingDecision.objects.filter(job=old).count() == old.moved == LeadPlacement.objects.count() == 6
    done = services.run_routing_job(job_id=newer[0].pk, chunk_size=3, lanes=2)
    assert (done.state, done.moved) == ("done", 34)
