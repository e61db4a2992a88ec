"""Every write with business meaning on teams, companies, leads, BANT and events.

Contract for lead writes: each committed change bumps ``Lead.version`` and
sends ``leads.signals.lead_changed`` exactly once, after the commit; a rolled
back change sends nothing. Bad values raise ``ValidationError`` with a message
per field, never ``IntegrityError``. ``Lead.first_touched_at`` is kept here too
(see ``leads.models.FIRST_TOUCH_KINDS``): by ``record_events`` for calls and
meetings and by ``update_lead`` for status changes from and back to New.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Expression, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce, Least
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import (
    FIRST_TOUCH_KINDS,
    Company,
    EngagementEvent,
    EventKind,
    Lead,
    LeadStatus,
    Membership,
    Qualification,
    Team,
)
from .roles import Role
from .signals import lead_changed, lead_status_changed

User = AbstractBaseUser

# Fields a caller may write through create_lead / update_lead. Anything else
# (version, timestamps, ids) is refused with a field error.
LEAD_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "phone",
        "job_title",
        "company",
        "source",
        "campaign",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "owner",
        "team",
        "status",
        "status_reason",
        "do_not_contact",
        "marketing_consent",
    }
)
COMPANY_FIELDS = frozenset(
    {
        "name",
        "domain",
        "industry",
        "industry_other",
        "employee_count",
        "annual_revenue",
        "revenue_currency",
        "country",
        "region",
        "served_by_competitor",
        "competitor_name",
        "notes",
    }
)
# Each BANT criterion and the fields that belong to it: writing any of them
# stamps that criterion's recorded_by / recorded_at.
BANT_CRITERIA: dict[str, tuple[str, ...]] = {
    "budget": ("budget", "budget_amount", "budget_currency", "budget_notes"),
    "authority": ("authority", "decision_maker", "authority_notes"),
    "need": ("need", "need_pain", "need_notes"),
    "timing": ("timing", "decision_date", "timing_notes"),
}
QUALIFICATION_FIELDS = frozenset(f for fields in BANT_CRITERIA.values() for f in fields)


# --- normalisation -----------------------------------------------------------------


def normalize_email(value: str) -> str:
    """Trimmed and lower-cased: emails are matched case-insensitively."""
    return (value or "").strip().lower()


_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def normalize_domain(value: str) -> str:
    """``https://WWW.Acme.com/about`` -> ``acme.com``; raises ValidationError when not a domain."""
    raw = (value or "").strip().lower()
    if not raw:
        return ""
    if "://" not in raw:
        raw = "//" + raw
    host = (urlsplit(raw).hostname or "").rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        host = ""
    if not _DOMAIN_RE.match(host):
        raise ValidationError({"domain": _("Enter a website domain such as example.com.")})
    return host


