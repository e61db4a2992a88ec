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


# --- board, queues, bulk assignment -------------------------------------------------------------

LONG_COMPANY = (
    "Internationale Handels- und Speditionsgesellschaft für Maschinenbauzubehör und Industriebedarf mbH & Co. KG"
)


@pytest.fixture
def sales_board(rep, other_rep, rules):
    """A pipeline with Won and Lost stages: the rep's deals, a team pool lead, a long name, another rep's deal."""
    from segments import services as segment_services
    from segments.models import StageOutcome

    pipeline = segment_services.create_pipeline(
        name="Fast track",
        description="Small companies with big potential: short cycle, one decision maker.",
        stages=["New", "Contacted", "Qualified", "Proposal", "Won", "Lost"],
        outcomes={"Won": StageOutcome.WON, "Lost": StageOutcome.LOST},
    )
    segment_services.create_pipeline(name="Enterprise", stages=["New", "Discovery", "Won", "Lost"])
    stages = {s.name: s for s in pipeline.stages.all()}
    team = rep.membership.team
    deal = factories.LeadFactory(owner=rep, team=team, first_name="Katrin", last_name="Vogel", job_title="CEO",
                                 company=factories.CompanyFactory(name="Nordwind Logistik GmbH"))  # fmt: skip
    lost = factories.LeadFactory(owner=rep, team=team, first_name="Lukas", last_name="Lost")
    long_name = factories.LeadFactory(
        owner=rep, team=team, company=factories.CompanyFactory(name=LONG_COMPANY),
        first_name="Maximiliane-Alexandra Friederike", last_name="von Hohenzollern-Sigmaringen-Wittelsbach",
    )  # fmt: skip
    pool = factories.LeadFactory(owner=None, team=team, first_name="Pia", last_name="Pool")
    secret = factories.LeadFactory(owner=other_rep, team=other_rep.membership.team, first_name="Secret")
    extra = [factories.LeadFactory(owner=rep, team=team, first_name=f"Prospect{i}", job_title="Intern")
             for i in range(24)]  # fmt: skip
    placed = {deal: "New", lost: "Proposal", long_name: "Contacted", pool: "New", secret: "New"}
    placed.update(dict.fromkeys(extra, "Qualified"))
    for lead, stage in placed.items():
        segment_services.move_lead_to_stage(lead=lead.pk, stage=stages[stage])
    score_leads(lead_ids=[lead.pk for lead in placed])
    return {"pipeline": pipeline, "stages": stages, "deal": deal, "lost": lost, "secret": secret}


def column(page: Page, stage) -> object:
    return page.locator(f'.column[data-stage="{stage.pk}"]')


def test_rep_moves_leads_on_the_board_including_the_lost_reason(live_server, page, rep, sales_board, shot):
    stages, deal, lost = sales_board["stages"], sales_board["deal"], sales_board["lost"]
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    log_in(page, live_server.url, rep.username)
    page.get_by_role("link", name="Board").click()
    expect(page.get_by_role("heading", name="Fast track")).to_be_visible()
    expect(page.get_by_text("Secret")).to_have_count(0)  # another rep's deal is not on the rep's board
    expect(column(page, stages["Qualified"]).locator("article.deal")).to_have_count(20)
    expect(column(page, stages["Qualified"]).get_by_role("link", name="4 more leads")).to_be_visible()
    shot(page, "13-board-rep", full_page=False)

    # The Move form: to Contacted.
    card = page.locator(f"#card-{deal.pk}")
    card.get_by_text("Move…").click()
    card.get_by_label("Move to").select_option(label="Contacted")
    expect(card.get_by_label("Reason (required for lost or disqualified)")).to_be_hidden()
    card.get_by_role("button", name="Move").click()
    expect(page.get_by_text("Katrin Vogel moved to Contacted.")).to_be_visible()
    expect(column(page, stages["Contacted"]).locator(f"#card-{deal.pk}")).to_be_visible()
    expect(page.get_by_test_id(f"count-{stages['Contacted'].pk}")).to_have_text("2")

    # Lost without a reason: the card says why it did not move; with one, the lead is lost.
    card = page.locator(f"#card-{lost.pk}")
    card.get_by_text("Move…").click()
    card.get_by_label("Move to").select_option(label="Lost")
    reason = card.get_by_label("Reason (required for lost or disqualified)")
    expect(reason).to_be_visible()
    reason.evaluate("el => el.removeAttribute('required')")  # the browser's own check bypassed: the server's speaks
    card.get_by_role("button", name="Move").click()
    expect(card.get_by_text("Give a reason when a lead is lost.")).to_be_visible()
    assert Lead.objects.get(pk=lost.pk).status == "new"
    shot(page, "14-board-lost-reason-required", full_page=False)
    card.get_by_label("Reason (required for lost or disqualified)").fill("Chose a cheaper tool")
    card.get_by_role("button", name="Move").click()
    expect(column(page, stages["Lost"]).locator(f"#card-{lost.pk}")).to_contain_text("Chose a cheaper tool")
    closed = Lead.objects.get(pk=lost.pk)
    assert (closed.status, closed.status_reason) == ("lost", "Chose a cheaper tool")

    # Drag and drop: a card dropped on another column moves there (every column on screen: a wide window).
    page.set_viewport_size({"width": 1920, "height": 1000})
    page.locator(f"#card-{deal.pk}").drag_to(column(page, stages["Proposal"]).locator(".column-head"))
    expect(column(page, stages["Proposal"]).locator(f"#card-{deal.pk}")).to_be_visible()
    assert Lead.objects.select_related("placement").get(pk=deal.pk).placement.stage_id == stages["Proposal"].pk
    # Dropped on Lost, it asks for the reason instead of moving.
    page.locator(f"#card-{deal.pk}").drag_to(column(page, stages["Lost"]).locator(".column-head"))
    expect(page.locator(f"#card-{deal.pk} details.move[open] input[name=reason]")).to_be_focused()
    assert Lead.objects.get(pk=deal.pk).status == "new"

    # More cards of a long column come in place.
    column(page, stages["Qualified"]).get_by_role("link", name="4 more leads").click()
    expect(column(page, stages["Qualified"]).locator("article.deal")).to_have_count(24)
    shot(page, "15-board-after-moves")
    # The one 400 was the refused move without a reason; nothing else (CSP, scripts) complained.
    assert [e for e in console_errors if "status of 400" not in e] == [], "\n".join(console_errors)


