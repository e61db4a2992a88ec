"""API fixtures: token-authenticated clients per role and leads in and out of a rep's scope."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories


@pytest.fixture(autouse=True)
def _private_cache(settings):
    """Throttle counters live in the cache: each test gets its own in-memory cache.

    Never clear the configured cache: with REDIS_URL it shares a Redis database with the
    Celery broker of anything else running on this machine.
    """
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }
    yield


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
