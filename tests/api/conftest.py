"""API fixtures: token-authenticated clients per role and leads in and out of a rep's scope."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    """Throttle counters live in the cache; one test's requests must not throttle the next."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api() -> Callable[..., APIClient]:
    """``api(user)``: a client sending that user's token; ``api()``: an anonymous client."""

    def _client(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _created = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return _client


@pytest.fixture
def rep_lead(rep, team):
    return factories.LeadFactory(owner=rep, team=team, email="own@example.com")


@pytest.fixture
def pool_lead(team):
    return factories.LeadFactory(owner=None, team=team, email="pool@example.com")


@pytest.fixture
def other_lead(other_rep):
    return factories.LeadFactory(owner=other_rep, team=other_rep.membership.team, email="other@example.com")
