"""The analytics page (managers and marketers): validate the filters, read through analytics_selectors, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.templatetags.static import static
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET

from leads.models import Team
from leads.roles import is_manager, is_marketer

from .analytics_selectors import (
    BUCKET_POINTS,
    DEFAULT_PERIOD,
    PERIOD_LABELS,
    PERIODS,
    SMALL_SAMPLE,
    AnalyticsFilters,
    get_analytics_cached,
    list_filter_teams,
)

TEMPLATE = "app/analytics.html"
#: Chart.js as npm installs it (package.json); leadqual/settings.py serves node_modules/chart.js/dist there.
CHARTJS = "vendor/chart.js/chart.umd.min.js"
NO_TEAM = "none"


def parse_filters(params: QueryDict, *, teams: list[Team], team_filter: bool) -> tuple[AnalyticsFilters, list[str]]:
    """The filters from the query string; a value the page does not offer falls back to the default,
    with a notice saying so (never an error page: a stale bookmark still shows figures)."""
    notices: list[str] = []
    period = params.get("period", "").strip() or DEFAULT_PERIOD
    if period not in PERIODS:
        notices.append(
            _("“%(value)s” is not a period this page offers: showing %(default)s.")
            % {"value": period[:40], "default": str(PERIOD_LABELS[DEFAULT_PERIOD]).lower()}
        )
        period = DEFAULT_PERIOD
    team = params.get("team", "").strip()
    if not team:
        return AnalyticsFilters(period=period), notices
    if not team_filter:
        notices.append(_("Only managers filter by team: showing every team."))
        return AnalyticsFilters(period=period), notices
    if team == NO_TEAM:
        return AnalyticsFilters(period=period, no_team=True), notices
    known = {str(t.pk): t.pk for t in teams}
    if team not in known:
        notices.append(_("There is no team “%(value)s”: showing every team.") % {"value": team[:40]})
        return AnalyticsFilters(period=period), notices
    return AnalyticsFilters(period=period, team_id=known[team]), notices


def chartjs_url() -> str | None:
    """The URL of Chart.js, or None when npm has not installed it (the page then shows its tables only)."""
    if finders.find(CHARTJS) is None and not staticfiles_storage.exists(CHARTJS):
        return None
    try:
        return static(CHARTJS)
    except ValueError:  # the hashed manifest storage was collected without it
        return None


@login_required
@require_GET
def analytics_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    manager = is_manager(user)
    if not (manager or is_marketer(user)):
        return render(request, TEMPLATE, {"forbidden": True, "nav": "analytics"}, status=403)
    teams = list_filter_teams() if manager else []
    filters, notices = parse_filters(request.GET, teams=teams, team_filter=manager)
    analytics = get_analytics_cached(user=user, filters=filters)
    team = next((t for t in teams if t.pk == filters.team_id), None)
    hidden = analytics.campaigns_hidden
    group_sections = [
        {
            "id": "sources",
            "title": _("By source"),
            "note": _("Where leads come from, and what they turn into."),
            "group_label": _("Source"),
            "caption": _("Leads, score bands, qualification, outcomes and first touch per source"),
            "rows": analytics.sources,
            "charts": True,
            "total": True,
        },
        {
            "id": "campaigns",
            "title": _("By campaign"),
            "note": ngettext(
                "The campaign with the most leads, %(hidden)s smaller ones not shown.",
                "The %(shown)s campaigns with the most leads, %(hidden)s smaller ones not shown.",
                len(analytics.campaigns),
            )
            % {"shown": len(analytics.campaigns), "hidden": hidden}
            if hidden
            else _("Every campaign with leads in the selection, the largest first."),
            "group_label": _("Campaign"),
            "caption": _("Leads, score bands, qualification, outcomes and first touch per campaign"),
            "rows": analytics.campaigns,
            "charts": False,
            "total": False,
        },
    ]
    context = {
        "nav": "analytics",
        "a": analytics,
        "chart_data": analytics.chart_data(),
        "chartjs_url": chartjs_url(),
        "group_sections": group_sections,
        "band_columns": len(analytics.bands) + 1,
        "filters": filters,
        "notices": notices,
        "periods": list(PERIOD_LABELS.items()),
        "period_label": PERIOD_LABELS[filters.period],
        "team_filter": manager,
        "teams": teams,
        "team": team,
        "no_team_value": NO_TEAM,
        "small_sample": SMALL_SAMPLE,
        "bucket_points": BUCKET_POINTS,
    }
    return render(request, TEMPLATE, context)
