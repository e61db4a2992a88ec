"""Public lead capture: the question catalogue, capture form settings, the rate limit and the submission write.

A submission creates the lead, or updates the lead with the same email. It is
public and unauthenticated, so it only adds what we do not know yet: empty
contact fields are filled, a company is attached when the lead has none, and a
BANT answer is written only where the current one is unknown or was itself
self-reported (a rep's recorded answer is never overwritten). Every answer,
used or not, is kept in the "form submitted" event's metadata. Scoring follows
through the ``lead_changed`` signal after commit, as for any lead write.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Lower
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import services
from .models import CaptureForm, Company, EventKind, Lead, Qualification, QuestionUse


@dataclass(frozen=True)
class Question:
    key: str
    label: Any  # a lazy translation
    group: str  # contact, company, bant, consent


QUESTIONS: dict[str, Question] = {
    q.key: q
    for q in (
        Question("first_name", gettext_lazy("First name"), "contact"),
        Question("last_name", gettext_lazy("Last name"), "contact"),
        Question("phone", gettext_lazy("Phone"), "contact"),
        Question("job_title", gettext_lazy("Job title"), "contact"),
        Question("company_name", gettext_lazy("Company"), "company"),
        Question("company_domain", gettext_lazy("Company website"), "company"),
        Question("industry", gettext_lazy("Industry"), "company"),
        Question("employee_count", gettext_lazy("Number of employees"), "company"),
        Question("country", gettext_lazy("Country"), "company"),
        Question("budget", gettext_lazy("Is there a budget for this?"), "bant"),
        Question("budget_amount", gettext_lazy("Roughly how much (EUR)?"), "bant"),
        Question("authority", gettext_lazy("What is your part in the decision?"), "bant"),
        Question("need", gettext_lazy("How clear is the need?"), "bant"),
        Question("need_pain", gettext_lazy("What problem should we solve?"), "bant"),
        Question("timing", gettext_lazy("When do you plan to decide?"), "bant"),
        Question("marketing_consent", gettext_lazy("Send me news and offers by email"), "consent"),
    )
}
LEAD_ANSWERS = {"first_name": "first_name", "last_name": "last_name", "phone": "phone", "job_title": "job_title"}
COMPANY_ANSWERS = {
    "company_name": "name",
    "company_domain": "domain",
    "industry": "industry",
    "employee_count": "employee_count",
    "country": "country",
}
BANT_ANSWERS = ("budget", "budget_amount", "authority", "need", "need_pain", "timing")
CAPTURE_FORM_FIELDS = frozenset(
    {"slug", "title", "intro", "thank_you", "active", "questions", "source", "campaign", "embed_origins"}
)


# --- settings of a form (admin writes) -------------------------------------------------------------


def clean_origins(text: str) -> str:
    origins = []
    for line in (text or "").splitlines():
        origin = line.strip().rstrip("/")
        if not origin:
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
            raise ValidationError(
                {"embed_origins": _("%(origin)s is not an origin such as https://www.example.com.") % {"origin": line}}
            )
        origins.append(origin)
    return "\n".join(origins)


@transaction.atomic
def save_capture_form(*, capture_form: CaptureForm | None = None, data: Mapping[str, Any]) -> CaptureForm:
    """Create or change a capture form; questions and embedding origins are checked per field."""
    unknown = sorted(set(data) - CAPTURE_FORM_FIELDS)
    if unknown:
        raise ValidationError({name: _("This field cannot be written.") for name in unknown})
    form = capture_form or CaptureForm()
    for name, value in data.items():
        setattr(form, name, value.strip() if isinstance(value, str) and name not in ("intro", "thank_you") else value)
    questions = dict(form.questions or {})
    bad = sorted(k for k, v in questions.items() if k not in QUESTIONS or v not in QuestionUse.values)
    if bad:
        raise ValidationError({"questions": _("Unknown questions or uses: %(keys)s.") % {"keys": ", ".join(bad)}})
    form.questions = {k: v for k, v in questions.items() if v != QuestionUse.HIDDEN}
    form.embed_origins = clean_origins(form.embed_origins)
    form.full_clean()
    form.save()
    return form


def get_active_capture_form(*, slug: str) -> CaptureForm | None:
    return CaptureForm.objects.filter(slug=slug, active=True).first()


# --- spam -----------------------------------------------------------------------------------------


def allow_capture_submission(*, client: str) -> bool:
    """Count one submission for ``client`` (an IP address) in this clock hour; False once over the limit.

    A fixed one-hour window in the cache (Redis in production, so every web
    process shares the count). CAPTURE_RATE_LIMIT_PER_HOUR of 0 turns it off.
    """
    limit = settings.CAPTURE_RATE_LIMIT_PER_HOUR
    if limit <= 0:
        return True
    key = f"leadqual:capture:{client}:{int(time.time() // 3600)}"
    cache.add(key, 0, timeout=3700)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3700)
        count = 1
    return count <= limit


# --- a submission -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptureResult:
    lead: Lead
    created: bool


def _given(value: Any) -> bool:
    return value not in (None, "", False)


def _json_safe(value: Any) -> Any:
    if isinstance(value, Decimal | date):
        return str(value)
    return value


def _company_for(answers: Mapping[str, Any]) -> Company | None:
    data = {field: answers[key] for key, field in COMPANY_ANSWERS.items() if _given(answers.get(key))}
    if not data:
        return None
    domain = services.normalize_domain(data.get("domain", ""))
    if domain:
        found = Company.objects.filter(domain=domain).order_by("id").first()
        if found:
            return found
    data.setdefault("name", domain or "")
    if not data["name"]:
        return None  # industry or size alone make no company
    return services.create_company(data=data)


def _open_bant_answers(qual: Qualification | None, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers for criteria we do not know yet, or that were self-reported before (no rep recorded them)."""
    given = {key: answers[key] for key in BANT_ANSWERS if _given(answers.get(key))}
    if qual is None:
        return given
    open_fields = set()
    for criterion, fields in services.BANT_CRITERIA.items():
        if getattr(qual, criterion) == "unknown" or getattr(qual, f"{criterion}_recorded_by_id") is None:
            open_fields.update(fields)
    return {key: value for key, value in given.items() if key in open_fields}


