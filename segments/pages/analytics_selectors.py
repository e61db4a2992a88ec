"""Reads of the analytics page: per source and campaign, the score distribution and won rate by band, set-based.

Every figure is an aggregate the database computes, in a fixed handful of
grouped queries whatever the number of leads (no Python loop over leads). The
median time to first touch is PostgreSQL's ``percentile_cont`` (``Median``) over
one row per lead; SQLite has no such aggregate, so there one window query per
grouping returns only the one or two middle values of each group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.db import NotSupportedError, connection
from django.db.models import (
    Aggregate,
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Value,
    Window,
)
from django.db.models.functions import Coalesce, NullIf, RowNumber
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from leads.models import Lead, LeadSource, LeadStatus, Team
from leads.roles import is_manager, is_marketer
from leads.selectors import leads_visible_to
from scoring.models import ScoreBand

User = AbstractBaseUser | AnonymousUser

#: The periods of lead creation the page offers (days back from now; None: every lead).
PERIODS: dict[str, int | None] = {"30": 30, "90": 90, "365": 365, "all": None}
PERIOD_LABELS = {
    "30": gettext_lazy("Last 30 days"),
    "90": gettext_lazy("Last 90 days"),
    "365": gettext_lazy("Last 365 days"),
    "all": gettext_lazy("All time"),
}
DEFAULT_PERIOD = "90"
#: "Qualified": the lead passed qualification. Won and Lost come after it (a deal lost after
#: qualifying); Nurturing (not ready yet) and Disqualified (not a fit) did not pass.
QUALIFIED_OR_BEYOND: tuple[str, ...] = (LeadStatus.QUALIFIED, LeadStatus.WON, LeadStatus.LOST)
#: A won rate over fewer closed (won + lost) leads than this is flagged as a small sample.
SMALL_SAMPLE = 10
#: The campaign table shows the campaigns with the most leads, at most this many.
MAX_CAMPAIGNS = 25
#: Width of a score-distribution bucket, in points.
BUCKET_POINTS = 10


@dataclass(frozen=True)
class AnalyticsFilters:
    """Validated filters: a key of PERIODS, and a team (None: all teams; ``no_team``: leads without one)."""

    period: str = DEFAULT_PERIOD
    team_id: int | None = None
    no_team: bool = False

    @property
    def days(self) -> int | None:
        return PERIODS[self.period]


class Median(Aggregate):
    """The median of a column: PostgreSQL's ``percentile_cont(0.5)``, from a fixed template (no input in the SQL).

    SQLite has no ordered-set aggregates; ``get_analytics`` computes the median there with a
    window query instead, and this aggregate refuses to compile rather than return nonsense.
    """

    name = "Median"
    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False

    def as_sql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        if connection.vendor != "postgresql":
            raise NotSupportedError("Median (percentile_cont) needs PostgreSQL.")
        return super().as_sql(compiler, connection, **extra_context)


def touch_per_lead(scope: QuerySet[Lead]) -> QuerySet[Lead]:
    """``scope`` with each lead's ``campaign_key`` and ``ttft``: the time from its creation to its
    first touch (None: not touched yet).

    A first touch is what the work queue counts (leads.models.FIRST_TOUCH_KINDS): a call or meeting
    logged at or after the lead's creation (imported history from before it does not count), or the
    first status change away from New of a lead not back in New, whichever came first. leads.services
    keeps it in ``Lead.first_touched_at``, so this is arithmetic on two columns of the lead's row.
    """
    return scope.annotate(
        campaign_key=campaign_key(),
        ttft=ExpressionWrapper(F("first_touched_at") - F("created_at"), output_field=DurationField()),
    ).order_by()


def campaign_key() -> Coalesce:
    """The lead's campaign, or its UTM campaign when that is empty ("" when both are)."""
    return Coalesce(NullIf("campaign", Value("")), NullIf("utm_campaign", Value("")), Value(""))


# --- results ------------------------------------------------------------------------------


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percent(share: float | None) -> float | None:
    return None if share is None else round(100 * share, 1)


