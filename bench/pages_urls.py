"""Bench-only URLconf: the app's URLs plus plain Django views reading the same 50 rows as the lead list and work queue.

A plain view is what a page needs at the least: a login, one query for the 50 rows with
their company, owner and score, and a small template. The pages add everything they show
on top (filters, bands, deltas, activity, first-touch flags, the queue's summary).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import include, path

from leads.selectors import leads_visible_to
from segments.pages.selectors import work_queue_scope

ROWS = 50
TABLE = engines["django"].from_string(
    "<!DOCTYPE html><html><head><title>plain</title></head><body><table>"
    "{% for lead in leads %}<tr><td>{{ lead.score.band }}</td><td>{{ lead.score.total }}</td>"
    '<td><a href="/leads/{{ lead.pk }}/">{{ lead.full_name|default:lead.email }}</a></td>'
    "<td>{{ lead.company.name }}</td><td>{{ lead.get_status_display }}</td><td>{{ lead.owner|default:'' }}</td></tr>"
    "{% endfor %}</table></body></html>"
)


def _render(request: HttpRequest, leads: object) -> HttpResponse:
    return HttpResponse(TABLE.render({"leads": leads}, request))


@login_required
def plain_lead_list(request: HttpRequest) -> HttpResponse:
    """The newest 50 leads the user may see (the lead list's first page)."""
    leads = leads_visible_to(request.user).select_related("company", "owner", "score").order_by("-created_at", "-id")
    return _render(request, leads[:ROWS])


@login_required
def plain_work_queue(request: HttpRequest) -> HttpResponse:
    """The 50 hottest open leads of the user's queue (own and team pool), by score."""
    leads = work_queue_scope(request.user).filter(score__isnull=False).select_related("company", "owner", "score")
    return _render(request, leads.order_by("-score__total", "-id")[:ROWS])


urlpatterns = [
    path("plain/pages/leads/", plain_lead_list),
    path("plain/pages/queue/", plain_work_queue),
    path("", include("leadqual.urls")),
]
