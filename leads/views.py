"""Pages of the leads app: the CSV import flow (upload, mapping, dry-run preview, run, report), public capture forms."""

from __future__ import annotations

import csv
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from . import capture
from .forms import CaptureSubmissionForm
from .imports import service
from .imports.detect import open_text, sniff
from .imports.forms import MappingForm, UploadForm
from .imports.selectors import (
    can_import,
    get_import_job_for_user,
    iter_issue_report,
    list_import_jobs,
    list_issues,
    list_saved_mappings,
    top_reasons,
)
from .models import CaptureForm, ImportJob, ImportState


def home(request: HttpRequest) -> HttpResponse:
    return redirect("admin:index")


def importers_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Managers and marketers import; anyone else is refused (the rule itself lives in the selectors)."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_import(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _header(job: ImportJob) -> list[str]:
    with open(job.file_path, "rb") as stream:
        dialect = sniff(stream, encoding=job.mapping.get("encoding") or None)
        try:
            return next(csv.reader(open_text(stream, dialect.encoding), delimiter=dialect.delimiter), [])
        except (UnicodeDecodeError, csv.Error):
            return []


@importers_only
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    mappings = list_saved_mappings(user=request.user)
    form = UploadForm(request.POST or None, request.FILES or None, mappings=mappings)
    if request.method == "POST" and form.is_valid():
        saved = form.cleaned_data["saved_mapping"]
        upload = form.cleaned_data["file"]
        job = service.create_import_job(
            source=upload, file_name=upload.name, mapping=saved.mapping if saved else {}, dry_run=True,
            acting_user=request.user,
        )  # fmt: skip
        return redirect("leads:import_mapping", job_id=job.pk)
    return render(request, "leads/import_upload.html", {"form": form, "jobs": list_import_jobs(user=request.user)})


@importers_only
@require_http_methods(["GET", "POST"])
def import_mapping(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_import_job_for_user(user=request.user, job_id=job_id)
    if job.state != ImportState.PENDING:
        return redirect("leads:import_detail", job_id=job.pk)
    header = _header(job)
    if not header:
        messages.error(request, _("The file has no readable header line."))
        return redirect("leads:import_upload")
    form = MappingForm(request.POST or None, header=header, mapping=job.mapping)
    if request.method == "POST" and form.is_valid():
        mapping = form.to_mapping()
        try:
            if form.cleaned_data["save_as"]:
                service.save_mapping(name=form.cleaned_data["save_as"], mapping=mapping, acting_user=request.user)
            service.set_job_mapping(job=job, mapping=mapping)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            service.start_import_job(job=job)
            return redirect("leads:import_detail", job_id=job.pk)
    return render(request, "leads/import_mapping.html", {"form": form, "job": job})


@importers_only
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_import_job_for_user(user=request.user, job_id=job_id)
    context = {
        "job": job,
        "running": job.state in (ImportState.PENDING, ImportState.RUNNING),
        "issues": list_issues(job=job),
        "reasons": top_reasons(job=job),
    }
    return render(request, "leads/import_detail.html", context)


@importers_only
@require_POST
def import_run(request: HttpRequest, job_id: int) -> HttpResponse:
    dry = get_import_job_for_user(user=request.user, job_id=job_id)
    if not dry.dry_run or dry.state != ImportState.DONE:
        messages.error(request, _("Run the dry run to the end first."))
        return redirect("leads:import_detail", job_id=dry.pk)
    job = service.copy_job(job=dry, dry_run=False, acting_user=request.user)
    service.start_import_job(job=job)
    return redirect("leads:import_detail", job_id=job.pk)


@importers_only
def import_report(request: HttpRequest, job_id: int) -> StreamingHttpResponse:
    job = get_import_job_for_user(user=request.user, job_id=job_id)
    response = StreamingHttpResponse(iter_issue_report(job=job, header=_header(job)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-rejected-rows.csv"'
    return response


# --- public capture forms (no login) ---------------------------------------------------------


def _capture_page(request: HttpRequest, capture_form: CaptureForm, template: str, context: dict, status: int = 200):
    """Render a capture page; only the sites the form names may frame it (CSP frame-ancestors)."""
    response = render(request, template, {"capture_form": capture_form, **context}, status=status)
    origins = capture_form.origins
    if origins:
        # X-Frame-Options cannot name several sites: the CSP directive (which browsers prefer) does.
        response.xframe_options_exempt = True
        response._csp_replace = {"frame-ancestors": ["'self'", *origins]}  # type: ignore[attr-defined]
    return response


def _capture_form_or_404(slug: str) -> CaptureForm:
    capture_form = capture.get_active_capture_form(slug=slug)
    if capture_form is None:
        raise Http404(_("No such form."))
    return capture_form


@require_http_methods(["GET", "POST"])
def capture_form_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The questionnaire: 303 to the thank-you page when saved, 400 with field errors, 429 when over the limit."""
    capture_form = _capture_form_or_404(slug)
    if request.method == "GET":
        form = CaptureSubmissionForm(capture_form=capture_form)
        return _capture_page(request, capture_form, "capture/form.html", {"form": form})
    if not capture.allow_capture_submission(client=request.META.get("REMOTE_ADDR", "")):
        response = _capture_page(request, capture_form, "capture/limited.html", {}, status=429)
        response["Retry-After"] = "3600"
        return response
    form = CaptureSubmissionForm(request.POST, capture_form=capture_form)
    if form.is_spam:
        return redirect("leads:capture_thanks", slug=slug, permanent=False)  # dropped, and nothing says so
    if form.is_valid():
        try:
            capture.submit_capture_form(capture_form=capture_form, answers=form.answers())
        except ValidationError as exc:
            for name, messages_ in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, messages_)
        else:
            response = redirect("leads:capture_thanks", slug=slug)
            response.status_code = 303
            return response
    return _capture_page(request, capture_form, "capture/form.html", {"form": form}, status=400)


@require_http_methods(["GET"])
def capture_thanks(request: HttpRequest, slug: str) -> HttpResponse:
    capture_form = _capture_form_or_404(slug)
    return _capture_page(request, capture_form, "capture/thanks.html", {})
