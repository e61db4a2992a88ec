"""Bulk assignment on the lead list: managers only, all or nothing, a clear 400, constant queries."""

from __future__ import annotations

import pytest
from django.urls import reverse

from leads.models import Lead
from leads.roles import Role
from segments.models import LeadPlacement
from tests import factories
from tests.conftest import uses_postgres

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "lead-results"}
URL = "/leads/assign/"


def login(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def unassigned(make_lead):
    return [make_lead(owner=None, first_name=f"Pool{i}") for i in range(4)]


def owners(ids):
    return set(Lead.objects.filter(id__in=ids).values_list("owner_id", flat=True))


def test_url_name():
    assert reverse("pages:bulk_assign") == URL


def test_only_managers_see_the_control(client, rep, manager, marketer, unassigned):
    html = login(client, manager).get(reverse("pages:lead_list")).content.decode()
    assert 'id="bulk-assign"' in html and 'name="lead"' in html and "data-select-all" in html
    bulk_owner = html.split('id="bulk-assign"')[1].split('name="owner"')[1].split("</select>")[0]
    assert f'<option value="{rep.pk}">' in bulk_owner  # reps are offered, managers are not
    assert f'<option value="{manager.pk}">' not in bulk_owner
    for user in (rep, marketer):
        client.logout()
        html = login(client, user).get(reverse("pages:lead_list")).content.decode()
        assert 'id="bulk-assign"' not in html and 'name="lead"' not in html


def test_reps_and_marketers_get_403_and_nothing_changes(client, rep, marketer, unassigned):
    ids = [lead.pk for lead in unassigned]
    for user in (rep, marketer):
        login(client, user)
        for extra in (HTMX, {}):
            response = client.post(URL, {"lead": ids, "owner": rep.pk}, **extra)
            assert response.status_code == 403
    assert owners(ids) == {None}


def test_manager_assigns_ticked_leads_with_htmx(client, manager, rep, unassigned):
    ids = [lead.pk for lead in unassigned[:3]]
    login(client, manager)
    response = client.post(URL, {"lead": ids, "owner": rep.pk, "query": "per_page=10&ordering=-created_at"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="lead-results">')
    assert f"Assigned 3 leads to {rep.get_full_name()}." in html
    assert owners(ids) == {rep.pk} and owners([unassigned[3].pk]) == {None}
    assert set(LeadPlacement.objects.filter(lead_id__in=ids).values_list("manual_owner", flat=True)) == {True}
    # The list comes back with the same filters.
    assert (
        response.context["selected"]["per_page"] == "10" and response.context["selected"]["ordering"] == "-created_at"
    )


def test_select_all_on_this_page(client, manager, rep, unassigned):
    page = login(client, manager).get(reverse("pages:lead_list"), {"per_page": 10})
    page_ids = page.context["page_ids"]
    assert sorted(int(i) for i in page_ids.split(",")) == sorted(lead.pk for lead in unassigned)
    response = client.post(URL, {"all_on_page": "1", "page_ids": page_ids, "owner": rep.pk}, **HTMX)
    assert response.status_code == 200 and "Assigned 4 leads" in response.content.decode()
    assert owners([lead.pk for lead in unassigned]) == {rep.pk}


def test_unknown_ids_are_a_400_and_nothing_changes(client, manager, rep, unassigned):
    ids = [lead.pk for lead in unassigned]
    login(client, manager)
    response = client.post(URL, {"lead": [*ids, 424242], "owner": rep.pk}, **HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was assigned: these leads do not exist or you may not change them: 424242." in html
    assert 'role="alert"' in html
    assert owners(ids) == {None}
    assert not LeadPlacement.objects.filter(lead_id__in=ids).exists()
    assert client.post(URL, {"lead": ["abc"], "owner": rep.pk}, **HTMX).status_code == 400


@pytest.mark.parametrize(
    ("owner", "message"),
    [("", "Choose the rep who gets the leads."), ("manager", "Choose an active sales rep."),
     ("inactive", "Choose an active sales rep.")],
)  # fmt: skip
def test_owner_must_be_an_active_rep(client, manager, unassigned, owner, message):
    inactive = factories.UserFactory(role=Role.SALES_REP, is_active=False)
    value = {"": "", "manager": manager.pk, "inactive": inactive.pk}[owner]
    ids = [lead.pk for lead in unassigned]
    response = login(client, manager).post(URL, {"lead": ids, "owner": value}, **HTMX)
    assert response.status_code == 400 and message in response.content.decode()
    assert owners(ids) == {None}


def test_nothing_ticked_is_a_400(client, manager, rep, unassigned):
    response = login(client, manager).post(URL, {"owner": rep.pk}, **HTMX)
    assert response.status_code == 400
    assert "Tick at least one lead, or select all on this page." in response.content.decode()


def test_without_javascript_it_redirects_with_a_message(client, manager, rep, unassigned):
    ids = [lead.pk for lead in unassigned]
    login(client, manager)
    response = client.post(URL, {"lead": ids, "owner": rep.pk, "query": "search=pool"})
    assert response.status_code == 302 and response["Location"] == reverse("pages:lead_list") + "?search=pool"
    assert "Assigned 4 leads" in client.get(response["Location"]).content.decode()
    bad = client.post(URL, {"lead": [424242], "owner": rep.pk})
    assert bad.status_code == 400 and "<html" in bad.content.decode() and "424242" in bad.content.decode()


def test_a_manager_assigns_another_teams_leads_too(client, manager, rep, foreign_lead):
    response = login(client, manager).post(URL, {"lead": [foreign_lead.pk], "owner": rep.pk}, **HTMX)
    assert response.status_code == 200 and owners([foreign_lead.pk]) == {rep.pk}


def test_bulk_assign_query_count_does_not_grow_with_leads(client, manager, rep, make_lead, django_assert_num_queries):
    """The form's owner lookup, the assignment's fixed statements and the lead list it returns.

    SQLite caps a statement at 999 parameters, so Django splits the history insert of more
    than 30 leads there (a database limit, not a query per lead); PostgreSQL takes 120 in one.
    """
    login(client, manager)
    counts = []
    for n in (3, 120 if uses_postgres() else 30):
        ids = [make_lead(owner=None).pk for _ in range(n)]
        with django_assert_num_queries(17) as captured:
            response = client.post(URL, {"lead": ids, "owner": rep.pk, "query": "per_page=100"}, **HTMX)
        assert response.status_code == 200 and owners(ids) == {rep.pk}
        counts.append(len(captured))
    assert counts[0] == counts[1]
