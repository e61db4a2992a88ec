"""Reads of scores, history, rules versions and jobs that pages, the API and services share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import F, Max, Q, QuerySet

from leads.jobs import JobState
from leads.models import EngagementEvent, Lead
from leads.selectors import get_lead_for_user

from .models import LeadScore, RescoreJob, RulesVersion, ScoreHistory
from .snapshot import LeadSnapshot


def get_current_rules_version() -> int:
    return RulesVersion.objects.aggregate(n=Max("number"))["n"] or 0


def get_current_rules_version_key() -> tuple[int, int, str]:
    """(number, row id, created_at): numbers never repeat once committed; the rest guards rolled-back rows."""
    row = RulesVersion.objects.order_by("-number").values_list("number", "id", "created_at").first()
    return (row[0], row[1], row[2].isoformat()) if row else (0, 0, "")


def get_lead_snapshot(*, lead_id: int, now: datetime, window_days: int, lock: bool = False) -> LeadSnapshot | None:
    """Everything the engine reads about one lead, in two queries (three when it has no recent events).

    ``lock`` takes the lead's row lock (inside the caller's transaction).
    """
    found = get_lead_snapshot_and_score(lead_id=lead_id, now=now, window_days=window_days, lock=lock)
    return found[0] if found else None


def get_lead_snapshot_and_score(
    *, lead_id: int, now: datetime, window_days: int, lock: bool = False
) -> tuple[LeadSnapshot, LeadScore | None] | None:
    """The snapshot and the stored score, read in the same queries (the scoring hot path)."""
    if lock and not Lead.objects.select_for_update().filter(pk=lead_id).values_list("pk", flat=True).first():
        return None
    # The lock is taken by its own statement first: a locking read that waited for a writer
    # re-reads only the locked row (the new version) and joins the BANT, company and score
    # rows of its own older snapshot (PostgreSQL, READ COMMITTED), so a score stamped with
    # the new version was computed from the old answers (fault suite, scenario 4). Once the
    # lock is held, this read sees every commit made before it.
    lead = Lead.objects.select_related("company", "qualification", "score").filter(pk=lead_id).first()
    if lead is None:
        return None
    return _snapshot(lead, now=now, window_days=window_days), getattr(lead, "score", None)


def _snapshot(lead: Lead, *, now: datetime, window_days: int) -> LeadSnapshot:
    lead_id = lead.pk
    qual = getattr(lead, "qualification", None)
    company = lead.company
    since = now - timedelta(days=max(window_days, 1))
    recent = list(
        EngagementEvent.objects.filter(lead_id=lead_id, occurred_at__gte=since).values_list("kind", "occurred_at")
    )
    events = tuple((kind, at) for kind, at in recent if at <= now) if window_days else ()
    if recent:
        last = max(at for _kind, at in recent)  # every event newer than `since` is in `recent`
    else:
        last = EngagementEvent.objects.filter(lead_id=lead_id).aggregate(m=Max("occurred_at"))["m"]
    return LeadSnapshot(
        lead_id=lead.pk,
        version=lead.version,
        created_at=lead.created_at,
        email=lead.email,
        job_title=lead.job_title,
        source=lead.source,
        campaign=lead.campaign,
        company_industry=company.industry if company else "",
        company_employees=company.employee_count if company else None,
        company_revenue=company.annual_revenue if company else None,
        company_country=str(company.country.code or "") if company else "",
        company_region=company.region if company else "",
        company_competitor=bool(company.served_by_competitor) if company else False,
        budget=qual.budget if qual else "unknown",
        authority=qual.authority if qual else "unknown",
        need=qual.need if qual else "unknown",
        timing=qual.timing if qual else "unknown",
        bant_met=qual.bant_met if qual else 0,
        decision_date=qual.decision_date if qual else None,
        events=events,
        last_activity_at=last,
        custom=lead.custom or {},
    )


def get_active_job() -> RescoreJob | None:
    return RescoreJob.objects.filter(state__in=[JobState.PENDING, JobState.RUNNING]).order_by("-id").first()


def _rules_covered_upto(version: int) -> int:
    """Lead ids up to this one have been evaluated against ``version`` by its bulk job."""
    job = RescoreJob.objects.filter(rules_version=version).exclude(state=JobState.SUPERSEDED).order_by("-id").first()
    if job is None:
        return 0
    if job.state == JobState.DONE:
        return 2**62
    return job.cursor


def list_stale_lead_ids(*, limit: int = 50_000) -> list[int]:
    """Leads with no score, a score older than the lead, or older than rules no job is applying."""
    version = get_current_rules_version()
    stale = Q(score__isnull=True) | Q(score__lead_version__lt=F("version"))
    job_exists = RescoreJob.objects.filter(rules_version=version).exclude(state=JobState.SUPERSEDED).exists()
    if not job_exists:
        # Nobody is applying the current rules (no job was started): every older score is stale.
        stale |= Q(score__rules_version__lt=version)
    return list(Lead.objects.filter(stale).order_by("id").values_list("id", flat=True)[:limit])


def effective_rules_version(score: LeadScore) -> int:
    """A bulk job writes only changed rows; rows it passed unchanged are current too."""
    version = get_current_rules_version()
    if score.rules_version >= version:
        return score.rules_version
    return version if score.lead_id <= _rules_covered_upto(version) else score.rules_version


@dataclass(frozen=True)
class FiredView:
    rule_id: int
    name: str
    category: str
    points: int


def fired_rules(score: LeadScore) -> list[FiredView]:
    """The rules that fired, with names and points as they were in the version that scored the lead."""
    version = RulesVersion.objects.filter(number=score.rules_version).values_list("snapshot", flat=True).first()
    by_id: dict[int, dict[str, Any]] = {r["id"]: r for r in (version or {}).get("rules", [])}
    views = []
    for rule_id in score.fired_ids:
        rule = by_id.get(rule_id)
        if rule is not None:
            views.append(FiredView(rule_id, rule["name"], rule["category"], rule["points"]))
    return views


def get_lead_score(*, user: AbstractBaseUser | AnonymousUser, lead_id: int) -> LeadScore | None:
    """The lead's score (Http404 when the user may not see the lead); None when not scored yet."""
    lead = get_lead_for_user(user=user, lead_id=lead_id)
    return LeadScore.objects.filter(lead=lead).first()


def list_score_history(*, user: AbstractBaseUser | AnonymousUser, lead_id: int) -> QuerySet[ScoreHistory]:
    lead = get_lead_for_user(user=user, lead_id=lead_id)
    return ScoreHistory.objects.filter(lead=lead).order_by("-created_at", "-id")
