"""Schemathesis against /api/schema/: generated requests to every operation, as a manager; no 5xx, ever."""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.throttling import SimpleRateThrottle
from schemathesis.checks import not_a_server_error

from leadqual.wsgi import application
from leads.roles import Role
from tests import factories

# Bounded: enough examples per operation that the run totals well over 1,000 cases,
# few enough that it stays around a minute on a 2-core machine.
MAX_EXAMPLES = 25
MIN_TOTAL_CASES = 1000

CASES: Counter[str] = Counter()
STATUSES: Counter[int] = Counter()


# Loaded at collection through the WSGI app (the schema view reads no database). Eager loading
# gives one test per operation; schemathesis' lazy from_fixture does not run on pytest 9.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture(scope="module", autouse=True)
def _enough_cases():
    yield
    total = sum(CASES.values())
    print(f"\nschemathesis: {total} cases over {len(CASES)} method/path pairs; statuses {dict(STATUSES)}")
    if CASES:  # the operations ran (not deselected): the bound must still give 1,000+ cases
        assert total >= MIN_TOTAL_CASES, f"only {total} cases: {dict(CASES)}"


@pytest.fixture
def manager_token(db, settings, monkeypatch) -> str:
    # Fuzzing is no login attempt: axes would lock the token endpoint after five wrong passwords,
    # and the throttles would answer 429 long before the run ends.
    settings.AXES_ENABLED = False
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": "1000000/minute", "anon": "1000000/minute"})
    # The WSGI app runs in this thread on the test's transaction: keep Django from closing
    # the connection at the end of each request (the test client does the same).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    manager = factories.UserFactory(username="fuzz-manager", role=Role.SALES_MANAGER)
    team = factories.TeamFactory(name="Fuzz team")
    for n in range(3):
        factories.LeadFactory(email=f"fuzz{n}@example.com", owner=manager, team=team)
    yield Token.objects.create(user=manager).key
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_api_never_answers_5xx(case, manager_token):
    CASES[f"{case.method} {case.path}"] += 1
    response = case.call_and_validate(headers={"Authorization": f"Token {manager_token}"}, checks=[not_a_server_error])
    STATUSES[response.status_code] += 1
