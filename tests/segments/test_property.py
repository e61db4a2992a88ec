"""The per-lead (Python) and bulk (SQL) routing paths send random leads to the same places, with the same owners.

Runs on whichever database the suite uses: SQLite by default, PostgreSQL with DATABASE_URL.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads.models import Lead
from leads.roles import Role
from scoring.models import LeadScore
from segments import services
from segments.attributes import segment_registry, validate_conditions
from segments.models import LeadPlacement, NurtureMembership, PolicyKind, RoutingDecision, Segment
from tests import factories
from tests.scoring.test_property import NOW, _make_lead, _raw_value, lead_strategy

score_strategy = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "fit": st.integers(-20, 60),
            "engagement": st.integers(-20, 60),
            "qualification": st.integers(-20, 60),
            "band": st.sampled_from(["", "A", "B", "C"]),
        }
    ),
)
SEGMENT_KEYS = sorted(k for k in segment_registry() if not k.startswith("custom."))


@st.composite
def segment_sets(draw):
    registry = segment_registry()
    segments = []
    for i in range(draw(st.integers(min_value=1, max_value=5))):
        conditions = []
        for _j in range(draw(st.integers(min_value=0, max_value=3))):
            attribute = registry[draw(st.sampled_from(SEGMENT_KEYS))]
            op = draw(st.sampled_from(attribute.allowed_operators))
            raw = {"attribute": attribute.key, "operator": str(op), "value": _raw_value(attribute, op, draw)}
            if attribute.needs_window:
                raw["window_days"] = draw(st.sampled_from([7, 30, 90]))
            try:
                conditions += validate_conditions([raw])
            except ValidationError:
                continue
        segments.append(
            {
                "conditions": conditions,
                "priority": draw(st.integers(0, 3)),
                "destination": draw(st.sampled_from(["stage_a", "stage_b", "queue", "stage_rr", "stage_ll"])),
                "name": f"segment {i}",
            }
        )
    return segments, draw(st.sampled_from([None, "queue", "stage_a"]))


def _setup(segment_specs, fallback):
    team = factories.TeamFactory(name="DACH", countries=["DE", "AT"])
    reps = [factories.UserFactory(username=f"p-rep{i}", role=Role.SALES_REP, team=team) for i in range(3)]
    services.set_rep_capacity(user=reps[2], max_open_leads=1)
    a = services.create_pipeline(name="A", stages=["New", "Won"]).stages.get(position=1)
    b = services.create_pipeline(name="B", stages=["New", "Won"]).stages.get(position=1)
    queue = services.create_nurture_queue(name="Q")
    rr = services.save_assignment_policy(data={"name": "rr", "kind": PolicyKind.ROUND_ROBIN})
    ll = services.save_assignment_policy(data={"name": "ll", "kind": PolicyKind.LEAST_LOADED, "capacity": 2})
    destinations = {
        "stage_a": {"stage": a},
        "stage_b": {"stage": b},
        "queue": {"queue": queue},
        "stage_rr": {"stage": a, "policy": rr},
        "stage_ll": {"stage": b, "policy": ll},
    }
    for spec in segment_specs:
        Segment.objects.create(
            name=spec["name"],
            priority=spec["priority"],
            conditions=spec["conditions"],
            **destinations[spec["destination"]],
        )
    if fallback:
        Segment.objects.create(name="fallback", is_fallback=True, **destinations[fallback])


def _outcome(ids):
    placements = {
        p.lead_id: (p.segment_id, p.pipeline_id, p.stage_id, p.queue_id)
        for p in LeadPlacement.objects.filter(lead_id__in=ids)
    }
    owners = dict(Lead.objects.filter(id__in=ids).values_list("id", "owner_id"))
    decisions = sorted(
        RoutingDecision.objects.filter(lead_id__in=ids).values_list("lead_id", "to_segment_id", "to_owner_id")
    )
    stays = sorted(NurtureMembership.objects.filter(lead_id__in=ids).values_list("lead_id", "queue_id", "revisit_on"))
    return placements, owners, decisions, stays


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    leads=st.lists(st.tuples(lead_strategy, score_strategy, st.booleans()), min_size=1, max_size=6),
    segments=segment_sets(),
)
def test_per_lead_and_bulk_routing_agree(leads, segments):
    segment_specs, fallback = segments
    with transaction.atomic():
        _setup(segment_specs, fallback)
        ids = []
        for index, (spec, score, pinned) in enumerate(leads):
            lead = _make_lead(index, spec)
            ids.append(lead.pk)
            if score is not None:
                total = score["fit"] + score["engagement"] + score["qualification"]
                LeadScore.objects.create(
                    lead=lead, total=total, rules_version=1, lead_version=1, computed_at=timezone.now(), **score
                )
            if pinned and index % 2:
                services.pin_lead(lead=lead)
        before = transaction.savepoint()
        for lead_id in ids:
            services.route_lead(lead_id=lead_id, now=NOW)
        per_lead = _outcome(ids)
        transaction.savepoint_rollback(before)
        services.route_leads_sql(leads=Lead.objects.filter(id__in=ids), reason="score_change", now=NOW)
        bulk = _outcome(ids)
        assert per_lead == bulk, (segment_specs, fallback)
        transaction.set_rollback(True)
