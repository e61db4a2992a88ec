"""The Python engine and the compiled SQL give the same score, for random leads and rule sets.

Runs on whichever database the suite uses (SQLite by default, PostgreSQL with
DATABASE_URL): `make test` in CI runs it on PostgreSQL, a plain run on SQLite.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads.models import Company, EngagementEvent, EventKind, Lead, LeadSource, Qualification
from scoring import services
from scoring.attributes import REGISTRY, AttrType, Op
from scoring.engine import CATEGORIES, BandSpec, CategoryCap, RuleSet, RuleSpec, evaluate
from scoring.models import LeadScore
from scoring.selectors import get_lead_snapshot

NOW = timezone.now().replace(microsecond=0)
TITLES = [
    "",
    "CEO",
    "Director of Sales",
    "VP, Marketing",
    "Head of IT",
    "Project Manager",
    "Student",
    "co-founder & CTO",
    "Engineer",
    "  ",
    "Sales-Lead (EMEA)",
]
EMAILS = ["gmail.com", "acme.com", "wp.pl", "example.org"]
NUMBERS = [None, 0, 5, 9, 10, 49, 50, 51, 500, 4999, 5000, 5001, 50000]
COUNTRIES = ["", "DE", "PL", "US"]
REGIONS = ["", "Bavaria", "mazowieckie", "Texas"]
CAMPAIGNS = ["", "spring-launch", "Webinar Q3", "SPRING"]
DAY_OFFSETS = [0, 0.5, 1, 6.99, 7, 7.01, 29.99, 30, 30.01, 59, 61, 89.9, 90.1, 200]


def _day_moment(offset_days: float):
    return NOW - timedelta(days=offset_days)


lead_strategy = st.fixed_dictionaries(
    {
        "title": st.sampled_from(TITLES),
        "domain": st.sampled_from(EMAILS),
        "source": st.sampled_from(LeadSource.values),
        "campaign": st.sampled_from(CAMPAIGNS),
        "has_company": st.booleans(),
        "industry": st.sampled_from(["", "software", "finance", "retail"]),
        "employees": st.sampled_from(NUMBERS),
        "revenue": st.sampled_from([None, Decimal("0"), Decimal("999999.99"), Decimal("1000000"), Decimal("2e7")]),
        "country": st.sampled_from(COUNTRIES),
        "region": st.sampled_from(REGIONS),
        "competitor": st.booleans(),
        "budget": st.sampled_from(["unknown", "none", "planned", "approved"]),
        "authority": st.sampled_from(["unknown", "influencer", "decision_maker"]),
        "need": st.sampled_from(["unknown", "none", "weak", "clear"]),
        "timing": st.sampled_from(["unknown", "over_12m", "3_6m", "under_3m"]),
        "decision_date": st.sampled_from([None, date(2026, 1, 1), date(2027, 6, 30)]),
        "age_days": st.sampled_from(DAY_OFFSETS),
        "events": st.lists(st.tuples(st.sampled_from(EventKind.values[:5]), st.sampled_from(DAY_OFFSETS)), max_size=6),
    }
)


def _raw_value(attribute, op, draw):
    if attribute.type == AttrType.CHOICE:
        keys = [k for k, _l in attribute.choices]
        if attribute.key == "company.country":
            keys = ["DE", "PL", "US"]
        pool = st.sampled_from(keys)
    elif attribute.type in (AttrType.NUMBER, AttrType.COUNT):
        pool = st.sampled_from([0, 1, 2, 5, 7, 9, 10, 30, 50, 60, 90, 500, 5000, 1000000])
    elif attribute.type == AttrType.BOOLEAN:
        pool = st.booleans()
    elif attribute.type == AttrType.DATE:
        pool = st.sampled_from(["2026-01-01", "2026-06-01", "2027-06-30"])
    else:
        pool = st.sampled_from(["ceo", "Sales", "lead", "spring", "bavaria", "x"])
    if op in (Op.IN, Op.NOT_IN):
        return draw(st.lists(pool, min_size=1, max_size=3))
    if op == Op.BETWEEN:
        pair = draw(st.lists(pool, min_size=2, max_size=2))
        return sorted(pair)
    return draw(pool)


@st.composite
def rule_sets(draw):
    keys = sorted(REGISTRY)
    rules = []
    for i in range(draw(st.integers(min_value=0, max_value=8))):
        attribute = REGISTRY[draw(st.sampled_from(keys))]
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
                window_days=draw(st.sampled_from([7, 30, 90])) if attribute.needs_window else None,
            )
        )
    caps = {}
    for category in CATEGORIES:
        if draw(st.booleans()):
            lo = draw(st.integers(min_value=-40, max_value=0))
            caps[category] = CategoryCap(minimum=lo, maximum=draw(st.integers(min_value=lo, max_value=40)))
    bands = (BandSpec("A", 30), BandSpec("B", 10), BandSpec("C", -5), BandSpec("D", -1000))
    return RuleSet(version=1, rules=tuple(rules), caps=caps, bands=bands if draw(st.booleans()) else ())


def _make_lead(index: int, spec: dict) -> Lead:
    company = None
    if spec["has_company"]:
        company = Company.objects.create(
            name=f"Co {index}",
            industry=spec["industry"],
            employee_count=spec["employees"],
            annual_revenue=spec["revenue"],
            country=spec["country"],
            region=spec["region"],
            served_by_competitor=spec["competitor"],
        )
    lead = Lead.objects.create(
        email=f"p{index}@{spec['domain']}",
        job_title=spec["title"],
        source=spec["source"],
        campaign=spec["campaign"],
        company=company,
    )
    Lead.objects.filter(pk=lead.pk).update(created_at=_day_moment(spec["age_days"]))
    Qualification.objects.create(
        lead=lead,
        budget=spec["budget"],
        authority=spec["authority"],
        need=spec["need"],
        timing=spec["timing"],
        decision_date=spec["decision_date"],
    )
    EngagementEvent.objects.bulk_create(
        EngagementEvent(lead=lead, kind=kind, occurred_at=_day_moment(days)) for kind, days in spec["events"]
    )
    return lead


@pytest.mark.django_db
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(leads=st.lists(lead_strategy, min_size=1, max_size=5), rules=rule_sets())
def test_python_and_sql_paths_agree(leads, rules):
    with transaction.atomic():
        created = [_make_lead(i, spec) for i, spec in enumerate(leads)]
        ids = [lead.pk for lead in created]
        services.apply_scores_sql(leads=Lead.objects.filter(id__in=ids), rules=rules, reason="rule_change", now=NOW)
        stored = {s.lead_id: s for s in LeadScore.objects.filter(lead_id__in=ids)}
        for lead_id in ids:
            snapshot = get_lead_snapshot(lead_id=lead_id, now=NOW, window_days=rules.max_window_days)
            expected = evaluate(snapshot, rules, now=NOW)
            got = stored[lead_id]
            assert (got.total, got.fit, got.engagement, got.qualification, got.band) == (
                expected.total,
                expected.parts["fit"],
                expected.parts["engagement"],
                expected.parts["qualification"],
                expected.band,
            ), (rules, snapshot)
            assert got.fired_ids == list(expected.fired_ids), (rules, snapshot)
        transaction.set_rollback(True)
