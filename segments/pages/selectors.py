"""Reads for the browser app (queue, leads, lead page, board, nurture queues); role scoping from leads.selectors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import FieldDoesNotExist
from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    Window,
)
from django.db.models.functions import Cast, Coalesce, NullIf, RowNumber
from django.http import Http404
from django.utils import timezone
from django.utils.translation import get_language, gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from leads.filters import IdFilter, LeadFilter
from leads.models import (
    CLOSED_STATUSES,
    EngagementEvent,
    Lead,
    LeadStatus,
    Qualification,
    Team,
)
from leads.roles import Role, is_manager, is_marketer, is_rep
from leads.selectors import (
    get_lead_for_user,
    get_user_team_id,
    leads_in_parts,
    leads_visible_to,
    visible_lead_parts,
)
from scoring.models import ScoreBand, ScoreHistory
from scoring.selectors import fired_rules, list_score_history

from ..models import (
    LeadPlacement,
    NurtureMembership,
    NurtureQueue,
    Pipeline,
    RoutingDecision,
    Segment,
    Stage,
    StageVisit,
)
from ..templatetags.app_pages import band_class, signed

User = AbstractBaseUser | AnonymousUser


def first_touch_sla() -> timedelta:
    """How long a new lead may wait for its first touch before the work queue flags it."""
    return timedelta(hours=getattr(settings, "LEADQUAL_FIRST_TOUCH_HOURS", 24))


def can_edit_leads(user: User) -> bool:
    """Managers and reps change leads and qualification; marketers only read."""
    return is_manager(user) or is_rep(user)


# --- annotations shared by the queue and the list ------------------------------------------


def _latest_activity() -> Subquery:
    # One index probe per row on event_lead_kind_time_idx (lead first): cheap for a page of rows.
    return Subquery(
        EngagementEvent.objects.filter(lead_id=OuterRef("pk")).order_by("-occurred_at").values("occurred_at")[:1]
    )


def _awaiting_first_touch(now: datetime) -> Q:
    """New for longer than the first-touch SLA and not touched (leads.models.FIRST_TOUCH_KINDS)."""
    return Q(status=LeadStatus.NEW, created_at__lt=now - first_touch_sla(), first_touched_at__isnull=True)


#: Joined to the rows' query. Every table more about doubles PostgreSQL's planning time (with BANT
#: and placement, segment and stage joined too it planned 40-60 ms for 5 ms of work); what a row
#: needs of those comes as small per-row subqueries (planned on their own, one index probe each).
#: The owner and team too: with them joined, planning took 1.3-1.8 ms of the 3.5 ms the query cost;
#: as subqueries 0.6 ms (and the queue's sort no longer carries them for every lead of the pool).
ROW_JOINS = ("company", "score")
#: The columns a row shows (``_with_row_texts``): the full rows carried JSON (custom fields, fired
#: rules, team territories) and a dozen columns no row shows, decoded for every lead of the page.
ROW_COLUMNS = (
    "id", "first_name", "last_name", "email", "job_title", "status", "company", "owner", "team",
    "company__name", "company__country",
    "score__total", "score__band",
)  # fmt: skip


def _with_row_data(leads: QuerySet[Lead], *, now: datetime) -> QuerySet[Lead]:
    """Everything a lead row shows, in the one query that fetches the rows."""
    since = now - timedelta(days=1)
    score_a_day_ago = ScoreHistory.objects.filter(lead_id=OuterRef("pk"), created_at__gte=since).order_by(
        "created_at", "id"
    )
    placement = LeadPlacement.objects.filter(lead_id=OuterRef("pk"))
    owner = get_user_model().objects.filter(pk=OuterRef("owner_id"))
    return (
        leads.select_related(*ROW_JOINS)
        .only(*ROW_COLUMNS)
        .annotate(
            latest_activity=_latest_activity(),
            # The score before the first change of the last 24 hours (None: no change since yesterday).
            score_day_ago=Subquery(score_a_day_ago.values("old_total")[:1]),
            awaiting_first_touch=ExpressionWrapper(_awaiting_first_touch(now), output_field=BooleanField()),
            bant_met=Subquery(Qualification.objects.filter(lead_id=OuterRef("pk")).values("bant_met")[:1]),
            owner_first_name=Subquery(owner.values("first_name")[:1]),
            owner_last_name=Subquery(owner.values("last_name")[:1]),
            owner_username=Subquery(owner.values("username")[:1]),
            team_name=Subquery(Team.objects.filter(pk=OuterRef("team_id")).values("name")[:1]),
            # Its stage, else its segment: one probe of the placement, not one per name.
            placement_name=Subquery(
                placement.values(name=Coalesce(NullIf("stage__name", Value("")), "segment__name"))[:1]
            ),
        )
    )


def ago(value: datetime | None, now: datetime) -> str:
    """ "3 hours ago" in the largest unit, "just now" under a minute: one translation per call."""
    if value is None:
        return ""
    seconds = int((now - value).total_seconds())
    if seconds >= 365 * 86400:
        n = seconds // (365 * 86400)
        return ngettext("%(n)d year ago", "%(n)d years ago", n) % {"n": n}
    if seconds >= 30 * 86400:
        n = seconds // (30 * 86400)
        return ngettext("%(n)d month ago", "%(n)d months ago", n) % {"n": n}
    if seconds >= 7 * 86400:
        n = seconds // (7 * 86400)
        return ngettext("%(n)d week ago", "%(n)d weeks ago", n) % {"n": n}
    if seconds >= 86400:
        n = seconds // 86400
        return ngettext("%(n)d day ago", "%(n)d days ago", n) % {"n": n}
    if seconds >= 3600:
        n = seconds // 3600
        return ngettext("%(n)d hour ago", "%(n)d hours ago", n) % {"n": n}
    if seconds >= 60:
        n = seconds // 60
        return ngettext("%(n)d minute ago", "%(n)d minutes ago", n) % {"n": n}
    return gettext("just now")


#: Per language: (code, name) of every country sorted by name, and code -> name.
_COUNTRIES: dict[str, tuple[list[tuple[str, str]], dict[str, str]]] = {}


def country_choices() -> list[tuple[str, str]]:
    """(code, name) of every country in the active language, sorted by name (computed once per language)."""
    return _country_tables()[0]


def _country_tables() -> tuple[list[tuple[str, str]], dict[str, str]]:
    language = get_language() or settings.LANGUAGE_CODE
    tables = _COUNTRIES.get(language)
    if tables is None:
        pairs = [(str(code), str(name)) for code, name in countries]
        tables = _COUNTRIES[language] = (pairs, dict(pairs))
    return tables


def _with_row_texts(leads: list[Lead], now: datetime) -> list[Lead]:
    """Give each lead its ``row``: the texts and values its row of ``_lead_table.html`` shows.

    Made once per page here rather than per row in the template, where each lookup, filter and
    ``{% if %}`` is 50 to 100 of them a page: the status label (``get_status_display`` rebuilds
    its choices every call), the country name (translated on every call), the activity's two
    date formats, the name, band and score change. A dict because the template engine reads a
    key of a dict at once and an attribute of a model only after a failed key lookup. Plain
    texts and numbers only: the template escapes them as any other value.
    """
    statuses = {value: str(label) for value, label in LeadStatus.choices}
    country_names = _country_tables()[1]
    zone = timezone.get_current_timezone()
    for lead in leads:
        # An unscored lead's score raises on every access (a reverse one-to-one): read it once.
        score = getattr(lead, "score", None)
        company = lead.company
        username = lead.owner_username  # type: ignore[attr-defined]
        # As User.get_full_name(), else the username ("": no owner, the team's pool).
        owner = (f"{lead.owner_first_name} {lead.owner_last_name}".strip() or username) if username else ""  # type: ignore[attr-defined]
        # The stored code, not company.country: that builds a Country object on every access.
        code = company.__dict__.get("country") if company is not None else None
        row = {
            "pk": lead.pk,
            "waiting": lead.awaiting_first_touch,  # type: ignore[attr-defined]
            "name": lead.full_name or lead.email,
            "job_title": lead.job_title,
            "sub": lead.job_title or lead.email,
            "scored": score is not None,
            "status": lead.status,
            "status_label": statuses.get(lead.status, lead.status),
            "placement": lead.placement_name,  # type: ignore[attr-defined]
            "company": company.name if company is not None else "",
            "country": country_names.get(str(code), "") if code else "",
            "owner": owner,
            "team": lead.team_name or "",  # type: ignore[attr-defined]
            "bant": lead.bant_met or 0,  # type: ignore[attr-defined]
            "activity": lead.latest_activity is not None,  # type: ignore[attr-defined]
        }
        if score is not None:
            before = lead.score_day_ago  # type: ignore[attr-defined]
            change = None if before is None else score.total - before
            row["band_class"] = band_class(score.band)
            row["band"] = score.band
            row["total"] = score.total
            row["change"] = "" if change is None else signed(change)
            row["change_class"] = "delta up" if change and change > 0 else "delta down" if change else "delta "
        latest = lead.latest_activity  # type: ignore[attr-defined]
        if latest is not None:
            local = latest.astimezone(zone)
            row["activity_iso"] = local.isoformat()
            row["activity_title"] = local.strftime("%Y-%m-%d %H:%M")
            row["activity_ago"] = ago(latest, now)
        lead.row = row  # type: ignore[attr-defined]
    return leads


@dataclass(frozen=True)
class Choice:
    """An option of a filter form's select (a team, a segment)."""

    pk: int
    name: str


