"""leads.demo and `manage.py seed_demo`: determinism, coverage of every choice, demo users, --if-empty."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from io import StringIO

import phonenumbers
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Avg, Count
from django.db.models.functions import Lower
from django.http import HttpRequest
from django.utils import timezone

from leads import demo
from leads.models import (
    STATUSES_NEEDING_REASON,
    Company,
    EngagementEvent,
    EventKind,
    Industry,
    Lead,
    LeadSource,
    LeadStatus,
    Membership,
    Qualification,
    Team,
)
from leads.roles import Role
from leads.signals import lead_changed
from tests import factories

# A fixed reference day in the past: the generator never looks at the clock when given `now`.
NOW = datetime(2025, 6, 2, tzinfo=UTC)
TERRITORY = {code: name for name, codes in demo.DEMO_TEAMS for code in codes}


def _digest() -> str:
    """A fingerprint of every generated row that does not depend on ids."""
    rows = []
    leads = (
        Lead.objects.select_related("company", "owner", "team", "qualification")
        .prefetch_related("events")
        .order_by("email")
    )
    for lead in leads:
        company = lead.company
        qual = lead.qualification
        rows.append(
            {
                "lead": [
                    lead.first_name,
                    lead.last_name,
                    lead.email,
                    str(lead.phone or ""),
                    lead.job_title,
                    lead.source,
                    lead.campaign,
                    lead.utm_source,
                    lead.utm_medium,
                    lead.utm_campaign,
                    lead.utm_term,
                    lead.utm_content,
                    lead.status,
                    lead.status_reason,
                    lead.do_not_contact,
                    lead.marketing_consent,
                    lead.consent_recorded_at,
                    lead.created_at,
                    lead.updated_at,
                    lead.version,
                    lead.owner.username if lead.owner else None,
                    lead.team.name if lead.team else None,
                ],
                "company": company
                and [
                    company.name,
                    company.domain,
                    company.industry,
                    company.industry_other,
                    company.employee_count,
                    company.annual_revenue,
                    company.revenue_currency,
                    str(company.country),
                    company.region,
                    company.served_by_competitor,
                    company.competitor_name,
                    company.notes,
                    company.created_at,
                ],
                "bant": [
                    qual.budget,
                    qual.budget_amount,
                    qual.budget_currency,
                    qual.budget_notes,
                    qual.authority,
                    qual.decision_maker,
                    qual.authority_notes,
                    qual.need,
                    qual.need_pain,
                    qual.need_notes,
                    qual.timing,
                    qual.decision_date,
                    qual.timing_notes,
                    qual.budget_recorded_at,
                    qual.need_recorded_at,
                    qual.bant_met,
                ],
                "events": sorted(
                    (e.kind, e.occurred_at.isoformat(), json.dumps(e.metadata, sort_keys=True))
                    for e in lead.events.all()
                ),
            }
        )
    return hashlib.sha256(json.dumps(rows, default=str, sort_keys=True).encode()).hexdigest()


def _delete_generated_rows() -> None:
    Lead.objects.all().delete()
    Company.objects.all().delete()


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_and_day_give_the_same_data_and_another_seed_does_not(db):
    random.seed(1)  # the generator must not depend on the global random state
    first = demo.seed_demo_data(leads=300, seed=7, now=NOW)
    digest = _digest()

    _delete_generated_rows()
    random.seed(2)
    second = demo.seed_demo_data(leads=300, seed=7, now=NOW)
    assert second == first
    assert _digest() == digest

    _delete_generated_rows()
    demo.seed_demo_data(leads=300, seed=8, now=NOW)
    assert _digest() != digest


# --- what the data covers ----------------------------------------------------------------------


@pytest.fixture
def seeded(db):
    now = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    calls = []

    def receiver(sender, lead_ids, reason, **kwargs):
        calls.append(lead_ids)

    lead_changed.connect(receiver, weak=False, dispatch_uid="test-demo-no-signal")
    try:
        report = demo.seed_demo_data(leads=500, seed=1, now=now)
    finally:
        lead_changed.disconnect(dispatch_uid="test-demo-no-signal")
    return report, now, calls


def test_report_counts_what_was_created(seeded):
    report, _now, _calls = seeded
    assert report == demo.SeedReport(
        teams=len(demo.DEMO_TEAMS),
        users=len(demo.DEMO_USERS),
        companies=Company.objects.count(),
        leads=500,
        events=EngagementEvent.objects.count(),
    )
    assert Lead.objects.count() == Qualification.objects.count() == 500
    assert report.events > 500


def test_every_choice_appears(seeded):
    assert set(Lead.objects.values_list("source", flat=True)) == set(LeadSource.values)
    assert set(Lead.objects.values_list("status", flat=True)) == set(LeadStatus.values)
    assert set(EngagementEvent.objects.values_list("kind", flat=True)) == set(EventKind.values)
    industries_with_leads = set(Company.objects.filter(leads__isnull=False).values_list("industry", flat=True))
    assert set(Industry.values) <= industries_with_leads


def test_statuses_are_mostly_open_and_closed_ones_have_a_reason(seeded):
    counts = dict(Lead.objects.values_list("status").annotate(n=Count("id")))
    assert counts[LeadStatus.NEW] + counts[LeadStatus.WORKING] > 250
    closed_with_reason = Lead.objects.filter(status__in=STATUSES_NEEDING_REASON)
    assert closed_with_reason.exists()
    assert not closed_with_reason.filter(status_reason="").exists()
    assert not Lead.objects.exclude(status__in=STATUSES_NEEDING_REASON).exclude(status_reason="").exists()
    assert "Chose a competitor" in set(
        Lead.objects.filter(status=LeadStatus.LOST).values_list("status_reason", flat=True)
    )


def test_bant_at_every_stage_of_completeness_and_correlated_with_status(seeded):
    met = Qualification.objects.values_list("bant_met", flat=True)
    assert set(met) == {0, 1, 2, 3, 4}
    assert sum(1 for m in met if m == 0) > 150
    assert Qualification.objects.filter(bant_met=4).count() >= 10
    answered = Qualification.objects.exclude(budget="unknown", authority="unknown", need="unknown", timing="unknown")
    assert answered.exists()
    assert Qualification.objects.filter(budget_amount__gt=0, budget_recorded_at__isnull=False).exists()
    assert Qualification.objects.exclude(need_pain="").exists()
    assert Qualification.objects.filter(decision_date__isnull=False).exists()

    def average(status: str) -> float:
        return Qualification.objects.filter(lead__status=status).aggregate(a=Avg("bant_met"))["a"]

    assert average(LeadStatus.WON) > average(LeadStatus.WORKING) > average(LeadStatus.NEW)
    assert average(LeadStatus.WON) > average(LeadStatus.DISQUALIFIED)


def test_contacts_look_real(seeded):
    leads = list(Lead.objects.select_related("company"))
    emails = [lead.email for lead in leads]
    assert all(e == e.lower() and "@" in e for e in emails)
    assert Lead.objects.annotate(e=Lower("email")).values("e").distinct().count() == 500
    on_company_domain = sum(1 for lead in leads if lead.company and lead.email.endswith("@" + lead.company.domain))
    free_mail = sum(1 for e in emails if e.split("@")[1] in ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com"))
    assert on_company_domain > 350
    assert free_mail > 10
    assert all(lead.version == 1 for lead in leads)
    phones = [str(lead.phone) for lead in leads if lead.phone]
    assert 0.45 < len(phones) / len(leads) < 0.75
    for raw in phones:
        number = phonenumbers.parse(raw)
        assert phonenumbers.is_valid_number(number), raw
        assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == raw
    titles = {lead.job_title for lead in leads}
    for word in ("CEO", "VP", "Head of", "Manager", "Specialist", "Intern"):
        assert any(word in title for title in titles), word


def test_companies_span_sizes_territories_and_competitors(seeded):
    companies = list(Company.objects.all())
    sizes = [c.employee_count for c in companies if c.employee_count]
    assert min(sizes) >= 3
    assert max(sizes) <= 50_000
    assert min(sizes) < 20
    assert max(sizes) > 2000
    outside = [c for c in companies if str(c.country) not in TERRITORY]
    assert 0.04 < len(outside) / len(companies) < 0.2
    competitors = [c for c in companies if c.served_by_competitor]
    assert 0.05 < len(competitors) / len(companies) < 0.2
    assert all(c.competitor_name for c in competitors)
    assert len({c.revenue_currency for c in companies}) >= 4
    # Revenue grows with size.
    by_size = sorted((c for c in companies if c.employee_count and c.annual_revenue), key=lambda c: c.employee_count)
    small, large = by_size[: len(by_size) // 4], by_size[-len(by_size) // 4 :]
    assert sum(c.annual_revenue for c in large) / len(large) > 10 * sum(c.annual_revenue for c in small) / len(small)


def test_owners_follow_the_territories(seeded):
    leads = list(Lead.objects.select_related("company", "owner__membership__team", "team"))
    owned_by_rep = pool = 0
    for lead in leads:
        country = str(lead.company.country) if lead.company else ""
        if country in TERRITORY:
            assert lead.team.name == TERRITORY[country]
            if lead.owner:
                owned_by_rep += 1
                assert lead.owner.membership.team == lead.team
            else:
                pool += 1
        else:
            assert lead.team is None
    assert 0.35 < owned_by_rep / len(leads) < 0.7
    assert pool > 50


def test_events_lie_in_the_last_120_days_and_hot_leads_have_more(seeded):
    _report, now, _calls = seeded
    times = EngagementEvent.objects.values_list("occurred_at", flat=True)
    assert min(times) >= now - timedelta(days=120)
    assert max(times) < now <= timezone.now()
    per_lead = dict(Lead.objects.annotate(n=Count("events")).values_list("id", "n"))
    assert max(per_lead.values()) <= 27
    assert 0 in per_lead.values()
    won = Lead.objects.filter(status=LeadStatus.WON).annotate(n=Count("events")).aggregate(a=Avg("n"))["a"]
    disqualified = (
        Lead.objects.filter(status=LeadStatus.DISQUALIFIED).annotate(n=Count("events")).aggregate(a=Avg("n"))["a"]
    )
    assert won > disqualified
    assert EngagementEvent.objects.filter(kind=EventKind.PAGE_VISIT, metadata__url__startswith="https://").exists()
    assert EngagementEvent.objects.filter(kind=EventKind.WEBINAR_ATTENDED, metadata__has_key="webinar").exists()


def test_seeding_sends_no_lead_changed_signal(seeded, django_capture_on_commit_callbacks):
    _report, _now, calls = seeded
    assert calls == []
    with django_capture_on_commit_callbacks(execute=True):
        demo.seed_demo_data(leads=20, seed=2, now=NOW)
    assert calls == []


# --- demo users --------------------------------------------------------------------------------


def test_one_rep_per_team_a_manager_and_a_marketer_who_can_log_in(db, client):
    demo.seed_demo_data(leads=0)
    user_model = get_user_model()
    for name, countries in demo.DEMO_TEAMS:
        team = Team.objects.get(name=name)
        assert sorted(str(c) for c in team.countries) == sorted(countries)
        reps = [m.user for m in Membership.objects.filter(team=team).select_related("user")]
        assert len(reps) == 1
        assert reps[0].groups.filter(name=Role.SALES_REP).exists()
    manager = user_model.objects.get(username="manager")
    assert manager.groups.filter(name=Role.SALES_MANAGER).exists()
    assert manager.is_staff
    assert user_model.objects.get(username="marketer").groups.filter(name=Role.MARKETER).exists()
    for spec in demo.DEMO_USERS:
        request = HttpRequest()
        request.META["REMOTE_ADDR"] = "127.0.0.1"
        assert client.login(request=request, username=spec["username"], password=spec["password"]), spec
        client.logout()


def test_teams_and_users_are_kept_when_they_exist(team):
    first = demo.seed_demo_data(leads=0)
    second = demo.seed_demo_data(leads=0)
    assert first == second == demo.SeedReport(teams=4, users=6, companies=0, leads=0, events=0)
    assert Team.objects.count() == 4
    assert Team.objects.get(name="DACH").pk == team.pk
    assert get_user_model().objects.filter(username__in=[u["username"] for u in demo.DEMO_USERS]).count() == 6
    assert Membership.objects.count() == 4


def test_emails_already_taken_are_avoided(db):
    demo.seed_demo_data(leads=50, seed=3, now=NOW)
    demo.seed_demo_data(leads=50, seed=3, now=NOW)
    assert Lead.objects.count() == 100


# --- the command -------------------------------------------------------------------------------


def test_command_loads_and_reports(db):
    out = StringIO()
    call_command("seed_demo", "--leads", "40", "--seed", "5", "--if-empty", stdout=out)
    assert Lead.objects.count() == 40
    text = out.getvalue()
    assert "Leads: 40" in text
    assert "Demo data loaded in" in text


def test_if_empty_leaves_an_existing_base_alone(db):
    factories.LeadFactory(email="existing@example.com")
    out = StringIO()
    call_command("seed_demo", "--leads", "40", "--if-empty", stdout=out)
    assert Lead.objects.count() == 1
    assert Company.objects.count() == 1
    assert not Team.objects.exists()
    assert "not loaded" in out.getvalue()


def test_command_refuses_a_negative_count(db):
    with pytest.raises(CommandError):
        call_command("seed_demo", "--leads", "-1")


def test_command_help_renders():
    from leads.management.commands.seed_demo import Command

    text = Command().create_parser("manage.py", "seed_demo").format_help()
    assert "--if-empty" in text
    assert "demo data" in text
