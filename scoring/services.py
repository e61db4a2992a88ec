"""The only writers of rules, rules versions, lead scores, score history and rescore jobs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.jobs import commit_without_flush_wait, resume_stalled_sweep_jobs, run_sweep_job, start_sweep_job
from leads.models import Lead

from . import compiler
from .attributes import get_attribute
from .engine import BandSpec, CategoryCap, RuleSet, RuleSpec, ScoreResult, evaluate
from .models import (
    CategoryCapSetting,
    LeadScore,
    PointRule,
    RescoreJob,
    RulesVersion,
    ScoreBand,
    ScoreChangeReason,
    ScoreHistory,
)
from .pending import pending_leads
from .selectors import (
    get_current_rules_version,
    get_current_rules_version_key,
    get_lead_snapshot_and_score,
    list_stale_lead_ids,
)
from .signals import band_changed, rescore_finished, score_changed

logger = logging.getLogger(__name__)
User = AbstractBaseUser

RULE_FIELDS = frozenset(
    {"name", "attribute", "operator", "value", "window_days", "points", "category", "active", "notes"}
)


# --- rules -----------------------------------------------------------------------------


def validate_rule_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Check a rule's attribute, operator, value and window; return the cleaned data."""
    unknown = sorted(set(data) - RULE_FIELDS)
    if unknown:
        raise ValidationError({name: _("This field cannot be written.") for name in unknown})
    cleaned = dict(data)
    errors: dict[str, Any] = {}
    try:
        attribute = get_attribute(str(data.get("attribute", "")))
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from None
    try:
        cleaned["value"] = attribute.parse_value(str(data.get("operator", "")), data.get("value"))
    except ValidationError as exc:
        errors.update(exc.message_dict)
    except ValueError:
        errors["operator"] = [_("Choose an operator.")]
    window = data.get("window_days")
    if attribute.needs_window:
        if window in (None, ""):
            errors["window_days"] = [_("Engagement counts need a window, e.g. 30 days.")]
    elif window not in (None, ""):
        errors["window_days"] = [_("Only engagement counts take a window.")]
    else:
        cleaned["window_days"] = None
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def save_point_rule(
    *, rule: PointRule | None = None, data: Mapping[str, Any], acting_user: User | None = None
) -> PointRule:
    """Create or change a rule; the rules version bumps and a bulk rescore starts after commit."""
    rule = rule or PointRule()
    merged = {name: getattr(rule, name) for name in RULE_FIELDS if rule.pk} | dict(data)
    cleaned = validate_rule_data(merged)
    for name, value in cleaned.items():
        setattr(rule, name, value)
    rule.full_clean()
    rule._history_user = acting_user  # type: ignore[attr-defined]
    rule.save()
    bump_rules_version(reason=_("Rule “%(name)s” saved") % {"name": rule.name})
    return rule


@transaction.atomic
def delete_point_rule(*, rule: PointRule, acting_user: User | None = None) -> None:
    name = rule.name
    rule._history_user = acting_user  # type: ignore[attr-defined]
    rule.delete()
    bump_rules_version(reason=_("Rule “%(name)s” deleted") % {"name": name})


@transaction.atomic
def save_category_cap(*, category: str, minimum: int, maximum: int) -> CategoryCapSetting:
    cap = CategoryCapSetting.objects.filter(category=category).first() or CategoryCapSetting(category=category)
    cap.minimum, cap.maximum = minimum, maximum
    cap.full_clean(validate_unique=False)
    if cap.minimum > cap.maximum:
        raise ValidationError({"minimum": _("The minimum cannot exceed the maximum.")})
    cap.save()
    bump_rules_version(reason=_("Cap of %(category)s changed") % {"category": category})
    return cap


@transaction.atomic
def save_score_band(*, band: ScoreBand | None = None, name: str, min_score: int, description: str = "") -> ScoreBand:
    band = band or ScoreBand()
    band.name, band.min_score, band.description = name.strip(), min_score, description
    band.full_clean()
    band.save()
    bump_rules_version(reason=_("Band %(name)s changed") % {"name": band.name})
    return band


