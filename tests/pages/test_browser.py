"""Browser tests: Playwright drives Debian's chromium against live_server (tasks run eagerly in-process).

Screenshots of every page land in tests/artifacts/ (git-ignored) for a human look.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from leads.models import Company, EventKind, Lead, LeadSource, Qualification
from leads.roles import Role
from scoring.models import LeadScore
from scoring.services import score_lead, score_leads
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("allow_orm_beside_playwright")]

PASSWORD = "pw-Secret-123"


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/")
    expect(page).to_have_url(f"{base_url}/login/?next=/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".userbox")).to_be_visible()


def save_criterion(page: Page, key: str, label: str, answers: dict[str, str]) -> None:
    card = page.locator(f"#bant-{key}")
    for name, value in answers.items():
        field = card.locator(f'[name="{key}-{name}"]')
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    card.get_by_role("button", name=f"Save {label}").click()
    expect(page.locator(f"#bant-{key} .saved")).to_be_visible()


@pytest.fixture
def rep_with_leads(rep, rules):
    """A rep's queue: a lead to qualify, one waiting for a first touch, a long name, a pool lead."""
    company = factories.CompanyFactory(name="Nordwind Logistik GmbH", industry="logistics", employee_count=400)
    lead = factories.LeadFactory(
        owner=rep, team=rep.membership.team, company=company, first_name="Katrin", last_name="Vogel",
        job_title="Head of Operations", source=LeadSource.WEBINAR, campaign="Spring webinar 2026",
    )  # fmt: skip
    factories.EventFactory(lead=lead, kind=EventKind.WEBINAR_ATTENDED, metadata={"title": "Lead scoring in practice"})
    factories.EventFactory(lead=lead, kind=EventKind.EMAIL_CLICK, occurred_at=timezone.now() - timedelta(days=3))
    waiting = factories.LeadFactory(owner=rep, team=rep.membership.team, first_name="Jonas", last_name="Waiting")
    Lead.objects.filter(pk=waiting.pk).update(created_at=timezone.now() - timedelta(days=3))
    long_company = factories.CompanyFactory(
        name="Internationale Handels- und Speditionsgesellschaft für Maschinenbauzubehör"
        " und Industriebedarf mbH & Co. KG"
    )
    long_name = factories.LeadFactory(
        owner=rep, team=rep.membership.team, company=long_company,
        first_name="Maximiliane-Alexandra Friederike", last_name="von Hohenzollern-Sigmaringen-Wittelsbach",
        job_title="Senior Vice President Global Procurement, Strategic Sourcing and Supplier Relationship Management",
    )  # fmt: skip
    pool = factories.LeadFactory(owner=None, team=rep.membership.team, first_name="Pia", last_name="Pool")
    for each in (lead, waiting, long_name, pool):
        score_lead(lead_id=each.pk)
    return lead


def test_rep_qualifies_a_lead_and_sees_score_and_band_update(live_server, page, rep, rep_with_leads, shot):
    lead = rep_with_leads
    base = live_server.url
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{base}/")
    shot(page, "01-login")
    log_in(page, base, rep.username)
    expect(page.get_by_role("heading", name="My work queue")).to_be_visible()
    expect(page.locator(".row-waiting")).to_have_count(1)
    shot(page, "02-work-queue")

    page.get_by_role("link", name="Katrin Vogel").first.click()
    expect(page.get_by_role("heading", name="Katrin Vogel")).to_be_visible()
    before = LeadScore.objects.get(lead=lead)
    band = page.get_by_test_id("band")
    total = page.get_by_test_id("score-total")
    expect(total).to_have_text(str(before.total))
    expect(band).to_have_text(before.band)
    shot(page, "03-lead-before-bant")

    save_criterion(page, "budget", "Budget", {"budget": "approved", "budget_amount": "62500",
                                              "budget_notes": "CFO signed off for Q1"})  # fmt: skip
    save_criterion(page, "authority", "Authority", {"authority": "decision_maker"})
    save_criterion(page, "need", "Need", {"need": "clear", "need_pain": "Leads rot in spreadsheets"})
    save_criterion(page, "timing", "Timing", {"timing": "under_3m", "decision_date": "2027-02-01"})

    after = LeadScore.objects.get(lead=lead)
    assert after.lead_version == Lead.objects.get(pk=lead.pk).version
    assert after.total > before.total and after.band != before.band
    # No reload: the score panel came back with each save and shows the newest score.
    expect(total).to_have_text(str(after.total))
    expect(band).to_have_text(after.band)
    expect(page.locator("#score-panel .why")).to_contain_text("Budget approved")
    qual = Qualification.objects.get(lead=lead)
    assert (qual.budget, qual.authority, qual.need, qual.timing) == ("approved", "decision_maker", "clear", "under_3m")
    page.reload()
    expect(page.locator(".timeline")).to_contain_text("Qualification updated")
    shot(page, "04-lead-after-bant")
    # htmx, the CSRF header and the styles all work under script-src/style-src 'self'.
    assert console_errors == [], "\n".join(console_errors)