def test_board_screens_tablet_marketer_and_empty(live_server, page, rep, marketer, sales_board, shot):
    page.set_viewport_size({"width": 820, "height": 1180})
    log_in(page, live_server.url, rep.username)
    page.goto(f"{live_server.url}/board/")
    expect(page.locator(".column")).to_have_count(6)
    shot(page, "16-tablet-board", full_page=False)
    page.get_by_role("button", name="Log out").click()
    page.set_viewport_size({"width": 1366, "height": 900})
    log_in(page, live_server.url, marketer.username)
    page.goto(f"{live_server.url}/board/?pipeline={sales_board['pipeline'].pk}")
    expect(page.get_by_text("Read only")).to_be_visible()
    expect(page.locator("details.move")).to_have_count(0)
    expect(page.get_by_text("Secret")).to_be_visible()  # marketers read every lead
    shot(page, "17-board-marketer-read-only", full_page=False)
    from segments.models import Pipeline

    Pipeline.objects.filter(name="Enterprise").update(name="Enterprise " + "and strategic accounts " * 4)
    enterprise = Pipeline.objects.exclude(pk=sales_board["pipeline"].pk).get()
    page.goto(f"{live_server.url}/board/?pipeline={enterprise.pk}")
    expect(page.get_by_text("No leads here.").first).to_be_visible()
    shot(page, "18-board-empty-pipeline", full_page=False)


def test_board_without_pipelines(live_server, page, manager, shot):
    log_in(page, live_server.url, manager.username)
    page.goto(f"{live_server.url}/board/")
    expect(page.get_by_text("No pipeline yet")).to_be_visible()
    expect(page.get_by_role("link", name="Create a pipeline")).to_be_visible()
    shot(page, "19-board-no-pipeline")


@pytest.fixture
def queue_members(rules):
    """Two queues (one with a very long name, one empty) and members overdue, due and later."""
    from segments import services as segment_services
    from segments.models import LeadPlacement, NurtureMembership

    queue = segment_services.create_nurture_queue(
        name="Educational nurture",
        purpose="No budget yet: teach, stay in touch, and ask again when the next budget is planned.",
        cadence_days=14,
    )
    segment_services.create_nurture_queue(
        name="Re-engagement of dormant enterprise accounts across the DACH region and beyond, run by field marketing",
        purpose="Everyone no segment takes: newsletters until they show intent. " * 4,
        cadence_days=30,
    )
    today = timezone.localdate()
    leads = []
    specs = [("Olga", "Overdue", -5, False), ("Tara", "Today", 0, False), ("Dora", "Donotcontact", 10, True),
             ("=HYPERLINK(\"http://evil.example\")", "Formula", 20, False),
             ("Maximiliane-Alexandra Friederike", "von Hohenzollern-Sigmaringen-Wittelsbach", 45, False)]  # fmt: skip
    for first, last, days, dnc in specs:
        company = factories.CompanyFactory(name=LONG_COMPANY if last.startswith("von") else f"{last} GmbH")
        lead = factories.LeadFactory(owner=None, first_name=first, last_name=last, do_not_contact=dnc, company=company)
        LeadPlacement.objects.create(lead=lead, queue=queue)
        NurtureMembership.objects.create(
            lead=lead, queue=queue, entered_at=timezone.now() - timedelta(days=30 - days),
            reason="Segment: No budget: educate" if days < 40 else "Segment: " + "Budget is none, revisit later " * 4,
            revisit_on=today + timedelta(days=days),
        )  # fmt: skip
        leads.append(lead)
    score_leads(lead_ids=[lead.pk for lead in leads])
    return queue, leads