@transaction.atomic
def delete_score_band(*, band: ScoreBand) -> None:
    band.delete()
    bump_rules_version(reason=_("Band %(name)s deleted") % {"name": band.name})


@transaction.atomic
def replace_rule_set(
    *, rules: Iterable[Mapping[str, Any]], acting_user: User | None = None, start_job: bool = True
) -> RulesVersion:
    """Swap every rule for ``rules`` in one change: one version bump, one bulk job."""
    cleaned = [validate_rule_data(r) for r in rules]
    PointRule.objects.all().delete()
    for data in cleaned:
        rule = PointRule(**data)
        rule.full_clean()
        rule._history_user = acting_user  # type: ignore[attr-defined]
        rule.save()
    return bump_rules_version(reason=_("Rule set replaced"), start_job=start_job)


def _rule_set_snapshot() -> dict[str, Any]:
    rules = PointRule.objects.filter(active=True).order_by("id")
    return {
        "rules": [
            {
                "id": r.pk,
                "name": r.name,
                "attribute": r.attribute,
                "operator": r.operator,
                "value": r.value,
                "points": r.points,
                "category": r.category,
                "window_days": r.window_days,
            }
            for r in rules
        ],
        "caps": {c.category: [c.minimum, c.maximum] for c in CategoryCapSetting.objects.all()},
        "bands": [[b.name, b.min_score] for b in ScoreBand.objects.order_by("-min_score")],
    }


def bump_rules_version(*, reason: str, start_job: bool = True) -> RulesVersion:
    """Record the rule set as a new version; after commit, one bulk job rescores every lead."""
    with transaction.atomic():
        latest = RulesVersion.objects.select_for_update().order_by("-number").first()
        version = RulesVersion.objects.create(
            number=(latest.number + 1) if latest else 1, reason=reason[:200], snapshot=_rule_set_snapshot()
        )
        if start_job:
            start_rescore_job(rules_version=version.number, reason=ScoreChangeReason.RULE_CHANGE)
    return version


_RULE_SET_CACHE: dict[tuple[int, int, str], RuleSet] = {}


def rule_set_from_snapshot(number: int, snapshot: Mapping[str, Any]) -> RuleSet:
    return RuleSet(
        version=number,
        rules=tuple(RuleSpec(**r) for r in snapshot.get("rules", [])),
        caps={c: CategoryCap(minimum=lo, maximum=hi) for c, (lo, hi) in snapshot.get("caps", {}).items()},
        bands=tuple(BandSpec(name=n, min_score=m) for n, m in snapshot.get("bands", [])),
    )


def load_rule_set(number: int | None = None) -> RuleSet:
    """The rule set of a version (the current one by default), cached per process.

    Costs one small query when cached: the current version's key.
    """
    if number is None:
        key = get_current_rules_version_key()
    else:
        row = RulesVersion.objects.filter(number=number).values_list("id", "created_at").first()
        key = (number, row[0], row[1].isoformat()) if row else (number, 0, "")
    cached = _RULE_SET_CACHE.get(key)
    if cached is not None:
        return cached
    row = RulesVersion.objects.filter(id=key[1]).first()
    rule_set = rule_set_from_snapshot(key[0], row.snapshot if row else {})
    if len(_RULE_SET_CACHE) > 32:
        _RULE_SET_CACHE.clear()
    _RULE_SET_CACHE[key] = rule_set
    return rule_set


# --- one lead ----------------------------------------------------------------------------


def fired_text(result: ScoreResult) -> str:
    return "," + "".join(f"{rule_id}," for rule_id in result.fired_ids)


