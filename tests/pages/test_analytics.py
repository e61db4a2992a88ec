"""The analytics page: figures checked against values computed here from the fixture's own description,
role access, filters, pinned query counts, empty states, and Chart.js drawing in a real browser."""

from __future__ import annotations

import importlib
import json
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import time_machine
from django.apps import apps as django_apps
from django.db import NotSupportedError, connection
from django.urls import reverse
from playwright.sync_api import Page, expect

from leads.models import EventKind, Lead, LeadStatus
from leads.services import record_event, update_lead
from scoring.models import LeadScore, ScoreBand
from segments.pages.analytics_selectors import AnalyticsFilters, Median, get_analytics_cached
from tests import factories

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
URL = "/analytics/"
H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.fixture(autouse=True)
def _no_figure_cache(settings):
    """Every request computes its figures (the cache has its own test)."""
    settings.LEADQUAL_ANALYTICS_CACHE_SECONDS = 0


# --- the fixture, described as data -------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One lead as the test means it; ``expected_*`` derive what the page must say from this alone."""

    source: str
    campaign: str = ""
    utm_campaign: str = ""
    team: str | None = "dach"  # "dach", "nordics" or None
    age: timedelta = 5 * D  # created this long before NOW
    score: int | None = None  # None: never scored
    # Status changes after creation: (offset from creation, new status); the last is the current status.
    path: tuple[tuple[timedelta, str], ...] = ()
    created_as: str = LeadStatus.NEW  # a status other than New: imported that way (no change away from New)
    calls: tuple[timedelta, ...] = ()  # offsets from creation; negative: logged before the lead existed
    meetings: tuple[timedelta, ...] = ()
    clicks: tuple[timedelta, ...] = ()  # email clicks: the lead reacting, not a touch

    @property
    def status(self) -> str:
        return self.path[-1][1] if self.path else self.created_as

    @property
    def campaign_key(self) -> str:
        return self.campaign or self.utm_campaign

    def expected_ttft(self) -> timedelta | None:
        candidates = [offset for offset in (*self.calls, *self.meetings) if offset >= timedelta(0)]
        if self.path and self.created_as == LeadStatus.NEW and self.status != LeadStatus.NEW:
            candidates.append(self.path[0][0])
        return min(candidates) if candidates else None


XSS = '<script>alert("x")</script> Spring'

SPECS = [
    # Webinar: five leads, two closed (1 won, 1 lost), a meeting and a status change as first touches.
    Spec("webinar", campaign="Spring webinar", score=85, age=20 * D, calls=(3 * H,),
         path=((2 * H, "working"), (5 * D, "qualified"), (9 * D, "won"))),
    Spec("webinar", campaign="Spring webinar", score=62, path=((30 * H, "working"), (6 * D, "lost")), age=25 * D,
         meetings=(4 * D,)),
    Spec("webinar", campaign="Spring webinar", score=55, path=((10 * H, "working"),), age=3 * D, clicks=(1 * H,)),
    Spec("webinar", campaign="Autumn webinar", score=18, age=2 * D, clicks=(2 * H,)),
    Spec("webinar", utm_campaign="webinar-utm", score=None, age=1 * D),
    # PPC: four leads, three closed: a won lead imported as won (no change from New: only its call counts),
    # a lost one, a disqualified one (not closed), a call before creation (imported history: ignored).
    Spec("ppc", utm_campaign="q2-ppc", score=91, created_as="won", calls=(-2 * D, 6 * H), age=40 * D),
    Spec("ppc", utm_campaign="q2-ppc", score=44, path=((50 * H, "working"), (3 * D, "lost")), age=45 * D),
    Spec("ppc", utm_campaign="q2-ppc", score=-5, path=((20 * H, "disqualified"),), age=12 * D, calls=(-1 * H,)),
    Spec("ppc", campaign=XSS, score=71, path=((1 * H, "working"), (2 * D, "won")), age=8 * D, team="nordics"),
    # Referral: one lead, won (1 of 1 closed: a small sample), no campaign.
    Spec("referral", score=98, path=((4 * H, "qualified"), (10 * D, "won")), age=15 * D, team=None, calls=(2 * H,)),
    # Event: back to New after a status change (the queue sees it untouched); a later call is its first touch.
    Spec("event", campaign="Fair 2026", score=30, path=((3 * H, "working"), (5 * H, "new")), age=6 * D,
         calls=(8 * H,), team="nordics"),
    Spec("event", campaign="Fair 2026", score=9, age=6 * D, team="nordics"),
    # Older leads: only the 365-day and all-time periods show them.
    Spec("ppc", utm_campaign="q2-ppc", score=77, path=((1 * D, "won"),), age=200 * D),
    Spec("webinar", campaign="Spring webinar", score=12, path=((6 * H, "nurturing"),), age=400 * D),
]  # fmt: skip


