"""Routing through a real Celery worker, Redis and PostgreSQL: lead change -> score -> routed, decision recorded."""

from __future__ import annotations

import pytest

from leads import services as lead_services
from leads.jobs import JobState
from leads.models import Lead
from leads.roles import Role
from scoring import services as scoring_services
from segments import services
from segments.models import LeadPlacement, NurtureMembership, PolicyKind, RoutingDecision, RoutingJob, Segment
from tests import factories
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration]

RULES = [
    {
        "name": "Budget approved",
        "attribute": "bant.budget",
        "operator": "eq",
        "value": "approved",
        "points": 30,
        "category": "qualification",
    }
]


def test_lead_change_is_scored_then_routed_by_the_worker(start_worker):
    scoring_services.replace_rule_set(rules=RULES, start_job=False)
    team = factories.TeamFactory(name="DACH", countries=["DE"])
    rep = factories.UserFactory(username="worker-rep", role=Role.SALES_REP, team=team)
    stage = services.create_pipeline(name="Sales", stages=["New", "Won"]).stages.get(position=1)
    queue = services.create_nurture_queue(name="Warm up")
    policy = services.save_assignment_policy(data={"name": "rr", "kind": PolicyKind.ROUND_ROBIN})
    hot = Segment.objects.create(
        name="Hot", priority=1, stage=stage, policy=policy,
        conditions=[{"attribute": "score.total", "operator": "gte", "value": 30}],
    )  # fmt: skip
    Segment.objects.create(name="Rest", is_fallback=True, queue=queue)
    start_worker(concurrency=2)
    lead = lead_services.create_lead(data={"email": "ada@acme.com"})
    assert wait_until(lambda: LeadPlacement.objects.filter(lead=lead, queue=queue).exists(), timeout=30)
    lead_services.update_qualification(lead=lead, data={"budget": "approved"})
    assert wait_until(lambda: LeadPlacement.objects.filter(lead=lead, segment=hot).exists(), timeout=30)
    assert wait_until(lambda: Lead.objects.get(pk=lead.pk).owner_id == rep.pk, timeout=30)
    decision = RoutingDecision.objects.filter(lead=lead, to_segment=hot).get()
    assert (decision.from_queue, decision.to_stage, decision.to_owner, decision.policy) == (queue, stage, rep, policy)
    assert decision.matched_conditions[0]["attribute"] == "score.total"
    assert NurtureMembership.objects.get(lead=lead).left_at is not None
    # The owner change bumped the version and was rescored: no further move happened.
    assert wait_until(lambda: lead.score.__class__.objects.get(lead=lead).lead_version == 3, timeout=30)
    assert RoutingDecision.objects.filter(lead=lead).count() == 2


def test_killed_worker_mid_routing_job_resumes_in_lanes_and_writes_each_move_once(start_worker):
    """SIGKILL a worker while its routing job runs in two lanes; a new worker finishes it from the cursor."""
    queue = services.create_nurture_queue(name="Warm up")
    Segment.objects.create(name="Rest", is_fallback=True, queue=queue)
    Lead.objects.bulk_create(Lead(email=f"l{i}@acme.com") for i in range(6000))
    small_chunks = {"ROUTING_CHUNK_SIZE": "150", "ROUTING_LANES": "2"}
    worker = start_worker(concurrency=1, env=small_chunks)
    job = services.start_routing_job()
    assert wait_until(lambda: RoutingJob.objects.get(pk=job.pk).chunks_done >= 2, timeout=60, interval=0.02)
    worker.kill()
    job.refresh_from_db()
    assert job.state == JobState.RUNNING and 0 < job.done < job.total
    # What committed is what the cursor covers: the other lane's chunk in flight rolled back.
    assert LeadPlacement.objects.count() == Lead.objects.filter(id__lte=job.cursor).count() == job.moved
    start_worker(concurrency=1, env=small_chunks)
    assert wait_until(lambda: RoutingJob.objects.get(pk=job.pk).state == JobState.DONE, timeout=120)
    job.refresh_from_db()
    assert job.moved == LeadPlacement.objects.filter(queue=queue).count() == 6000
    assert RoutingDecision.objects.count() == 6000  # no chunk wrote its decisions twice
    assert NurtureMembership.objects.filter(queue=queue, left_at__isnull=True).count() == 6000