@transaction.atomic
def submit_capture_form(*, capture_form: CaptureForm, answers: Mapping[str, Any]) -> CaptureResult:
    """Create or update the lead with this email from a public submission, and record a "form submitted" event.

    One transaction: a bad value anywhere raises ValidationError and nothing is
    written. ``answers`` are a capture form's cleaned data (email plus question keys).
    """
    email = services.normalize_email(answers.get("email", ""))
    if not email:
        raise ValidationError({"email": [_("Enter your email address.")]})
    lead_answers = {field: answers[key] for key, field in LEAD_ANSWERS.items() if _given(answers.get(key))}
    if answers.get("marketing_consent"):
        lead_answers["marketing_consent"] = True  # a form can give consent, never take it back
    existing = Lead.objects.alias(email_lower=Lower("email")).filter(email_lower=email).first()
    created = False
    if existing is None:
        try:
            lead = services.create_lead(
                data={
                    "email": email,
                    **lead_answers,
                    "company": _company_for(answers),
                    "source": capture_form.source,
                    "campaign": capture_form.campaign,
                },
                qualification=_open_bant_answers(None, answers),
            )
            created = True
        except ValidationError as exc:
            # Two submissions with one new email at once: the second one updates.
            if "email" not in getattr(exc, "error_dict", {}):
                raise
            existing = Lead.objects.alias(email_lower=Lower("email")).filter(email_lower=email).first()
            if existing is None:
                raise
    if existing is not None:
        lead = Lead.objects.select_for_update(of=("self",)).select_related("company").get(pk=existing.pk)
        fill = {name: value for name, value in lead_answers.items() if not getattr(lead, name)}
        if lead.company_id is None:
            company = _company_for(answers)
            if company is not None:
                fill["company"] = company
        if fill:
            lead = services.update_lead(lead=lead, data=fill)
        qual = Qualification.objects.filter(lead=lead).first()
        bant = _open_bant_answers(qual, answers)
        if bant:
            services.update_qualification(lead=lead, data=bant)
    services.record_event(
        lead=lead,
        kind=EventKind.FORM_SUBMITTED,
        metadata={
            "form": capture_form.slug,
            "title": capture_form.title,
            "new_lead": created,
            "answers": {key: _json_safe(value) for key, value in answers.items() if _given(value)},
        },
    )
    return CaptureResult(lead=lead, created=created)