def _band_of(total: int, bands: list[tuple[str, int]]) -> str:
    return next((name for name, minimum in bands if total >= minimum), "")


def _build(specs: Iterable[Spec], teams: dict[str | None, Any], *, now: datetime = NOW) -> list[Lead]:
    """The leads, written the way the product writes them: status changes and events through
    leads.services (field history records the changes, the lead its first touch), stored scores."""
    bands = list(ScoreBand.objects.order_by("-min_score").values_list("name", "min_score"))
    leads = []
    for spec in specs:
        created = now - spec.age
        with time_machine.travel(created, tick=False):
            lead = factories.LeadFactory(
                source=spec.source, campaign=spec.campaign, utm_campaign=spec.utm_campaign, team=teams[spec.team],
                status=spec.created_as, status_reason="imported" if spec.created_as == "lost" else "",
            )  # fmt: skip
        for offset, status in spec.path:
            with time_machine.travel(created + offset, tick=False):
                reason = "No budget" if status in ("lost", "disqualified") else ""
                update_lead(lead=lead.pk, data={"status": status, "status_reason": reason})
        for kind, offsets in ((EventKind.CALL, spec.calls), (EventKind.MEETING, spec.meetings),
                              (EventKind.EMAIL_CLICK, spec.clicks)):  # fmt: skip
            for offset in offsets:
                # Through leads.services, which keeps the lead's first touch.
                with time_machine.travel(created + offset, tick=False):
                    record_event(lead=lead.pk, kind=kind, occurred_at=created + offset)
        if spec.score is not None:
            # update_or_create: in a transactional (browser) test the status change already had the lead scored.
            score = {"total": spec.score, "fit": spec.score, "engagement": 0, "qualification": 0}
            LeadScore.objects.update_or_create(
                lead=lead,
                defaults={**score, "band": _band_of(spec.score, bands), "rules_version": 1,
                          "lead_version": lead.version, "computed_at": now},
            )  # fmt: skip
        leads.append(lead)
    return leads


@pytest.fixture
def teams(team):
    return {"dach": team, "nordics": factories.TeamFactory(name="Nordics"), None: None}


@pytest.fixture
def fixture_leads(rules, teams):
    return _build(SPECS, teams)


# --- what the page must show, computed from the specs ---------------------------------------


def expected(specs: list[Spec], bands: list[str]) -> dict[str, Any]:
    scores = [s.score for s in specs if s.score is not None]
    all_bands = list(ScoreBand.objects.order_by("-min_score").values_list("name", "min_score"))
    won = sum(s.status == "won" for s in specs)
    lost = sum(s.status == "lost" for s in specs)
    ttfts = [t for s in specs if (t := s.expected_ttft()) is not None]
    return {
        "leads": len(specs),
        "scored": len(scores),
        "avg_score": statistics.fmean(scores) if scores else None,
        "bands": {
            name: sum(1 for s in specs if s.score is not None and _band_of(s.score, all_bands) == name)
            for name in bands
        },
        "qualified": sum(s.status in ("qualified", "won", "lost") for s in specs),
        "won": won,
        "closed": won + lost,
        "won_rate": won / (won + lost) if won + lost else None,
        "touched": len(ttfts),
        "median": statistics.median(ttfts) if ttfts else None,
    }


def in_period(days: int | None) -> list[Spec]:
    return [s for s in SPECS if days is None or s.age <= timedelta(days=days)]


def grouped(specs: list[Spec], key: Callable[[Spec], str]) -> dict[str, list[Spec]]:
    groups: dict[str, list[Spec]] = defaultdict(list)
    for spec in specs:
        groups[key(spec)].append(spec)
    return groups


