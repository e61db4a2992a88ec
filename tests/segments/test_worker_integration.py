"""Routing through a real Celery worker, Redis and PostgreSQL: lead change -> score -> routed, decision recorded."""

from __future__ import annotations

import pytest

from leads import services as lead_services
from leads.models import Lead
from leads.roles import Role
from scoring import services as scoring_services
from segments import services
from segments.models import LeadPlacement, NurtureMembership, PolicyKind, RoutingDecision, Segment
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