def format_duration(value: timedelta | None) -> str:
    """ "45 min", "5.5 h", "3.2 days" ("—" when there is nothing to show)."""
    if value is None:
        return "—"
    seconds = max(0.0, value.total_seconds())
    if seconds < 3600:
        return _("%(minutes)d min") % {"minutes": round(seconds / 60)}
    if seconds < 48 * 3600:
        return _("%(hours)s h") % {"hours": f"{seconds / 3600:.1f}"}
    return _("%(days)s days") % {"days": f"{seconds / 86400:.1f}"}


class _Outcomes:
    """Won rate over the closed leads (won + lost) of a group; disqualified leads are not closed deals."""

    won: int
    lost: int

    @property
    def closed(self) -> int:
        return self.won + self.lost

    @property
    def won_rate(self) -> float | None:
        return _share(self.won, self.closed)

    @property
    def won_pct(self) -> float | None:
        return _percent(self.won_rate)

    @property
    def small_sample(self) -> bool:
        return self.closed < SMALL_SAMPLE


@dataclass(frozen=True)
class BandCount:
    band: str
    count: int
    share: float | None

    @property
    def pct(self) -> float | None:
        return _percent(self.share)


@dataclass(frozen=True)
class GroupStats(_Outcomes):
    """The figures of one source, one campaign, or all leads of the selection."""

    key: str
    label: str
    leads: int
    scored: int
    avg_score: float | None
    bands: tuple[BandCount, ...]
    qualified: int
    won: int
    lost: int
    touched: int
    median_ttft: timedelta | None

    @property
    def unscored(self) -> int:
        return self.leads - sum(b.count for b in self.bands)

    @property
    def unscored_pct(self) -> float | None:
        return _percent(_share(self.unscored, self.leads))

    @property
    def qualified_pct(self) -> float | None:
        return _percent(_share(self.qualified, self.leads))

    @property
    def median_ttft_text(self) -> str:
        return format_duration(self.median_ttft)


@dataclass(frozen=True)
class Bucket(_Outcomes):
    """Scored leads whose total is from ``low`` to ``low + BUCKET_POINTS - 1``."""

    low: int
    leads: int
    won: int
    lost: int
    share: float | None  # of all scored leads
    band: str  # the band of the bucket's lowest score ("" below every band)

    @property
    def high(self) -> int:
        return self.low + BUCKET_POINTS - 1

    @property
    def label(self) -> str:
        return _("%(low)s to %(high)s") % {"low": self.low, "high": self.high}

    @property
    def pct(self) -> float | None:
        return _percent(self.share)


@dataclass(frozen=True)
class BandOutcome(_Outcomes):
    """Leads of one band (of their current score) and how the closed ones ended."""

    band: str  # "" for leads without a score (or outside every band)
    min_score: int | None
    leads: int
    won: int
    lost: int
    avg_score: float | None


@dataclass
class Analytics:
    filters: AnalyticsFilters
    since: datetime | None
    bands: list[tuple[str, int]]  # (name, minimum score), hottest first
    totals: GroupStats
    sources: list[GroupStats]
    campaigns: list[GroupStats]
    campaign_count: int
    distribution: list[Bucket]
    by_band: list[BandOutcome]
    computed_at: datetime = field(default_factory=timezone.now)

    @property
    def band_names(self) -> list[str]:
        return [name for name, _minimum in self.bands]

    @property
    def campaigns_hidden(self) -> int:
        return max(0, self.campaign_count - len(self.campaigns))

    def chart_data(self) -> dict[str, Any]:
        """What static/app/analytics.js draws, passed with json_script: the same numbers as the tables."""
        return {
            "sources": {
                "labels": [s.label for s in self.sources],
                "leads": [s.leads for s in self.sources],
                "wonRate": [s.won_pct for s in self.sources],
                "won": [s.won for s in self.sources],
                "closed": [s.closed for s in self.sources],
            },
            "distribution": {
                "labels": [b.label for b in self.distribution],
                "leads": [b.leads for b in self.distribution],
                "bands": [b.band for b in self.distribution],
            },
            "bands": {
                "labels": [o.band or str(_("Unscored")) for o in self.by_band],
                "bands": [o.band for o in self.by_band],
                "wonRate": [o.won_pct for o in self.by_band],
                "won": [o.won for o in self.by_band],
                "closed": [o.closed for o in self.by_band],
            },
            "smallSample": SMALL_SAMPLE,
            "text": {
                "leads": str(_("Leads")),
                "wonRate": str(_("Won rate")),
                "wonOf": str(_("{won} won of {closed} closed")),
                "noClosed": str(_("no lead closed yet")),
                "smallSample": str(_("fewer than {n} closed: read with care")).replace("{n}", str(SMALL_SAMPLE)),
                "score": str(_("Score")),
                "band": str(_("Band")),
            },
        }