def test_marketer_exports_a_queue(live_server, page, marketer, queue_members, shot, tmp_path):
    import csv

    from segments.models import ExportRecord

    queue, leads = queue_members
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    log_in(page, live_server.url, marketer.username)
    page.get_by_role("link", name="Queues").click()
    expect(page.get_by_role("heading", name="Nurture queues")).to_be_visible()
    shot(page, "20-queue-list")
    page.get_by_role("link", name="Educational nurture").first.click()
    expect(page.get_by_role("heading", name="Educational nurture")).to_be_visible()
    expect(page.locator("tr.row-overdue")).to_have_count(1)
    expect(page.locator("tr.row-due")).to_have_count(1)
    shot(page, "21-queue-page")
    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    download = info.value
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    assert download.suggested_filename.startswith(f"queue-{queue.pk}-") and path.suffix == ".csv"
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    expected = {lead.pk for lead in leads if not lead.do_not_contact}
    assert {int(row["lead id"]) for row in rows} == expected and len(rows) == 4
    formula = next(row for row in rows if row["last name"] == "Formula")
    assert formula["first name"] == '\'=HYPERLINK("http://evil.example")'
    record = ExportRecord.objects.get()
    assert (record.user_id, record.queue_id, record.rows) == (marketer.pk, queue.pk, 4)
    page.get_by_label("Only due or overdue").check()
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("table.members tbody tr")).to_have_count(2)
    page.set_viewport_size({"width": 820, "height": 1180})
    page.goto(f"{live_server.url}/queues/{queue.pk}/")
    shot(page, "22-tablet-queue-page")
    page.goto(f"{live_server.url}/queues/")
    shot(page, "23-tablet-queue-list")
    empty = queue.__class__.objects.exclude(pk=queue.pk).get()
    page.goto(f"{live_server.url}/queues/{empty.pk}/")
    expect(page.get_by_text("This queue is empty")).to_be_visible()
    shot(page, "24-tablet-queue-empty-long-name")
    assert console_errors == [], "\n".join(console_errors)


def test_manager_bulk_assigns_from_the_lead_list(live_server, page, manager, rep, make_lead, rules, shot):
    leads = [make_lead(owner=None, first_name=f"Bulk{i:02d}", last_name="Pool") for i in range(30)]
    score_leads(lead_ids=[lead.pk for lead in leads])
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    log_in(page, live_server.url, manager.username)
    page.goto(f"{live_server.url}/leads/?per_page=25")
    expect(page.locator("table.leads tbody tr")).to_have_count(25)
    # Two rows by hand first.
    first, second = leads[-1], leads[-2]
    page.get_by_role("checkbox", name=f"Select {first.full_name}").check()
    page.get_by_role("checkbox", name=f"Select {second.full_name}").check()
    expect(page.get_by_text("2 selected")).to_be_visible()
    page.locator("#bulk-assign select[name=owner]").select_option(str(rep.pk))
    page.locator("#bulk-assign").get_by_role("button", name="Assign").click()
    expect(page.get_by_text(f"Assigned 2 leads to {rep.get_full_name()}.")).to_be_visible()
    assert set(Lead.objects.filter(pk__in=[first.pk, second.pk]).values_list("owner_id", flat=True)) == {rep.pk}
    # Then every lead of the page.
    page.get_by_label("Select all 25 leads on this page").check()
    expect(page.locator('table.leads tbody input[name="lead"]:checked')).to_have_count(25)
    page.locator("#bulk-assign select[name=owner]").select_option(str(rep.pk))
    shot(page, "25-lead-list-bulk-assign", full_page=False)
    page.locator("#bulk-assign").get_by_role("button", name="Assign").click()
    expect(page.get_by_text(f"Assigned 25 leads to {rep.get_full_name()}.")).to_be_visible()
    assert Lead.objects.filter(owner=rep).count() == 25
    shot(page, "26-lead-list-after-bulk-assign", full_page=False)
    page.set_viewport_size({"width": 820, "height": 1180})
    page.reload()
    shot(page, "27-tablet-lead-list-manager", full_page=False)
    assert console_errors == [], "\n".join(console_errors)
