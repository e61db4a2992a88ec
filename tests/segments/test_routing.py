"""Routing one lead: segments in order, every assignment policy, capacity, pins and hand-set owners."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from leads import services as lead_services
from leads.models import Lead
from leads.roles import Role
from segments import services
from segments.models import (
    LeadPlacement,
    NurtureMembership,
    PolicyKind,
    RoutingDecision,
    Segment,
    StageVisit,
)
from tests import factories

pytestmark = pytest.mark.django_db


def _segment(name, conditions=(), **kwargs):
    """Create a segment without starting the bulk job (tests route explicitly)."""
    data = {"name": name, "conditions": list(conditions), **kwargs}
    cleaned = services.validate_segment_data(data)
    segment = Segment(**cleaned)
    segment.full_clean()
    segment.save()
    return segment


def _lead(country="DE", employees=50, budget="unknown", **kwargs):
    company = factories.CompanyFactory(country=country, employee_count=employees)
    return factories.LeadFactory(company=company, qualification={"budget": budget}, **kwargs)


def _policy(kind, **kwargs):
    return services.save_assignment_policy(data={"name": f"{kind}-{kwargs.get('capacity')}", "kind": kind, **kwargs})


BUDGET_NONE = [{"attribute": "bant.budget", "operator": "eq", "value": "none"}]


def test_first_matching_segment_wins_and_fallback_catches_the_rest(first_stage, queue):
    _segment("No budget", BUDGET_NONE, priority=10, queue=queue)
    _segment(
        "Small", [{"attribute": "company.employees", "operator": "lt", "value": 200}], priority=20, stage=first_stage
    )
    fallback = _segment("Rest", is_fallback=True, priority=1, queue=queue)
    no_budget, small, big = _lead(budget="none", employees=10), _lead(employees=10), _lead(employees=5000)
    assert services.route_lead(lead_id=no_budget.pk).to_segment.name == "No budget"
    assert services.route_lead(lead_id=small.pk).to_segment.name == "Small"
    # The fallback is tried last even with the lowest priority number.
    assert services.route_lead(lead_id=big.pk).to_segment_id == fallback.pk


def test_route_records_decision_stage_visit_and_queue_membership(first_stage, queue):
    _segment("No budget", BUDGET_NONE, priority=10, queue=queue)
    _segment("Rest", is_fallback=True, stage=first_stage)
    lead = _lead(budget="none")
    decision = services.route_lead(lead_id=lead.pk)
    assert decision.to_queue == queue and decision.from_segment is None
    assert decision.matched_conditions == [{**BUDGET_NONE[0], "window_days": None}]
    stay = NurtureMembership.objects.get(lead=lead, left_at__isnull=True)
    assert stay.revisit_on == timezone.localdate() + timedelta(days=90)
    assert "No budget" in stay.reason
    # Budget found: the lead leaves the queue and enters the pipeline's first stage.
    lead_services.update_qualification(lead=lead, data={"budget": "approved"})
    decision = services.route_lead(lead_id=lead.pk)
    assert (decision.from_queue, decision.to_stage) == (queue, first_stage)
    assert NurtureMembership.objects.get(lead=lead).left_at is not None
    visit = StageVisit.objects.get(lead=lead)
    assert visit.stage == first_stage and visit.left_at is None
    placement = LeadPlacement.objects.get(lead=lead)
    assert (placement.queue, placement.stage, placement.segment.name) == (None, first_stage, "Rest")


def test_deleting_a_segment_keeps_the_decisions_and_clears_their_reference(first_stage, queue):
    """The decision log's references carry no database constraint: Django's on_delete still clears them."""
    no_budget = _segment("No budget", BUDGET_NONE, priority=10, queue=queue)
    _segment("Rest", is_fallback=True, stage=first_stage)
    lead = _lead(budget="none")
    decision = services.route_lead(lead_id=lead.pk)
    assert decision.to_segment_id == no_budget.pk
    services.delete_segment(segment=no_budget)
    decision.refresh_from_db()
    assert decision.to_segment_id is None and decision.to_queue_id == queue.pk
    assert RoutingDecision.objects.filter(lead=lead).count() == 1


def test_routing_twice_writes_nothing_new(first_stage):
    _segment("Rest", is_fallback=True, stage=first_stage)
    lead = _lead()
    assert services.route_lead(lead_id=lead.pk) is not None
    assert services.route_lead(lead_id=lead.pk) is None
    assert services.route_leads(lead_ids=[lead.pk]) == 0
    assert RoutingDecision.objects.filter(lead=lead).count() == 1


def test_round_robin_takes_turns_within_the_team(first_stage, reps):
    policy = _policy(PolicyKind.ROUND_ROBIN, team=reps[0].membership.team)
    _segment("All", is_fallback=True, stage=first_stage, policy=policy)
    leads = [_lead() for _ in range(6)]
    owners = [services.route_lead(lead_id=lead.pk).to_owner for lead in leads]
    assert owners == reps + reps
    assert [Lead.objects.get(pk=lead.pk).owner for lead in leads] == reps + reps
    decision = RoutingDecision.objects.filter(lead=leads[0]).get()
    assert decision.policy == policy and policy.name in decision.policy_note


def test_territory_policy_uses_team_countries_and_regions(first_stage, reps, dach):
    bavaria = factories.TeamFactory(name="Bavaria", countries=["DE"], regions=["Bavaria"])
    bavarian = factories.UserFactory(username="bav", role=Role.SALES_REP, team=bavaria)
    policy = _policy(PolicyKind.TERRITORY)
    _segment("All", is_fallback=True, stage=first_stage, policy=policy)
    munich = _lead(country="DE")
    munich.company.region = "bavaria"
    munich.company.save()
    vienna, lima = _lead(country="AT"), _lead(country="PE")
    assert services.route_lead(lead_id=munich.pk).to_owner == bavarian
    assert services.route_lead(lead_id=vienna.pk).to_owner in reps
    assert Lead.objects.get(pk=vienna.pk).team == dach
    outside = services.route_lead(lead_id=lima.pk)
    assert outside.to_owner is None and "territory" in outside.policy_note


def test_fixed_user_and_never_an_inactive_user(first_stage, reps):
    fixed = reps[1]
    policy = _policy(PolicyKind.FIXED_USER, user=fixed)
    _segment("All", is_fallback=True, stage=first_stage, policy=policy)
    assert services.route_lead(lead_id=_lead().pk).to_owner == fixed
    fixed.is_active = False
    fixed.save()
    decision = services.route_lead(lead_id=_lead().pk)
    assert decision.to_owner is None
    with pytest.raises(ValidationError):
        _policy(PolicyKind.FIXED_USER, user=fixed, capacity=1)


def test_inactive_reps_are_skipped_by_round_robin_and_least_loaded(first_stage, reps):
    reps[0].is_active = False
    reps[0].save()
    for kind in (PolicyKind.ROUND_ROBIN, PolicyKind.LEAST_LOADED):
        Segment.objects.all().delete()
        _segment("All", is_fallback=True, stage=first_stage, policy=_policy(kind))
        owners = {services.route_lead(lead_id=_lead().pk).to_owner for _ in range(4)}
        assert reps[0] not in owners and owners <= set(reps[1:])


def test_least_loaded_respects_capacity(first_stage, reps):
    # reps[0] already owns two open leads; reps[1] owns one closed lead (not counted).
    for _ in range(2):
        _lead(owner=reps[0])
    _lead(owner=reps[1], status="won")
    services.set_rep_capacity(user=reps[2], max_open_leads=1)
    policy = _policy(PolicyKind.LEAST_LOADED, capacity=2)
    _segment("All", is_fallback=True, stage=first_stage, policy=policy)
    owners = [services.route_lead(lead_id=_lead().pk).to_owner for _ in range(5)]
    # loads start 2/0/0 with limits 2/2/1: reps[1], reps[2], reps[1], then nobody has room.
    assert owners == [reps[1], reps[2], reps[1], None, None]
    for rep in reps:
        open_leads = Lead.objects.filter(owner=rep).exclude(status="won").count()
        assert open_leads <= 2


def test_round_robin_skips_reps_at_capacity(first_stage, reps):
    services.set_rep_capacity(user=reps[0], max_open_leads=0)
    _segment("All", is_fallback=True, stage=first_stage, policy=_policy(PolicyKind.ROUND_ROBIN))
    owners = [services.route_lead(lead_id=_lead().pk).to_owner for _ in range(4)]
    assert reps[0] not in owners and set(owners) == set(reps[1:])


def test_pinned_lead_is_never_moved(first_stage, queue):
    segment = _segment("No budget", BUDGET_NONE, queue=queue)
    lead = _lead(budget="none")
    services.pin_lead(lead=lead)
    assert services.route_lead(lead_id=lead.pk) is None
    assert services.route_leads(lead_ids=[lead.pk]) == 0
    assert not NurtureMembership.objects.filter(lead=lead).exists()
    services.pin_lead(lead=lead, pinned=False)
    assert services.route_lead(lead_id=lead.pk).to_segment == segment


def test_owner_set_by_hand_is_kept(first_stage, reps, queue):
    policy = _policy(PolicyKind.ROUND_ROBIN)
    _segment("No budget", BUDGET_NONE, queue=queue, priority=1)
    _segment("All", is_fallback=True, stage=first_stage, policy=policy)
    lead = _lead(budget="none")
    services.route_lead(lead_id=lead.pk)
    outsider = factories.UserFactory(username="outsider", role=Role.SALES_REP)
    services.change_lead_owner(lead=lead, owner=outsider)
    lead_services.update_qualification(lead=lead, data={"budget": "approved"})
    decision = services.route_lead(lead_id=lead.pk)
    assert decision.to_stage == first_stage  # the lead moves on ...
    assert decision.to_owner == outsider  # ... with the owner a person chose
    assert Lead.objects.get(pk=lead.pk).owner == outsider


def test_owner_changed_through_leads_service_counts_as_by_hand(first_stage, reps, queue):
    _segment("No budget", BUDGET_NONE, queue=queue, priority=1)
    _segment("All", is_fallback=True, stage=first_stage, policy=_policy(PolicyKind.ROUND_ROBIN))
    lead = _lead(budget="none")
    services.route_lead(lead_id=lead.pk)
    outsider = factories.UserFactory(username="outsider2", role=Role.SALES_REP)
    lead_services.update_lead(lead=lead, data={"owner": outsider})  # not through routing
    lead_services.update_qualification(lead=lead, data={"budget": "approved"})
    assert services.route_leads(lead_ids=[lead.pk]) == 1  # the bulk path too
    assert Lead.objects.get(pk=lead.pk).owner == outsider


def test_closed_leads_are_not_routed(first_stage):
    _segment("All", is_fallback=True, stage=first_stage)
    lead = _lead(status="won")
    assert services.route_lead(lead_id=lead.pk) is None


def test_manual_stage_move_keeps_history_with_time_spent(first_stage, pipeline):
    _segment("All", is_fallback=True, stage=first_stage)
    lead = _lead()
    services.route_lead(lead_id=lead.pk)
    contacted = pipeline.stages.get(position=2)
    services.move_lead_to_stage(lead=lead, stage=contacted)
    visits = list(StageVisit.objects.filter(lead=lead).order_by("id"))
    assert [v.stage for v in visits] == [first_stage, contacted]
    assert visits[0].left_at is not None and visits[0].left_at >= visits[0].entered_at
    # Routing again keeps the stage the rep chose (same pipeline).
    assert services.route_lead(lead_id=lead.pk) is None
    assert LeadPlacement.objects.get(lead=lead).stage == contacted


def test_segment_validation():
    with pytest.raises(ValidationError) as err:
        services.validate_segment_data({"name": "x", "conditions": [{"attribute": "nope", "operator": "eq"}]})
    assert "conditions" in err.value.message_dict
    with pytest.raises(ValidationError):
        services.validate_segment_data(
            {"name": "x", "conditions": [{"attribute": "score.total", "operator": "gte", "value": "abc"}]}
        )
    with pytest.raises(ValidationError) as err:
        services.validate_segment_data({"name": "x", "conditions": []})
    assert "stage" in err.value.message_dict


def test_bulk_move_between_pipelines_and_queues_keeps_one_open_visit_and_stay(first_stage, queue):
    """A segment change moves leads pipeline -> other pipeline and queue -> other queue in one batch."""
    other_stage = services.create_pipeline(name="Other", stages=["Start", "Won"]).stages.get(position=1)
    other_queue = services.create_nurture_queue(name="Later")
    no_budget = _segment("No budget", BUDGET_NONE, priority=1, queue=queue)
    rest = _segment("Rest", is_fallback=True, stage=first_stage)
    in_queue, in_pipeline = _lead(budget="none"), _lead()
    ids = [in_queue.pk, in_pipeline.pk]
    assert services.route_leads(lead_ids=ids) == 2
    Segment.objects.filter(pk=no_budget.pk).update(queue=other_queue)
    Segment.objects.filter(pk=rest.pk).update(stage=other_stage)
    moved = services.route_leads_sql(leads=Lead.objects.filter(id__in=ids), reason="segment_change")
    assert moved.moved_lead_ids == sorted(ids)
    stays = list(NurtureMembership.objects.filter(lead=in_queue).order_by("id"))
    assert [(s.queue, s.left_at is None) for s in stays] == [(queue, False), (other_queue, True)]
    visits = list(StageVisit.objects.filter(lead=in_pipeline).order_by("id"))
    assert [(v.stage, v.left_at is None) for v in visits] == [(first_stage, False), (other_stage, True)]
    decision = RoutingDecision.objects.filter(lead=in_pipeline).order_by("-id").first()
    assert (decision.from_stage, decision.to_stage, decision.reason) == (first_stage, other_stage, "segment_change")
    # A second run finds nothing to move and writes nothing.
    assert services.route_leads_sql(leads=Lead.objects.filter(id__in=ids), reason="segment_change").moved_lead_ids == []
    assert RoutingDecision.objects.filter(lead__in=ids).count() == 4
