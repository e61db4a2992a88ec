"""Fixtures for routing tests: a pipeline, a queue, teams of reps."""

from __future__ import annotations

import pytest

from leads.roles import Role
from segments import services
from tests import factories


@pytest.fixture
def pipeline(db):
    return services.create_pipeline(name="Sales", stages=["New", "Contacted", "Won"], closed=["Won"])


@pytest.fixture
def first_stage(pipeline):
    return pipeline.stages.get(position=1)


@pytest.fixture
def queue(db):
    return services.create_nurture_queue(name="Education", purpose="No budget", revisit_after_days=90)


@pytest.fixture
def dach(db):
    return factories.TeamFactory(name="DACH", countries=["DE", "AT", "CH"])


@pytest.fixture
def reps(dach):
    """Three active DACH reps, ascending ids."""
    return [factories.UserFactory(username=f"rep{i}", role=Role.SALES_REP, team=dach) for i in range(3)]