@dataclass(frozen=True)
class FilterChoices:
    bands: list[str]
    teams: list[Choice]
    segments: list[Choice]


def list_filter_choices(*, with_teams: bool) -> FilterChoices:
    """Band names (highest first), teams (by name) and segments (in match order), in one query."""
    columns = ("c_kind", "c_rank", "c_priority", "c_key", "c_label")
    integer = IntegerField()

    def part(queryset: QuerySet[Any], kind: int, rank: Any, priority: Any, key: Any) -> QuerySet[Any]:
        return (
            queryset.order_by()
            .annotate(c_kind=Value(kind, integer), c_rank=rank, c_priority=priority, c_key=key, c_label=F("name"))
            .values_list(*columns)
        )

    parts = [
        part(ScoreBand.objects.all(), 0, -F("min_score"), Value(0, integer), Value(0, integer)),
        part(Segment.objects.all(), 2, Cast("is_fallback", integer), F("priority"), F("id")),
    ]
    if with_teams:
        parts.append(part(Team.objects.all(), 1, Value(0, integer), Value(0, integer), F("id")))
    rows = sorted(parts[0].union(*parts[1:], all=True))
    return FilterChoices(
        bands=[label for kind, _rank, _priority, _key, label in rows if kind == 0],
        teams=sorted((Choice(key, label) for kind, _r, _p, key, label in rows if kind == 1), key=lambda c: c.name),
        segments=[Choice(key, label) for kind, _r, _p, key, label in rows if kind == 2],
    )


