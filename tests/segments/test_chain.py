"""The chain lead change -> score -> route, and that owner assignment cannot loop back into routing."""

from __future__ import annotations

import pytest

from leads import services as lead_services
from leads.models import Lead
from scoring import services as scoring_services
from scoring.models import LeadScore
from scoring.signals import score_changed
from segments import services
from segments.models import LeadPlacement, PolicyKind, RoutingDecision, RoutingJob, Segment
from tests import factories

pytestmark = pytest.mark.django_db

RULES = [
    {
        "name": "Budget approved",
        "attribute": "bant.budget",
        "operator": "eq",
        "value": "approved",
        "points": 50,
        "category": "qualification",
    }
]


def test_owner_assignment_rescores_without_a_score_change(first_stage, reps, django_capture_on_commit_callbacks):
    """Routing gives an owner through update_lead (version bump, rescore); the rescore changes nothing: no loop."""
    scoring_services.replace_rule_set(rules=RULES, start_job=False)
    policy = services.save_assignment_policy(data={"name": "rr", "kind": PolicyKind.ROUND_ROBIN})
    Segment.objects.create(
        name="Hot",
        stage=first_stage,
        policy=policy,
        conditions=[{"attribute": "score.total", "operator": "gte", "value": 25}],
    )
    signals: list[tuple[int, ...]] = []

    def listen(sender, lead_ids, reason, **kwargs):
        signals.append(lead_ids)

    score_changed.connect(listen, dispatch_uid="test-listen")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            lead = lead_services.create_lead(data={"email": "ada@acme.com"})
        with django_capture_on_commit_callbacks(execute=True):
            lead_services.update_qualification(lead=lead, data={"budget": "approved"})
    finally:
        score_changed.disconnect(dispatch_uid="test-listen")
    lead.refresh_from_db()
    # create -> score 0 (signal), budget -> score 30 after caps (signal) -> routed, owner set ->
    # version bump -> rescored with the same values -> no third signal, no second decision.
    assert signals == [(lead.pk,), (lead.pk,)]
    assert lead.owner == reps[0] and lead.version == 3
    assert LeadScore.objects.get(lead=lead).lead_version == 3
    assert RoutingDecision.objects.filter(lead=lead).count() == 1
    assert LeadPlacement.objects.get(lead=lead).stage == first_stage


def test_segment_change_starts_a_bulk_job_that_reroutes(first_stage, queue, django_capture_on_commit_callbacks):
    leads = [factories.LeadFactory(qualification={"budget": "none"}) for _ in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        segment = services.save_segment(data={"name": "Rest", "is_fallback": True, "stage": first_stage})
    assert LeadPlacement.objects.filter(segment=segment).count() == 5
    with django_capture_on_commit_callbacks(execute=True):
        services.save_segment(
            data={
                "name": "No budget",
                "priority": 1,
                "queue": queue,
                "conditions": [{"attribute": "bant.budget", "operator": "eq", "value": "none"}],
            }
        )
    job = RoutingJob.objects.order_by("-id").first()
    assert (job.state, job.moved, job.total) == ("done", 5, 5)
    assert all(p.queue == queue for p in LeadPlacement.objects.filter(lead__in=leads))
    assert RoutingDecision.objects.filter(job=job).count() == 5


def test_routing_job_resumes_and_is_superseded(first_stage):
    for _ in range(6):
        factories.LeadFactory()
    Segment.objects.create(name="Rest", is_fallback=True, stage=first_stage)
    job = services.start_routing_job(enqueue=False)
    seen = []
    with pytest.raises(RuntimeError):
        services.run_routing_job(job_id=job.pk, chunk_size=2, on_chunk=lambda j: seen.append(j.done) or _boom(j))
    # A newer change supersedes the old job; the old one stops at its next chunk.
    newer = services.start_routing_job(enqueue=False)
    assert services.run_routing_job(job_id=job.pk, chunk_size=2).state in ("failed", "superseded")
    done = services.run_routing_job(job_id=newer.pk, chunk_size=2)
    assert done.state == "done" and LeadPlacement.objects.count() == 6


def _boom(job):
    raise RuntimeError("worker died")


def test_preview_counts_moves_without_writing(first_stage, queue):
    for _ in range(3):
        factories.LeadFactory(qualification={"budget": "none"})
    factories.LeadFactory()
    rest = Segment.objects.create(name="Rest", is_fallback=True, stage=first_stage)
    services.route_leads(lead_ids=list(LeadPlacement.objects.values_list("lead_id", flat=True)) or [0])
    services.route_leads_sql(leads=Lead.objects.all(), reason="rescore")
    data = {
        "name": "No budget",
        "priority": 1,
        "queue": queue,
        "conditions": [{"attribute": "bant.budget", "operator": "eq", "value": "none"}],
    }
    moves = services.preview_segment_change(segment=None, data=data)
    assert [(m.from_segment, m.to_segment, m.leads) for m in moves] == [("Rest", "No budget", 3)]
    assert not Segment.objects.filter(name="No budget").exists()
    assert LeadPlacement.objects.filter(segment=rest).count() == 4
