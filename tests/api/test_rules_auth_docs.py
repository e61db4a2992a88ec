"""Rules endpoints (managers only, admin validation), token login with lockout, throttling, error shape, docs."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from rest_framework.throttling import UserRateThrottle

from scoring.models import PointRule, RulesVersion
from scoring.services import save_point_rule

from .shapes import assert_error_shape

pytestmark = pytest.mark.django_db

RULES = "/api/v1/rules/"
RULE = {
    "name": "Manufacturing",
    "attribute": "company.industry",
    "operator": "eq",
    "value": "manufacturing",
    "points": 20,
    "category": "fit",
}


# --- rules ------------------------------------------------------------------------------------------


def test_manager_crud_on_rules_bumps_the_rules_version(api, manager):
    client = api(manager)
    created = client.post(RULES, RULE, format="json")
    assert created.status_code == 201, created.content
    rule_id = created.json()["id"]
    versions = RulesVersion.objects.count()
    assert client.get(RULES).json()["results"][0]["name"] == "Manufacturing"
    assert client.get(f"{RULES}{rule_id}/").json()["value"] == "manufacturing"
    changed = client.patch(f"{RULES}{rule_id}/", {"points": 25}, format="json")
    assert changed.status_code == 200 and changed.json()["points"] == 25
    assert RulesVersion.objects.count() == versions + 1
    assert client.delete(f"{RULES}{rule_id}/").status_code == 204
    assert not PointRule.objects.exists()
    assert client.get(f"{RULES}{rule_id}/").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"attribute": "lead.password"}, "attribute"),
        ({"operator": "regex"}, "operator"),
        ({"attribute": "company.employees", "operator": "gte", "value": "many"}, "value"),
        ({"attribute": "events.email_click", "operator": "gte", "value": 2}, "window_days"),
        ({"window_days": 30}, "window_days"),
        ({"points": 5000}, "points"),
        ({"category": "vibes"}, "category"),
        ({"id": 7}, "id"),
    ],
)
def test_rules_use_the_admin_validation(api, manager, change, field):
    response = api(manager).post(RULES, {**RULE, **change}, format="json")
    assert response.status_code == 400, response.content
    assert_error_shape(response.json(), code="invalid")
    assert field in response.json()["errors"]
    assert not PointRule.objects.exists()


def test_rules_are_for_managers_only(api, rep, marketer):
    rule = save_point_rule(data=RULE)
    for user in (rep, marketer):
        client = api(user)
        assert client.get(RULES).status_code == 403
        assert client.post(RULES, RULE, format="json").status_code == 403
        assert client.patch(f"{RULES}{rule.pk}/", {"points": 1}, format="json").status_code == 403
        assert client.delete(f"{RULES}{rule.pk}/").status_code == 403
    assert api().get(RULES).status_code == 401
    rule.refresh_from_db()
    assert rule.points == 20


# --- token login --------------------------------------------------------------------------------------

TOKEN = "/api/v1/auth/token/"


def test_token_login_and_use(api, rep, rep_lead):
    response = api().post(TOKEN, {"username": rep.username, "password": "pw-Secret-123"}, format="json")
    assert response.status_code == 200, response.content
    token = response.json()["token"]
    assert api().post(TOKEN, {"username": rep.username, "password": "pw-Secret-123"}, format="json").json() == {
        "token": token
    }
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(f"/api/v1/leads/{rep_lead.pk}/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token nope")
    assert_error_shape(client.get("/api/v1/leads/").json(), code="authentication_failed")


def test_wrong_password_is_400_and_repeated_failures_lock_out(api, rep, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = api()
    for _attempt in range(2):
        response = client.post(TOKEN, {"username": rep.username, "password": "wrong"}, format="json")
        assert response.status_code == 400
        assert_error_shape(response.json(), code="invalid")
    locked = client.post(TOKEN, {"username": rep.username, "password": "wrong"}, format="json")
    assert locked.status_code == 429
    assert_error_shape(locked.json(), code="locked_out")
    # Locked out means locked out: the right password does not help now.
    right = client.post(TOKEN, {"username": rep.username, "password": "pw-Secret-123"}, format="json")
    assert right.status_code == 429


def test_token_request_validation(api):
    response = api().post(TOKEN, {"username": "x"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["errors"]


# --- throttling ----------------------------------------------------------------------------------------


def test_per_user_throttle(api, rep, other_rep, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute", "anon": "100/minute"})
    client = api(rep)
    assert [client.get("/api/v1/leads/").status_code for _ in range(3)] == [200, 200, 200]
    throttled = client.get("/api/v1/leads/")
    assert throttled.status_code == 429
    assert_error_shape(throttled.json(), code="throttled")
    assert "Retry-After" in throttled
    assert api(other_rep).get("/api/v1/leads/").status_code == 200  # per user, not global


# --- schema and docs -----------------------------------------------------------------------------------


def test_schema_documents_every_endpoint_and_its_errors(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in (
        "/api/v1/auth/token/",
        "/api/v1/leads/",
        "/api/v1/leads/{lead_id}/",
        "/api/v1/leads/{lead_id}/qualification/",
        "/api/v1/events/",
        "/api/v1/rules/",
        "/api/v1/rules/{rule_id}/",
    ):
        assert path in paths, path
    assert {"400", "401", "403", "404"} <= set(paths["/api/v1/leads/{lead_id}/"]["patch"]["responses"])
    error = paths["/api/v1/leads/"]["post"]["responses"]["400"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


def test_swagger_ui_loads_only_our_static_files_under_csp(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    csp = page["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    html = page.content.decode()
    # No inline script: every <script> has a same-origin src (CSP would block anything else).
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    sources = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html) + re.findall(r'<link[^>]*href="([^"]+)"', html)
    assert sources
    for source in sources:
        assert source.startswith("/"), source
        if source.startswith("/static/"):
            assert finders.find(source.removeprefix("/static/")), source
        else:
            init = client.get(source)
            assert init.status_code == 200 and "javascript" in init["Content-Type"]
            assert "SwaggerUIBundle" in init.content.decode()


def test_unknown_api_route_method_and_media_type(api, manager):
    client = api(manager)
    response = client.post("/api/v1/leads/", "a=b", content_type="text/plain")
    assert response.status_code == 415
    assert_error_shape(response.json(), code="unsupported_media_type")
    response = client.get("/api/v1/leads/", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406
