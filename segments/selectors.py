"""Reads of segments, pipelines, queues, placements and routing jobs that pages, the API and services share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Prefetch, Q, QuerySet
from django.http import Http404

from leads.jobs import JobState
from leads.models import CLOSED_STATUSES, Lead, Team
from leads.roles import is_manager, is_marketer
from leads.selectors import leads_visible_to
from scoring.attributes import AttrType
from scoring.models import LeadScore
from scoring.selectors import get_lead_snapshot

from .attributes import ScoredLeadSnapshot, condition_specs, segment_registry
from .models import (
    LeadPlacement,
    NurtureMembership,
    NurtureQueue,
    Pipeline,
    RoutingDecision,
    RoutingJob,
    Segment,
    Stage,
)

User = AbstractBaseUser | AnonymousUser


@dataclass(frozen=True)
class SegmentSpec:
    """A segment as routing reads it: ORM-free, in match order."""

    id: int
    name: str
    priority: int
    conditions: tuple[dict[str, Any], ...]
    is_fallback: bool
    stage_id: int | None
    pipeline_id: int | None
    queue_id: int | None
    policy_id: int | None

    @property
    def rules(self) -> tuple[Any, ...]:
        return condition_specs(self.conditions)


def list_segment_specs() -> list[SegmentSpec]:
    """Active segments in match order: (priority, id), the fallback last. One query."""
    rows = (
        Segment.objects.filter(active=True)
        .select_related("stage")
        .order_by("is_fallback", "priority", "id")
        .only(
            "id",
            "name",
            "priority",
            "conditions",
            "is_fallback",
            "stage_id",
            "stage__pipeline_id",
            "queue_id",
            "policy_id",
        )
    )
    return [
        SegmentSpec(
            id=s.pk,
            name=s.name,
            priority=s.priority,
            conditions=tuple(s.conditions or ()),
            is_fallback=s.is_fallback,
            stage_id=s.stage_id,
            pipeline_id=s.stage.pipeline_id if s.stage_id else None,
            queue_id=s.queue_id,
            policy_id=s.policy_id,
        )
        for s in rows
    ]


def conditions_window_days(specs: list[SegmentSpec]) -> int:
    """The longest engagement window any condition uses (what the snapshot must load)."""
    registry = segment_registry()
    windows = [
        c.get("window_days") or 30
        for s in specs
        for c in s.conditions
        if registry.get(c["attribute"]) is not None and registry[c["attribute"]].type == AttrType.COUNT
    ]
    return max(windows, default=0)


def list_covered_countries() -> frozenset[str]:
    """Every country some sales team covers."""
    return frozenset(str(code) for team in Team.objects.all() for code in (c.code for c in team.countries))


def get_scored_snapshot(
    *, lead_id: int, now: datetime, window_days: int, covered: frozenset[str] | None = None
) -> ScoredLeadSnapshot | None:
    """The engine's snapshot of one lead plus its stored score and territory coverage."""
    base = get_lead_snapshot(lead_id=lead_id, now=now, window_days=window_days)
    if base is None:
        return None
    score = LeadScore.objects.filter(lead_id=lead_id).values("total", "band", "fit", "engagement", "qualification")
    values = score.first() or {}
    covered = list_covered_countries() if covered is None else covered
    return ScoredLeadSnapshot(
        **{name: getattr(base, name) for name in base.__dataclass_fields__},
        score_total=values.get("total", 0),
        score_band=values.get("band", ""),
        score_fit=values.get("fit", 0),
        score_engagement=values.get("engagement", 0),
        score_qualification=values.get("qualification", 0),
        territory_covered=bool(base.company_country) and base.company_country in covered,
    )


# --- pages and API ------------------------------------------------------------------------


def _require_staff_role(user: User) -> None:
    if not (is_manager(user) or is_marketer(user)):
        raise Http404


