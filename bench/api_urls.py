"""Bench-only URLconf: the app's URLs plus plain Django views reading the same rows as the API."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import include, path

from leads.models import Lead

RELATED = ("company", "score", "qualification")


def _row(lead: Lead) -> dict[str, Any]:
    company = lead.company
    try:
        score: dict[str, Any] | None = {"total": lead.score.total, "band": lead.score.band}  # type: ignore[attr-defined]
    except ObjectDoesNotExist:
        score = None
    return {
        "id": lead.pk,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "email": lead.email,
        "phone": str(lead.phone) if lead.phone else "",
        "job_title": lead.job_title,
        "company": None
        if company is None
        else {"id": company.pk, "name": company.name, "domain": company.domain, "country": company.country.code},
        "source": lead.source,
        "status": lead.status,
        "owner": lead.owner_id,
        "team": lead.team_id,
        "version": lead.version,
        "score": score,
        "bant_met": lead.qualification.bant_met,
        "created_at": lead.created_at.isoformat(),
        "updated_at": lead.updated_at.isoformat(),
    }


def plain_detail(request: HttpRequest, lead_id: int) -> JsonResponse:
    lead = Lead.objects.select_related(*RELATED).filter(pk=lead_id).first()
    if lead is None:
        raise Http404
    return JsonResponse(_row(lead))


def plain_hottest(request: HttpRequest) -> JsonResponse:
    leads = Lead.objects.select_related(*RELATED).filter(score__isnull=False).order_by("-score__total", "-id")[:50]
    return JsonResponse({"results": [_row(lead) for lead in leads]})


urlpatterns = [
    path("plain/leads/<int:lead_id>/", plain_detail),
    path("plain/hottest/", plain_hottest),
    path("", include("leadqual.urls")),
]
