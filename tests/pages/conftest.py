"""Fixtures for page tests: leads of a rep, another team's lead, a scored rule set."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from scoring import services as scoring_services
from scoring.defaults import DEFAULT_RULES
from scoring.models import ScoreBand
from tests import factories
from tests.conftest import skip_or_fail

DEFAULT_BANDS = (("A", 80, "Hot: call today"), ("B", 50, "Warm: work this week"), ("C", 20, "Cool: nurture"),
                 ("D", -1000, "Cold"))  # fmt: skip


@pytest.fixture
def rules(db):
    """The default rule set and bands (transactional tests flush the migration's bands)."""
    for name, minimum, description in DEFAULT_BANDS:
        if not ScoreBand.objects.filter(name=name).exists():
            scoring_services.save_score_band(name=name, min_score=minimum, description=description)
    return scoring_services.replace_rule_set(rules=[{**r, "name": str(r["name"])} for r in DEFAULT_RULES])


@pytest.fixture
def make_lead(team):
    def _make(**kwargs):
        return factories.LeadFactory(team=kwargs.pop("team", team), **kwargs)

    return _make


@pytest.fixture
def rep_lead(rep, make_lead):
    return make_lead(owner=rep, first_name="Ada", last_name="Lovelace")


@pytest.fixture
def pool_lead(make_lead):
    return make_lead(owner=None, first_name="Pooled", last_name="Lead")


@pytest.fixture
def foreign_lead(other_rep):
    """A lead of a rep in another team: a 404 to `rep` everywhere."""
    return factories.LeadFactory(owner=other_rep, team=other_rep.membership.team, first_name="Not", last_name="Yours")


@pytest.fixture
def score(db):
    def _score(lead):
        from scoring.services import score_lead

        return score_lead(lead_id=lead.pk)

    return _score


# --- pipelines and queues ----------------------------------------------------------------------


@pytest.fixture
def pipeline(db):
    """A sales pipeline whose Won and Lost stages set the lead's status."""
    from segments import services as segment_services
    from segments.models import StageOutcome

    return segment_services.create_pipeline(
        name="Sales",
        stages=["New", "Contacted", "Proposal", "Won", "Lost"],
        outcomes={"Won": StageOutcome.WON, "Lost": StageOutcome.LOST},
    )


@pytest.fixture
def stages(pipeline):
    """The pipeline's stages by name."""
    return {stage.name: stage for stage in pipeline.stages.all()}


@pytest.fixture
def place():
    """Put a lead on a stage as routing would (placement, stage history)."""
    from segments import services as segment_services

    def _place(lead, stage):
        segment_services.move_lead_to_stage(lead=lead.pk, stage=stage)
        return lead

    return _place


@pytest.fixture
def nurture_queue(db):
    from segments import services as segment_services

    return segment_services.create_nurture_queue(
        name="Educational nurture", purpose="No budget yet: teach and ask again next quarter.", cadence_days=14
    )


@pytest.fixture
def enqueue():
    """Put a lead in a nurture queue as routing would (placement and an open membership)."""
    from django.utils import timezone

    from segments.models import LeadPlacement, NurtureMembership

    def _enqueue(lead, queue, *, revisit_in_days: int | None = 30, reason: str = "Segment: No budget"):
        today = timezone.localdate()
        revisit = today + timedelta(days=revisit_in_days) if revisit_in_days is not None else None
        LeadPlacement.objects.update_or_create(lead=lead, defaults={"queue": queue})
        return NurtureMembership.objects.create(
            lead=lead, queue=queue, entered_at=timezone.now(), reason=reason, revisit_on=revisit
        )

    return _enqueue


# --- browser tests ---------------------------------------------------------------------------

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
# STACK.md: Debian's chromium, never a browser downloaded by `playwright install`.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, _orm_beside_playwright):
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"needs Debian's chromium at {CHROMIUM} (make test installs it)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1366, "height": 900}}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Browser tests run last (after pytest-django's own ordering): Playwright's event loop, and so
    the DJANGO_ALLOW_ASYNC_UNSAFE it needs, live from the first browser test to the end of the
    session, and no other test should run beside them (check --deploy refuses that variable)."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def _orm_beside_playwright():
    """Playwright's sync API keeps an event loop running in the test thread from its first use to
    the end of the session; Django then refuses ORM calls there (test data, database flushes)
    unless told it is safe. It is: the loop only drives the browser. Set from the first browser
    test on, because the loop lives that long too."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def allow_orm_beside_playwright(_orm_beside_playwright):
    """Browser tests ask for this first, so their data fixtures may use the ORM."""


@pytest.fixture
def shot():
    """Save a full-page screenshot to tests/artifacts/<name>.png (git ignores the folder)."""
    ARTIFACTS.mkdir(exist_ok=True)

    def _shot(page, name: str, *, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.evaluate("window.scrollTo(0, 0)")  # the sticky header and sidebar start at the top
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return _shot
