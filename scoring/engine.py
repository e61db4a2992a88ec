"""The pure scoring engine: a lead snapshot and a rule set in, a score with its reasons out.

No ORM, no Celery: services load the inputs and store the result. The SQL
twin of ``evaluate`` is ``scoring.compiler``; both follow the semantics in
``scoring.attributes`` and a property test holds them equal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from .attributes import Attribute, AttrType, Op, get_attribute, typed
from .snapshot import LeadSnapshot


class Category(models.TextChoices):
    FIT = "fit", _("Fit")
    ENGAGEMENT = "engagement", _("Engagement")
    QUALIFICATION = "qualification", _("Qualification")


CATEGORIES: tuple[str, ...] = tuple(Category.values)


@dataclass(frozen=True)
class RuleSpec:
    id: int
    name: str
    attribute: str
    operator: str
    value: Any  # canonical JSON form (see Attribute.parse_value)
    points: int
    category: str
    window_days: int | None = None


@dataclass(frozen=True)
class CategoryCap:
    minimum: int
    maximum: int


@dataclass(frozen=True)
class BandSpec:
    name: str
    min_score: int  # the lowest band should use a very low minimum


@dataclass(frozen=True)
class RuleSet:
    version: int
    rules: tuple[RuleSpec, ...]
    caps: dict[str, CategoryCap] = field(default_factory=dict)
    bands: tuple[BandSpec, ...] = ()  # any order; evaluated highest minimum first

    @property
    def max_window_days(self) -> int:
        return max((r.window_days or 30 for r in self.rules if r.attribute.startswith("events.")), default=0)

    def bands_desc(self) -> tuple[BandSpec, ...]:
        return tuple(sorted(self.bands, key=lambda b: b.min_score, reverse=True))


@dataclass(frozen=True)
class FiredRule:
    rule_id: int
    name: str
    category: str
    points: int


@dataclass(frozen=True)
class ScoreResult:
    total: int
    parts: dict[str, int]
    band: str
    fired: tuple[FiredRule, ...]

    @property
    def fired_ids(self) -> tuple[int, ...]:
        return tuple(f.rule_id for f in self.fired)


def matches(
    rule: RuleSpec, lead: LeadSnapshot, now: datetime, *, registry: Mapping[str, Attribute] | None = None
) -> bool:
    """Whether ``rule``'s condition holds for ``lead`` at ``now``.

    ``registry`` lets a caller (segments) test attributes beyond the scoring
    registry, e.g. the stored score; it defaults to ``attributes.REGISTRY``.
    """
    attribute = get_attribute(rule.attribute) if registry is None else registry[rule.attribute]
    op = Op(rule.operator)
    value = typed(attribute, rule.value)
    if attribute.moment_getter is not None:
        return _matches_days_since(op, value, attribute.moment_getter(lead), now)
    actual = attribute.read(lead, now, rule.window_days)
    if attribute.type == AttrType.TEXT:
        actual = (actual or "").lower()
    if op == Op.IS_EMPTY:
        return actual in (None, "")
    if op == Op.IS_NOT_EMPTY:
        return actual not in (None, "")
    if actual is None:
        return False  # a missing value matches only "is empty"
    if isinstance(actual, int | float) and not isinstance(actual, bool):
        actual = Decimal(actual)
    if op == Op.EQ:
        return actual == value
    if op == Op.NE:
        return actual != value
    if op == Op.IN:
        return actual in value
    if op == Op.NOT_IN:
        return actual not in value
    if op == Op.CONTAINS:
        return value in actual
    if op == Op.GT:
        return actual > value
    if op == Op.GTE:
        return actual >= value
    if op == Op.LT:
        return actual < value
    if op == Op.LTE:
        return actual <= value
    if op == Op.BETWEEN:
        return value[0] <= actual <= value[1]
    raise ValueError(f"unknown operator {op!r}")


def days_window(op: Op, value: Any, now: datetime) -> tuple[datetime | None, datetime | None]:
    """The moments X for which ``floor((now - X) / day) <op> value``: (exclusive low, inclusive high).

    Shared by both paths so "days since" means the same thing in Python and SQL.
    """
    day = timedelta(days=1)

    def at(n: Decimal) -> datetime:
        return now - int(n) * day

    if op == Op.GT:  # days >= v + 1  <=>  X <= now - (v+1)d
        return None, at(value + 1)
    if op == Op.GTE:
        return None, at(value)
    if op == Op.LT:  # days <= v - 1  <=>  X > now - v d
        return at(value), None
    if op == Op.LTE:
        return at(value + 1), None
    if op == Op.EQ:
        return at(value + 1), at(value)
    if op == Op.BETWEEN:
        return at(value[1] + 1), at(value[0])
    raise ValueError(f"operator {op!r} has no day window")


def _matches_days_since(op: Op, value: Any, moment: datetime | None, now: datetime) -> bool:
    if op == Op.IS_EMPTY:
        return moment is None
    if op == Op.IS_NOT_EMPTY:
        return moment is not None
    if moment is None:
        return False
    if op == Op.NE:
        return not _matches_days_since(Op.EQ, value, moment, now)
    low, high = days_window(op, value, now)
    return (low is None or moment > low) and (high is None or moment <= high)


def clamp_part(points: int, cap: CategoryCap | None) -> int:
    if cap is None:
        return points
    return max(cap.minimum, min(cap.maximum, points))


def band_for(total: int, bands: Sequence[BandSpec]) -> str:
    for band in sorted(bands, key=lambda b: b.min_score, reverse=True):
        if total >= band.min_score:
            return band.name
    return ""


def evaluate(lead: LeadSnapshot, rules: RuleSet, *, now: datetime) -> ScoreResult:
    """Score one lead: per-category sums, clamped by the caps, summed; the band; the rules that fired."""
    raw = dict.fromkeys(CATEGORIES, 0)
    fired = []
    for rule in rules.rules:
        if matches(rule, lead, now):
            raw[rule.category] += rule.points
            fired.append(FiredRule(rule_id=rule.id, name=rule.name, category=rule.category, points=rule.points))
    parts = {category: clamp_part(points, rules.caps.get(category)) for category, points in raw.items()}
    total = sum(parts.values())
    return ScoreResult(total=total, parts=parts, band=band_for(total, rules.bands), fired=tuple(fired))


def explain(fired: Sequence[FiredRule]) -> list[str]:
    """Human lines: "+20 Industry is Manufacturing", "-15 Budget: none"."""
    return [f"{'+' if f.points >= 0 else '-'}{abs(f.points)} {f.name}" for f in fired]