def score_lead(
    *, lead_id: int, reason: str = ScoreChangeReason.LEAD_CHANGE, now: datetime | None = None
) -> LeadScore | None:
    """Score one lead with the current rules and store it, unless a newer score is stored.

    Idempotent: a duplicate or out-of-order task changes nothing. A score is
    newer when its (lead version, rules version) is greater. Returns the stored
    score, or None when the lead no longer exists.
    """
    now = now or timezone.now()
    with transaction.atomic():
        commit_without_flush_wait()  # scores are derived: the sweep redoes a lost one
        rules = load_rule_set()
        # The lead's row lock orders score writes per lead and pins the version we read.
        found = get_lead_snapshot_and_score(lead_id=lead_id, now=now, window_days=rules.max_window_days, lock=True)
        if found is None:
            return None
        snapshot, current = found
        if current and (current.lead_version, current.rules_version) >= (snapshot.version, rules.version):
            return current
        result = evaluate(snapshot, rules, now=now)
        return _store_score(
            lead_id=lead_id, current=current, result=result, rules=rules, lead_version=snapshot.version, reason=reason
        )


def _values(score: LeadScore) -> tuple:
    return (score.total, score.fit, score.engagement, score.qualification, score.band, score.fired)


def _store_score(
    *,
    lead_id: int,
    current: LeadScore | None,
    result: ScoreResult,
    rules: RuleSet,
    lead_version: int,
    reason: str,
) -> LeadScore:
    now = timezone.now()
    fields = {
        "total": result.total,
        "fit": result.parts["fit"],
        "engagement": result.parts["engagement"],
        "qualification": result.parts["qualification"],
        "band": result.band,
        "fired": fired_text(result),
        "rules_version": rules.version,
        "lead_version": lead_version,
        "computed_at": now,
    }
    old_total = current.total if current is not None else None
    old_band = current.band if current is not None else ""
    old_values = _values(current) if current is not None else None
    if current is None:
        score = LeadScore.objects.create(lead_id=lead_id, **fields)
    else:
        for name, value in fields.items():
            setattr(current, name, value)
        current.save()
        score = current
    if current is None or old_values != _values(score):
        _notify_score_changed([lead_id], reason=reason)
    if old_band != score.band:
        _notify_band_changed([(lead_id, old_band, score.band, lead_version, rules.version)], reason=reason)
    if current is None or old_total != result.total:
        ScoreHistory.objects.create(
            lead_id=lead_id,
            old_total=old_total,
            total=result.total,
            band=result.band,
            reason=reason,
            rules_version=rules.version,
            lead_version=lead_version,
            created_at=now,
        )
    return score


# --- many leads, set-based -----------------------------------------------------------------


@dataclass(frozen=True)
class BulkScoreOutcome:
    changed_lead_ids: list[int]  # leads whose stored score (any part, band or fired list) changed
    totals_changed: int  # history rows written
    # (lead_id, old band or "", new band, lead version) of the leads whose band changed
    band_changes: list[tuple[int, str, str, int]] = field(default_factory=list)


