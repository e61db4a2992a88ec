"""Page views: who sees what (404 for another rep's lead, 403 for a marketer's edit), query counts, BANT saves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leads.models import EventKind, Lead, LeadStatus, Qualification
from leads.roles import Role
from leads.selectors import leads_visible_to
from leads.services import record_event, update_lead
from scoring.models import LeadScore
from segments import services as segment_services
from segments.models import RoutingDecision
from tests import factories
from tests.conftest import uses_postgres

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user)
    return client


# --- login, logout, home ---------------------------------------------------------------


def test_anonymous_home_redirects_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("pages:login"))


def test_pages_need_login(client, rep_lead):
    for url in (reverse("pages:lead_list"), reverse("pages:lead_detail", args=[rep_lead.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("pages:login"))


def test_login_and_logout(client, rep):
    page = client.get(reverse("pages:login"))
    assert page.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in page.content
    assert b"After 5 failed attempts, logging in is blocked for 1 hour." in page.content
    response = client.post(reverse("pages:login"), {"username": rep.username, "password": "pw-Secret-123"})
    assert response.status_code == 302 and response["Location"] == reverse("pages:home")
    assert client.get("/").status_code == 200
    response = client.post(reverse("pages:logout"))
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_axes_locks_out_after_five_failures(client, rep):
    for _ in range(5):
        response = client.post(reverse("pages:login"), {"username": rep.username, "password": "wrong"})
        assert response.status_code in (200, 429)
    response = client.post(reverse("pages:login"), {"username": rep.username, "password": "pw-Secret-123"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_marketer_home_is_the_lead_list(client, marketer):
    login(client, marketer)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == reverse("pages:lead_list")


def test_navigation_follows_the_role(client, rep, manager):
    html = login(client, rep).get(reverse("pages:lead_list")).content.decode()
    assert reverse("pages:work_queue") in html
    assert reverse("admin:index") not in html
    client.logout()
    html = login(client, manager).get(reverse("pages:lead_list")).content.decode()
    assert reverse("admin:index") in html


def test_pages_send_no_inline_script(client, rep, rep_lead):
    login(client, rep)
    for url in ("/", reverse("pages:lead_list"), reverse("pages:lead_detail", args=[rep_lead.pk])):
        html = client.get(url).content.decode()
        assert "<script>" not in html and "<style" not in html and " style=" not in html
        assert "htmx" in html


# --- work queue ---------------------------------------------------------------------------


def test_work_queue_shows_own_and_pool_hottest_first(client, rep, rep_lead, pool_lead, foreign_lead, make_lead, rules):
    closed = make_lead(owner=rep, status=LeadStatus.WON)
    other_pool = factories.LeadFactory(owner=None, team=foreign_lead.team, first_name="Other", last_name="Pool")
    hot = make_lead(owner=rep, first_name="Hot", last_name="Prospect", job_title="CEO")
    Qualification.objects.filter(lead=hot).update(
        budget="approved", authority="decision_maker", need="clear", timing="under_3m"
    )
    from scoring.services import score_lead

    for lead in (rep_lead, pool_lead, hot, closed):
        score_lead(lead_id=lead.pk)
    response = login(client, rep).get(reverse("pages:work_queue"))
    ids = [lead.pk for lead in response.context["queue"].leads]
    assert ids[0] == hot.pk
    assert set(ids) == {rep_lead.pk, pool_lead.pk, hot.pk}
    assert foreign_lead.pk not in ids and other_pool.pk not in ids and closed.pk not in ids
    assert response.context["queue"].changes  # first scores happened today


def test_work_queue_flags_leads_waiting_for_first_touch(client, rep, make_lead, rules):
    from scoring.services import score_leads

    old = timezone.now() - timedelta(days=2)
    waiting = make_lead(owner=rep, first_name="Waiting")
    touched = make_lead(owner=rep, first_name="Called")
    working = make_lead(owner=rep, first_name="Working", status=LeadStatus.WORKING)
    clicked = make_lead(owner=rep, first_name="Clicked")
    fresh = make_lead(owner=rep, first_name="Fresh")
    Lead.objects.filter(pk__in=[waiting.pk, touched.pk, working.pk, clicked.pk]).update(created_at=old)
    record_event(lead=touched, kind=EventKind.CALL)  # through the service that keeps the first touch
    record_event(lead=clicked, kind=EventKind.EMAIL_CLICK)  # the lead's action, not a touch
    score_leads(lead_ids=[waiting.pk, touched.pk, working.pk, clicked.pk, fresh.pk])
    response = login(client, rep).get(reverse("pages:work_queue"))
    flags = {lead.pk: lead.awaiting_first_touch for lead in response.context["queue"].leads}
    assert flags == {waiting.pk: True, touched.pk: False, working.pk: False, clicked.pk: True, fresh.pk: False}
    assert response.context["queue"].waiting_count == 2
    only = client.get(reverse("pages:work_queue"), {"waiting": "1"})
    assert {lead.pk for lead in only.context["queue"].leads} == {waiting.pk, clicked.pk}
    assert b"Waiting for first touch" in only.content


def test_work_queue_waiting_follows_the_leads_first_touch(client, rep, make_lead, rules):
    """Back in New after a status change and nobody called: waiting again. A call logged before the
    lead existed (imported history) is no first touch, as the analytics count it."""
    from scoring.services import score_leads

    old = timezone.now() - timedelta(days=2)
    bounced = make_lead(owner=rep, first_name="Bounced")
    history = make_lead(owner=rep, first_name="History")
    called = make_lead(owner=rep, first_name="Called")
    Lead.objects.filter(pk__in=[bounced.pk, history.pk, called.pk]).update(created_at=old)
    update_lead(lead=bounced, data={"status": LeadStatus.WORKING})
    update_lead(lead=bounced, data={"status": LeadStatus.NEW})
    record_event(lead=history, kind=EventKind.CALL, occurred_at=old - timedelta(days=1))
    record_event(lead=called, kind=EventKind.MEETING)
    update_lead(lead=called, data={"status": LeadStatus.WORKING})
    update_lead(lead=called, data={"status": LeadStatus.NEW})  # the meeting still counts
    score_leads(lead_ids=[bounced.pk, history.pk, called.pk])
    queue = login(client, rep).get(reverse("pages:work_queue")).context["queue"]
    assert {lead.pk: lead.awaiting_first_touch for lead in queue.leads} == {
        bounced.pk: True,
        history.pk: True,
        called.pk: False,
    }
    assert queue.waiting_count == 2


def test_work_queue_puts_new_unscored_leads_first_and_pages_after_them(client, rep, make_lead, rules):
    """A lead still waiting for its first score comes first (speed to lead); the scored rows page on after it."""
    from scoring.services import score_leads

    scored = [make_lead(owner=rep, first_name=f"Scored{i}") for i in range(12)]
    score_leads(lead_ids=[lead.pk for lead in scored])
    new = make_lead(owner=rep, first_name="Brandnew")
    stale = make_lead(owner=rep, first_name="Lostmessage")  # unscored for days: the sweep's job, not the queue's
    Lead.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(days=3))
    login(client, rep)
    first = client.get(reverse("pages:work_queue"), {"per_page": 10}).context["queue"]
    second = client.get(reverse("pages:work_queue"), {"per_page": 10, "page": 2}).context["queue"]
    assert first.leads[0].pk == new.pk and first.has_next
    shown = [lead.pk for lead in first.leads + second.leads]
    assert len(shown) == len(set(shown)) == 13 and not second.has_next
    assert stale.pk not in shown
    totals = [lead.score.total for lead in first.leads[1:] + second.leads]
    assert totals == sorted(totals, reverse=True)


def test_work_queue_caps_the_first_touch_count(client, rep, make_lead, monkeypatch):
    from segments.pages import selectors as page_selectors

    monkeypatch.setattr(page_selectors, "WAITING_COUNT_CAP", 3)
    leads = [make_lead(owner=rep) for _ in range(5)]
    Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(created_at=timezone.now() - timedelta(days=3))
    response = login(client, rep).get(reverse("pages:work_queue"))
    assert response.context["queue"].waiting_count == 3 and response.context["queue"].waiting_capped
    assert '<p class="big">3+</p>' in response.content.decode()


def test_work_queue_empty_state(client, rep):
    response = login(client, rep).get(reverse("pages:work_queue"))
    assert b"Your queue is empty" in response.content


def _rows(make_lead, owner, n):
    leads = [make_lead(owner=owner) for _ in range(n)]
    for lead in leads:
        factories.EventFactory(lead=lead, kind=EventKind.EMAIL_OPEN)
    return leads


@pytest.mark.parametrize(
    ("url_name", "role", "expected"),
    [
        # session, user, roles, team; new unscored rows' ids; scored rows; waiting count; day's changes
        # (a rep's team is looked up once: their visible leads are their queue's scope)
        ("pages:work_queue", "rep", 8),
        # session, user, roles, team (scope); rows; bands and segments (one query)
        ("pages:lead_list", "rep", 6),
        # session, user, roles; rows; bands, teams and segments (one query); owners
        # (no team lookup: sees everything)
        ("pages:lead_list", "manager", 6),
    ],
)
def test_query_count_does_not_grow_with_rows(
    client, rep, manager, make_lead, rules, django_assert_num_queries, url_name, role, expected
):
    from scoring.services import score_leads

    leads = _rows(make_lead, rep, 50)
    score_leads(lead_ids=[lead.pk for lead in leads])
    login(client, {"rep": rep, "manager": manager}[role])
    for per_page in (10, 50):
        with django_assert_num_queries(expected):
            response = client.get(reverse(url_name), {"per_page": per_page})
        assert response.status_code == 200
        shown = response.context["queue" if url_name == "pages:work_queue" else "page"].leads
        assert len(shown) == per_page


# --- lead list ------------------------------------------------------------------------------


def test_lead_list_is_scoped_and_filtered(client, rep, rep_lead, pool_lead, foreign_lead, make_lead):
    working = make_lead(owner=rep, status=LeadStatus.WORKING, first_name="Grace", last_name="Hopper")
    login(client, rep)
    ids = {lead.pk for lead in client.get(reverse("pages:lead_list")).context["page"].leads}
    assert ids == {rep_lead.pk, pool_lead.pk, working.pk}
    # The form sends every field; empty ones mean "any".
    empty = {"status": "", "source": "", "industry": "", "band": "", "owner": "", "team": "", "country": "",
             "unassigned": "", "bant_met": "", "segment": "", "ordering": ""}  # fmt: skip
    searched = client.get(reverse("pages:lead_list"), {**empty, "search": "hopper"}).context["page"].leads
    assert [lead.pk for lead in searched] == [working.pk]
    by_status = client.get(reverse("pages:lead_list"), {"status": "working"}).context["page"].leads
    assert [lead.pk for lead in by_status] == [working.pk]
    pool = client.get(reverse("pages:lead_list"), {"unassigned": "true"}).context["page"].leads
    assert [lead.pk for lead in pool] == [pool_lead.pk]
    # Asking for another team's lead by owner id finds nothing.
    assert not client.get(reverse("pages:lead_list"), {"owner": foreign_lead.owner_id}).context["page"].leads


def test_lead_list_htmx_returns_only_the_results(client, rep, rep_lead):
    response = login(client, rep).get(
        reverse("pages:lead_list"), {"search": "ada"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="lead-results"
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="lead-results">')
    assert "Lovelace" in html and "<html" not in html


def test_lead_list_pages_and_sorts(client, manager, make_lead, rules):
    from scoring.services import score_leads

    leads = [make_lead(owner=None) for _ in range(30)]
    score_leads(lead_ids=[lead.pk for lead in leads])
    login(client, manager)
    first = client.get(reverse("pages:lead_list"), {"per_page": 25, "ordering": "-score"}).context["page"]
    assert len(first.leads) == 25 and first.has_next
    second = client.get(reverse("pages:lead_list"), {"per_page": 25, "ordering": "-score", "page": 2}).context["page"]
    assert len(second.leads) == 5 and not second.has_next
    totals = [lead.score.total for lead in first.leads + second.leads]
    assert totals == sorted(totals, reverse=True)


@pytest.mark.parametrize(
    "query",
    ["", "ordering=-score", "ordering=score", "ordering=last_name", "ordering=-updated_at", "ordering=status",
     "ordering=created_at", "ordering=-company", "status=new&ordering=-score", "search=pool&ordering=-last_name"],
)  # fmt: skip
def test_a_reps_lead_list_pages_through_own_and_pool_leads_in_order(rep, other_rep, make_lead, rules, query):
    """On PostgreSQL a rep's scope is read part by part (own leads, the team's pool; see
    segments.pages.selectors._first_of_each_part): page after page, the list shows exactly what one
    sorted query over the whole scope gives, and nothing outside it."""
    from scoring.services import score_leads
    from segments.pages.selectors import PageLeadFilter, list_leads_page

    now = timezone.now()
    own = [make_lead(owner=rep, last_name=f"Own{i % 3}") for i in range(7)]
    pool = [make_lead(owner=None, first_name="Pool", last_name=f"Pool{i % 2}") for i in range(5)]
    other_team = other_rep.membership.team
    others = [
        factories.LeadFactory(owner=other_rep, team=other_team),
        factories.LeadFactory(owner=None, team=other_team, first_name="Pool"),
        factories.LeadFactory(owner=None, team=None, first_name="Pool"),
    ]
    everyone = own + pool + others
    score_leads(lead_ids=[lead.pk for lead in everyone[2:]])  # two of the rep's leads unscored
    for i, lead in enumerate(everyone):
        Lead.objects.filter(pk=lead.pk).update(
            created_at=now - timedelta(hours=(i * 7) % 13),  # ties on purpose
            updated_at=now - timedelta(minutes=(i * 5) % 11),
            status=(LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.NEW)[i % 3],
        )
        LeadScore.objects.filter(lead=lead).update(total=(i * 37) % 50 - 10)
    params = QueryDict(query)
    expected = PageLeadFilter(data=params, queryset=leads_visible_to(rep)).qs if query else leads_visible_to(rep)
    if "ordering" not in params:
        expected = expected.order_by("-created_at", "-id")
    shown, page = [], 1
    while True:
        with CaptureQueriesContext(connection) as queries:
            listed = list_leads_page(user=rep, params=params, page=page, per_page=4)
        shown += [lead.pk for lead in listed.leads]
        if not listed.has_next:
            break
        page += 1
    assert shown == list(expected.values_list("id", flat=True))
    assert shown and set(shown) <= {lead.pk for lead in own + pool}
    rows = [q["sql"] for q in queries.captured_queries if "leads_lead" in q["sql"] and "LIMIT" in q["sql"]]
    assert len(rows) == 1 and ("UNION ALL" in rows[0]) == uses_postgres()


def test_lead_list_filters_by_segment_band_and_bant(client, manager, make_lead, rules):
    from scoring.services import score_lead

    qualified = make_lead(
        owner=None, qualification={"budget": "approved", "need": "clear", "authority": "decision_maker"}
    )
    plain = make_lead(owner=None)
    for lead in (qualified, plain):
        score_lead(lead_id=lead.pk)
    login(client, manager)
    got = client.get(reverse("pages:lead_list"), {"bant_met": 3}).context["page"].leads
    assert [lead.pk for lead in got] == [qualified.pk]
    band = LeadScore.objects.get(lead=qualified).band
    got = client.get(reverse("pages:lead_list"), {"band": band}).context["page"].leads
    assert qualified.pk in [lead.pk for lead in got]
    queue = segment_services.create_nurture_queue(name="Later")
    segment = segment_services.save_segment(data={"name": "Everyone", "queue": queue, "is_fallback": True})
    segment_services.route_leads(lead_ids=[qualified.pk, plain.pk])
    got = client.get(reverse("pages:lead_list"), {"segment": segment.pk}).context["page"].leads
    assert {lead.pk for lead in got} == {qualified.pk, plain.pk}


# --- lead page and its partials: another rep's lead is a 404 everywhere ----------------------


def test_rep_gets_404_for_another_reps_lead_everywhere(client, rep, foreign_lead):
    login(client, rep)
    assert client.get(reverse("pages:lead_detail", args=[foreign_lead.pk])).status_code == 404
    assert client.get(reverse("pages:lead_score", args=[foreign_lead.pk]), HTTP_HX_REQUEST="true").status_code == 404
    response = client.post(
        reverse("pages:save_bant", args=[foreign_lead.pk, "budget"]), {"budget-budget": "approved"},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip
    assert response.status_code == 404
    assert Qualification.objects.get(lead=foreign_lead).budget == "unknown"


def test_missing_lead_and_unknown_criterion_are_404(client, rep, rep_lead):
    login(client, rep)
    assert client.get(reverse("pages:lead_detail", args=[999999])).status_code == 404
    assert client.post(reverse("pages:save_bant", args=[rep_lead.pk, "price"]), {}).status_code == 404


def test_lead_page_shows_contact_score_questions_and_timeline(client, rep, rep_lead, rules, score):
    factories.EventFactory(lead=rep_lead, kind=EventKind.WEBINAR_ATTENDED, metadata={"title": "Scoring 101"})
    score(rep_lead)
    response = login(client, rep).get(reverse("pages:lead_detail", args=[rep_lead.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Ada Lovelace" in html and rep_lead.email in html and rep_lead.company.name in html
    for question in (
        "What budget do you plan for this implementation?",
        "Who besides you takes part in the decision?",
        "What made you start looking for a new tool?",
        "Is there a deadline for the project start?",
    ):
        assert question in html
    assert 'id="score-panel"' in html and 'data-testid="band"' in html
    assert 'hx-trigger="every 1s"' not in html  # the score is current: no polling
    assert "Webinar attended" in html and "Scoring 101" in html
    assert html.count('hx-post="/leads/') == 4


def test_rep_saves_bant_with_htmx_and_the_score_follows(
    client, rep, rep_lead, rules, score, django_capture_on_commit_callbacks
):
    score(rep_lead)
    before = LeadScore.objects.get(lead=rep_lead)
    login(client, rep)
    url = reverse("pages:save_bant", args=[rep_lead.pk, "budget"])
    data = {"budget-budget": "approved", "budget-budget_amount": "50000", "budget-budget_currency": "EUR",
            "budget-budget_notes": "Signed off by the CFO"}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, data, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="bant-budget")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="bant-budget"' in html and "Saved" in html
    assert 'hx-swap-oob="true"' in html  # the score panel comes along
    qual = Qualification.objects.get(lead=rep_lead)
    assert (qual.budget, qual.budget_amount, qual.budget_notes) == ("approved", 50000, "Signed off by the CFO")
    assert qual.budget_recorded_by == rep
    after = LeadScore.objects.get(lead=rep_lead)
    assert after.total > before.total
    assert after.lead_version == Lead.objects.get(pk=rep_lead.pk).version
    # The response was rendered before the commit callbacks (the scoring task) ran: it polls...
    assert 'hx-trigger="every 1s"' in html
    # ...and the next poll finds the new score and stops.
    panel = client.get(reverse("pages:lead_score", args=[rep_lead.pk]), {"polls": 1}, HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 1s"' not in panel.content.decode()
    assert f'data-testid="score-total">{after.total}<' in panel.content.decode()


def test_score_panel_polls_until_the_score_catches_up(client, rep, rep_lead, rules, score):
    score(rep_lead)
    login(client, rep)
    # A save whose scoring task has not run yet (no on_commit in this test's transaction).
    response = client.post(
        reverse("pages:save_bant", args=[rep_lead.pk, "need"]), {"need-need": "clear"}, HTTP_HX_REQUEST="true"
    )
    assert 'hx-trigger="every 1s"' in response.content.decode()
    panel = client.get(reverse("pages:lead_score", args=[rep_lead.pk]), {"polls": 3}, HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 1s"' in panel.content.decode() and "polls=4" in panel.content.decode()
    score(rep_lead)
    panel = client.get(reverse("pages:lead_score", args=[rep_lead.pk]), {"polls": 4}, HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 1s"' not in panel.content.decode()
    assert "Clear need" in panel.content.decode()


def test_score_panel_gives_up_polling_after_a_minute(client, rep, rep_lead, rules, score):
    score(rep_lead)
    Lead.objects.filter(pk=rep_lead.pk).update(version=rep_lead.version + 5)
    panel = login(client, rep).get(reverse("pages:lead_score", args=[rep_lead.pk]), {"polls": 60})
    html = panel.content.decode()
    assert 'hx-trigger="every 1s"' not in html and "Reload the page" in html


def test_invalid_bant_answer_is_shown_not_saved(client, rep, rep_lead):
    response = login(client, rep).post(
        reverse("pages:save_bant", args=[rep_lead.pk, "budget"]),
        {"budget-budget": "lots", "budget-budget_amount": "-5"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert b'id="bant-budget"' in response.content and b"field-error" in response.content
    assert Qualification.objects.get(lead=rep_lead).budget == "unknown"


def test_bant_form_without_javascript_redirects_back(client, rep, rep_lead):
    response = login(client, rep).post(
        reverse("pages:save_bant", args=[rep_lead.pk, "timing"]),
        {"timing-timing": "3_6m", "timing-decision_date": "2027-03-01", "timing-timing_notes": "Q1 kickoff"},
    )
    assert response.status_code == 302 and response["Location"] == reverse("pages:lead_detail", args=[rep_lead.pk])
    assert Qualification.objects.get(lead=rep_lead).timing == "3_6m"


def test_marketer_reads_but_cannot_edit_qualification(client, marketer, rep_lead):
    login(client, marketer)
    page = client.get(reverse("pages:lead_detail", args=[rep_lead.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "hx-post" not in html and "Read only" in html
    assert "What budget do you plan for this implementation?" in html
    for htmx in (True, False):
        extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        response = client.post(
            reverse("pages:save_bant", args=[rep_lead.pk, "budget"]), {"budget-budget": "approved"}, **extra
        )
        assert response.status_code == 403
    assert b"Your role can read this, but not change it." in response.content
    assert Qualification.objects.get(lead=rep_lead).budget == "unknown"


def test_manager_edits_any_lead(client, manager, foreign_lead):
    response = login(client, manager).post(
        reverse("pages:save_bant", args=[foreign_lead.pk, "authority"]),
        {"authority-authority": "decision_maker", "authority-decision_maker": "", "authority-authority_notes": ""},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert Qualification.objects.get(lead=foreign_lead).authority == "decision_maker"


def test_timeline_has_bant_status_routing_and_stage_changes(client, manager, rep_lead):
    from leads.services import update_lead, update_qualification

    update_qualification(
        lead=rep_lead.pk, data={"need": "clear", "need_notes": "Spreadsheets break"}, acting_user=manager
    )
    update_lead(lead=rep_lead.pk, data={"status": LeadStatus.WORKING}, acting_user=manager)
    pipeline = segment_services.create_pipeline(name="Sales", stages=["New", "Contacted"])
    stage = pipeline.stages.get(position=2)
    segment_services.move_lead_to_stage(lead=rep_lead.pk, stage=stage, acting_user=manager)
    assert RoutingDecision.objects.filter(lead=rep_lead).exists()
    html = login(client, manager).get(reverse("pages:lead_detail", args=[rep_lead.pk])).content.decode()
    assert "Qualification updated" in html and "Need: Clear" in html and "Need notes updated" in html
    assert "Status: New → Working" in html
    assert "Routed to stage Contacted" in html
    assert "Entered stage Contacted" in html


def test_long_names_are_escaped_and_clipped(client, rep, make_lead):
    lead = make_lead(owner=rep, first_name="<b>Bartholomew-Maximilian</b>" * 3, last_name="X" * 90)
    html = login(client, rep).get(reverse("pages:lead_detail", args=[lead.pk])).content.decode()
    assert "<b>Bartholomew" not in html and "&lt;b&gt;Bartholomew" in html
    assert 'class="clip2"' in html


def test_user_without_role_sees_no_leads(client, rep_lead):
    nobody = factories.UserFactory()
    login(client, nobody)
    assert client.get(reverse("pages:lead_detail", args=[rep_lead.pk])).status_code == 404
    assert not client.get(reverse("pages:lead_list")).context["page"].leads


def test_rep_of_role_sales_rep_only_can_post_to_pool_lead(client, rep, pool_lead):
    assert Role.SALES_REP
    response = login(client, rep).post(
        reverse("pages:save_bant", args=[pool_lead.pk, "need"]), {"need-need": "weak"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert Qualification.objects.get(lead=pool_lead).need == "weak"


# --- row texts and filter choices ---------------------------------------------------------------


def test_ago_says_the_largest_unit():
    from segments.pages.selectors import ago

    now = timezone.now()
    assert ago(None, now) == ""
    assert ago(now - timedelta(seconds=30), now) == "just now"
    assert ago(now - timedelta(minutes=1), now) == "1 minute ago"
    assert ago(now - timedelta(hours=2, minutes=59), now) == "2 hours ago"
    assert ago(now - timedelta(days=1), now) == "1 day ago"
    assert ago(now - timedelta(days=15), now) == "2 weeks ago"
    assert ago(now - timedelta(days=400), now) == "1 year ago"


def test_rows_show_status_country_stage_bant_and_activity(client, manager, make_lead):
    lead = make_lead(owner=None, status=LeadStatus.WORKING, qualification={"budget": "approved", "need": "clear"})
    factories.EventFactory(lead=lead, kind=EventKind.EMAIL_OPEN, occurred_at=timezone.now() - timedelta(hours=3))
    pipeline = segment_services.create_pipeline(name="Sales", stages=["New", "Contacted"])
    segment_services.move_lead_to_stage(lead=lead.pk, stage=pipeline.stages.get(position=2))
    html = login(client, manager).get(reverse("pages:lead_list")).content.decode()
    row = html[html.index(f'name="lead" value="{lead.pk}"') :].split("</tr>")[0]
    assert ">Working<" in row and ">Germany<" in row and ">Contacted<" in row and ">2/4<" in row
    assert ">3 hours ago<" in row and f'href="/leads/{lead.pk}/"' in row


def _row_of(html, lead):
    return html[html.index(f'name="lead" value="{lead.pk}"') :].split("</tr>")[0]


def test_rows_show_score_change_unscored_pool_and_no_activity_escaped(client, manager, rep, make_lead, rules, score):
    from scoring.models import ScoreHistory

    scored = make_lead(owner=rep)
    stored = score(scored)
    ScoreHistory.objects.create(
        lead=scored,
        old_total=stored.total - 5,
        total=stored.total,
        band=stored.band,
        reason="lead_change",
        rules_version=stored.rules_version,
        lead_version=stored.lead_version,
        created_at=timezone.now() - timedelta(hours=1),
    )
    unscored = make_lead(owner=None, first_name="<i>Eve</i>", last_name="", job_title="")
    html = login(client, manager).get(reverse("pages:lead_list")).content.decode()

    row = _row_of(html, scored)
    assert f'<span class="band band-{stored.band.lower()}">{stored.band}</span>' in row
    assert f'{stored.total} <span class="delta up" title="Change since yesterday">+5</span>' in row
    assert '<span class="pool">' not in row and '<span class="muted">none yet</span>' in row

    row = _row_of(html, unscored)
    assert '<span class="band band-none" title="Not scored yet">…</span>' in row
    assert '<td class="col-score num">\u2013</td>' in row and 'class="delta' not in row
    assert '<span class="pool">Team pool</span>' in row
    assert "<i>" not in row and 'aria-label="Select &lt;i&gt;Eve&lt;/i&gt;"' in row
    # No job title: the email stands in under the name.
    assert f'<span class="sub" title="">{unscored.email}</span>' in row


def test_filter_choices_come_in_one_query_in_order(manager, rules, django_assert_num_queries):
    from segments.pages.selectors import list_filter_choices

    factories.TeamFactory(name="Zeta")
    factories.TeamFactory(name="Alpha")
    queue = segment_services.create_nurture_queue(name="Later")
    segment_services.save_segment(data={"name": "Catch-all", "queue": queue, "is_fallback": True})
    segment_services.save_segment(data={"name": "First", "queue": queue, "priority": 5})
    with django_assert_num_queries(1):
        choices = list_filter_choices(with_teams=True)
    assert choices.bands == ["A", "B", "C", "D"]
    assert [t.name for t in choices.teams] == ["Alpha", "Zeta"]
    assert [s.name for s in choices.segments] == ["First", "Catch-all"]
    assert list_filter_choices(with_teams=False).teams == []


def test_invalid_filters_are_shown_not_applied(client, manager, make_lead):
    make_lead(owner=None)
    response = login(client, manager).get(reverse("pages:lead_list"), {"bant_met": "lots"})
    assert not response.context["page"].leads
    assert "Some filters are not valid" in response.content.decode()
    # Without any filter the list needs no filter set at all.
    assert login(client, manager).get(reverse("pages:lead_list"), {"per_page": 10}).context["page"].filterset is None