def list_segments(*, user: User) -> QuerySet[Segment]:
    """Segments in match order (managers and marketers: all; a rep: those holding a lead they see)."""
    segments = Segment.objects.select_related("stage__pipeline", "queue", "policy").order_by(
        "is_fallback", "priority", "id"
    )
    visible = leads_visible_to(user)
    if not (is_manager(user) or is_marketer(user)):
        segments = segments.filter(id__in=LeadPlacement.objects.filter(lead__in=visible).values("segment_id"))
    return segments


def count_members_by_segment(*, user: User) -> dict[int, int]:
    """Leads per segment, counting only leads the user may see (one grouped query)."""
    rows = (
        LeadPlacement.objects.filter(lead__in=leads_visible_to(user))
        .values("segment_id")
        .annotate(n=Count("lead_id"))
        .order_by()
    )
    return {r["segment_id"]: r["n"] for r in rows}


def list_pipelines(*, user: User) -> QuerySet[Pipeline]:
    """Pipelines with their ordered stages (two queries); every signed-in role reads them."""
    if not user.is_authenticated:
        return Pipeline.objects.none()
    return Pipeline.objects.prefetch_related(Prefetch("stages", queryset=Stage.objects.order_by("position")))


def count_leads_by_stage(*, user: User) -> dict[int, int]:
    rows = (
        LeadPlacement.objects.filter(lead__in=leads_visible_to(user), stage__isnull=False)
        .values("stage_id")
        .annotate(n=Count("lead_id"))
        .order_by()
    )
    return {r["stage_id"]: r["n"] for r in rows}


def list_nurture_queues(*, user: User) -> QuerySet[NurtureQueue]:
    """Queues with their current member count among the leads the user may see (one query)."""
    if not user.is_authenticated:
        return NurtureQueue.objects.none()
    visible = leads_visible_to(user)
    return NurtureQueue.objects.annotate(
        member_count=Count("members", filter=Q(members__left_at__isnull=True, members__lead__in=visible))
    ).order_by("name")


def get_nurture_queue_for_export(*, user: User, queue_id: int) -> NurtureQueue:
    """The queue, or Http404 when it does not exist or the user may not export (reps do not)."""
    _require_staff_role(user)
    try:
        return NurtureQueue.objects.get(pk=queue_id)
    except NurtureQueue.DoesNotExist:
        raise Http404 from None


def list_queue_leads_for_export(*, user: User, queue: NurtureQueue) -> QuerySet[Lead]:
    """Current members of the queue the user may see, without do-not-contact leads."""
    members = NurtureMembership.objects.filter(queue=queue, left_at__isnull=True).values("lead_id")
    return leads_visible_to(user).filter(id__in=members, do_not_contact=False)


def list_leads_for_export(*, user: User, filters: dict[str, Any]) -> QuerySet[Lead]:
    """A filtered lead list the user may see and export, without do-not-contact leads."""
    from .filters import ExportLeadFilter

    _require_staff_role(user)
    leads = leads_visible_to(user).filter(do_not_contact=False)
    filterset = ExportLeadFilter(data=filters, queryset=leads)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return filterset.qs


def list_routing_decisions(*, lead_id: int) -> QuerySet[RoutingDecision]:
    return RoutingDecision.objects.filter(lead_id=lead_id).order_by("-created_at", "-id")


def get_active_routing_job() -> RoutingJob | None:
    return RoutingJob.objects.filter(state__in=[JobState.PENDING, JobState.RUNNING]).order_by("-id").first()


def count_open_leads(*, user_ids: list[int]) -> dict[int, int]:
    """Open (not won, lost or disqualified) leads per owner, for capacity and least-loaded picks."""
    if not user_ids:
        return {}
    rows = (
        Lead.objects.filter(owner_id__in=user_ids)
        .exclude(status__in=CLOSED_STATUSES)
        .values("owner_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = dict.fromkeys(user_ids, 0)
    counts.update({r["owner_id"]: r["n"] for r in rows})
    return counts


def get_lead_max_id() -> int:
    return Lead.objects.aggregate(m=Max("id"))["m"] or 0