# --- the reads ----------------------------------------------------------------------------


def analytics_scope(*, user: User, filters: AnalyticsFilters, now: datetime) -> QuerySet[Lead]:
    """The leads the figures are about: visible to the user, created in the period, of the team."""
    leads = leads_visible_to(user)
    if filters.days is not None:
        leads = leads.filter(created_at__gte=now - timedelta(days=filters.days))
    if filters.no_team:
        leads = leads.filter(team__isnull=True)
    elif filters.team_id is not None:
        leads = leads.filter(team_id=filters.team_id)
    return leads


def _counts(bands: list[str]) -> dict[str, Any]:
    """The counting aggregates of one group of leads (everything but the time to first touch)."""
    aggregates: dict[str, Any] = {
        "leads": Count("pk"),
        "scored": Count("score__total"),
        "avg_score": Avg("score__total"),
        "qualified": Count("pk", filter=Q(status__in=QUALIFIED_OR_BEYOND)),
        "won": Count("pk", filter=Q(status=LeadStatus.WON)),
        "lost": Count("pk", filter=Q(status=LeadStatus.LOST)),
    }
    # Aliases by position: band names are data (a manager types them in the admin), never SQL.
    for index, name in enumerate(bands):
        aggregates[f"band_{index}"] = Count("pk", filter=Q(score__band=name))
    return aggregates


@dataclass(frozen=True)
class Touch:
    touched: int = 0
    median: timedelta | None = None


#: Groups of the time-to-first-touch figures: ("all", ""), ("source", key), ("campaign", key).
TouchKey = tuple[str, str]


def _touch_in_database(per_lead: QuerySet[Lead], groups: list[tuple[TouchKey, Q]]) -> dict[TouchKey, Touch]:
    """PostgreSQL: every group's touched count and median in one pass over the scope's leads."""
    aggregates: dict[str, Any] = {}
    for index, (_key, condition) in enumerate(groups):
        aggregates[f"touched_{index}"] = Count("ttft", filter=condition)
        aggregates[f"median_{index}"] = Median("ttft", filter=condition)
    row = per_lead.aggregate(**aggregates)
    return {
        key: Touch(touched=row[f"touched_{index}"], median=row[f"median_{index}"])
        for index, (key, _condition) in enumerate(groups)
    }


def _touch_by_window(per_lead: QuerySet[Lead], *, kind: str, field: str | None) -> dict[TouchKey, Touch]:
    """SQLite: touched count and median per value of ``field`` (None: one group), in one query
    that returns only the one or two middle rows of each group, never all its rows."""
    partition = [F("touch_group")] if field else None
    middle = (
        per_lead.annotate(touch_group=F(field) if field else Value(""))
        .filter(ttft__isnull=False)
        .annotate(
            position=Window(RowNumber(), partition_by=partition, order_by=[F("ttft").asc(), F("pk").asc()]),
            size=Window(Count("pk"), partition_by=partition),
        )
        .filter(position__gte=(F("size") + 1) / 2, position__lte=(F("size") + 2) / 2)
        .values_list("touch_group", "size", "ttft")
    )
    found: dict[TouchKey, tuple[int, list[timedelta]]] = {}
    for group, size, ttft in middle:
        found.setdefault((kind, group), (size, []))[1].append(ttft)
    return {key: Touch(touched=size, median=sum(pair, timedelta()) / len(pair)) for key, (size, pair) in found.items()}


def _touch_figures(scope: QuerySet[Lead], *, sources: list[str], campaigns: list[str]) -> dict[TouchKey, Touch]:
    per_lead = touch_per_lead(scope)
    if connection.vendor == "postgresql":
        groups: list[tuple[TouchKey, Q]] = [(("all", ""), Q())]
        groups += [(("source", key), Q(source=key)) for key in sources]
        groups += [(("campaign", key), Q(campaign_key=key)) for key in campaigns]
        return _touch_in_database(per_lead, groups)
    return {
        **_touch_by_window(per_lead, kind="all", field=None),
        **_touch_by_window(per_lead, kind="source", field="source"),
        **_touch_by_window(per_lead.filter(campaign_key__in=campaigns), kind="campaign", field="campaign_key"),
    }