def test_score_panel_polls_until_the_worker_catches_up(live_server, page, rep, rep_with_leads):
    """A stale stored score (the worker is behind): the panel polls and shows the new score, then stops."""
    lead = rep_with_leads
    base = live_server.url
    log_in(page, base, rep.username)
    Qualification.objects.filter(lead=lead).update(need="clear")
    Lead.objects.filter(pk=lead.pk).update(version=lead.version + 1)  # as a save would, minus the task
    page.goto(f"{base}/leads/{lead.pk}/")
    expect(page.locator("#score-panel.is-pending")).to_be_visible()
    score_lead(lead_id=lead.pk)  # the "worker"
    expect(page.locator("#score-panel .why")).to_contain_text("Clear need", timeout=10_000)
    expect(page.locator("#score-panel.is-pending")).to_have_count(0)
    assert page.locator("#score-panel").get_attribute("hx-trigger") is None


def test_rep_opening_another_reps_lead_gets_404(live_server, page, rep, rep_with_leads, other_rep, shot):
    foreign = factories.LeadFactory(owner=other_rep, team=other_rep.membership.team, first_name="Secret")
    log_in(page, live_server.url, rep.username)
    response = page.goto(f"{live_server.url}/leads/{foreign.pk}/")
    assert response is not None and response.status == 404
    expect(page.get_by_text("Secret")).to_have_count(0)
    shot(page, "05-not-found")
    response = page.goto(f"{live_server.url}/leads/{foreign.pk}/score/")
    assert response is not None and response.status == 404


def test_screens_for_managers_marketers_and_empty_states(live_server, page, rep, manager, marketer, rules, shot):
    """A list of 1,000 leads, the marketer's read-only lead page, an empty queue (screenshots for review)."""
    team = rep.membership.team
    companies = Company.objects.bulk_create(
        [Company(name=f"Company {i:04d} {'Holding ' * (i % 4)}AG", country="DE", employee_count=20 + i)
         for i in range(1000)]
    )  # fmt: skip
    leads = Lead.objects.bulk_create(
        [
            Lead(first_name=f"First{i}", last_name=f"Last{i}", email=f"bulk{i}@example.com", company=c, team=team,
                 source=LeadSource.PPC, job_title="Director of Finance" if i % 3 else "Intern")
            for i, c in enumerate(companies)
        ]
    )  # fmt: skip
    Qualification.objects.bulk_create([Qualification(lead=lead) for lead in leads])
    score_leads(lead_ids=[lead.pk for lead in leads])

    log_in(page, live_server.url, manager.username)
    page.goto(f"{live_server.url}/leads/?per_page=100&ordering=-score")
    expect(page.locator("table.leads tbody tr")).to_have_count(100)
    shot(page, "06-lead-list-1000-manager", full_page=False)
    page.get_by_placeholder("Name, email or company").fill("Last999")
    expect(page.locator("table.leads tbody tr")).to_have_count(1)
    page.get_by_placeholder("Name, email or company").fill("no such lead anywhere")
    expect(page.get_by_text("No leads match")).to_be_visible()
    shot(page, "07-lead-list-no-match")
    page.goto(f"{live_server.url}/")
    shot(page, "08-work-queue-manager")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to leadqual")).to_be_visible()

    log_in(page, live_server.url, marketer.username)
    expect(page.get_by_role("heading", name="Leads")).to_be_visible()
    page.goto(f"{live_server.url}/leads/{leads[1].pk}/")
    expect(page.get_by_text("Read only")).to_be_visible()
    expect(page.locator("form[hx-post]")).to_have_count(0)
    shot(page, "09-lead-marketer-read-only")
    page.get_by_role("button", name="Log out").click()

    lonely = factories.UserFactory(role=Role.SALES_REP, team=factories.TeamFactory(name="Empty team"))
    log_in(page, live_server.url, lonely.username)
    expect(page.get_by_text("Your queue is empty")).to_be_visible()
    shot(page, "10-work-queue-empty")


def test_tablet_layout(live_server, page, rep, rep_with_leads, shot):
    page.set_viewport_size({"width": 820, "height": 1180})
    log_in(page, live_server.url, rep.username)
    shot(page, "11-tablet-work-queue")
    page.goto(f"{live_server.url}/leads/{rep_with_leads.pk}/")
    expect(page.locator("#bant-budget")).to_be_visible()
    shot(page, "12-tablet-lead")


def test_server_side_bant_errors_are_swapped_in(live_server, page, rep, rep_with_leads):
    """A 400 from the server (the browser's own checks bypassed) shows the errors in the card."""
    log_in(page, live_server.url, rep.username)
    page.goto(f"{live_server.url}/leads/{rep_with_leads.pk}/")
    amount = page.locator('#bant-budget [name="budget-budget_amount"]')
    amount.evaluate("el => el.removeAttribute('min')")
    amount.fill("-5")
    page.locator("#bant-budget").get_by_role("button", name="Save Budget").click()
    expect(page.locator("#bant-budget .field-error")).to_be_visible()
    assert Qualification.objects.get(lead=rep_with_leads).budget_amount is None