# --- the work queue -----------------------------------------------------------------------


def work_queue_scope(user: User) -> QuerySet[Lead]:
    """Open leads the user works: their own plus their team's unassigned pool.

    A rep's visible leads are exactly that, so their scope is those (one team lookup). A user
    without a team (a manager who also sells) sees their own leads and the pool of leads with
    no team yet; they see every team's pool in the lead list.
    """
    parts = visible_lead_parts(user)
    if parts is not None:
        return leads_in_parts(parts).exclude(status__in=CLOSED_STATUSES)
    team_id = get_user_team_id(user)
    pool = Q(owner__isnull=True, team_id=team_id) if team_id is not None else Q(owner__isnull=True, team__isnull=True)
    return Lead.objects.filter(Q(owner_id=user.pk) | pool).exclude(status__in=CLOSED_STATUSES)


#: What a change of the work queue shows of its lead (its name: ``Lead.__str__``).
LEAD_NAME_COLUMNS = ("lead__first_name", "lead__last_name", "lead__email")
#: A lead this new without a score is waiting seconds for its first one; older unscored leads are
#: a lost scoring message, which the periodic sweep heals within a minute.
FRESH_UNSCORED = timedelta(hours=6)
#: The first-touch count stops here ("100+"): counting a pool of a million leads costs more than the page.
WAITING_COUNT_CAP = 100


@dataclass
class WorkQueue:
    leads: list[Lead]
    has_next: bool
    page: int
    waiting_count: int
    changes: list[ScoreHistory]
    sla_hours: int
    only_waiting: bool
    waiting_capped: bool = False