def _stats(row: dict[str, Any], *, key: str, label: str, bands: list[str], touch: Touch) -> GroupStats:
    leads = row["leads"]
    avg = row["avg_score"]
    return GroupStats(
        key=key,
        label=label,
        leads=leads,
        scored=row["scored"],
        avg_score=float(avg) if avg is not None else None,
        bands=tuple(
            BandCount(band=name, count=row[f"band_{i}"], share=_share(row[f"band_{i}"], leads))
            for i, name in enumerate(bands)
        ),
        qualified=row["qualified"],
        won=row["won"],
        lost=row["lost"],
        touched=touch.touched,
        median_ttft=touch.median,
    )


def _sum_rows(rows: list[dict[str, Any]], band_names: list[str]) -> dict[str, Any]:
    """The totals of disjoint groups (sources): sums of the counts, the average weighted by scored leads."""
    keys = ["leads", "scored", "qualified", "won", "lost", *(f"band_{i}" for i in range(len(band_names)))]
    total = {key: sum(row[key] for row in rows) for key in keys}
    weighted = sum(float(row["avg_score"]) * row["scored"] for row in rows if row["avg_score"] is not None)
    total["avg_score"] = weighted / total["scored"] if total["scored"] else None
    return total


def list_filter_teams() -> list[Team]:
    """The teams a manager can narrow the figures to."""
    return list(Team.objects.only("id", "name").order_by("name"))


def analytics_cache_seconds() -> int:
    """How long computed figures are reused (0: never). Over a million leads a page of figures
    costs seconds of database time; a few minutes' delay is fine for trends, and the page says
    when its figures were computed."""
    return int(getattr(settings, "LEADQUAL_ANALYTICS_CACHE_SECONDS", 300))


def get_analytics_cached(*, user: User, filters: AnalyticsFilters) -> Analytics:
    """``get_analytics``, reused for ``analytics_cache_seconds()`` per selection and language.

    Managers and marketers read every lead (leads.selectors.leads_visible_to), so they share
    one entry per selection; anyone else gets entries of their own.
    """
    seconds = analytics_cache_seconds()
    if seconds <= 0:
        return get_analytics(user=user, filters=filters)
    audience = "all" if is_manager(user) or is_marketer(user) else f"user-{user.pk}"
    key = ":".join(
        [
            "leadqual:analytics:v1",
            audience,
            filters.period,
            "none" if filters.no_team else str(filters.team_id or "all"),
            get_language() or "",
        ]
    )
    analytics = cache.get(key)
    if analytics is None:
        analytics = get_analytics(user=user, filters=filters)
        cache.set(key, analytics, seconds)
    return analytics


def get_analytics(*, user: User, filters: AnalyticsFilters) -> Analytics:
    """Every figure of the analytics page for the leads ``user`` may see, under ``filters``.

    A fixed number of queries whatever the number of leads: bands, per source (the totals are
    their sums), per campaign (with the number of campaigns), time to first touch, score
    distribution, outcomes by band. Six on PostgreSQL; on SQLite the time to first touch takes
    three window queries instead of one, so eight.
    """
    now = timezone.now()
    bands = list(ScoreBand.objects.order_by("-min_score").values_list("name", "min_score"))
    band_names = [name for name, _minimum in bands]
    scope = analytics_scope(user=user, filters=filters, now=now)
    counts = _counts(band_names)

    source_rows = list(scope.values("source").annotate(**counts).order_by("-leads", "source"))
    campaign_rows = list(
        scope.annotate(campaign_key=campaign_key())
        .values("campaign_key")
        # Counted over the grouped rows before the LIMIT: how many campaigns there are in all.
        .annotate(**counts, campaigns=Window(Count("*")))
        .order_by("-leads", "campaign_key")[:MAX_CAMPAIGNS]
    )
    total_row = _sum_rows(source_rows, band_names)
    touch = _touch_figures(
        scope,
        sources=[row["source"] for row in source_rows],
        campaigns=[row["campaign_key"] for row in campaign_rows],
    )

    source_labels = dict(LeadSource.choices)
    none = Touch()
    totals = _stats(total_row, key="", label=str(_("All leads")), bands=band_names, touch=touch.get(("all", ""), none))
    sources = [
        _stats(
            row,
            key=row["source"],
            label=str(source_labels.get(row["source"], row["source"])),
            bands=band_names,
            touch=touch.get(("source", row["source"]), none),
        )
        for row in source_rows
    ]
    campaigns = [
        _stats(
            row,
            key=row["campaign_key"],
            label=row["campaign_key"] or str(_("(no campaign)")),
            bands=band_names,
            touch=touch.get(("campaign", row["campaign_key"]), none),
        )
        for row in campaign_rows
    ]
    return Analytics(
        filters=filters,
        since=now - timedelta(days=filters.days) if filters.days is not None else None,
        bands=bands,
        totals=totals,
        sources=sources,
        campaigns=campaigns,
        campaign_count=campaign_rows[0]["campaigns"] if campaign_rows else 0,
        distribution=_distribution(scope, scored=totals.scored, bands=bands),
        by_band=_by_band(scope, bands=bands),
        computed_at=now,
    )


