"""Views of the rep's pages: read through the page selectors, write through leads.services, nothing more."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from leads.models import Industry, LeadSource, LeadStatus
from leads.roles import is_manager, is_marketer
from leads.services import update_qualification
from scoring.models import ScoreBand

from . import selectors
from .forms import CRITERIA, CRITERIA_BY_KEY, BantCriterionForm

PER_PAGE_CHOICES = (10, 25, 50, 100)
#: The score panel polls at most this many times after a save, then asks for a reload.
MAX_SCORE_POLLS = 60


class LoginView(auth_views.LoginView):
    template_name = "app/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # django-axes (its middleware and backend) does the lockout; the page only tells its terms.
        return {
            **super().get_context_data(**kwargs),
            "axes_enabled": settings.AXES_ENABLED,
            "axes_limit": settings.AXES_FAILURE_LIMIT,
            "axes_hours": settings.AXES_COOLOFF_TIME,
        }


class LogoutView(auth_views.LogoutView):
    template_name = "app/logged_out.html"


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, min(int(request.GET.get("page", 1)), 10_000))
    except ValueError:
        return 1


def _per_page(request: HttpRequest) -> int:
    try:
        value = int(request.GET.get("per_page", 50))
    except ValueError:
        return 50
    return value if value in PER_PAGE_CHOICES else 50


def _query_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The work queue for people who sell; marketers start at the lead list (read only)."""
    if not request.user.is_authenticated:
        return redirect(f"{reverse('pages:login')}?next={request.path}")
    if is_marketer(request.user) and not is_manager(request.user):
        return redirect("pages:lead_list")
    return work_queue(request)


@login_required
@require_GET
def work_queue(request: HttpRequest) -> HttpResponse:
    queue = selectors.get_work_queue(
        user=request.user,
        page=_page_number(request),
        per_page=_per_page(request),
        only_waiting=request.GET.get("waiting") == "1",
    )
    context = {"queue": queue, "query": _query_without_page(request), "nav": "queue"}
    return render(request, "app/work_queue.html", context)


@login_required
@require_GET
def lead_list(request: HttpRequest) -> HttpResponse:
    page = selectors.list_leads_page(
        user=request.user, params=request.GET, page=_page_number(request), per_page=_per_page(request)
    )
    context = {
        "page": page,
        "query": _query_without_page(request),
        "nav": "leads",
        "statuses": LeadStatus.choices,
        "sources": LeadSource.choices,
        "industries": Industry.choices,
        "bands": list(ScoreBand.objects.values_list("name", flat=True).order_by("-min_score")),
        "orderings": [
            ("-score", _("Score, highest first")),
            ("score", _("Score, lowest first")),
            ("-created_at", _("Newest first")),
            ("created_at", _("Oldest first")),
            ("-updated_at", _("Recently changed")),
            ("last_name", _("Name")),
            ("company", _("Company")),
            ("status", _("Status")),
        ],
        "per_page_choices": PER_PAGE_CHOICES,
        "selected": _selected_filters(request),
    }
    template = "app/_lead_rows.html" if request.htmx and request.htmx.target == "lead-results" else "app/lead_list.html"
    return render(request, template, context)


def _selected_filters(request: HttpRequest) -> dict[str, Any]:
    get = request.GET
    return {
        "search": get.get("search", ""),
        "status": get.getlist("status"),
        "source": get.getlist("source"),
        "industry": get.getlist("industry"),
        "band": get.get("band", ""),
        "owner": get.get("owner", ""),
        "unassigned": get.get("unassigned", ""),
        "team": get.get("team", ""),
        "country": get.get("country", ""),
        "bant_met": get.get("bant_met", ""),
        "segment": get.get("segment", ""),
        "ordering": get.get("ordering", ""),
        "per_page": str(_per_page(request)),
    }


def _bant_forms(lead: Any, *, data: Any = None, only: str | None = None) -> list[BantCriterionForm]:
    qual = selectors.get_qualification(lead)
    return [
        BantCriterionForm(data if c.key == only else None, instance=qual, criterion=c)
        for c in CRITERIA
        if only is None or c.key == only
    ]


@login_required
@require_GET
def lead_detail(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = selectors.get_lead_page_lead(user=request.user, lead_id=lead_id)
    can_edit = selectors.can_edit_leads(request.user)
    context = {
        "lead": lead,
        "qual": selectors.get_qualification(lead),
        "score_view": selectors.get_score_view(user=request.user, lead=lead),
        "timeline": selectors.list_timeline(lead=lead),
        "bant_forms": _bant_forms(lead),
        "can_edit": can_edit,
        "polls": 0,
        "nav": "leads",
    }
    return render(request, "app/lead_detail.html", context)


@login_required
@require_GET
def lead_score_panel(request: HttpRequest, lead_id: int) -> HttpResponse:
    """The score panel alone; it keeps polling itself while the stored score is older than the lead."""
    lead = selectors.get_lead_page_lead(user=request.user, lead_id=lead_id)
    try:
        polls = max(0, int(request.GET.get("polls", 0)))
    except ValueError:
        polls = 0
    context = {
        "lead": lead,
        "score_view": selectors.get_score_view(user=request.user, lead=lead),
        "polls": polls,
        "max_polls": MAX_SCORE_POLLS,
    }
    return render(request, "app/_score_panel.html", context)


@login_required
@require_POST
def save_bant(request: HttpRequest, lead_id: int, criterion: str) -> HttpResponse:
    """Save one BANT criterion. htmx gets the card back plus the score panel (out of band)."""
    spec = CRITERIA_BY_KEY.get(criterion)
    if spec is None:
        raise Http404
    # Reading first: another rep's lead is a 404 (not a 403 that would confirm it exists).
    lead = selectors.get_lead_page_lead(user=request.user, lead_id=lead_id)
    if not selectors.can_edit_leads(request.user):
        raise PermissionDenied(_("Marketers read qualification but do not change it."))
    form = _bant_forms(lead, data=request.POST, only=criterion)[0]
    saved = False
    if form.is_valid():
        try:
            update_qualification(lead=lead.pk, data=form.changed_values(), acting_user=request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            saved = True
    if not request.htmx:
        if saved:
            return redirect("pages:lead_detail", lead_id=lead.pk)
        # Without JavaScript an invalid form is shown on the full page.
        return _full_page_with_form(request, lead, form, status=400)
    if saved:
        lead = selectors.get_lead_page_lead(user=request.user, lead_id=lead_id)
        form = _bant_forms(lead, only=criterion)[0]
    context = {
        "lead": lead,
        "form": form,
        "criterion": spec,
        "can_edit": True,
        "saved": saved,
        "qual": selectors.get_qualification(lead),
        "score_view": selectors.get_score_view(user=request.user, lead=lead) if saved else None,
        "polls": 0,
        "max_polls": MAX_SCORE_POLLS,
        "oob": saved,
    }
    return render(request, "app/_bant_card.html", context, status=200 if saved else 400)


def _full_page_with_form(request: HttpRequest, lead: Any, form: BantCriterionForm, *, status: int) -> HttpResponse:
    forms = [form if f.criterion.key == form.criterion.key else f for f in _bant_forms(lead)]
    context = {
        "lead": lead,
        "qual": selectors.get_qualification(lead),
        "score_view": selectors.get_score_view(user=request.user, lead=lead),
        "timeline": selectors.list_timeline(lead=lead),
        "bant_forms": forms,
        "can_edit": True,
        "polls": 0,
        "nav": "leads",
    }
    return render(request, "app/lead_detail.html", context, status=status)