def get_work_queue(*, user: User, page: int = 1, per_page: int = 50, only_waiting: bool = False) -> WorkQueue:
    """New leads still being scored first (speed to lead), then hottest first: score, latest activity, newest.

    Bands are score thresholds, so ordering by the total orders by band too. Scored leads
    come from the score index in order (PostgreSQL walks it and stops after the page, sorting
    only leads of equal score by activity), so a pool of a million leads costs what a pool of
    a hundred does. Constant queries: the ids of new unscored leads (and their rows when there
    are any), the scored rows, the capped first-touch count, the day's score changes.
    """
    now = timezone.now()
    scope = work_queue_scope(user)
    rows = _with_row_data(scope, now=now)
    if only_waiting:
        rows = rows.filter(awaiting_first_touch=True)
    # At most a page of them, on every page, so that the scored rows' offset is known. Usually there
    # are none: look for their ids first, and fetch (and compile) their full rows only when there are.
    fresh_scope = scope.filter(score__isnull=True, created_at__gte=now - FRESH_UNSCORED)
    if only_waiting:
        fresh_scope = fresh_scope.filter(_awaiting_first_touch(now))
    fresh_ids = list(fresh_scope.order_by("-created_at", "-id").values_list("id", flat=True)[:per_page])
    fresh = list(rows.filter(id__in=fresh_ids).order_by("-created_at", "-id")) if fresh_ids else []
    scored = rows.filter(score__isnull=False).order_by(
        F("score__total").desc(), F("latest_activity").desc(nulls_last=True), "-created_at", "-id"
    )
    start = (page - 1) * per_page
    if page == 1:
        fetched = fresh + list(scored[: per_page - len(fresh) + 1])
    else:
        fetched = list(scored[start - len(fresh) : start - len(fresh) + per_page + 1])
    waiting = scope.filter(_awaiting_first_touch(now))[: WAITING_COUNT_CAP + 1].count()
    # Newest first by id (rows are written in time order): a walk of the primary key that stops
    # after ten, not a sort of every change of the day (a bulk rescore writes a million).
    changes = list(
        ScoreHistory.objects.filter(lead__in=scope, created_at__gte=now - timedelta(days=1))
        .select_related("lead")
        .only("lead", "old_total", "total", "band", "reason", "created_at", *LEAD_NAME_COLUMNS)
        .order_by("-id")[:10]
    )
    reasons = {value: str(label) for value, label in ScoreHistory._meta.get_field("reason").flatchoices}
    for change in changes:
        change.reason_label = reasons.get(change.reason, change.reason)  # type: ignore[attr-defined]
        change.ago = ago(change.created_at, now)  # type: ignore[attr-defined]
    return WorkQueue(
        leads=_with_row_texts(fetched[:per_page], now),
        has_next=len(fetched) > per_page,
        page=page,
        waiting_count=min(waiting, WAITING_COUNT_CAP),
        waiting_capped=waiting > WAITING_COUNT_CAP,
        changes=changes,
        sla_hours=int(first_touch_sla().total_seconds() // 3600),
        only_waiting=only_waiting,
    )


# --- the lead list ------------------------------------------------------------------------


class PageLeadFilter(LeadFilter):
    """The API's lead filters plus the segment a lead sits in (pages only, for now)."""

    segment = IdFilter(field_name="placement__segment_id", label=_("segment"))


@dataclass
class LeadListPage:
    leads: list[Lead]
    has_next: bool
    page: int
    filterset: LeadFilter | None  # None: no filter asked for
    teams: list[Choice] = field(default_factory=list)
    owners: list[Any] = field(default_factory=list)
    segments: list[Choice] = field(default_factory=list)
    bands: list[str] = field(default_factory=list)

    @property
    def filters_valid(self) -> bool:
        return self.filterset is None or self.filterset.is_valid()

    @property
    def filter_errors(self) -> dict[str, Any]:
        return {} if self.filterset is None else dict(self.filterset.errors)

    @property
    def assignees(self) -> list[Any]:
        """Active sales reps among the owners: whom a manager may bulk-assign leads to."""
        return [u for u in self.owners if getattr(u, "is_sales_rep", False)]


def _first_of_each_part(parts: list[QuerySet[Lead]], *, stop: int) -> QuerySet[Lead]:
    """The leads of a scope made of disjoint ``parts`` (each filtered and sorted alike), sorted, enough
    for the rows before ``stop``: the first ``stop`` of each part.

    PostgreSQL reads an OR of a rep's two parts (their leads, their team's pool) in the page's order
    only by walking every lead in that order and dropping the others' (9,000 to 65,000 leads for the
    first page at a million); each part alone it reads in order from its own index (lead owner and
    pool indexes, by creation) and stops after ``stop``. A part sorted by score is read whole and
    sorted instead: sorted by the column itself, PostgreSQL walks the score index of every lead for
    the part's (1 to 3 s for a rep with few leads), while a rep's part is thousands of leads.
    """
    order = parts[0].query.order_by
    within = [_sorted_on_the_part(term) for term in order]
    firsts = [part.order_by(*within).values("pk")[:stop] for part in parts]
    return Lead.objects.filter(pk__in=firsts[0].union(*firsts[1:], all=True)).order_by(*order)


def _sorted_on_the_part(term: Any) -> Any:
    """``term`` of an ordering, with the score hidden from its index (see ``_first_of_each_part``)."""
    if isinstance(term, str) and term.lstrip("-") == "score__total":
        total = ExpressionWrapper(F("score__total") + 0, output_field=IntegerField())
        return total.desc() if term.startswith("-") else total.asc()
    return term


def list_leads_page(*, user: User, params: Any, page: int = 1, per_page: int = 50) -> LeadListPage:
    """One page of the lead list the user may see, filtered, searched and sorted.

    Count-free pagination (one row more than the page tells whether there is a next page):
    a COUNT over a million leads costs more than the page itself. The query count does not
    depend on the page size: rows, the filter form's choices (one query) and, for staff, the owners.
    """
    # A filter form sends every field; an empty one ("any status") means no filter, not an invalid choice.
    params = params.copy()
    for key in list(params):
        values = [v for v in params.getlist(key) if v.strip()]
        if values:
            params.setlist(key, values)
        else:
            del params[key]
    # No filter asked for (the list as it opens): no FilterSet, which deep-copies its fifteen
    # filters and their form fields on every request.
    parts = visible_lead_parts(user)
    visible = leads_in_parts(parts)
    wanted = set(params) & set(PageLeadFilter.base_filters)
    filterset = PageLeadFilter(data=params, queryset=visible) if wanted else None
    valid = filterset is None or filterset.is_valid()

    def narrowed(leads: QuerySet[Lead]) -> QuerySet[Lead]:
        """``leads`` filtered, searched and sorted as asked (newest first when no order is asked)."""
        if filterset is not None:
            leads = filterset.filter_queryset(leads) if valid else leads.none()
        return leads if params.get("ordering") else leads.order_by("-created_at", "-id")

    start = (page - 1) * per_page
    stop = start + per_page + 1
    if parts and len(parts) > 1 and valid and connection.features.supports_slicing_ordering_in_compound:
        leads = _first_of_each_part([narrowed(Lead.objects.filter(part)) for part in parts], stop=stop)
    else:
        leads = narrowed(visible)
    now = timezone.now()
    rows = _with_row_data(leads, now=now)
    fetched = list(rows[start:stop])
    staff = is_manager(user) or is_marketer(user)
    choices = list_filter_choices(with_teams=staff)
    user_model = get_user_model()
    is_a_rep = Exists(
        user_model.groups.through.objects.filter(user_id=OuterRef("pk"), group__name=Role.SALES_REP.value)
    )
    owners = (
        list(
            user_model.objects.filter(is_active=True, groups__name__in=[Role.SALES_REP, Role.SALES_MANAGER])
            .distinct()
            .only("id", "username", "first_name", "last_name")
            .annotate(is_sales_rep=is_a_rep)  # who bulk assignment may give leads to, in the same query
            .order_by("first_name", "last_name", "username")
        )
        if staff
        else []
    )
    return LeadListPage(
        leads=_with_row_texts(fetched[:per_page], now),
        has_next=len(fetched) > per_page,
        page=page,
        filterset=filterset,
        teams=choices.teams,
        owners=owners,
        segments=choices.segments,
        bands=choices.bands,
    )


# --- the lead page ------------------------------------------------------------------------


def get_lead_page_lead(*, user: User, lead_id: int) -> Lead:
    """The lead with everything its header shows (Http404 when the user may not see it)."""
    lead = get_lead_for_user(user=user, lead_id=lead_id)
    # get_lead_for_user already checked access; this fetch adds score, BANT and placement.
    return (
        Lead.objects.select_related(
            "company",
            "owner",
            "team",
            "score",
            "qualification",
            "placement__segment",
            "placement__stage__pipeline",
            "placement__queue",
            "qualification__budget_recorded_by",
            "qualification__authority_recorded_by",
            "qualification__need_recorded_by",
            "qualification__timing_recorded_by",
        )
        .annotate(latest_activity=_latest_activity())
        .get(pk=lead.pk)
    )


def get_qualification(lead: Lead) -> Qualification:
    qual = getattr(lead, "qualification", None)
    return qual if qual is not None else Qualification(lead=lead)


@dataclass(frozen=True)
class SparkPoint:
    x: float
    y: float
    total: int
    at: datetime


@dataclass
class ScoreView:
    score: Any  # LeadScore | None
    pending: bool  # the stored score is older than the lead (a worker is on it)
    fired: list[Any]
    history: list[ScoreHistory]
    spark: list[SparkPoint]
    spark_path: str
    band_description: str


SPARK_WIDTH, SPARK_HEIGHT, SPARK_PAD = 240, 48, 4


def _sparkline(history: list[ScoreHistory]) -> tuple[list[SparkPoint], str]:
    """Points of a small line chart of the total over time, drawn server-side as SVG."""
    points = list(reversed(history[:30]))  # oldest first
    if not points:
        return [], ""
    totals = [h.total for h in points]
    low, high = min(totals), max(totals)
    span = (high - low) or 1
    step = (SPARK_WIDTH - 2 * SPARK_PAD) / max(len(points) - 1, 1)
    spark = []
    for i, h in enumerate(points):
        x = SPARK_PAD + i * step if len(points) > 1 else SPARK_WIDTH / 2
        y = SPARK_HEIGHT - SPARK_PAD - (h.total - low) / span * (SPARK_HEIGHT - 2 * SPARK_PAD)
        spark.append(SparkPoint(round(x, 1), round(y, 1), h.total, h.created_at))
    path = " ".join(f"{p.x},{p.y}" for p in spark)
    return spark, path


def get_score_view(*, user: User, lead: Lead, with_history: bool = True) -> ScoreView:
    """The score panel: total, band, parts, the "why" list and history; ``pending`` while stale."""
    score = getattr(lead, "score", None)
    pending = score is None or score.lead_version < lead.version
    fired = fired_rules(score) if score is not None else []
    history = list(list_score_history(user=user, lead_id=lead.pk)[:30]) if with_history else []
    spark, path = _sparkline(history)
    description = ""
    if score is not None and score.band:
        description = ScoreBand.objects.filter(name=score.band).values_list("description", flat=True).first() or ""
    return ScoreView(
        score=score,
        pending=pending,
        fired=sorted(fired, key=lambda f: -abs(f.points)),
        history=history[:10],
        spark=spark,
        spark_path=path,
        band_description=description,
    )


# --- the timeline ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # event, bant, status, routing, stage
    title: str
    detail: str = ""
    who: str = ""


def _user_label(user: Any) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


BANT_LABELS = {
    "budget": _("Budget"),
    "authority": _("Authority"),
    "need": _("Need"),
    "timing": _("Timing"),
}


def _bant_entries(lead: Lead, limit: int) -> list[TimelineEntry]:
    records = list(
        Qualification.history.filter(lead_id=lead.pk)
        .select_related("history_user")
        .order_by("-history_date")[: limit + 1]
    )
    entries = []
    for newer, older in zip(records, [*records[1:], None], strict=False):
        if older is None:
            continue  # the row's creation: nothing answered yet
        delta = newer.diff_against(older)
        changes = []
        for change in delta.changes:
            name = change.field
            if name.endswith(("_recorded_by", "_recorded_at")):
                continue
            try:
                verbose = str(Qualification._meta.get_field(name).verbose_name)
                display = dict(Qualification._meta.get_field(name).flatchoices or ())
            except FieldDoesNotExist:  # a field dropped since the record was written
                verbose, display = name, {}
            new = display.get(change.new, change.new)
            if name.endswith("_notes") or name == "need_pain":
                changes.append(_("%(field)s updated") % {"field": verbose.capitalize()})
            else:
                changes.append(f"{verbose.capitalize()}: {new if new not in (None, '') else '—'}")
        if changes:
            entries.append(
                TimelineEntry(
                    at=newer.history_date,
                    kind="bant",
                    title=_("Qualification updated"),
                    detail="; ".join(changes),
                    who=_user_label(newer.history_user),
                )
            )
    return entries


def _status_entries(lead: Lead, limit: int) -> list[TimelineEntry]:
    records = list(
        Lead.history.filter(id=lead.pk)
        .select_related("history_user")
        .only("history_date", "status", "status_reason", "history_user", "history_type", "history_id")
        .order_by("-history_date")[: limit + 1]
    )
    labels = dict(LeadStatus.choices)
    entries = []
    for newer, older in zip(records, [*records[1:], None], strict=False):
        if older is None:
            if newer.history_type == "+":
                entries.append(TimelineEntry(at=newer.history_date, kind="status", title=_("Lead created")))
            continue
        if newer.status != older.status:
            detail = newer.status_reason if newer.status in (LeadStatus.LOST, LeadStatus.DISQUALIFIED) else ""
            entries.append(
                TimelineEntry(
                    at=newer.history_date,
                    kind="status",
                    title=_("Status: %(old)s → %(new)s")
                    % {"old": labels.get(older.status, older.status), "new": labels.get(newer.status, newer.status)},
                    detail=detail,
                    who=_user_label(newer.history_user),
                )
            )
    return entries


def _routing_entries(lead: Lead, limit: int) -> list[TimelineEntry]:
    decisions = (
        RoutingDecision.objects.filter(lead_id=lead.pk)
        .select_related("to_segment", "to_stage", "to_queue", "to_owner", "from_owner")
        .order_by("-created_at", "-id")[:limit]
    )
    entries = []
    for d in decisions:
        if d.to_stage_id:
            where = _("stage %(stage)s") % {"stage": d.to_stage.name}
        elif d.to_queue_id:
            where = _("nurture queue %(queue)s") % {"queue": d.to_queue.name}
        else:
            where = _("no destination")
        parts = [d.get_reason_display()]
        if d.to_segment_id:
            parts.append(_("segment %(name)s") % {"name": d.to_segment.name})
        if d.to_owner_id != d.from_owner_id:
            parts.append(_("owner %(owner)s") % {"owner": _user_label(d.to_owner) or _("team pool")})
        if d.policy_note:
            parts.append(d.policy_note)
        entries.append(
            TimelineEntry(
                at=d.created_at,
                kind="routing",
                title=_("Routed to %(where)s") % {"where": where},
                detail=" · ".join(parts),
            )
        )
    return entries


def _stage_entries(lead: Lead, limit: int) -> list[TimelineEntry]:
    visits = StageVisit.objects.filter(lead_id=lead.pk).select_related("stage").order_by("-entered_at", "-id")[:limit]
    entries = []
    for v in visits:
        detail = ""
        if v.left_at:
            days = (v.left_at - v.entered_at).days
            detail = _("stayed %(days)d days") % {"days": days} if days else _("stayed under a day")
        entries.append(
            TimelineEntry(
                at=v.entered_at,
                kind="stage",
                title=_("Entered stage %(stage)s") % {"stage": v.stage.name},
                detail=detail,
            )
        )
    return entries


def _event_entries(lead: Lead, limit: int) -> list[TimelineEntry]:
    events = EngagementEvent.objects.filter(lead_id=lead.pk).order_by("-occurred_at", "-id")[:limit]
    entries = []
    for e in events:
        meta = e.metadata or {}
        detail = str(meta.get("title") or meta.get("subject") or meta.get("url") or meta.get("note") or "")[:200]
        entries.append(TimelineEntry(at=e.occurred_at, kind="event", title=e.get_kind_display(), detail=detail))
    return entries


def list_timeline(*, lead: Lead, limit: int = 40) -> list[TimelineEntry]:
    """Events, BANT changes, status changes, routing decisions and stage changes, newest first.

    Each source is read with its own bounded query (five or six in all, whatever the history).
    """
    entries = [
        *_event_entries(lead, limit),
        *_bant_entries(lead, limit),
        *_status_entries(lead, limit),
        *_routing_entries(lead, limit),
        *_stage_entries(lead, limit),
    ]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


# --- shared by the board and the queues ------------------------------------------------------


def _sees_every_lead(visible: QuerySet[Lead]) -> bool:
    """True when the user's lead scope has no condition (managers, marketers): no join to leads needed."""
    return not visible.query.has_filters()


def _visible_placements(user: User) -> QuerySet[LeadPlacement]:
    visible = leads_visible_to(user)
    if _sees_every_lead(visible):
        return LeadPlacement.objects.all()
    return LeadPlacement.objects.filter(lead__in=visible)


def _hottest_first() -> list[Any]:
    # Bands are score thresholds, so the total orders by band too; the score index has the id tie-break.
    return [F("score__total").desc(nulls_last=True), F("id").desc()]


def _card_rows(leads: QuerySet[Lead]) -> QuerySet[Lead]:
    """What a board card shows, in the query that fetches the cards."""
    return leads.select_related("company", "owner", "score", "placement").only(
        "id", "first_name", "last_name", "email", "status", "status_reason", "do_not_contact",
        "company__id", "company__name", "company__country",
        "owner__id", "owner__username", "owner__first_name", "owner__last_name",
        "score__lead", "score__total", "score__band", "score__lead_version",
        "placement__lead", "placement__stage_id", "placement__pipeline_id", "placement__stage_entered_at",
        "placement__pinned", "placement__manual_owner",
    )  # fmt: skip


def _short_duration(delta: timedelta) -> str:
    """ "3 d", "5 h", "12 min": how long a card has been in its stage, in its largest unit."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds >= 86400:
        return _("%(n)d d") % {"n": seconds // 86400}
    if seconds >= 3600:
        return _("%(n)d h") % {"n": seconds // 3600}
    return _("%(n)d min") % {"n": max(1, seconds // 60)}


#: A card waits this long in one open stage before the board marks it as stuck.
STUCK_AFTER = timedelta(days=14)


def _with_time_in_stage(cards: list[Lead], now: datetime) -> list[Lead]:
    for lead in cards:
        placement = getattr(lead, "placement", None)
        entered = placement.stage_entered_at if placement is not None else None
        lead.in_stage = _short_duration(now - entered) if entered else ""  # type: ignore[attr-defined]
        lead.stuck = bool(entered) and now - entered > STUCK_AFTER  # type: ignore[attr-defined]
    return cards


# --- the pipeline board --------------------------------------------------------------------


#: Cards per column on the board (each column has a "more" link for the rest).
BOARD_CARDS_PER_COLUMN = 20


@dataclass
class BoardColumn:
    stage: Stage
    count: int
    cards: list[Lead]

    @property
    def more(self) -> int:
        return max(0, self.count - len(self.cards))


@dataclass
class Board:
    pipelines: list[Pipeline]
    pipeline: Pipeline | None
    stages: list[Stage]
    columns: list[BoardColumn]
    per_column: int

    @property
    def total(self) -> int:
        return sum(c.count for c in self.columns)


def list_board_pipelines() -> list[Pipeline]:
    """Every pipeline, in the order they were set up, with its stages in order (two queries)."""
    return list(
        Pipeline.objects.only("id", "name", "description")
        .prefetch_related(Prefetch("stages", queryset=Stage.objects.order_by("position")))
        .order_by("id")
    )


def _hottest_per_stage(placements: QuerySet[LeadPlacement], stages: list[Stage], per_stage: int) -> list[int]:
    """Lead ids of the ``per_stage`` highest-scored placements of each stage, in one query.

    PostgreSQL: one ``(... ORDER BY score LIMIT n)`` per stage joined by UNION ALL; each
    walks the score index (or a small stage's rows) and stops after n, so a stage of 100,000
    leads costs what a stage of 100 does (about 2 ms). Elsewhere (SQLite, the embedded
    default) a window function ranks every row of the pipeline, which is fine at that size.
    """
    scored = placements.filter(lead__score__isnull=False)
    order = [F("lead__score__total").desc(), F("lead_id").desc()]
    if connection.features.supports_slicing_ordering_in_compound:
        parts = [
            scored.filter(stage_id=stage.pk).order_by(*order).values_list("lead_id", flat=True)[:per_stage]
            for stage in stages
        ]
        return list(parts[0].union(*parts[1:], all=True)) if parts else []
    ranked = scored.filter(stage_id__in=[stage.pk for stage in stages]).annotate(
        rank=Window(RowNumber(), partition_by=[F("stage_id")], order_by=order)
    )
    return list(ranked.filter(rank__lte=per_stage).values_list("lead_id", flat=True))


def get_board(*, user: User, pipeline_id: int | None = None, per_column: int = BOARD_CARDS_PER_COLUMN) -> Board:
    """A column per stage with the count of leads the user sees there and the hottest ``per_column`` cards.

    Constant queries whatever the pipeline's size: pipelines, stages, one grouped count, the
    ids of every column's top cards (see ``_hottest_per_stage``) and the cards' rows with
    everything they show. Hottest first lists scored leads, like the lead list does: a lead
    gets its first score seconds after it arrives (it counts in its column meanwhile).
    Raises Http404 for a pipeline id that does not exist.
    """
    pipelines = list_board_pipelines()
    if pipeline_id is not None:
        pipeline = next((p for p in pipelines if p.pk == pipeline_id), None)
        if pipeline is None:
            raise Http404
    else:
        pipeline = pipelines[0] if pipelines else None
    if pipeline is None:
        return Board(pipelines=pipelines, pipeline=None, stages=[], columns=[], per_column=per_column)
    stages = list(pipeline.stages.all())
    visible = _visible_placements(user)
    placements = visible.filter(stage_id__in=[stage.pk for stage in stages])
    # Counting the stage column (not the primary key) lets PostgreSQL count from the stage index alone.
    counts = dict(placements.values("stage_id").annotate(n=Count("stage_id")).order_by().values_list("stage_id", "n"))
    cards: dict[int, list[Lead]] = {stage.pk: [] for stage in stages}
    if counts:
        # Each stage's part gets its own stage condition only: with the board's "stage in (...)" too,
        # PostgreSQL multiplied both selectivities, took a stage of 9,000 leads for 300 and sorted it
        # (200 ms) instead of walking the score index (2 ms).
        ids = _hottest_per_stage(visible, [s for s in stages if counts.get(s.pk)], per_column)
        rows = _card_rows(Lead.objects.filter(id__in=ids)).order_by(*_hottest_first())
        for lead in _with_time_in_stage(list(rows), timezone.now()):
            cards.setdefault(lead.placement.stage_id, []).append(lead)
    columns = [BoardColumn(stage=s, count=counts.get(s.pk, 0), cards=cards.get(s.pk, [])) for s in stages]
    return Board(pipelines=pipelines, pipeline=pipeline, stages=stages, columns=columns, per_column=per_column)


@dataclass
class StageCards:
    pipeline: Pipeline
    stage: Stage
    stages: list[Stage]
    cards: list[Lead]
    page: int
    has_next: bool
    count: int


def get_stage_cards(
    *, user: User, pipeline_id: int, stage_id: int, page: int = 1, per_page: int = BOARD_CARDS_PER_COLUMN
) -> StageCards:
    """One page of a stage's cards, hottest first (Http404 for an unknown pipeline or stage). Constant queries."""
    stage = Stage.objects.select_related("pipeline").filter(pk=stage_id, pipeline_id=pipeline_id).first()
    if stage is None:
        raise Http404
    stages = list(Stage.objects.filter(pipeline_id=pipeline_id).order_by("position"))
    count = _visible_placements(user).filter(stage_id=stage.pk).count()
    # Scored leads, hottest first (the score index): the same cards and order as the board's column.
    leads = _card_rows(leads_visible_to(user).filter(placement__stage_id=stage.pk, score__isnull=False))
    leads = leads.order_by("-score__total", "-id")
    start = (page - 1) * per_page
    fetched = _with_time_in_stage(list(leads[start : start + per_page + 1]), timezone.now())
    return StageCards(
        pipeline=stage.pipeline,
        stage=stage,
        stages=stages,
        cards=fetched[:per_page],
        page=page,
        has_next=len(fetched) > per_page,
        count=count,
    )


@dataclass
class MovableLead:
    lead: Lead
    stages: list[Stage]  # the stages of the lead's pipeline, in order


def get_board_lead(*, user: User, lead_id: int) -> MovableLead:
    """A lead the user sees, with what its card shows and its pipeline's stages (Http404 when not visible)."""
    lead = _card_rows(leads_visible_to(user)).filter(pk=lead_id).first()
    if lead is None:
        raise Http404
    _with_time_in_stage([lead], timezone.now())
    placement = getattr(lead, "placement", None)
    pipeline_id = placement.pipeline_id if placement is not None else None
    stages = list(Stage.objects.filter(pipeline_id=pipeline_id).order_by("position")) if pipeline_id else []
    return MovableLead(lead=lead, stages=stages)


# --- nurture queues (marketers and managers) ---------------------------------------------------


def can_see_queues(user: User) -> bool:
    """Nurture queues belong to marketing: marketers and managers work them; reps do not."""
    return is_manager(user) or is_marketer(user)


def _require_queue_role(user: User) -> None:
    if not can_see_queues(user):
        raise Http404  # like the API's export: a rep is told nothing about queues


def _open_memberships(user: User) -> QuerySet[NurtureMembership]:
    members = NurtureMembership.objects.filter(left_at__isnull=True)
    visible = leads_visible_to(user)
    return members if _sees_every_lead(visible) else members.filter(lead__in=visible)


def _queues_with_counts(user: User) -> QuerySet[NurtureQueue]:
    """Queues with their current, due and overdue member counts, one scalar subquery each.

    Each is counted from the index of current members alone (nurture_current_revisit_idx), the
    due and overdue ones from their revisit dates' range of it; a join of the members grouped by
    queue hashed every current member of every queue (2-3x the time at 120,000 members).
    """
    today = timezone.localdate()
    current = NurtureMembership.objects.filter(queue_id=OuterRef("pk"), left_at__isnull=True)
    visible = leads_visible_to(user)
    if not _sees_every_lead(visible):
        current = current.filter(lead__in=visible)

    def count(members: QuerySet[NurtureMembership]) -> Subquery:
        # COUNT as a plain function: no GROUP BY in the subquery, so it is 0 (not NULL) for none.
        number = Func(F("id"), function="COUNT", output_field=IntegerField())
        return Subquery(members.order_by().annotate(n=number).values("n"), output_field=IntegerField())

    return NurtureQueue.objects.annotate(
        member_count=count(current),
        due_count=count(current.filter(revisit_on__lte=today)),
        overdue_count=count(current.filter(revisit_on__lt=today)),
    )


def list_queue_summaries(*, user: User) -> list[NurtureQueue]:
    """Every queue with its purpose, cadence and current, due and overdue member counts (one query)."""
    _require_queue_role(user)
    return list(_queues_with_counts(user).order_by("name"))


QUEUE_ORDERINGS: dict[str, tuple[Any, list[Any]]] = {
    "revisit": (_("Revisit date, soonest first"), [F("revisit_on").asc(nulls_last=True), "entered_at", "id"]),
    "-entered": (_("Newest in the queue"), ["-entered_at", "-id"]),
    "entered": (_("Longest in the queue"), ["entered_at", "id"]),
    "-score": (_("Score, highest first"), [F("lead__score__total").desc(nulls_last=True), "-id"]),
    "name": (_("Name"), ["lead__last_name", "lead__first_name", "id"]),
}


@dataclass
class QueuePage:
    queue: NurtureQueue
    members: list[NurtureMembership]
    has_next: bool
    page: int
    ordering: str
    only_due: bool
    today: Any


def get_queue_page(
    *,
    user: User,
    queue_id: int,
    page: int = 1,
    per_page: int = 50,
    ordering: str = "revisit",
    only_due: bool = False,
) -> QueuePage:
    """One page of a queue's current members with their leads; Http404 for reps and unknown queues.

    Two queries whatever the page size: the queue with its counts, then the members with
    lead, company, score and owner. Count-free pages (one row more tells there is a next).
    """
    _require_queue_role(user)
    queue = _queues_with_counts(user).filter(pk=queue_id).first()
    if queue is None:
        raise Http404
    ordering = ordering if ordering in QUEUE_ORDERINGS else "revisit"
    today = timezone.localdate()
    members = _open_memberships(user).filter(queue_id=queue.pk)
    if only_due:
        members = members.filter(revisit_on__lte=today)
    members = members.select_related("lead__company", "lead__score", "lead__owner").order_by(
        *QUEUE_ORDERINGS[ordering][1]
    )
    start = (page - 1) * per_page
    fetched = list(members[start : start + per_page + 1])
    return QueuePage(
        queue=queue,
        members=fetched[:per_page],
        has_next=len(fetched) > per_page,
        page=page,
        ordering=ordering,
        only_due=only_due,
        today=today,
    )
