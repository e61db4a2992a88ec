"""Custom attributes ("custom.<key>") score the same in Python and SQL, and appear where rules are edited.

Runs on whichever database the suite uses (SQLite by default, PostgreSQL with DATABASE_URL).
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads.models import CustomAttribute, Lead, Qualification
from scoring import custom_attributes, services
from scoring.attributes import AttrType, Op, attribute_choices, get_attribute
from scoring.engine import CATEGORIES, RuleSet, RuleSpec, evaluate
from scoring.models import LeadScore
from scoring.selectors import get_lead_snapshot

NOW = timezone.now().replace(microsecond=0)
DEFINITIONS = [
    {"key": "visits", "label": "Visits", "type": "number"},
    {"key": "time_on_site", "label": "Time on site", "type": "number"},
    {"key": "free_copy", "label": "Free copy", "type": "boolean"},
    {"key": "occupation", "label": "Occupation", "type": "choice",
     "choices": [["student", "Student"], ["working_professional", "Professional"], ["unemployed", "Unemployed"]]},
    {"key": "contains", "label": "A key named like a lookup", "type": "boolean"},
    {"key": "city", "label": "City", "type": "text"},
]  # fmt: skip
NUMBERS = [0, 1, 2, 2.5, 3, 10, 15.25, 100, 1279, -4]

custom_values = st.fixed_dictionaries(
    {},
    optional={
        "visits": st.sampled_from(NUMBERS),
        "time_on_site": st.sampled_from(NUMBERS),
        "free_copy": st.booleans(),
        "occupation": st.sampled_from(["student", "working_professional", "unemployed"]),
        "contains": st.booleans(),
        "city": st.sampled_from(["", "Mumbai", "Thane & Outskirts", "other cities", "MUMBAI"]),
    },
)


def _define() -> None:
    for spec in DEFINITIONS:
        CustomAttribute.objects.create(**spec)
    custom_attributes.clear_cache()


def _raw_value(attribute, op, draw):
    if attribute.type == AttrType.CHOICE:
        pool = st.sampled_from([k for k, _l in attribute.choices])
    elif attribute.type == AttrType.NUMBER:
        pool = st.sampled_from([0, 1, 2, 2.5, 3, 10, 15.25, 100, 1000, -4])
    elif attribute.type == AttrType.BOOLEAN:
        pool = st.booleans()
    else:
        pool = st.sampled_from(["mumbai", "Thane", "cities", "x", ""])
    if op in (Op.IN, Op.NOT_IN):
        return draw(st.lists(pool, min_size=1, max_size=3))
    if op == Op.BETWEEN:
        return sorted(draw(st.lists(pool, min_size=2, max_size=2)))
    return draw(pool)


@st.composite
def custom_rules(draw):
    keys = [f"custom.{d['key']}" for d in DEFINITIONS] + ["lead.source", "bant.budget"]
    rules = []
    for i in range(draw(st.integers(min_value=1, max_value=8))):
        attribute = get_attribute(draw(st.sampled_from(keys)))
        op = draw(st.sampled_from(attribute.allowed_operators))
        try:
            value = attribute.parse_value(op, _raw_value(attribute, op, draw))
        except ValidationError:
            continue
        rules.append(
            RuleSpec(
                id=i + 1,
                name=f"rule {i + 1}",
                attribute=attribute.key,
                operator=op,
                value=value,
                points=draw(st.integers(min_value=-30, max_value=30)),
                category=draw(st.sampled_from(CATEGORIES)),
                window_days=None,
            )
        )
    return RuleSet(version=1, rules=tuple(rules), caps={}, bands=())


@pytest.mark.django_db
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(leads=st.lists(custom_values, min_size=1, max_size=5), data=st.data())
def test_custom_attributes_python_and_sql_agree(leads, data):
    with transaction.atomic():
        _define()
        rules = data.draw(custom_rules())
        created = [Lead.objects.create(email=f"c{i}@example.com", custom=values) for i, values in enumerate(leads)]
        Qualification.objects.bulk_create(Qualification(lead=lead) for lead in created)
        ids = [lead.pk for lead in created]
        services.apply_scores_sql(leads=Lead.objects.filter(id__in=ids), rules=rules, reason="rule_change", now=NOW)
        stored = {s.lead_id: s for s in LeadScore.objects.filter(lead_id__in=ids)}
        for lead_id in ids:
            snapshot = get_lead_snapshot(lead_id=lead_id, now=NOW, window_days=0)
            expected = evaluate(snapshot, rules, now=NOW)
            got = stored[lead_id]
            assert (got.total, got.fit, got.engagement, got.qualification) == (
                expected.total,
                expected.parts["fit"],
                expected.parts["engagement"],
                expected.parts["qualification"],
            ), (rules, snapshot.custom)
            assert got.fired_ids == list(expected.fired_ids), (rules, snapshot.custom)
        transaction.set_rollback(True)
    custom_attributes.clear_cache()


def test_custom_attributes_are_offered_and_validated(db):
    _define()
    groups = dict(attribute_choices())
    assert ("custom.occupation", "Occupation") in groups["Custom attributes"]
    occupation = get_attribute("custom.occupation")
    assert occupation.parse_value("eq", "STUDENT") == "student"
    with pytest.raises(ValidationError):
        occupation.parse_value("eq", "astronaut")
    with pytest.raises(ValidationError):
        get_attribute("custom.nope")
    assert get_attribute("custom.visits").parse_value("gt", "2.5") == "2.5"


def test_definition_changes_reach_the_cache(db):
    _define()
    assert get_attribute("custom.city").label == "City"
    CustomAttribute.objects.filter(key="city").update(label="Town", updated_at=timezone.now())
    custom_attributes._cache.checked = 0.0  # as if RECHECK_SECONDS had passed in another process
    assert get_attribute("custom.city").label == "Town"
    CustomAttribute.objects.create(key="new_one", label="New", type="number")
    assert get_attribute("custom.new_one").type == AttrType.NUMBER  # an unknown key re-reads at once


def test_rule_on_custom_attribute_scores_imported_values(db):
    _define()
    services.replace_rule_set(
        rules=[
            {"name": "Many visits", "attribute": "custom.visits", "operator": "gte", "value": "5", "points": 10,
             "category": "engagement"},
            {"name": "Student", "attribute": "custom.occupation", "operator": "eq", "value": "student", "points": -5,
             "category": "fit"},
        ],
        start_job=False,
    )  # fmt: skip
    lead = Lead.objects.create(email="v@example.com", custom={"visits": 7, "occupation": "student"})
    Qualification.objects.create(lead=lead)
    services.score_leads(lead_ids=[lead.pk])
    assert LeadScore.objects.get(lead=lead).total == 5
    services.score_lead(lead_id=lead.pk)
    assert LeadScore.objects.get(lead=lead).total == 5