def assert_group(actual: Any, want: dict[str, Any]) -> None:
    assert actual.leads == want["leads"]
    assert actual.scored == want["scored"]
    if want["avg_score"] is None:
        assert actual.avg_score is None
    else:
        assert actual.avg_score == pytest.approx(want["avg_score"])
    assert {b.band: b.count for b in actual.bands} == want["bands"]
    assert actual.unscored == want["leads"] - sum(want["bands"].values())
    assert actual.qualified == want["qualified"]
    assert (actual.won, actual.closed) == (want["won"], want["closed"])
    assert actual.won_rate == (pytest.approx(want["won_rate"]) if want["won_rate"] is not None else None)
    assert actual.touched == want["touched"]
    if want["median"] is None:
        assert actual.median_ttft is None
    else:
        assert abs(actual.median_ttft - want["median"]) < timedelta(seconds=1)


def get_page(client, user, query: str = "") -> Any:
    client.force_login(user)
    with time_machine.travel(NOW, tick=False):
        return client.get(f"{URL}{query}")


def chart_json(response) -> dict[str, Any]:
    match = re.search(r'<script id="analytics-data" type="application/json">(.*?)</script>', response.content.decode())
    assert match, "no json_script data on the page"
    return json.loads(match.group(1))


# --- the figures ------------------------------------------------------------------------------