def normalize_phone(value: Any, *, region: str | None = None) -> str:
    """E.164 (``+48601234567``); a number without a country code is read in ``region``."""
    if value in (None, ""):
        return ""
    raw = str(value).strip()
    try:
        number = phonenumbers.parse(raw, region or settings.LEADQUAL_DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        raise ValidationError({"phone": _("Enter a valid phone number, e.g. +48 601 234 567.")}) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError({"phone": _("Enter a valid phone number, e.g. +48 601 234 567.")})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- teams and roles -----------------------------------------------------------------


def create_team(*, name: str, countries: Sequence[str] = (), regions: Sequence[str] = ()) -> Team:
    team = Team(name=(name or "").strip(), countries=list(countries), regions=[r.strip() for r in regions if r.strip()])
    team.full_clean()
    team.save()
    return team


def assign_role(*, user: User, role: Role) -> None:
    group, _created = Group.objects.get_or_create(name=role.value)
    user.groups.add(group)  # type: ignore[attr-defined]
    if hasattr(user, "_leadqual_roles"):
        del user._leadqual_roles


def set_team_membership(*, user: User, team: Team | None) -> None:
    if team is None:
        Membership.objects.filter(user=user).delete()
        return
    Membership.objects.update_or_create(user=user, defaults={"team": team})


# --- notification ----------------------------------------------------------------------


def _notify_lead_changed(lead_ids: Iterable[int], *, reason: str) -> None:
    """Send ``lead_changed`` once, after the surrounding transaction commits."""
    ids = tuple(sorted(set(lead_ids)))
    if not ids:
        return
    transaction.on_commit(lambda: lead_changed.send(sender=Lead, lead_ids=ids, reason=reason))


def _notify_status_changed(lead_id: int, old_status: str, new_status: str, version: int) -> None:
    """Send ``lead_status_changed`` after the surrounding transaction commits."""
    changes = ((lead_id, old_status, new_status, version),)
    transaction.on_commit(lambda: lead_status_changed.send(sender=Lead, changes=changes))


def bump_lead_versions(*, lead_ids: Iterable[int], reason: str, **also: Expression) -> None:
    """Mark leads changed by something outside their row (company edit, new events).

    ``also``: more columns to set in the same UPDATE (expressions over each lead's row).
    """
    ids = list(set(lead_ids))
    if not ids:
        return
    Lead.objects.filter(id__in=ids).update(version=F("version") + 1, updated_at=timezone.now(), **also)
    _notify_lead_changed(ids, reason=reason)


# --- first touch ------------------------------------------------------------------------


def _earliest(first: Any, second: Any) -> Least:
    """The earlier of two datetimes, ignoring a NULL one (NULL when both are).

    PostgreSQL's LEAST skips NULLs, SQLite's MIN() returns NULL for any: coalescing each with the
    other gives the same answer on both.
    """
    return Least(Coalesce(first, second), Coalesce(second, first))


def _first_call(lead: Lead | None = None) -> QuerySet[EngagementEvent]:
    """The first call or meeting logged at or after the lead's creation (``lead`` None: the outer row's)."""
    if lead is None:
        events = EngagementEvent.objects.filter(lead_id=OuterRef("pk"), occurred_at__gte=OuterRef("created_at"))
    else:
        events = EngagementEvent.objects.filter(lead_id=lead.pk, occurred_at__gte=lead.created_at)
    return events.filter(kind__in=FIRST_TOUCH_KINDS).order_by("occurred_at")


def _first_touch_after_status_change(lead: Lead, *, old_status: str, now: datetime) -> datetime | None:
    """``lead.first_touched_at`` once its status changed from ``old_status`` to ``lead.status`` at ``now``.

    Away from New, the lead's first change away from New is a touch: this one, or an earlier one
    when the lead went back to New since (its field history says which). A lead created in another
    status never changed away from New. Back to New, only calls and meetings count.
    """
    if old_status == LeadStatus.NEW:
        first_not_new = (
            Lead.history.filter(id=lead.pk)
            .exclude(status=LeadStatus.NEW)
            .order_by("history_date", "history_id")
            .values_list("history_type", "history_date")
            .first()
        )
        if first_not_new is None:
            changed_at: datetime | None = now
        else:
            history_type, history_date = first_not_new
            changed_at = history_date if history_type == "~" else None
        touches = [t for t in (lead.first_touched_at, changed_at) if t is not None]
        return min(touches) if touches else None
    if lead.status == LeadStatus.NEW and lead.first_touched_at is not None:
        return _first_call(lead).values_list("occurred_at", flat=True).first()
    return lead.first_touched_at


# --- companies -------------------------------------------------------------------------


def _check_fields(data: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError({name: _("This field cannot be written.") for name in unknown})


def _apply_company_data(company: Company, data: Mapping[str, Any]) -> list[str]:
    _check_fields(data, COMPANY_FIELDS)
    changed = []
    for name, value in data.items():
        if name == "domain":
            value = normalize_domain(value)
        elif isinstance(value, str) and name not in ("notes",):
            value = value.strip()
        if getattr(company, name) != value:
            setattr(company, name, value)
            changed.append(name)
    return changed


def create_company(*, data: Mapping[str, Any], acting_user: User | None = None) -> Company:
    company = Company()
    _apply_company_data(company, data)
    company.full_clean()
    company._history_user = acting_user  # type: ignore[attr-defined]
    company.save()
    return company


@transaction.atomic
def update_company(*, company: Company, data: Mapping[str, Any], acting_user: User | None = None) -> Company:
    """Save the changed fields; every lead of the company changes with it (its fit does)."""
    company = Company.objects.select_for_update().get(pk=company.pk)
    changed = _apply_company_data(company, data)
    if not changed:
        return company
    company.full_clean()
    company._history_user = acting_user  # type: ignore[attr-defined]
    company.save(update_fields=[*changed, "updated_at"])
    bump_lead_versions(lead_ids=company.leads.values_list("id", flat=True), reason="company_updated")
    return company


# --- leads -----------------------------------------------------------------------------


def _phone_region(lead: Lead) -> str | None:
    if lead.company_id and lead.company and lead.company.country:
        return str(lead.company.country.code)
    return None


def _apply_lead_data(lead: Lead, data: Mapping[str, Any]) -> list[str]:
    """Set normalised values on ``lead``; return the names of the fields that changed."""
    _check_fields(data, LEAD_FIELDS)
    changed = []
    if "company" in data:
        company = data["company"]
        if (company.pk if company else None) != lead.company_id:
            lead.company = company
            changed.append("company")
    for name, value in data.items():
        if name == "company":
            continue
        if name == "email":
            value = normalize_email(value)
        elif name == "phone":
            value = normalize_phone(value, region=_phone_region(lead))
        elif isinstance(value, str):
            value = value.strip()
        current = getattr(lead, name)
        if name == "phone":
            current = str(current) if current else ""
        if current != value:
            setattr(lead, name, value)
            changed.append(name)
    # An owner brings their team when the lead has none.
    if "owner" in changed and lead.owner is not None and lead.team_id is None:
        membership = Membership.objects.filter(user=lead.owner).select_related("team").first()
        if membership:
            lead.team = membership.team
            changed.append("team")
    if "status" in changed and lead.status not in (LeadStatus.LOST, LeadStatus.DISQUALIFIED) and lead.status_reason:
        lead.status_reason = ""
        changed.append("status_reason")
    return changed


def _validate_lead(lead: Lead) -> None:
    errors: dict[str, list[str]] = {}
    if lead.status in (LeadStatus.LOST, LeadStatus.DISQUALIFIED) and not lead.status_reason:
        errors["status_reason"] = [_("Give a reason when a lead is lost or disqualified.")]
    if lead.owner is not None and not lead.owner.is_active:
        errors["owner"] = [_("An inactive user cannot own leads.")]
    try:
        lead.full_clean(validate_constraints=True)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            key = "email" if "email already exists" in " ".join(messages) else name
            if key == "__all__" and "status_reason" in errors:
                continue
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def _save_or_field_error(instance: Lead, **kwargs: Any) -> None:
    """Save; a race on the unique email becomes a field error, not an IntegrityError."""
    try:
        with transaction.atomic():
            instance.save(**kwargs)
    except IntegrityError as exc:
        if "email" in str(exc).lower():
            raise ValidationError({"email": [_("A lead with this email already exists.")]}) from exc
        raise


@transaction.atomic
def create_lead(
    *,
    data: Mapping[str, Any],
    qualification: Mapping[str, Any] | None = None,
    acting_user: User | None = None,
) -> Lead:
    """Create a lead with its (possibly empty) BANT qualification."""
    lead = Lead()
    _apply_lead_data(lead, data)
    _validate_lead(lead)
    lead._history_user = acting_user  # type: ignore[attr-defined]
    _save_or_field_error(lead)
    qual = Qualification(lead=lead)
    if qualification:
        _apply_qualification_data(qual, qualification, acting_user=acting_user)
        qual.full_clean(exclude=["lead"])
    qual._history_user = acting_user  # type: ignore[attr-defined]
    qual.save()
    _notify_lead_changed([lead.pk], reason="lead_created")
    _notify_status_changed(lead.pk, "", lead.status, lead.version)
    return lead


@transaction.atomic
def update_lead(*, lead: Lead | int, data: Mapping[str, Any], acting_user: User | None = None) -> Lead:
    """Save only the fields that changed, on the locked row, and bump the version.

    Locking and writing only changed fields keeps two users who edit different
    fields of one lead at the same time from losing either edit.
    """
    lead_id = lead if isinstance(lead, int) else lead.pk
    locked = Lead.objects.select_for_update(of=("self",)).select_related("company").get(pk=lead_id)
    old_status = locked.status
    changed = _apply_lead_data(locked, data)
    if not changed:
        return locked
    _validate_lead(locked)
    locked.version += 1
    locked._history_user = acting_user  # type: ignore[attr-defined]
    if "status" in changed:
        now = timezone.now()
        # The history record of this change carries the same time as the first touch it may be.
        locked._history_date = now  # type: ignore[attr-defined]
        first_touch = _first_touch_after_status_change(locked, old_status=old_status, now=now)
        if first_touch != locked.first_touched_at:
            locked.first_touched_at = first_touch
            changed.append("first_touched_at")
    try:
        _save_or_field_error(locked, update_fields=[*set(changed), "version", "updated_at"])
    finally:
        # Only this save's history record takes that time, not a later save of the same instance.
        locked.__dict__.pop("_history_date", None)
    _notify_lead_changed([locked.pk], reason="lead_updated")
    if "status" in changed:
        _notify_status_changed(locked.pk, old_status, locked.status, locked.version)
    return locked


@transaction.atomic
def delete_lead(*, lead: Lead, acting_user: User | None = None) -> None:
    lead._history_user = acting_user  # type: ignore[attr-defined]
    lead.delete()


# --- qualification ---------------------------------------------------------------------


def _apply_qualification_data(qual: Qualification, data: Mapping[str, Any], *, acting_user: User | None) -> list[str]:
    _check_fields(data, QUALIFICATION_FIELDS)
    changed = []
    for name, value in data.items():
        if isinstance(value, str):
            value = value.strip()
        if name in ("budget_amount", "decision_date") and value == "":
            value = None
        if getattr(qual, name) != value:
            setattr(qual, name, value)
            changed.append(name)
    now = timezone.now()
    for criterion, fields in BANT_CRITERIA.items():
        if any(f in changed for f in fields):
            setattr(qual, f"{criterion}_recorded_by", acting_user if acting_user and acting_user.pk else None)
            setattr(qual, f"{criterion}_recorded_at", now)
            changed += [f"{criterion}_recorded_by", f"{criterion}_recorded_at"]
    return changed


@transaction.atomic
def update_qualification(
    *, lead: Lead | int, data: Mapping[str, Any], acting_user: User | None = None
) -> Qualification:
    """Save the BANT answers that changed, stamp who and when, bump the lead version."""
    lead_id = lead if isinstance(lead, int) else lead.pk
    locked_lead = Lead.objects.select_for_update().get(pk=lead_id)
    qual, _created = Qualification.objects.select_for_update().get_or_create(lead=locked_lead)
    changed = _apply_qualification_data(qual, data, acting_user=acting_user)
    if not changed:
        return qual
    qual.full_clean(exclude=["lead"])
    qual._history_user = acting_user  # type: ignore[attr-defined]
    qual.save(update_fields=changed)
    qual.refresh_from_db(fields=["bant_met"])
    Lead.objects.filter(pk=lead_id).update(version=F("version") + 1, updated_at=timezone.now())
    _notify_lead_changed([lead_id], reason="qualification_updated")
    return qual


# --- engagement events -----------------------------------------------------------------


@dataclass(frozen=True)
class EventInput:
    lead_id: int
    kind: str
    occurred_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)
    client_event_id: str | None = None


def _validate_event(event: EventInput) -> None:
    errors: dict[str, str] = {}
    if event.kind not in EventKind.values:
        errors["kind"] = _("Unknown event kind %(kind)r.") % {"kind": event.kind}
    if not isinstance(event.occurred_at, datetime) or timezone.is_naive(event.occurred_at):
        errors["occurred_at"] = _("Give a date and time with a time zone.")
    elif event.occurred_at > timezone.now() + timedelta(minutes=5):
        errors["occurred_at"] = _("An event cannot happen in the future.")
    if not isinstance(event.metadata, dict):
        errors["metadata"] = _("Metadata must be a JSON object.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def record_events(*, events: Sequence[EventInput]) -> list[EngagementEvent]:
    """Store a batch of events; a client event id already stored is skipped.

    Returns the events created. Leads that got a new event change version once.
    """
    for event in events:
        _validate_event(event)
    lead_ids = {e.lead_id for e in events}
    existing = set(Lead.objects.filter(id__in=lead_ids).values_list("id", flat=True))
    missing = lead_ids - existing
    if missing:
        raise ValidationError({"lead": _("Unknown lead ids: %(ids)s.") % {"ids": sorted(missing)}})
    client_ids = [e.client_event_id for e in events if e.client_event_id]
    seen = set(EngagementEvent.objects.filter(client_event_id__in=client_ids).values_list("client_event_id", flat=True))
    to_create = []
    for e in events:
        if e.client_event_id:
            if e.client_event_id in seen:
                continue
            seen.add(e.client_event_id)
        to_create.append(
            EngagementEvent(
                lead_id=e.lead_id,
                kind=e.kind,
                occurred_at=e.occurred_at,
                metadata=e.metadata,
                client_event_id=e.client_event_id or None,
            )
        )
    created = EngagementEvent.objects.bulk_create(to_create)
    also: dict[str, Expression] = {}
    if any(e.kind in FIRST_TOUCH_KINDS for e in to_create):
        # Set-based, in the version bump's UPDATE: each lead's first call or meeting since its
        # creation (the stored ones included), when earlier than its first touch so far.
        first_call = Subquery(_first_call().values("occurred_at")[:1])
        also["first_touched_at"] = _earliest(F("first_touched_at"), first_call)
    bump_lead_versions(lead_ids={e.lead_id for e in to_create}, reason="events_recorded", **also)
    return created


def record_event(
    *,
    lead: Lead | int,
    kind: str,
    occurred_at: datetime | None = None,
    metadata: dict[str, Any] | None = None,
    client_event_id: str | None = None,
) -> EngagementEvent | None:
    """One event; None when its client event id was already stored."""
    lead_id = lead if isinstance(lead, int) else lead.pk
    created = record_events(
        events=[
            EventInput(
                lead_id=lead_id,
                kind=kind,
                occurred_at=occurred_at or timezone.now(),
                metadata=metadata or {},
                client_event_id=client_event_id,
            )
        ]
    )
    return created[0] if created else None
