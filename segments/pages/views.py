"""Views of the browser app: read through the page selectors, write through the leads and segments services."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from leads.models import Industry, LeadSource, LeadStatus
from leads.roles import Role, is_manager, is_marketer
from leads.services import update_qualification

from .. import services as segment_services
from . import selectors
from .forms import CRITERIA, CRITERIA_BY_KEY, BantCriterionForm, BulkAssignForm, MoveLeadForm

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


def _page_number_of(params: QueryDict) -> int:
    try:
        return max(1, min(int(params.get("page", 1)), 10_000))
    except ValueError:
        return 1


def _per_page_of(params: QueryDict) -> int:
    try:
        value = int(params.get("per_page", 50))
    except ValueError:
        return 50
    return value if value in PER_PAGE_CHOICES else 50


def _page_number(request: HttpRequest) -> int:
    return _page_number_of(request.GET)


def _per_page(request: HttpRequest) -> int:
    return _per_page_of(request.GET)


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
    context = _lead_list_context(request, request.GET)
    template = "app/_lead_rows.html" if request.htmx and request.htmx.target == "lead-results" else "app/lead_list.html"
    return render(request, template, context)


def _lead_list_context(request: HttpRequest, params: QueryDict, **extra: Any) -> dict[str, Any]:
    """The lead list for ``params`` (the list's query string), as the page and its htmx partial show it."""
    page_number, per_page = _page_number_of(params), _per_page_of(params)
    page = selectors.list_leads_page(user=request.user, params=params, page=page_number, per_page=per_page)
    without_page = params.copy()
    without_page.pop("page", None)
    selected = _selected_filters(params)
    return {
        "page": page,
        "query": without_page.urlencode(),
        "list_query": params.urlencode(),
        "can_assign": is_manager(request.user),
        "page_ids": ",".join(str(lead.pk) for lead in page.leads),
        "nav": "leads",
        "options": _filter_options(page, selected),
        "selected": selected,
        **extra,
    }


def _orderings() -> list[tuple[str, str]]:
    return [
        ("-score", _("Score, highest first")),
        ("score", _("Score, lowest first")),
        ("-created_at", _("Newest first")),
        ("created_at", _("Oldest first")),
        ("-updated_at", _("Recently changed")),
        ("last_name", _("Name")),
        ("company", _("Company")),
        ("status", _("Status")),
    ]


def _options(choices: Iterable[tuple[Any, Any]], selected: str | Collection[str]) -> SafeString:
    """``<option>``s of ``(value, label)`` pairs, escaped, those whose value is (in) ``selected`` marked."""
    marked = {selected} if isinstance(selected, str) else set(selected)
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((value, " selected" if str(value) in marked else "", label) for value, label in choices),
    )


def _filter_options(page: selectors.LeadListPage, selected: dict[str, Any]) -> dict[str, SafeString]:
    """The filter form's ``<option>``s per select, the asked-for ones marked.

    Built here, not by a loop of ``{% if %}``s in the template: some 80 options cost the
    template about as much as 20 rows of the table.
    """
    return {
        "status": _options(LeadStatus.choices, selected["status"]),
        "band": _options(((b, b) for b in page.bands), selected["band"]),
        "source": _options(LeadSource.choices, selected["source"]),
        "industry": _options(Industry.choices, selected["industry"]),
        "country": _country_options(selected["country"]),
        "owner": _options(((u.pk, u.get_full_name() or u.get_username()) for u in page.owners), selected["owner"]),
        "team": _options(((t.pk, t.name) for t in page.teams), selected["team"]),
        "bant_met": _options(((n, _("at least %(n)s") % {"n": n}) for n in "1234"), selected["bant_met"]),
        "segment": _options(((s.pk, s.name) for s in page.segments), selected["segment"]),
        "ordering": _options(_orderings(), selected["ordering"]),
        "per_page": _options(((n, n) for n in PER_PAGE_CHOICES), selected["per_page"]),
    }


#: The country filter's options per language, escaped once (250 options cost more to build than the
#: table's rows); a request only marks its selected country.
_COUNTRY_OPTIONS: dict[str, str] = {}


def _country_options(selected: str) -> SafeString:
    """The country filter's <option>s, the selected one marked."""
    language = translation.get_language() or settings.LANGUAGE_CODE
    options = _COUNTRY_OPTIONS.get(language)
    if options is None:
        options = _COUNTRY_OPTIONS[language] = format_html_join(
            "", '<option value="{}">{}</option>', selectors.country_choices()
        )
    if selected and selected.isalpha() and len(selected) == 2:
        marker = f'<option value="{selected.upper()}">'
        options = options.replace(marker, marker[:-1] + " selected>", 1)
    return mark_safe(options)  # noqa: S308 -- built by format_html_join above; the marker is two letters


def _selected_filters(get: QueryDict) -> dict[str, Any]:
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
        "per_page": str(_per_page_of(get)),
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


# --- bulk assignment (managers) --------------------------------------------------------------