@pytest.mark.parametrize("period, days", [("all", None), ("365", 365), ("90", 90), ("30", 30)])
def test_figures_match_values_computed_from_the_fixture(client, manager, fixture_leads, period, days):
    response = get_page(client, manager, f"?period={period}")
    assert response.status_code == 200
    a = response.context["a"]
    specs = in_period(days)
    bands = a.band_names

    assert_group(a.totals, expected(specs, bands))

    by_source = grouped(specs, lambda s: s.source)
    assert [s.key for s in a.sources] == sorted(by_source, key=lambda k: (-len(by_source[k]), k))
    for row in a.sources:
        assert_group(row, expected(by_source[row.key], bands))

    by_campaign = grouped(specs, lambda s: s.campaign_key)
    assert {c.key for c in a.campaigns} == set(by_campaign)
    assert a.campaign_count == len(by_campaign)
    for row in a.campaigns:
        assert_group(row, expected(by_campaign[row.key], bands))

    scored = [s for s in specs if s.score is not None]
    buckets = grouped(scored, lambda s: str(s.score // 10 * 10))  # Python's // floors: -5 -> -10
    lows = sorted(int(k) for k in buckets)
    assert [b.low for b in a.distribution] == list(range(lows[0], lows[-1] + 1, 10))
    for bucket in a.distribution:
        members = buckets.get(str(bucket.low), [])
        assert bucket.leads == len(members)
        assert (bucket.won, bucket.closed) == (
            sum(s.status == "won" for s in members),
            sum(s.status in ("won", "lost") for s in members),
        )
        assert bucket.share == pytest.approx(len(members) / len(scored))

    all_bands = list(ScoreBand.objects.order_by("-min_score").values_list("name", "min_score"))
    by_band = grouped(specs, lambda s: _band_of(s.score, all_bands) if s.score is not None else "")
    assert [o.band for o in a.by_band] == [name for name in [*bands, ""] if name in by_band]
    for outcome in a.by_band:
        members = by_band[outcome.band]
        assert (outcome.leads, outcome.won, outcome.lost) == (
            len(members),
            sum(s.status == "won" for s in members),
            sum(s.status == "lost" for s in members),
        )


def test_every_lead_keeps_its_first_touch_and_the_backfill_computes_the_same(fixture_leads):
    """Lead.first_touched_at, as the services kept it, is what each spec describes; the data
    migration's backfill, from events and field history alone, gives every lead the same."""
    for spec, lead in zip(SPECS, fixture_leads, strict=True):
        lead.refresh_from_db(fields=["created_at", "first_touched_at"])
        ttft = lead.first_touched_at - lead.created_at if lead.first_touched_at else None
        assert ttft == spec.expected_ttft(), spec
    kept = dict(Lead.objects.values_list("pk", "first_touched_at"))
    Lead.objects.update(first_touched_at=None)
    migration = importlib.import_module("leads.migrations.0006_lead_first_touched_at")
    migration.backfill_first_touched_at(django_apps, SimpleNamespace(connection=connection))
    assert dict(Lead.objects.values_list("pk", "first_touched_at")) == kept


def test_tables_and_chart_data_carry_the_same_numbers(client, manager, fixture_leads):
    response = get_page(client, manager, "?period=all")
    html = response.content.decode()
    a = response.context["a"]
    data = chart_json(response)
    assert data["sources"]["labels"] == [s.label for s in a.sources]
    assert data["sources"]["leads"] == [s.leads for s in a.sources]
    assert data["sources"]["closed"] == [s.closed for s in a.sources]
    assert data["bands"]["wonRate"] == [None if o.won_rate is None else round(100 * o.won_rate, 1) for o in a.by_band]
    assert data["distribution"]["leads"] == [b.leads for b in a.distribution]
    for testid in ("sources-table", "campaigns-table", "band-table", "distribution-table"):
        assert f'data-testid="{testid}"' in html
    # Referral: 1 won of 1 closed is shown, and marked as a small sample, not as a plain 100%.
    referral = re.search(r'title="Referral">Referral</span></th>(.*?)</tr>', html, re.S)
    assert referral is not None
    assert '<span class="an-few">100%' in referral.group(1) and "1 / 1" in referral.group(1)
    # A campaign named like markup stays text, in the table and in the chart data.
    assert XSS not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Spring" in html


def test_median_aggregate_is_postgres_only(db):
    if connection.vendor == "postgresql":
        assert Lead.objects.aggregate(m=Median("version"))["m"] is None
    else:
        with pytest.raises(NotSupportedError):
            Lead.objects.aggregate(m=Median("version"))


# --- access ---------------------------------------------------------------------------------


def test_anonymous_is_sent_to_log_in(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("pages:login"))


def test_rep_gets_403_and_no_nav_link(client, rep, rep_lead):
    client.force_login(rep)
    response = client.get(URL)
    assert response.status_code == 403
    assert b"Analytics are for managers and marketers" in response.content
    assert b'href="/analytics/"' not in client.get("/leads/").content


@pytest.mark.parametrize("role", ["manager", "marketer"])
def test_managers_and_marketers_see_the_page_and_the_nav_link(client, request, role, rep_lead):
    user = request.getfixturevalue(role)
    response = get_page(client, user)
    assert response.status_code == 200
    assert b'href="/analytics/" aria-current="page"' in response.content
    client.force_login(user)
    assert b'href="/analytics/"' in client.get("/leads/").content


def test_post_is_not_allowed(client, manager):
    client.force_login(manager)
    assert client.post(URL).status_code == 405


# --- filters ------------------------------------------------------------------------------


def test_default_period_is_90_days(client, manager, fixture_leads):
    a = get_page(client, manager).context["a"]
    assert a.filters.period == "90"
    assert a.totals.leads == len(in_period(90))


def test_team_filter_for_managers(client, manager, fixture_leads, teams):
    nordics = teams["nordics"]
    a = get_page(client, manager, f"?period=all&team={nordics.pk}").context["a"]
    assert a.totals.leads == sum(s.team == "nordics" for s in SPECS)
    a = get_page(client, manager, "?period=all&team=none").context["a"]
    assert a.totals.leads == sum(s.team is None for s in SPECS)
    response = get_page(client, manager, f"?period=all&team={teams['dach'].pk}")
    assert response.context["a"].totals.leads == sum(s.team == "dach" for s in SPECS)
    assert f'<option value="{teams["dach"].pk}" selected>DACH</option>' in response.content.decode()


@pytest.mark.parametrize(
    "query, notice",
    [
        ("?period=7", "is not a period this page offers"),
        ("?period=" + "9" * 500, "is not a period this page offers"),
        ("?period=%00%27%22", "is not a period this page offers"),
        ("?team=abc", "There is no team"),
        ("?team=99999999999999999999999", "There is no team"),
        ("?team=-1&period=30", "There is no team"),
    ],
)
def test_bad_filter_values_fall_back_to_the_default_with_a_notice(client, manager, fixture_leads, query, notice):
    response = get_page(client, manager, query)
    assert response.status_code == 200
    assert notice in response.content.decode()
    a = response.context["a"]
    assert a.filters.team_id is None and not a.filters.no_team
    if "period=30" not in query:
        assert a.filters.period == "90"


def test_marketers_do_not_filter_by_team(client, marketer, fixture_leads, teams):
    response = get_page(client, marketer, f"?period=all&team={teams['nordics'].pk}")
    assert response.status_code == 200
    assert response.context["a"].totals.leads == len(SPECS)
    html = response.content.decode()
    assert "Only managers filter by team" in html
    assert 'name="team"' not in html


# --- empty states ---------------------------------------------------------------------------


def test_no_leads_at_all(client, manager, rules):
    response = get_page(client, manager)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="analytics-empty"' in html
    assert "<canvas" not in html


def test_leads_but_nothing_scored_or_closed(client, manager, rules, teams):
    _build([Spec("ppc"), Spec("webinar", path=((2 * H, "working"),))], teams)
    response = get_page(client, manager)
    html = response.content.decode()
    assert 'data-testid="band-empty"' in html and 'data-testid="distribution-empty"' in html
    a = response.context["a"]
    assert a.totals.leads == 2 and a.totals.won_rate is None and a.distribution == []
    assert a.totals.median_ttft == 2 * H


def test_page_shows_tables_without_chartjs(client, manager, fixture_leads, settings):
    settings.STATICFILES_DIRS = [settings.BASE_DIR / "static"]  # as if npm never ran
    response = get_page(client, manager)
    html = response.content.decode()
    assert response.status_code == 200
    assert "chart.umd" not in html
    assert 'data-testid="sources-table"' in html and "analytics.js" in html


# --- query counts and the cache -------------------------------------------------------------

# Session, user, the user's roles, the team choices; then the figures: bands, per source, per campaign,
# time to first touch (PostgreSQL: one query; SQLite: three window queries), distribution, by band.
EXPECTED_QUERIES = {"postgresql": 10, "sqlite": 12}


def _many(n: int, teams: dict[str | None, Any], *, now: datetime = NOW) -> None:
    sources = ["webinar", "ppc", "referral", "event", "partner"]
    specs = [
        Spec(
            sources[i % 5],
            campaign=f"Campaign {i % 7}",
            score=(i * 13) % 120 - 10,
            path=((i * H, "working"), (3 * D, "won" if i % 3 else "lost")) if i % 2 else (),
            calls=((i % 5) * H,) if i % 4 == 0 else (),
            age=(i % 80) * D,
            team=["dach", "nordics", None][i % 3],
        )
        for i in range(n)
    ]
    _build(specs, teams, now=now)


@pytest.mark.parametrize("n", [10, 200])
def test_query_count_does_not_grow_with_leads(client, manager, rules, teams, django_assert_num_queries, n):
    _many(n, teams)
    client.force_login(manager)
    with time_machine.travel(NOW, tick=False), django_assert_num_queries(EXPECTED_QUERIES[connection.vendor]):
        response = client.get(f"{URL}?period=all")
    assert response.context["a"].totals.leads == n


def test_figures_are_reused_from_the_cache(client, manager, rules, teams, settings, django_assert_num_queries):
    from django.core.cache import cache

    # A private in-memory cache: with REDIS_URL set the default cache is the shared Redis, which a
    # test must never clear.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "analytics"}}
    settings.LEADQUAL_ANALYTICS_CACHE_SECONDS = 60
    cache.clear()
    _build([Spec("ppc", score=40)], teams)
    assert get_page(client, manager).context["a"].totals.leads == 1
    _build([Spec("ppc", score=50)], teams)
    client.force_login(manager)
    # Session, user, roles, teams: the figures come from the cache, as computed a moment ago.
    with time_machine.travel(NOW, tick=False), django_assert_num_queries(4):
        response = client.get(URL)
    assert response.context["a"].totals.leads == 1
    cache.clear()
    assert get_page(client, manager).context["a"].totals.leads == 2
    # Another selection is another entry: the figures' queries and the user's roles (a fresh user
    # object; no session, user or team choices outside a request).
    fresh = type(manager).objects.get(pk=manager.pk)
    with time_machine.travel(NOW, tick=False), django_assert_num_queries(EXPECTED_QUERIES[connection.vendor] - 3):
        get_analytics_cached(user=fresh, filters=AnalyticsFilters(period="30"))


# --- in a browser ---------------------------------------------------------------------------

PASSWORD = "pw-Secret-123"
CANVASES = ["chart-source-leads", "chart-source-won", "chart-band-won", "chart-distribution"]
# Records every Content-Security-Policy violation the page reports, before any page script runs.
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def _log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".userbox")).to_be_visible()


