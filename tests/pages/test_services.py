"""The services behind the board and the lead list: a stage move with its outcome, bulk assignment."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.apps import apps
from django.core.exceptions import ValidationError
from django.utils import timezone

from leads.models import Lead, LeadStatus
from leads.roles import Role
from leads.signals import lead_changed
from segments import services as segment_services
from segments.defaults import seed_default_segments
from segments.models import LeadPlacement, RoutingDecision, Stage, StageOutcome, StageVisit
from tests import factories
from tests.conftest import uses_postgres

pytestmark = pytest.mark.django_db


# --- moving a lead to a stage with an outcome ---------------------------------------------------


def _state(lead):
    lead = Lead.objects.select_related("placement").get(pk=lead.pk)
    return lead.status, lead.status_reason, lead.placement.stage_id, lead.version


def test_a_lost_stage_needs_a_reason_and_nothing_changes_without_one(rep_lead, stages, place):
    place(rep_lead, stages["Proposal"])
    before, visits = _state(rep_lead), StageVisit.objects.count()
    for reason in ("", "   "):
        with pytest.raises(ValidationError) as exc:
            segment_services.move_lead_to_stage_with_outcome(lead=rep_lead.pk, stage=stages["Lost"], reason=reason)
        assert exc.value.message_dict == {"reason": ["Give a reason when a lead is lost."]}
    assert _state(rep_lead) == before
    assert StageVisit.objects.count() == visits


def test_moving_to_lost_sets_status_and_reason_in_one_write(rep_lead, stages, place, rep):
    place(rep_lead, stages["Proposal"])
    move = segment_services.move_lead_to_stage_with_outcome(
        lead=rep_lead.pk, stage=stages["Lost"], reason="  Went with a competitor  ", acting_user=rep
    )
    status, reason, stage_id, _version = _state(rep_lead)
    assert (status, reason, stage_id) == (LeadStatus.LOST, "Went with a competitor", stages["Lost"].pk)
    assert move.old_status == LeadStatus.NEW and move.lead.status == LeadStatus.LOST
    assert StageVisit.objects.get(lead=rep_lead, left_at__isnull=True).stage == stages["Lost"]
    decision = RoutingDecision.objects.filter(lead=rep_lead).latest("id")
    assert (decision.reason, decision.to_stage_id) == ("manual", stages["Lost"].pk)
    assert Lead.history.filter(id=rep_lead.pk).latest("history_date").history_user == rep


def test_won_and_reopening(rep_lead, stages, place):
    place(rep_lead, stages["Proposal"])
    segment_services.move_lead_to_stage_with_outcome(lead=rep_lead.pk, stage=stages["Won"])
    assert _state(rep_lead)[:2] == (LeadStatus.WON, "")
    segment_services.move_lead_to_stage_with_outcome(lead=rep_lead.pk, stage=stages["Lost"], reason="Churned")
    assert _state(rep_lead)[:2] == (LeadStatus.LOST, "Churned")
    # Back to an open stage: the deal is alive again, the lost reason goes.
    segment_services.move_lead_to_stage_with_outcome(lead=rep_lead.pk, stage=stages["Proposal"])
    assert _state(rep_lead)[:2] == (LeadStatus.WORKING, "")


@pytest.mark.parametrize(("stage", "reason"), [("Won", ""), ("Lost", "Went with a competitor")])
def test_a_move_to_won_or_lost_is_the_leads_first_touch(rep_lead, stages, place, stage, reason):
    """The status change away from New goes through leads.services, which keeps the first touch."""
    place(rep_lead, stages["Contacted"])  # an open stage: still New, not touched
    assert Lead.objects.get(pk=rep_lead.pk).first_touched_at is None
    when = timezone.now() + timedelta(hours=2)
    with time_machine.travel(when, tick=False):
        segment_services.move_lead_to_stage_with_outcome(lead=rep_lead.pk, stage=stages[stage], reason=reason)
    assert Lead.objects.get(pk=rep_lead.pk).first_touched_at == when
    # Reopened and closed again: the first touch stays the first.
    with time_machine.travel(when + timedelta(days=1), tick=False):
        segment_services.move_lead_to_stage_with_outcome(lead=rep_lead.pk, stage=stages["Proposal"])
        segment_services.move_lead_to_stage_with_outcome(lead=rep_lead.pk, stage=stages["Won"])
    assert Lead.objects.get(pk=rep_lead.pk).first_touched_at == when


def test_an_open_stage_keeps_an_open_status(rep_lead, stages, place):
    place(rep_lead, stages["New"])
    version = _state(rep_lead)[3]
    segment_services.move_lead_to_stage_with_outcome(lead=rep_lead.pk, stage=stages["Contacted"])
    assert _state(rep_lead) == (LeadStatus.NEW, "", stages["Contacted"].pk, version)


def test_a_failed_status_change_rolls_the_stage_move_back(rep_lead, stages, place, rep):
    """The status write refuses (the owner was deactivated meanwhile): the stage stays where it was."""
    place(rep_lead, stages["Proposal"])
    type(rep).objects.filter(pk=rep.pk).update(is_active=False)
    before = _state(rep_lead)
    with pytest.raises(ValidationError) as exc:
        segment_services.move_lead_to_stage_with_outcome(lead=rep_lead.pk, stage=stages["Won"])
    assert "owner" in exc.value.message_dict
    assert _state(rep_lead) == before
    assert StageVisit.objects.get(lead=rep_lead, left_at__isnull=True).stage == stages["Proposal"]


def test_a_reason_longer_than_the_field_is_refused(rep_lead, stages, place):
    place(rep_lead, stages["Proposal"])
    with pytest.raises(ValidationError) as exc:
        segment_services.move_lead_to_stage_with_outcome(lead=rep_lead.pk, stage=stages["Lost"], reason="x" * 301)
    assert list(exc.value.message_dict) == ["reason"]
    assert _state(rep_lead)[2] == stages["Proposal"].pk


def test_a_stage_of_another_pipeline_is_refused(rep_lead, stages, place):
    place(rep_lead, stages["New"])
    other = segment_services.create_pipeline(name="Other", stages=["Start"]).stages.get()
    with pytest.raises(ValidationError) as exc:
        segment_services.move_lead_to_stage_with_outcome(lead=rep_lead.pk, stage=other)
    assert "stage" in exc.value.message_dict


def test_an_outcome_needs_a_closed_stage(pipeline):
    stage = Stage(pipeline=pipeline, name="Odd", position=9, is_closed=False, outcome=StageOutcome.WON)
    with pytest.raises(ValidationError):
        stage.full_clean()


def test_seeded_pipelines_have_outcomes(db):
    seed_default_segments()
    outcomes = {(s.pipeline.name, s.name): s.outcome for s in Stage.objects.select_related("pipeline")}
    assert outcomes[("Fast track", "Won")] == StageOutcome.WON
    assert outcomes[("Enterprise", "Lost")] == StageOutcome.LOST
    assert outcomes[("Disqualification review", "Disqualified")] == StageOutcome.DISQUALIFIED
    assert outcomes[("Disqualification review", "Kept")] == StageOutcome.OPEN
    assert outcomes[("Enterprise", "Negotiation")] == StageOutcome.OPEN


def test_the_migration_gives_existing_closed_stages_their_outcome(db):
    import importlib

    migration = importlib.import_module("segments.migrations.0006_stage_outcome")
    pipeline = segment_services.create_pipeline(name="Old", stages=["New", "Won", "Lost", "Parked"])
    Stage.objects.filter(pipeline=pipeline).exclude(name="New").update(is_closed=True)
    migration.set_outcomes(apps, None)
    got = dict(Stage.objects.filter(pipeline=pipeline).values_list("name", "outcome"))
    assert got == {"New": "open", "Won": "won", "Lost": "lost", "Parked": "open"}


def test_disqualified_needs_a_reason_too(rep_lead):
    review = segment_services.create_pipeline(
        name="Review", stages=["To review", "Disqualified"], outcomes={"Disqualified": StageOutcome.DISQUALIFIED}
    )
    segment_services.move_lead_to_stage(lead=rep_lead.pk, stage=review.stages.get(position=1))
    target = review.stages.get(position=2)
    with pytest.raises(ValidationError) as exc:
        segment_services.move_lead_to_stage_with_outcome(lead=rep_lead.pk, stage=target)
    assert exc.value.message_dict == {"reason": ["Give a reason when a lead is disqualified."]}
    segment_services.move_lead_to_stage_with_outcome(lead=rep_lead.pk, stage=target, reason="Student")
    assert _state(rep_lead)[:2] == (LeadStatus.DISQUALIFIED, "Student")


# --- bulk assignment ------------------------------------------------------------------------------


@pytest.fixture
def pool(make_lead):
    return [make_lead(owner=None, team=None) for _ in range(5)]


def test_assign_leads_gives_every_lead_the_owner_by_hand(
    pool, rep, manager, make_lead, django_capture_on_commit_callbacks
):
    other = factories.UserFactory(role=Role.SALES_REP, team=factories.TeamFactory(name="Nordics"))
    owned = make_lead(owner=other)
    LeadPlacement.objects.create(lead=owned, routed_owner=other)
    ids = [lead.pk for lead in pool] + [owned.pk]
    versions = dict(Lead.objects.filter(id__in=ids).values_list("id", "version"))
    sent = []
    receiver = lambda sender, lead_ids, reason, **kw: sent.append((lead_ids, reason))  # noqa: E731
    lead_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            result = segment_services.assign_leads(lead_ids=ids, owner=rep, acting_user=manager)
    finally:
        lead_changed.disconnect(receiver)
    assert result.lead_ids == sorted(ids) and result.changed == len(ids)
    leads = {lead.pk: lead for lead in Lead.objects.filter(id__in=ids)}
    assert {lead.owner_id for lead in leads.values()} == {rep.pk}
    assert all(leads[i].version == versions[i] + 1 for i in ids)
    # A lead without a team takes the owner's; one with a team keeps it (as update_lead does).
    assert {leads[lead.pk].team_id for lead in pool} == {rep.membership.team_id}
    assert leads[owned.pk].team_id == owned.team_id
    assert set(LeadPlacement.objects.filter(lead_id__in=ids).values_list("manual_owner", flat=True)) == {True}
    history = Lead.history.filter(id__in=ids, history_type="~")
    assert history.count() == len(ids)
    assert {h.owner_id for h in history} == {rep.pk} and {h.history_user_id for h in history} == {manager.pk}
    assert sent == [(tuple(sorted(ids)), "owner_assigned")]
    # Routing keeps a hand-set owner from now on.
    assert segment_services.assign_leads(lead_ids=ids, owner=rep, acting_user=manager).changed == 0


def test_assign_leads_is_all_or_nothing(pool, rep, manager):
    ids = [lead.pk for lead in pool]
    with pytest.raises(ValidationError) as exc:
        segment_services.assign_leads(lead_ids=[*ids, 987654], owner=rep, acting_user=manager)
    assert "987654" in exc.value.message_dict["lead_ids"][0]
    assert set(Lead.objects.filter(id__in=ids).values_list("owner_id", flat=True)) == {None}
    assert not LeadPlacement.objects.filter(lead_id__in=ids).exists()


def test_assign_leads_refuses_owners_who_cannot_take_leads(pool, manager, marketer):
    ids = [lead.pk for lead in pool]
    inactive = factories.UserFactory(role=Role.SALES_REP, is_active=False)
    for owner, message in (
        (inactive, "Choose an active sales rep."),
        (marketer, "Leads can only be assigned to sales reps."),
        (manager, "Leads can only be assigned to sales reps."),
    ):
        with pytest.raises(ValidationError) as exc:
            segment_services.assign_leads(lead_ids=ids, owner=owner, acting_user=manager)
        assert exc.value.message_dict == {"owner": [message]}
    with pytest.raises(ValidationError):
        segment_services.assign_leads(lead_ids=[], owner=marketer, acting_user=manager)
    assert set(Lead.objects.filter(id__in=ids).values_list("owner_id", flat=True)) == {None}


def test_assign_leads_only_changes_leads_the_acting_user_may_change(rep, other_rep, foreign_lead, rep_lead, marketer):
    with pytest.raises(ValidationError) as exc:
        segment_services.assign_leads(lead_ids=[rep_lead.pk, foreign_lead.pk], owner=rep, acting_user=rep)
    assert str(foreign_lead.pk) in exc.value.message_dict["lead_ids"][0]
    with pytest.raises(ValidationError):  # marketers change no lead
        segment_services.assign_leads(lead_ids=[rep_lead.pk], owner=rep, acting_user=marketer)
    assert Lead.objects.get(pk=foreign_lead.pk).owner_id == other_rep.pk


@pytest.mark.parametrize("n", [3, 30, 200])
def test_assign_leads_query_count_does_not_grow_with_leads(n, rep, manager, make_lead, django_assert_num_queries):
    if n > 30 and not uses_postgres():
        pytest.skip("SQLite's 999-parameter cap splits a history insert of more than 30 rows")
    ids = [make_lead(owner=None).pk for _ in range(n)]
    manager = type(manager).objects.get(pk=manager.pk)  # roles not cached yet
    # savepoint, manager's roles, owner's role, owner's team, lock, version bump, owner update,
    # history, placements insert, manual flag, release
    with django_assert_num_queries(11):
        segment_services.assign_leads(lead_ids=ids, owner=rep, acting_user=manager)
    assert Lead.objects.filter(id__in=ids, owner=rep).count() == n