def apply_scores_sql(
    *,
    leads: QuerySet[Lead],
    rules: RuleSet,
    reason: str,
    now: datetime | None = None,
    id_range: tuple[int, int] | None = None,
) -> BulkScoreOutcome:
    """Rescore ``leads`` in the database with one statement set.

    Only rows whose score (or lead version) changes are written, a row scored
    with newer rules or a newer lead version is never overwritten, and every
    change of total gets a history row. Sends ``score_changed`` after commit.
    """
    now = now or timezone.now()
    select_sql, params = compiler.score_select(rules, now, leads, id_range=id_range)
    columns = "lead_id, total, fit, engagement, qualification, band, fired, rules_version, lead_version, computed_at"
    values = "id, total, fit, engagement, qualification, band, fired, %s, version, %s"
    distinct = (
        "(s.total, s.fit, s.engagement, s.qualification, s.band, s.fired) IS DISTINCT FROM "
        "(excluded.total, excluded.fit, excluded.engagement, excluded.qualification, excluded.band, excluded.fired) "
        "OR s.lead_version < excluded.lead_version"
    )
    guard = "s.rules_version <= excluded.rules_version AND s.lead_version <= excluded.lead_version"
    update = (
        "total = excluded.total, fit = excluded.fit, engagement = excluded.engagement, "
        "qualification = excluded.qualification, band = excluded.band, fired = excluded.fired, "
        "rules_version = excluded.rules_version, lead_version = excluded.lead_version, "
        "computed_at = excluded.computed_at"
    )
    history_cols = "lead_id, old_total, total, band, reason, rules_version, lead_version, created_at"
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Data-modifying CTEs. Existing rows are UPDATEd only where the score changes
            # (INSERT ... ON CONFLICT DO UPDATE would lock and dirty every unchanged row
            # too); new ones are INSERTed. The history insert still sees the old rows of
            # scoring_leadscore, so it gets the old total in the same pass.
            set_new = (
                "total = n.total, fit = n.fit, engagement = n.engagement, qualification = n.qualification, "
                "band = n.band, fired = n.fired, rules_version = %s, lead_version = n.version, computed_at = %s"
            )
            changed_where = (
                "((s.total, s.fit, s.engagement, s.qualification, s.band, s.fired) IS DISTINCT FROM "
                "(n.total, n.fit, n.engagement, n.qualification, n.band, n.fired) OR s.lead_version < n.version) "
                "AND s.rules_version <= %s AND s.lead_version <= n.version"
            )
            sql = (
                f"WITH n AS ({select_sql}), "  # noqa: S608 -- generated aliases and parameters only
                f"upd AS (UPDATE scoring_leadscore s SET {set_new} FROM n "
                f"WHERE s.lead_id = n.id AND {changed_where} "
                f"RETURNING s.lead_id, s.total, s.band, s.lead_version), "
                # A conflict here means a concurrent scoring inserted the lead's first score after
                # this statement's snapshot (so upd above could not see it): take it over under the
                # same guard, or the older of the two stays stored and looks current.
                f"ins AS (INSERT INTO scoring_leadscore AS s ({columns}) SELECT {values} FROM n "
                f"WHERE NOT EXISTS (SELECT 1 FROM scoring_leadscore x WHERE x.lead_id = n.id) "
                f"ON CONFLICT (lead_id) DO UPDATE SET {update} WHERE ({distinct}) AND {guard} "
                f"RETURNING s.lead_id, s.total, s.band, s.lead_version), "
                f"changed AS (SELECT * FROM upd UNION ALL SELECT * FROM ins), "
                f"h AS (INSERT INTO scoring_scorehistory ({history_cols}) "
                f"SELECT c.lead_id, o.total, c.total, c.band, %s, %s, c.lead_version, %s "
                f"FROM changed c LEFT JOIN scoring_leadscore o ON o.lead_id = c.lead_id "
                f"WHERE o.total IS DISTINCT FROM c.total RETURNING 1) "
                # The main query still sees the old rows too: o.band is the band before.
                f"SELECT c.lead_id, (SELECT count(*) FROM h), COALESCE(o.band, ''), c.band, c.lead_version "
                f"FROM changed c LEFT JOIN scoring_leadscore o ON o.lead_id = c.lead_id"
            )
            cursor.execute(
                sql, [*params, rules.version, now, rules.version, rules.version, now, reason, rules.version, now]
            )
            rows = cursor.fetchall()
            band_changes = [(r[0], r[2], r[3], r[4]) for r in rows if r[2] != r[3]]
            outcome = BulkScoreOutcome([r[0] for r in rows], rows[0][1] if rows else 0, band_changes)
        else:
            cursor.execute("CREATE TEMP TABLE IF NOT EXISTS scoring_chunk AS " + select_sql + " LIMIT 0", params)
            cursor.execute("DELETE FROM scoring_chunk")
            cursor.execute("INSERT INTO scoring_chunk " + select_sql, params)
            cursor.execute(
                "SELECT n.id, COALESCE(s.band, ''), n.band, n.version "
                "FROM scoring_chunk n LEFT JOIN scoring_leadscore s ON s.lead_id = n.id "
                "WHERE s.lead_id IS NULL OR (("
                + distinct.replace("excluded.lead_version", "n.version").replace("excluded.", "n.")
                + ") AND s.rules_version <= %s AND s.lead_version <= n.version)",
                [rules.version],
            )
            changed_rows = cursor.fetchall()
            changed_ids = [r[0] for r in changed_rows]
            band_changes = [(r[0], r[1], r[2], r[3]) for r in changed_rows if r[1] != r[2]]
            cursor.execute(
                f"INSERT INTO scoring_scorehistory ({history_cols}) "  # noqa: S608
                "SELECT n.id, s.total, n.total, n.band, %s, %s, n.version, %s FROM scoring_chunk n "
                "LEFT JOIN scoring_leadscore s ON s.lead_id = n.id "
                "WHERE s.lead_id IS NULL OR (s.total IS DISTINCT FROM n.total "
                "AND s.rules_version <= %s AND s.lead_version <= n.version)",
                [reason, rules.version, now, rules.version],
            )
            totals_changed = cursor.rowcount
            cursor.execute(
                f"INSERT INTO scoring_leadscore AS s ({columns}) SELECT {values} FROM scoring_chunk WHERE true "  # noqa: S608
                f"ON CONFLICT (lead_id) DO UPDATE SET {update} WHERE ({distinct}) AND {guard}",
                [rules.version, now],
            )
            outcome = BulkScoreOutcome(changed_ids, totals_changed, band_changes)
        _notify_score_changed(outcome.changed_lead_ids, reason=reason)
        _notify_band_changed([(*c, rules.version) for c in outcome.band_changes], reason=reason)
    return outcome


