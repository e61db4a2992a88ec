"""Leads API: list (filters, search, ordering, pagination, query count), create, retrieve, update, delete, per role."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import Company, Lead
from leads.serializers import LeadDetailSerializer, LeadSerializer
from scoring.models import LeadScore
from tests import factories

from .shapes import assert_error_shape

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/"


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def _score(lead: Lead, total: int, band: str) -> None:
    LeadScore.objects.update_or_create(
        lead=lead,
        defaults={
            "total": total,
            "fit": total,
            "engagement": 0,
            "qualification": 0,
            "band": band,
            "rules_version": 1,
            "lead_version": lead.version,
            "computed_at": lead.created_at,
        },
    )


# --- list: role scoping --------------------------------------------------------------------------


def test_list_is_scoped_by_role(api, rep, other_rep, manager, marketer, rep_lead, pool_lead, other_lead):
    assert _ids(api(rep).get(URL)) == {rep_lead.pk, pool_lead.pk}
    assert _ids(api(other_rep).get(URL)) == {other_lead.pk}
    assert _ids(api(manager).get(URL)) == {rep_lead.pk, pool_lead.pk, other_lead.pk}
    assert _ids(api(marketer).get(URL)) == {rep_lead.pk, pool_lead.pk, other_lead.pk}


def test_anonymous_is_401_with_the_error_shape(api, rep_lead):
    response = api().get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    assert_error_shape(response.json(), code="not_authenticated")
    assert api().get(f"{URL}{rep_lead.pk}/").status_code == 401


def test_session_authentication_works_too(client, rep, rep_lead):
    client.force_login(rep)
    assert client.get(f"{URL}{rep_lead.pk}/").status_code == 200


# --- list: filters, search, ordering --------------------------------------------------------------


@pytest.fixture
def varied_leads(team, rep):
    pl = factories.CompanyFactory(name="Kraków Steel", country="PL", industry="manufacturing", domain="steel.pl")
    de = factories.CompanyFactory(name="Berlin Bank", country="DE", industry="finance", domain="bank.de")
    a = factories.LeadFactory(
        email="anna@steel.pl", first_name="Anna", last_name="Nowak", company=pl, status="working", source="webinar"
    )
    b = factories.LeadFactory(email="bert@bank.de", first_name="Bert", company=de, status="new", source="ppc")
    c = factories.LeadFactory(
        email="carl@bank.de",
        first_name="Carl",
        company=de,
        status="qualified",
        owner=rep,
        team=team,
        qualification={"budget": "approved", "authority": "decision_maker", "need": "clear"},
    )
    _score(a, 80, "A")
    _score(b, 40, "C")
    _score(c, 60, "B")
    return a, b, c


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=working", "a"),
        ("status=working&status=new", "ab"),
        ("band=A", "a"),
        ("source=ppc", "b"),
        ("country=DE", "bc"),
        ("industry=manufacturing", "a"),
        ("bant_met=3", "c"),
        ("search=nowak", "a"),
        ("search=BANK", "bc"),
        ("search=carl bank", "c"),
        ("unassigned=true", "ab"),
    ],
)
def test_filters(api, manager, varied_leads, query, expected):
    by_name = dict(zip("abc", varied_leads, strict=True))
    assert _ids(api(manager).get(f"{URL}?{query}")) == {by_name[k].pk for k in expected}


def test_filter_by_owner_and_team(api, manager, rep, team, varied_leads):
    c = varied_leads[2]
    assert _ids(api(manager).get(f"{URL}?owner={rep.pk}")) == {c.pk}
    assert _ids(api(manager).get(f"{URL}?team={team.pk}")) == {c.pk}


def test_ordering_by_score_lists_scored_leads_highest_first(api, manager, varied_leads):
    factories.LeadFactory(email="unscored@example.com")
    rows = api(manager).get(f"{URL}?ordering=-score").json()["results"]
    assert [r["score"]["total"] for r in rows] == [80, 60, 40]
    rows = api(manager).get(f"{URL}?ordering=score").json()["results"]
    assert [r["score"]["total"] for r in rows] == [40, 60, 80]


def test_default_ordering_is_newest_first(api, manager, varied_leads):
    rows = api(manager).get(URL).json()["results"]
    assert [r["id"] for r in rows] == sorted((lead.pk for lead in varied_leads), reverse=True)


@pytest.mark.parametrize(
    "query",
    ["status=bogus", "owner=abc", "owner=0", f"owner={2**64}", "bant_met=9", "ordering=password", "page=0", "page=x"],
)
def test_bad_filter_values_are_400_with_field_errors(api, manager, query):
    response = api(manager).get(f"{URL}?{query}")
    assert response.status_code == 400, response.content
    body = response.json()
    assert_error_shape(body, code="invalid")
    assert query.split("=")[0] in body["errors"]


# --- list: pagination and query count ---------------------------------------------------------------


def test_pagination_without_count(api, manager):
    for n in range(7):
        factories.LeadFactory(email=f"p{n}@example.com")
    first = api(manager).get(f"{URL}?page_size=3").json()
    assert set(first) == {"next", "previous", "results"}
    assert len(first["results"]) == 3 and first["previous"] is None
    assert "page=2" in first["next"] and "page_size=3" in first["next"]
    last = api(manager).get(f"{URL}?page_size=3&page=3").json()
    assert len(last["results"]) == 1 and last["next"] is None and "page=2" in last["previous"]
    assert api(manager).get(f"{URL}?page_size=201").status_code == 400


@pytest.mark.parametrize("role", ["manager", "rep"])
def test_list_query_count_does_not_grow_with_the_page(api, request, role, team, rep):
    user = request.getfixturevalue(role)
    for n in range(60):
        lead = factories.LeadFactory(email=f"q{n}@example.com", owner=rep, team=team)
        _score(lead, n, "C")
    client = api(user)
    counts = []
    for size in (5, 50):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"{URL}?page_size={size}&ordering=-score")
        assert response.status_code == 200 and len(response.json()["results"]) == size
        counts.append(len(queries))
    assert counts[0] == counts[1]


@pytest.mark.parametrize(("role", "queries"), [("manager", 3), ("rep", 4)])
def test_list_query_count_is_pinned(api, request, django_assert_num_queries, role, queries, team, rep):
    """Token + user, the user's roles, (a rep's team), the page. No COUNT, no per-row query."""
    user = request.getfixturevalue(role)
    for n in range(60):
        factories.LeadFactory(email=f"n{n}@example.com", owner=rep, team=team)
    client = api(user)
    for size in (5, 50):
        with django_assert_num_queries(queries):
            assert len(client.get(f"{URL}?page_size={size}").json()["results"]) == size


def test_representation_matches_declared_fields(manager, rep_lead):
    """The hand-written fast representation and the declared (schema) fields stay in step."""
    _score(rep_lead, 10, "D")
    lead = Lead.objects.select_related("company", "score", "qualification").get(pk=rep_lead.pk)
    assert list(LeadSerializer(lead).data) == LeadSerializer.Meta.fields
    assert list(LeadDetailSerializer(lead).data) == LeadDetailSerializer.Meta.fields
    assert set(LeadSerializer(lead).data["company"]) == set(LeadSerializer().fields["company"].fields)


# --- create -----------------------------------------------------------------------------------------

NEW_LEAD = {
    "first_name": "Ola",
    "last_name": "Kowalska",
    "email": "Ola@Example.PL",
    "job_title": "CTO",
    "source": "webinar",
    "company": {"name": "Example", "domain": "https://www.example.pl/about", "country": "PL", "industry": "software"},
    "qualification": {"budget": "approved", "need": "clear"},
}


def test_manager_creates_a_lead_with_company_and_qualification(api, manager, rep):
    response = api(manager).post(URL, {**NEW_LEAD, "owner": rep.pk}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "ola@example.pl"
    assert body["owner"] == rep.pk and body["team"] == rep.membership.team_id
    assert body["company"]["domain"] == "example.pl" and body["company"]["country"] == "PL"
    assert body["qualification"]["budget"] == "approved" and body["bant_met"] == 2
    assert body["qualification"]["budget_recorded_by"] == manager.pk
    assert body["version"] == 1


def test_company_is_matched_by_domain(api, manager):
    existing = factories.CompanyFactory(name="Example S.A.", domain="example.pl")
    response = api(manager).post(URL, NEW_LEAD, format="json")
    assert response.status_code == 201
    assert response.json()["company"]["id"] == existing.pk
    assert Company.objects.filter(domain="example.pl").count() == 1


def test_rep_creates_a_lead_they_own(api, rep):
    response = api(rep).post(URL, NEW_LEAD, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["owner"] == rep.pk
    assert api(rep).get(f"{URL}{response.json()['id']}/").status_code == 200


def test_marketer_cannot_create(api, marketer):
    response = api(marketer).post(URL, NEW_LEAD, format="json")
    assert response.status_code == 403
    assert_error_shape(response.json(), code="permission_denied")
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"status": "lost"}, "status_reason"),
        ({"phone": "12"}, "phone"),
        ({"source": "carrier-pigeon"}, "source"),
        ({"company": {"name": "X", "domain": "not a domain"}}, "company.domain"),
        ({"company": {"name": "X", "annual_revenue": "-5"}}, "company.annual_revenue"),
        ({"company": {"domain": "x.pl"}}, "company.name"),
        ({"company": {"name": "X", "country": "XX"}}, "company.country"),
        ({"qualification": {"budget": "lots"}}, "qualification.budget"),
        ({"qualification": {"budget_amount": "-1"}}, "qualification.budget_amount"),
        ({"owner": 999999}, "owner"),
    ],
)
def test_create_refuses_bad_input_with_field_errors(api, manager, change, field):
    response = api(manager).post(URL, {**NEW_LEAD, **change}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert_error_shape(body, code="invalid")
    assert field in body["errors"], body
    assert not Lead.objects.exists()
    assert not Company.objects.filter(name="Example").exists()


def test_duplicate_email_is_a_field_error(api, manager, rep_lead):
    response = api(manager).post(URL, {**NEW_LEAD, "email": "OWN@example.com"}, format="json")
    assert response.status_code == 400
    assert "email" in response.json()["errors"]


def test_malformed_json_and_wrong_body_types_are_400(api, manager):
    client = api(manager)
    response = client.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert_error_shape(response.json(), code="parse_error")
    for body in ([1, 2], "text", 5):
        response = client.post(URL, body, format="json")
        assert response.status_code == 400, body
        assert_error_shape(response.json())


# --- retrieve ---------------------------------------------------------------------------------------


def test_retrieve_per_role(api, rep, other_rep, manager, marketer, rep_lead, pool_lead):
    assert api(rep).get(f"{URL}{rep_lead.pk}/").status_code == 200
    assert api(rep).get(f"{URL}{pool_lead.pk}/").status_code == 200
    response = api(other_rep).get(f"{URL}{rep_lead.pk}/")
    assert response.status_code == 404
    assert_error_shape(response.json(), code="not_found")
    assert api(manager).get(f"{URL}{rep_lead.pk}/").status_code == 200
    assert api(marketer).get(f"{URL}{rep_lead.pk}/").status_code == 200
    assert api(manager).get(f"{URL}{2**63 + 5}/").status_code == 404


def test_detail_shape(api, rep, rep_lead):
    _score(rep_lead, 42, "B")
    body = api(rep).get(f"{URL}{rep_lead.pk}/").json()
    assert body["score"] == {"total": 42, "band": "B"}
    assert body["company"]["name"] == rep_lead.company.name
    assert body["qualification"]["budget"] == "unknown"
    assert body["owner"] == rep.pk


# --- partial update and mass assignment ---------------------------------------------------------------


def test_rep_updates_their_lead_and_the_version_bumps(api, rep, rep_lead):
    response = api(rep).patch(f"{URL}{rep_lead.pk}/", {"job_title": "CEO", "status": "working"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["job_title"] == "CEO"
    assert response.json()["version"] == 2
    rep_lead.refresh_from_db()
    assert (rep_lead.job_title, rep_lead.status, rep_lead.version) == ("CEO", "working", 2)


def test_patch_can_switch_the_company(api, rep, rep_lead):
    response = api(rep).patch(f"{URL}{rep_lead.pk}/", {"company": {"name": "New", "domain": "new.io"}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["company"]["domain"] == "new.io"


def test_put_is_not_allowed(api, manager, rep_lead):
    response = api(manager).put(f"{URL}{rep_lead.pk}/", {"job_title": "x"}, format="json")
    assert response.status_code == 405
    assert_error_shape(response.json(), code="method_not_allowed")


PROTECTED = {"owner": None, "team": None, "score": {"total": 100, "band": "A"}, "version": 99}


def _snapshot(lead: Lead) -> tuple:
    lead.refresh_from_db()
    score = LeadScore.objects.filter(lead=lead).values_list("total", flat=True).first()
    return (lead.owner_id, lead.team_id, lead.version, lead.job_title, score)


@pytest.mark.parametrize("field", sorted(PROTECTED))
def test_rep_cannot_mass_assign_protected_fields(api, rep, other_rep, rep_lead, field):
    _score(rep_lead, 10, "D")
    before = _snapshot(rep_lead)
    value = other_rep.pk if field == "owner" else PROTECTED[field]
    response = api(rep).patch(f"{URL}{rep_lead.pk}/", {"job_title": "Hacker", field: value}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][field] == ["This field cannot be written."]
    assert _snapshot(rep_lead) == before


@pytest.mark.parametrize("field", sorted(PROTECTED))
def test_marketer_cannot_mass_assign_anything(api, marketer, rep_lead, field):
    _score(rep_lead, 10, "D")
    before = _snapshot(rep_lead)
    response = api(marketer).patch(f"{URL}{rep_lead.pk}/", {"job_title": "Hacker", field: 1}, format="json")
    assert response.status_code == 403
    assert _snapshot(rep_lead) == before


def test_rep_cannot_set_owner_on_create(api, rep, other_rep):
    response = api(rep).post(URL, {**NEW_LEAD, "owner": other_rep.pk}, format="json")
    assert response.status_code == 400
    assert "owner" in response.json()["errors"]
    assert not Lead.objects.exists()


@pytest.mark.parametrize("field", ["score", "version", "id", "created_at", "bant_met", "unknown_field"])
def test_read_only_fields_are_refused_for_managers_too(api, manager, rep_lead, field):
    before = _snapshot(rep_lead)
    response = api(manager).patch(f"{URL}{rep_lead.pk}/", {field: 5, "job_title": "X"}, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert _snapshot(rep_lead) == before


def test_manager_assigns_owner_and_team(api, manager, other_rep, rep_lead):
    team = other_rep.membership.team
    response = api(manager).patch(f"{URL}{rep_lead.pk}/", {"owner": other_rep.pk, "team": team.pk}, format="json")
    assert response.status_code == 200, response.content
    rep_lead.refresh_from_db()
    assert (rep_lead.owner_id, rep_lead.team_id) == (other_rep.pk, team.pk)


def test_patch_scoping(api, other_rep, rep_lead):
    response = api(other_rep).patch(f"{URL}{rep_lead.pk}/", {"job_title": "X"}, format="json")
    assert response.status_code == 404
    response = api(other_rep).patch(f"{URL}{rep_lead.pk + 1000}/", {"job_title": "X"}, format="json")
    assert response.status_code == 404


def test_patch_bad_values_are_400(api, rep, rep_lead):
    response = api(rep).patch(f"{URL}{rep_lead.pk}/", {"status": "lost"}, format="json")
    assert response.status_code == 400
    assert "status_reason" in response.json()["errors"]
    response = api(rep).patch(f"{URL}{rep_lead.pk}/", {"email": "x" * 300}, format="json")
    assert response.status_code == 400


# --- delete -------------------------------------------------------------------------------------------


def test_delete_is_for_managers(api, rep, other_rep, marketer, manager, rep_lead):
    assert api(rep).delete(f"{URL}{rep_lead.pk}/").status_code == 403
    assert api(marketer).delete(f"{URL}{rep_lead.pk}/").status_code == 403
    assert api(other_rep).delete(f"{URL}{rep_lead.pk}/").status_code == 404
    assert api().delete(f"{URL}{rep_lead.pk}/").status_code == 401
    assert Lead.objects.filter(pk=rep_lead.pk).exists()
    assert api(manager).delete(f"{URL}{rep_lead.pk}/").status_code == 204
    assert not Lead.objects.filter(pk=rep_lead.pk).exists()
    assert api(manager).delete(f"{URL}{rep_lead.pk}/").status_code == 404
