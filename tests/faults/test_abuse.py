"""Fault suite abuse scenarios (issue 8): 6 cross-rep access, 7 mass assignment, 11 CSRF and production headers."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import uuid

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from leads.models import Lead, Qualification
from scoring.models import LeadScore
from tests import factories
from tests.faults.conftest import ROOT

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_cache(settings):
    """Throttle counters live in the cache: a private one, never the shared Redis."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


def _token_client(user) -> APIClient:
    client = APIClient()
    token, _created = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def _victim_lead(owner, team) -> Lead:
    lead = factories.LeadFactory(owner=owner, team=team, email=f"victim-{uuid.uuid4().hex[:6]}@secret.example")
    LeadScore.objects.create(
        lead=lead,
        total=10,
        fit=10,
        engagement=0,
        qualification=0,
        band="D",
        rules_version=1,
        lead_version=lead.version,
        computed_at=timezone.now(),
    )
    return lead


def _state(lead: Lead) -> tuple:
    """Everything an attacker could change about a lead, its qualification and its score."""
    row = Lead.objects.filter(pk=lead.pk).values().get()
    qual = Qualification.objects.filter(lead=lead).values().first()
    score = LeadScore.objects.filter(lead=lead).values("total", "band", "lead_version").first()
    return (tuple(sorted(row.items())), tuple(sorted((qual or {}).items())), tuple(sorted((score or {}).items())))


# Every surface that takes a lead id: (channel, method, path template, body). Add new URLs here.
# A leak is a 2xx answer (a 404/403/302-to-login is the refusal we want).
SURFACES = [
    ("page", "get", "/leads/{id}/", None),
    ("htmx", "get", "/leads/{id}/score/", None),
    ("htmx", "post", "/leads/{id}/bant/budget/", {"budget": "approved"}),
    ("page", "post", "/leads/{id}/bant/need/", {"need": "confirmed"}),
    ("api", "get", "/api/v1/leads/{id}/", None),
    ("api", "patch", "/api/v1/leads/{id}/", {"job_title": "Stolen"}),
    ("api", "delete", "/api/v1/leads/{id}/", None),
    ("api", "get", "/api/v1/leads/{id}/qualification/", None),
    ("api", "patch", "/api/v1/leads/{id}/qualification/", {"budget": "approved"}),
    ("api", "get", "/api/v1/leads/{id}/score/", None),
    ("api", "get", "/api/v1/leads/{id}/score-history/", None),
    ("api", "post", "/api/v1/events/", {"lead": "{id}", "kind": "email_click"}),
    ("admin", "get", "/admin/leads/lead/{id}/change/", None),
    ("admin", "post", "/admin/leads/lead/{id}/change/", {"job_title": "Stolen"}),
    ("admin", "post", "/admin/leads/lead/{id}/delete/", {"post": "yes"}),
]
# Lists and exports: the victim's email must not appear in them.
LISTINGS = [
    ("page", "/leads/"),
    ("page", "/queue/"),
    ("htmx", "/leads/?q=victim"),
    ("api", "/api/v1/leads/"),
    ("api", "/api/v1/leads/?search=victim"),
    ("export", "/api/v1/leads/export.csv"),
]


def test_06_rep_cannot_reach_another_reps_lead(client, rep, team, other_rep, record_figure):
    victim = _victim_lead(rep, team)
    before = _state(victim)
    api = _token_client(other_rep)
    client.force_login(other_rep)
    leaks: list[str] = []
    for channel, method, template, body in SURFACES:
        path = template.format(id=victim.pk)
        data = {k: (victim.pk if v == "{id}" else v) for k, v in (body or {}).items()}
        if channel == "api":
            response = getattr(api, method)(path, data, format="json")
        else:
            extra = {"HTTP_HX_REQUEST": "true"} if channel == "htmx" else {}
            response = getattr(client, method)(path, data, **extra)
        if 200 <= response.status_code < 300 or victim.email.encode() in getattr(response, "content", b""):
            leaks.append(f"{method.upper()} {path} -> {response.status_code}")
    for channel, path in LISTINGS:
        response = api.get(path) if channel in ("api", "export") else client.get(path, HTTP_HX_REQUEST="true")
        content = b"".join(response.streaming_content) if response.streaming else response.content
        assert response.status_code in (200, 403, 404), (path, response.status_code)  # reps may not export at all
        if victim.email.encode() in content:
            leaks.append(f"GET {path} lists the lead")
    changed = int(_state(victim) != before)
    # The control: the same list shows the lead to its owner, so "not listed" above means refused, not broken.
    assert victim.email in _token_client(rep).get("/api/v1/leads/").content.decode()
    record_figure("6 cross-rep access", f"leaks over {len(SURFACES) + len(LISTINGS)} surfaces", len(leaks), "0")
    record_figure("6 cross-rep access", "rows changed", changed, "0")
    assert leaks == []
    assert changed == 0


