"""Nurture queue pages: marketers and managers only, members with their dates, constant queries, the CSV export."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from leads.models import Lead
from scoring.services import score_leads
from segments import services as segment_services
from segments.models import ExportRecord
from tests import factories

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def login(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def members(nurture_queue, enqueue, make_lead, rules):
    """Three members: overdue, due today, later; one of them do-not-contact."""
    overdue = make_lead(owner=None, first_name="Olga", last_name="Overdue")
    today = make_lead(owner=None, first_name="Tara", last_name="Today", do_not_contact=True)
    later = make_lead(owner=None, first_name="Lars", last_name="Later")
    enqueue(overdue, nurture_queue, revisit_in_days=-3, reason="Segment: No budget: educate")
    enqueue(today, nurture_queue, revisit_in_days=0)
    enqueue(later, nurture_queue, revisit_in_days=40)
    score_leads(lead_ids=[overdue.pk, today.pk, later.pk])
    return overdue, today, later


def test_reps_do_not_get_queues(client, rep, nurture_queue, members):
    login(client, rep)
    assert client.get(reverse("pages:queue_list")).status_code == 404
    assert client.get(reverse("pages:queue_detail", args=[nurture_queue.pk])).status_code == 404
    assert client.get(reverse("nurture-queue-export", args=[nurture_queue.pk])).status_code == 404
    assert reverse("pages:queue_list") not in client.get(reverse("pages:lead_list")).content.decode()


@pytest.mark.parametrize("role", ["marketer", "manager"])
def test_queue_list_shows_purpose_cadence_and_counts(client, marketer, manager, nurture_queue, members, role):
    empty = segment_services.create_nurture_queue(name="General nurture", purpose="", cadence_days=30)
    response = login(client, {"marketer": marketer, "manager": manager}[role]).get(reverse("pages:queue_list"))
    assert response.status_code == 200
    queues = {q.name: q for q in response.context["queues"]}
    q = queues["Educational nurture"]
    assert (q.member_count, q.due_count, q.overdue_count) == (3, 2, 1)
    assert queues["General nurture"].member_count == 0
    html = response.content.decode()
    assert "No budget yet: teach and ask again next quarter." in html and "Worked every 14 days" in html
    assert reverse("nurture-queue-export", args=[nurture_queue.pk]) in html
    assert reverse("pages:queue_detail", args=[empty.pk]) in html
    assert reverse("pages:queue_list") in html  # the header links the queues for this role


def test_queue_page_lists_members_with_reason_dates_and_flags(client, marketer, nurture_queue, members):
    overdue, today, later = members
    response = login(client, marketer).get(reverse("pages:queue_detail", args=[nurture_queue.pk]))
    assert response.status_code == 200
    assert [m.lead_id for m in response.context["qp"].members] == [overdue.pk, today.pk, later.pk]
    html = response.content.decode()
    assert "Olga Overdue" in html and "Segment: No budget: educate" in html
    assert html.count('class="row-overdue"') == 1 and html.count('class="row-due"') == 1
    assert "Overdue" in html and "Due today" in html and "Do not contact" in html
    assert reverse("nurture-queue-export", args=[nurture_queue.pk]) in html
    assert "<script>" not in html and " style=" not in html


def test_queue_page_filters_due_sorts_and_pages(client, manager, nurture_queue, members):
    overdue, today, later = members
    url = reverse("pages:queue_detail", args=[nurture_queue.pk])
    login(client, manager)
    due = client.get(url, {"due": "1"}).context["qp"].members
    assert [m.lead_id for m in due] == [overdue.pk, today.pk]
    newest = client.get(url, {"ordering": "-entered"}).context["qp"].members
    assert [m.lead_id for m in newest] == [later.pk, today.pk, overdue.pk]
    by_name = client.get(url, {"ordering": "name"}).context["qp"].members
    assert [m.lead.last_name for m in by_name] == ["Later", "Overdue", "Today"]
    first = client.get(url, {"per_page": 10}).context["qp"]
    assert not first.has_next
    assert client.get(url, {"ordering": "nonsense"}).context["qp"].ordering == "revisit"
    assert "No more members" in client.get(url, {"page": 2}).content.decode()


def test_queue_page_empty_states_and_unknown_queue(client, marketer, nurture_queue):
    login(client, marketer)
    html = client.get(reverse("pages:queue_detail", args=[nurture_queue.pk])).content.decode()
    assert "This queue is empty" in html
    assert (
        "Nothing is due"
        in client.get(reverse("pages:queue_detail", args=[nurture_queue.pk]), {"due": 1}).content.decode()
    )
    assert client.get(reverse("pages:queue_detail", args=[999999])).status_code == 404


def test_queue_list_empty_state(client, marketer):
    assert "No nurture queues yet" in login(client, marketer).get(reverse("pages:queue_list")).content.decode()


@pytest.mark.parametrize("role", ["marketer", "manager"])
def test_queue_page_query_count_does_not_grow_with_members(
    client, marketer, manager, nurture_queue, enqueue, make_lead, rules, django_assert_num_queries, role
):
    """session, user, roles, the queue with its counts, the members with lead, company, score and owner."""
    login(client, {"marketer": marketer, "manager": manager}[role])
    url = reverse("pages:queue_detail", args=[nurture_queue.pk])
    for n in (2, 60):
        leads = [make_lead(owner=None) for _ in range(n - Lead.objects.count())]
        for i, lead in enumerate(leads):
            enqueue(lead, nurture_queue, revisit_in_days=i - 5)
        score_leads(lead_ids=[lead.pk for lead in leads])
        for per_page in (10, 50):
            with django_assert_num_queries(5):
                response = client.get(url, {"per_page": per_page})
            assert len(response.context["qp"].members) == min(n, per_page)
    with django_assert_num_queries(4):  # session, user, roles, queues with counts
        client.get(reverse("pages:queue_list"))


def test_marketer_exports_a_queue_as_the_button_links_it(client, marketer, nurture_queue, enqueue, members, make_lead):
    """The button's URL streams the queue's CSV: do-not-contact left out, formulas neutralised, recorded."""
    overdue, _do_not_contact, later = members
    sneaky = make_lead(owner=None, first_name='=HYPERLINK("http://x")', last_name="@SUM(A1)")
    enqueue(sneaky, nurture_queue)
    login(client, marketer)
    page = client.get(reverse("pages:queue_detail", args=[nurture_queue.pk])).content.decode()
    url = reverse("nurture-queue-export", args=[nurture_queue.pk])
    assert f'href="{url}"' in page
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {int(r["lead id"]) for r in rows} == {overdue.pk, later.pk, sneaky.pk}
    hostile = next(r for r in rows if int(r["lead id"]) == sneaky.pk)
    assert hostile["first name"] == '\'=HYPERLINK("http://x")' and hostile["last name"] == "'@SUM(A1)"
    record = ExportRecord.objects.get()
    assert (record.user, record.queue, record.rows) == (marketer, nurture_queue, 3)


def test_user_without_role_gets_no_queues(client, nurture_queue):
    login(client, factories.UserFactory())
    assert client.get(reverse("pages:queue_list")).status_code == 404