def _notify_score_changed(lead_ids: Iterable[int], *, reason: str) -> None:
    """``score_changed`` after commit: routing (segments) subscribes to it."""
    ids = tuple(lead_ids)
    if ids:
        transaction.on_commit(lambda: score_changed.send(sender=LeadScore, lead_ids=ids, reason=reason))


def _notify_band_changed(changes: Sequence[tuple[int, str, str, int, int]], *, reason: str) -> None:
    """``band_changed`` after commit: webhooks (segments) subscribe to it."""
    frozen = tuple(changes)
    if frozen:
        transaction.on_commit(lambda: band_changed.send(sender=LeadScore, changes=frozen, reason=reason))


def score_leads(*, lead_ids: Iterable[int], reason: str = ScoreChangeReason.LEAD_CHANGE) -> int:
    """Rescore a list of leads set-based (used for batches: events, company edits, the sweep)."""
    ids = sorted(set(lead_ids))
    if not ids:
        return 0
    outcome = apply_scores_sql(leads=Lead.objects.filter(id__in=ids), rules=load_rule_set(), reason=reason)
    return outcome.totals_changed


# Below this many pending leads a drain scores them one by one (about 8 ms each here);
# from it on, one set-based statement is cheaper (about 35 ms plus 0.2 ms a lead).
SET_BASED_FROM = 6
DRAIN_BATCH = 1000
DRAIN_SECONDS = 10.0


def score_pending_leads(*, batch: int = DRAIN_BATCH, max_seconds: float = DRAIN_SECONDS) -> tuple[int, bool]:
    """Drain the pending set of single-lead changes (see scoring/pending.py).

    Returns (leads scored, more): `more` means the drain stopped at its time
    budget while holding the lease, so the caller schedules the next drain.
    Ids popped by a drain that fails go back into the set before the error
    propagates (the task retries); a killed worker leaves them to the sweep.
    """
    pending = pending_leads()
    if pending is None:
        return 0, False
    started = time.monotonic()
    done = 0
    while True:
        ids = pending.pop(batch)
        if not ids:
            if pending.release():
                continue
            return done, False
        try:
            if len(ids) < SET_BASED_FROM:
                for lead_id in ids:
                    score_lead(lead_id=lead_id)
            else:
                score_leads(lead_ids=ids)
        except BaseException:
            pending.add(ids)
            raise
        done += len(ids)
        if time.monotonic() - started > max_seconds:
            return done, True