PROTECTED = {"owner": None, "team": None, "score": {"total": 100, "band": "A"}, "version": 99}


def test_07_mass_assignment_of_protected_fields(rep, team, other_rep, marketer, record_figure):
    lead = _victim_lead(rep, team)
    attempts = changed = 0
    for user in (rep, marketer):
        api = _token_client(user)
        for field, value in PROTECTED.items():
            if field == "owner":
                value = other_rep.pk
            if field == "team":
                value = other_rep.membership.team.pk
            for payload in ({field: value}, {field: value, "job_title": "Hacker"}):
                before = _state(lead)
                api.patch(f"/api/v1/leads/{lead.pk}/", payload, format="json")
                attempts += 1
                changed += _state(lead) != before
            # On create as well: the new lead must not carry the protected value.
            created = api.post(
                "/api/v1/leads/", {"email": f"new-{uuid.uuid4().hex[:6]}@x.example", field: value}, format="json"
            )
            attempts += 1
            if created.status_code < 300:
                new = Lead.objects.get(pk=created.json()["id"])
                changed += (field == "owner" and new.owner_id == other_rep.pk) or (
                    field == "version" and new.version == 99
                )
    record_figure("7 mass assignment", f"fields changed in {attempts} attempts (rep, marketer)", changed, "0")
    assert attempts > 0
    assert changed == 0


def test_11_csrf_refused(rep, team, record_figure):
    lead = _victim_lead(rep, team)
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep)
    before = _state(lead)
    attempts = [
        ("post", f"/leads/{lead.pk}/bant/budget/", {"budget": "approved"}, {}),
        ("post", f"/leads/{lead.pk}/bant/budget/", {"budget": "approved"}, {"HTTP_HX_REQUEST": "true"}),
        ("post", "/logout/", {}, {}),
        ("post", "/imports/", {}, {}),
        ("patch", f"/api/v1/leads/{lead.pk}/", json.dumps({"job_title": "csrf"}), {}),
        ("post", "/admin/leads/lead/add/", {"email": "csrf@x.example"}, {}),
    ]
    accepted = []
    for method, path, data, extra in attempts:
        kwargs = {"content_type": "application/json"} if method == "patch" else {}
        response = getattr(client, method)(path, data, **kwargs, **extra)
        if response.status_code != 403:
            accepted.append(f"{method} {path} -> {response.status_code}")
    anonymous = Client(enforce_csrf_checks=True).post(
        "/login/", {"username": rep.username, "password": "pw-Secret-123"}
    )
    if anonymous.status_code != 403:
        accepted.append(f"login -> {anonymous.status_code}")
    record_figure("11 CSRF", f"accepted of {len(attempts) + 1} token-less posts", len(accepted), "0")
    assert accepted == []
    assert _state(lead) == before


HEADERS_PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
r = Client().get("/healthz", secure=True, HTTP_HOST="leadqual.example.com")
print(json.dumps({
    "status": r.status_code,
    "hsts": r.headers.get("Strict-Transport-Security", ""),
    "xfo": r.headers.get("X-Frame-Options", ""),
    "csp": r.headers.get("Content-Security-Policy", ""),
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "csrf_setting_secure": settings.CSRF_COOKIE_SECURE,
    "plain_http": Client().get("/healthz", HTTP_HOST="leadqual.example.com").status_code,
}))
"""


def test_11_production_headers(tmp_path, record_figure):
    from tests.test_deploy import clean_env

    env = clean_env(
        DEBUG="False",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="leadqual.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        DJANGO_SETTINGS_MODULE="leadqual.settings",
    )
    result = subprocess.run(
        [sys.executable, "-c", HEADERS_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    checks = {
        "HSTS": "max-age=" in got["hsts"],
        "X-Frame-Options": got["xfo"] in ("DENY", "SAMEORIGIN"),
        "Content-Security-Policy": "script-src" in got["csp"] and "unsafe-eval" not in got["csp"],
        "secure session cookie": got["session_cookie_secure"] is True,
        "secure CSRF cookie": got["csrf_setting_secure"] is True,
        "plain HTTP redirected": got["plain_http"] == 301,
    }
    missing = [name for name, ok in checks.items() if not ok]
    record_figure("11 production headers", f"missing of {len(checks)}", len(missing), "0")
    assert got["status"] == 200, got
    assert missing == [], got