def _distribution(scope: QuerySet[Lead], *, scored: int, bands: list[tuple[str, int]]) -> list[Bucket]:
    """Scored leads per bucket of BUCKET_POINTS points, every bucket from the lowest to the highest."""
    total = F("score__total")
    # Floor to a multiple of the bucket width with integer arithmetic, right for negative scores
    # too (SQL's % keeps the dividend's sign on both databases: -5 % 10 = -5).
    bucket = total - ((total % BUCKET_POINTS) + BUCKET_POINTS) % BUCKET_POINTS
    rows = (
        scope.filter(score__isnull=False)
        .annotate(bucket=bucket)
        .values("bucket")
        .annotate(
            leads=Count("pk"),
            won=Count("pk", filter=Q(status=LeadStatus.WON)),
            lost=Count("pk", filter=Q(status=LeadStatus.LOST)),
        )
        .order_by("bucket")
    )
    found = {row["bucket"]: row for row in rows}
    if not found:
        return []
    empty = {"leads": 0, "won": 0, "lost": 0}
    # Empty buckets between the lowest and highest are shown as zero, not skipped (a gap is data).
    return [
        Bucket(
            low=low,
            leads=row["leads"],
            won=row["won"],
            lost=row["lost"],
            share=_share(row["leads"], scored),
            band=next((name for name, minimum in bands if low >= minimum), ""),
        )
        for low in range(min(found), max(found) + 1, BUCKET_POINTS)
        for row in [found.get(low, empty)]
    ]


def _by_band(scope: QuerySet[Lead], *, bands: list[tuple[str, int]]) -> list[BandOutcome]:
    """Leads, won and lost per band of the current score; bands hottest first, unscored last."""
    rows = (
        scope.values("score__band")
        .annotate(
            leads=Count("pk"),
            won=Count("pk", filter=Q(status=LeadStatus.WON)),
            lost=Count("pk", filter=Q(status=LeadStatus.LOST)),
            avg_score=Avg("score__total"),
        )
        .order_by()
    )
    minimum = dict(bands)
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        # No score row (NULL) and a score outside every band ("") both read as unscored.
        name = row["score__band"] or ""
        into = merged.setdefault(name, {"leads": 0, "won": 0, "lost": 0, "sum": 0.0, "scored": 0})
        into["leads"] += row["leads"]
        into["won"] += row["won"]
        into["lost"] += row["lost"]
        if row["avg_score"] is not None:
            into["sum"] += float(row["avg_score"]) * row["leads"]
            into["scored"] += row["leads"]
    outcomes = [
        BandOutcome(
            band=name,
            min_score=minimum.get(name),
            leads=v["leads"],
            won=v["won"],
            lost=v["lost"],
            avg_score=v["sum"] / v["scored"] if v["scored"] else None,
        )
        for name, v in merged.items()
    ]
    # Known bands by their minimum, hottest first; a band since deleted after them; unscored last.
    outcomes.sort(key=lambda o: (o.band == "", o.min_score is None, -(o.min_score or 0), o.band))
    return outcomes