def kick_pending_drain() -> None:
    """Schedule a drain when ids wait without one (after a lost message or a killed worker)."""
    from .tasks import score_pending

    pending = pending_leads()
    if pending is not None and pending.claim():
        score_pending.delay()


def enqueue_single_lead_scoring(lead_id: int) -> None:
    """Schedule scoring for one changed lead: through the pending set where there is one."""
    from .tasks import score_lead as score_lead_task
    from .tasks import score_pending

    pending = pending_leads()
    if pending is None:
        score_lead_task.delay(lead_id)
    elif pending.add([lead_id]):
        score_pending.delay()


# --- bulk jobs ---------------------------------------------------------------------------


def start_rescore_job(
    *, rules_version: int | None = None, reason: str = ScoreChangeReason.RULE_CHANGE, enqueue: bool = True
) -> RescoreJob:
    """Create a job over every lead, supersede older unfinished ones, enqueue it after commit."""
    from .tasks import run_rescore_job as run_rescore_job_task

    version = rules_version if rules_version is not None else get_current_rules_version()
    return start_sweep_job(
        model=RescoreJob, task=run_rescore_job_task if enqueue else None, rules_version=version, reason=reason
    )


def run_rescore_job(
    *,
    job_id: int,
    chunk_size: int | None = None,
    on_chunk: Callable[[RescoreJob], None] | None = None,
) -> RescoreJob:
    """Run (or resume) a rescore job from its cursor, one short transaction per chunk of lead ids."""
    rules = load_rule_set(RescoreJob.objects.values_list("rules_version", flat=True).get(pk=job_id))

    def apply_chunk(chunk: QuerySet[Lead], id_range: tuple[int, int], job: RescoreJob) -> int:
        return apply_scores_sql(leads=chunk, rules=rules, reason=job.reason, id_range=id_range).totals_changed

    def announce(job: RescoreJob) -> None:
        rescore_finished.send(sender=RescoreJob, job_id=job.pk, rules_version=job.rules_version, reason=job.reason)

    return run_sweep_job(
        model=RescoreJob,
        job_id=job_id,
        chunk_size=chunk_size or settings.SCORING_CHUNK_SIZE,
        apply_chunk=apply_chunk,
        counter="changed",
        on_chunk=on_chunk,
        on_finished=announce,
    )


def resume_stalled_jobs(*, stalled_after: timedelta = timedelta(minutes=2)) -> list[int]:
    """Re-enqueue the newest unfinished rescore job when its worker died."""
    from .tasks import run_rescore_job as run_rescore_job_task

    return resume_stalled_sweep_jobs(model=RescoreJob, task=run_rescore_job_task, stalled_after=stalled_after)


def sweep_stale_scores(*, limit: int = 50_000) -> int:
    """Rescore leads without a score, or whose score is older than their version or the rules.

    This is what makes scoring eventually right: a lost task message delays a
    score, it never loses it.
    """
    ids = list_stale_lead_ids(limit=limit)
    changed = 0
    for start in range(0, len(ids), 5000):
        changed += score_leads(lead_ids=ids[start : start + 5000], reason=ScoreChangeReason.SWEEP)
    logger.info("stale-score sweep: %d leads rescored, %d totals changed", len(ids), changed)
    return len(ids)


def apply_decay() -> RescoreJob:
    """Daily: re-evaluate time-window rules for everyone (engagement points decay)."""
    return start_rescore_job(reason=ScoreChangeReason.DECAY)