@pytest.fixture
def browser_leads(allow_orm_beside_playwright, rules, teams):
    """The fixture leads and 60 more, dated relative to now (the live server runs on the real clock)."""
    now = datetime.now(UTC)
    leads = _build(SPECS, teams, now=now)
    _many(60, teams, now=now)
    return leads


def _watch(page: Page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.add_init_script(CSP_RECORDER)
    return problems


@pytest.mark.browser
@pytest.mark.usefixtures("allow_orm_beside_playwright")
def test_charts_render_with_chartjs_under_the_csp(live_server, page: Page, manager, browser_leads, shot):
    from django.conf import settings

    if not settings.CHARTJS_DIST.is_dir():
        from tests.conftest import skip_or_fail

        skip_or_fail("needs Chart.js from npm (make test runs npm ci)")
    problems = _watch(page)
    page.emulate_media(reduced_motion="reduce")
    _log_in(page, live_server.url, manager.username)
    page.get_by_role("link", name="Analytics").click()
    expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()
    for canvas_id in CANVASES:
        expect(page.locator(f"#{canvas_id}")).to_be_visible()
    assert page.evaluate("typeof window.Chart") == "function"
    drawn = page.evaluate(f"{json.dumps(CANVASES)}.map((id) => !!Chart.getChart(document.getElementById(id)))")
    assert drawn == [True] * len(CANVASES)
    # Each chart has its numbers: the leads-per-source bars are the table's column.
    bars = page.evaluate("Chart.getChart(document.getElementById('chart-source-leads')).data.datasets[0].data")
    table = page.locator('[data-testid="sources-table"] tbody tr td:nth-child(2)').all_inner_texts()
    assert bars == [int(v) for v in table]
    shot(page, "analytics-laptop")

    page.set_viewport_size({"width": 820, "height": 1180})
    page.reload()
    for canvas_id in CANVASES:
        expect(page.locator(f"#{canvas_id}")).to_be_visible()
    shot(page, "analytics-tablet")
    for name in ("sources", "campaigns"):  # close-ups: the widest tables at tablet width
        section = page.locator(f'section[aria-labelledby="an-{name}"]')
        section.screenshot(path=str(Path(shot(page, "analytics-tablet")).with_name(f"analytics-tablet-{name}.png")))
    # Nothing wider than the viewport but the tables' own scroll boxes.
    wide = page.evaluate(
        """() => [...document.querySelectorAll("body *")].filter((el) => el.getBoundingClientRect().right > 821
               && !el.closest(".table-wrap")).map((el) => el.tagName + "." + el.className).slice(0, 10)"""
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 820, wide

    page.select_option('select[name="period"]', "30")  # applies itself (analytics.js)
    expect(page).to_have_url(re.compile(r"period=30"))
    expect(page.locator("#chart-source-leads")).to_be_visible()
    assert page.evaluate("window.__cspViolations") == []
    assert problems == [], "\n".join(problems)


@pytest.mark.browser
@pytest.mark.usefixtures("allow_orm_beside_playwright")
def test_without_chartjs_the_tables_stay_and_nothing_breaks(live_server, page: Page, marketer, browser_leads, shot):
    from django.conf import settings
    from django.test import override_settings

    problems = _watch(page)
    with override_settings(STATICFILES_DIRS=[settings.BASE_DIR / "static"]):  # as if npm never ran
        _log_in(page, live_server.url, marketer.username)
        page.goto(f"{live_server.url}{URL}")
        expect(page.locator('[data-testid="sources-table"]')).to_be_visible()
        assert page.evaluate("typeof window.Chart") == "undefined"
        expect(page.locator("figure.an-chart")).to_have_count(4)
        for figure in page.locator("figure.an-chart").all():
            expect(figure).to_be_hidden()
        shot(page, "analytics-no-chartjs")
    assert page.evaluate("window.__cspViolations") == []
    assert problems == [], "\n".join(problems)