@login_required
@require_POST
def bulk_assign(request: HttpRequest) -> HttpResponse:
    """Give the ticked leads (or every lead of the page) to one rep, all or nothing; managers only.

    htmx gets the list back (same filters and page) with the outcome; without JavaScript a
    success redirects to the list and an error shows the list with it (400).
    """
    if not is_manager(request.user):
        raise PermissionDenied(_("Only sales managers assign leads in bulk."))
    params = QueryDict(request.POST.get("query", ""), mutable=True)
    reps = get_user_model().objects.filter(is_active=True, groups__name=Role.SALES_REP.value).distinct()
    form = BulkAssignForm(request.POST, owners=reps)
    error = ""
    if form.is_valid():
        owner = form.cleaned_data["owner"]
        try:
            done = segment_services.assign_leads(
                lead_ids=form.cleaned_data["lead_ids"], owner=owner, acting_user=request.user
            )
        except ValidationError as exc:
            error = " ".join(m for messages_ in exc.message_dict.values() for m in messages_)
        else:
            name = owner.get_full_name() or owner.get_username()
            message = ngettext(
                "Assigned %(n)d lead to %(owner)s.", "Assigned %(n)d leads to %(owner)s.", len(done.lead_ids)
            ) % {"n": len(done.lead_ids), "owner": name}
            if not request.htmx:
                messages.success(request, message)
                return redirect(f"{reverse('pages:lead_list')}?{params.urlencode()}")
            context = _lead_list_context(request, params, bulk_message=message)
            return render(request, "app/_lead_rows.html", context)
    else:
        error = " ".join(m for messages_ in form.errors.values() for m in messages_)
    context = _lead_list_context(request, params, bulk_error=error)
    template = "app/_lead_rows.html" if request.htmx else "app/lead_list.html"
    return render(request, template, context, status=400)


# --- the pipeline board ------------------------------------------------------------------------


def _board_context(request: HttpRequest, board: selectors.Board, **extra: Any) -> dict[str, Any]:
    return {
        "board": board,
        "can_move": selectors.can_edit_leads(request.user),
        "nav": "board",
        **extra,
    }


@login_required
@require_GET
def board(request: HttpRequest) -> HttpResponse:
    """A column per stage of one pipeline, hottest leads first; ``?pipeline=`` picks it (remembered)."""
    try:
        pipeline_id: int | None = int(request.GET["pipeline"])
    except (KeyError, ValueError):
        pipeline_id = request.session.get("board_pipeline")
    try:
        board = selectors.get_board(user=request.user, pipeline_id=pipeline_id)
    except Http404:
        if "pipeline" in request.GET:
            raise
        board = selectors.get_board(user=request.user)  # the remembered pipeline was deleted
    if board.pipeline is not None and request.session.get("board_pipeline") != board.pipeline.pk:
        request.session["board_pipeline"] = board.pipeline.pk
    return render(request, "app/board.html", _board_context(request, board))


@login_required
@require_GET
def board_stage(request: HttpRequest, pipeline_id: int, stage_id: int) -> HttpResponse:
    """One stage's cards, a page at a time: htmx appends the next page to the column, else a full page."""
    cards = selectors.get_stage_cards(
        user=request.user, pipeline_id=pipeline_id, stage_id=stage_id, page=_page_number(request)
    )
    context = {"column": cards, "can_move": selectors.can_edit_leads(request.user), "nav": "board"}
    template = "app/_board_more.html" if request.htmx else "app/board_stage.html"
    return render(request, template, context)


@login_required
@require_POST
def move_lead(request: HttpRequest, lead_id: int) -> HttpResponse:
    """Move a lead to another stage of its pipeline (a lost stage asks for a reason).

    Another rep's lead is a 404 (as everywhere); marketers read the board and get a 403.
    htmx gets the whole board back (counts and columns stay right); a 400 re-renders the
    card with its error in place. Without JavaScript the page redirects back to the board.
    """
    movable = selectors.get_board_lead(user=request.user, lead_id=lead_id)
    if not selectors.can_edit_leads(request.user):
        raise PermissionDenied(_("Marketers read the board but do not move leads."))
    lead = movable.lead
    form = MoveLeadForm(request.POST, stages=movable.stages)
    if not movable.stages:
        form.add_error(None, _("This lead is on no pipeline."))
    elif form.is_valid():
        stage = form.cleaned_data["stage"]
        try:
            segment_services.move_lead_to_stage_with_outcome(
                lead=lead.pk, stage=stage, reason=form.cleaned_data["reason"], acting_user=request.user
            )
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            message = _("%(lead)s moved to %(stage)s.") % {"lead": lead, "stage": stage.name}
            if not request.htmx:
                messages.success(request, message)
                return redirect(f"{reverse('pages:board')}?pipeline={stage.pipeline_id}")
            board = selectors.get_board(user=request.user, pipeline_id=stage.pipeline_id)
            return render(request, "app/_board.html", _board_context(request, board, flash=message))
    context = {"lead": lead, "stages": movable.stages, "form": form, "can_move": True, "open": True}
    if request.htmx:
        response = render(request, "app/_board_card.html", context, status=400)
        return reswap(retarget(response, f"#card-{lead.pk}"), "outerHTML")
    return render(request, "app/board_move.html", {**context, "nav": "board"}, status=400)


# --- nurture queues (marketers and managers) -----------------------------------------------------


@login_required
@require_GET
def queue_list(request: HttpRequest) -> HttpResponse:
    queues = selectors.list_queue_summaries(user=request.user)
    return render(request, "app/queue_list.html", {"queues": queues, "nav": "queues"})


@login_required
@require_GET
def queue_detail(request: HttpRequest, queue_id: int) -> HttpResponse:
    queue_page = selectors.get_queue_page(
        user=request.user,
        queue_id=queue_id,
        page=_page_number(request),
        per_page=_per_page(request),
        ordering=request.GET.get("ordering", "revisit"),
        only_due=request.GET.get("due") == "1",
    )
    context = {
        "qp": queue_page,
        "queue": queue_page.queue,
        "orderings": [(key, label) for key, (label, _order) in selectors.QUEUE_ORDERINGS.items()],
        "per_page_choices": PER_PAGE_CHOICES,
        "per_page": _per_page(request),
        "query": _query_without_page(request),
        "nav": "queues",
    }
    return render(request, "app/queue_detail.html", context)
