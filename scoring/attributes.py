"""The attribute registry: what a point rule (or a segment condition) may test, in Python and in SQL.

Each attribute declares a label, a type, the operators it allows, how to read
it from a ``LeadSnapshot`` in Python, and how to express it over the ``Lead``
table as a Django expression. Rules are data that refer to attributes by key;
no rule ever carries code or SQL.

Semantics shared by both paths (the property tests hold them to it):
- a missing value (no company, no events) matches only "is empty";
- text compares case-insensitively; choice and boolean exactly;
- day counts are whole days: ``floor((now - moment) / 1 day)``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Trim
from django.db.models.lookups import Contains, Exact
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from leads.models import (
    AuthorityLevel,
    BudgetStatus,
    EngagementEvent,
    EventKind,
    Industry,
    LeadSource,
    NeedLevel,
    TimingWindow,
    title_words,
)

from .snapshot import LeadSnapshot


class AttrType(enum.StrEnum):
    CHOICE = "choice"
    NUMBER = "number"
    BOOLEAN = "boolean"
    TEXT = "text"
    DATE = "date"
    COUNT = "count"  # events of a kind in the last N days


class Op(models.TextChoices):
    EQ = "eq", _("equals")
    NE = "ne", _("does not equal")
    IN = "in", _("is one of")
    NOT_IN = "not_in", _("is none of")
    GT = "gt", _("is greater than")
    GTE = "gte", _("is at least")
    LT = "lt", _("is less than")
    LTE = "lte", _("is at most")
    BETWEEN = "between", _("is between")
    CONTAINS = "contains", _("contains")
    IS_EMPTY = "is_empty", _("is empty")
    IS_NOT_EMPTY = "is_not_empty", _("is not empty")


ORDER_OPS = (Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN)
DEFAULT_OPERATORS: dict[AttrType, tuple[Op, ...]] = {
    AttrType.CHOICE: (Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.IS_EMPTY, Op.IS_NOT_EMPTY),
    AttrType.NUMBER: (Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN, Op.IS_EMPTY, Op.IS_NOT_EMPTY),
    AttrType.BOOLEAN: (Op.EQ, Op.NE),
    AttrType.TEXT: (Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.CONTAINS, Op.IS_EMPTY, Op.IS_NOT_EMPTY),
    AttrType.DATE: (Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN, Op.IS_EMPTY, Op.IS_NOT_EMPTY),
    AttrType.COUNT: (Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN),
}
NO_VALUE_OPS = (Op.IS_EMPTY, Op.IS_NOT_EMPTY)
MAX_WINDOW_DAYS = 730


@dataclass(frozen=True)
class Attribute:
    key: str
    label: Any  # a lazy translated string
    type: AttrType
    group: Any
    getter: Callable[[LeadSnapshot, datetime, int | None], Any]
    sql: Callable[[datetime, int | None], models.Expression] | None = None
    choices: tuple[tuple[str, Any], ...] = ()
    operators: tuple[Op, ...] = ()
    # For "days since X" attributes: the moment X, in Python and in SQL. Their
    # conditions compile to comparisons of X with now - N days (portable SQL).
    moment_getter: Callable[[LeadSnapshot], datetime | None] | None = None
    moment_sql: Callable[[], models.Expression] | None = None
    integer: bool = False
    max_value: int | None = None
    # Engagement attributes: the bulk compiler counts all of a chunk's events in
    # one grouped pass instead of one subquery per lead and rule. ("*",) = any kind.
    event_kinds: tuple[str, ...] = ()
    is_last_activity: bool = False
    help_text: Any = ""

    @property
    def allowed_operators(self) -> tuple[Op, ...]:
        return self.operators or DEFAULT_OPERATORS[self.type]

    @property
    def needs_window(self) -> bool:
        return self.type == AttrType.COUNT

    def read(self, lead: LeadSnapshot, now: datetime, window_days: int | None = None) -> Any:
        return self.getter(lead, now, window_days)

    # --- values -------------------------------------------------------------------

    def parse_value(self, operator: str, raw: Any) -> Any:
        """Validate a rule value for ``operator``; return its canonical JSON form.

        Raises ValidationError({"value": ...}) with a message a manager can act on.
        """
        op = Op(operator)
        if op not in self.allowed_operators:
            raise ValidationError(
                {"operator": _("“%(op)s” cannot be used with %(attr)s.") % {"op": op.label, "attr": self.label}}
            )
        if op in NO_VALUE_OPS:
            return None
        if op in (Op.IN, Op.NOT_IN):
            items = raw if isinstance(raw, list | tuple) else str(raw or "").split(",")
            items = [i for i in (self._parse_one(i) for i in items) if i not in ("", None)]
            if not items:
                raise ValidationError({"value": _("Give at least one value, separated by commas.")})
            return items
        if op == Op.BETWEEN:
            items = raw if isinstance(raw, list | tuple) else str(raw or "").replace("..", ",").split(",")
            if len(items) != 2:
                raise ValidationError({"value": _("Give two values: lowest, highest (e.g. 10, 50).")})
            low, high = (self._parse_one(i) for i in items)
            if low in ("", None) or high in ("", None):
                raise ValidationError({"value": _("Give two values: lowest, highest (e.g. 10, 50).")})
            if self._compare_key(low) > self._compare_key(high):
                raise ValidationError({"value": _("The lowest value must come first.")})
            return [low, high]
        value = self._parse_one(raw)
        if value in ("", None) and self.type != AttrType.TEXT:
            raise ValidationError({"value": _("A value is required for this operator.")})
        if op == Op.CONTAINS and not value:
            raise ValidationError({"value": _("Give the text to look for.")})
        return value

    def _compare_key(self, value: Any) -> Any:
        if self.type in (AttrType.NUMBER, AttrType.COUNT):
            return Decimal(value)
        return value

    def _parse_one(self, raw: Any) -> Any:
        text = raw.strip() if isinstance(raw, str) else raw
        if self.type in (AttrType.NUMBER, AttrType.COUNT):
            if text in ("", None):
                return None
            try:
                number = Decimal(str(text))
            except (InvalidOperation, ValueError):
                raise ValidationError({"value": _("“%(v)s” is not a number.") % {"v": text}}) from None
            if not number.is_finite():
                raise ValidationError({"value": _("“%(v)s” is not a number.") % {"v": text}})
            if (self.integer or self.type == AttrType.COUNT) and number != number.to_integral_value():
                raise ValidationError({"value": _("Give a whole number.")})
            if self.max_value is not None and abs(number) > self.max_value:
                raise ValidationError({"value": _("Give a number up to %(max)s.") % {"max": self.max_value}})
            if abs(number) > Decimal("1e15"):
                raise ValidationError({"value": _("The number is too large.")})
            return str(number.normalize()) if number != number.to_integral_value() else str(int(number))
        if self.type == AttrType.BOOLEAN:
            if isinstance(text, bool):
                return text
            lowered = str(text).lower()
            if lowered in ("true", "yes", "1"):
                return True
            if lowered in ("false", "no", "0"):
                return False
            raise ValidationError({"value": _("Give yes or no.")})
        if self.type == AttrType.CHOICE:
            if text in ("", None):
                return ""
            valid = {str(k).lower(): str(k) for k, _label in self.choices}
            key = valid.get(str(text).lower())
            if key is None:
                raise ValidationError(
                    {
                        "value": _("“%(v)s” is not one of: %(choices)s.")
                        % {"v": text, "choices": ", ".join(str(k) for k, _label in self.choices)}
                    }
                )
            return key
        if self.type == AttrType.DATE:
            if text in ("", None):
                return None
            try:
                return date.fromisoformat(str(text)).isoformat()
            except ValueError:
                raise ValidationError({"value": _("Give a date as YYYY-MM-DD.")}) from None
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        if len(text) > 200:
            raise ValidationError({"value": _("Keep the text under 200 characters.")})
        return text


def typed(attribute: Attribute, value: Any) -> Any:
    """A canonical JSON value as the Python type both paths compare with."""
    if value is None:
        return None
    if isinstance(value, list):
        return [typed(attribute, v) for v in value]
    if attribute.type in (AttrType.NUMBER, AttrType.COUNT):
        return Decimal(str(value))
    if attribute.type == AttrType.DATE:
        return date.fromisoformat(value)
    if attribute.type == AttrType.TEXT:
        return str(value).lower()
    return value


# --- the registry ----------------------------------------------------------------------

REGISTRY: dict[str, Attribute] = {}


def register(attribute: Attribute) -> Attribute:
    if attribute.key in REGISTRY:
        raise ValueError(f"attribute {attribute.key!r} registered twice")
    if attribute.sql is None and attribute.moment_sql is None:
        raise ValueError(f"attribute {attribute.key!r} has no SQL form")
    REGISTRY[attribute.key] = attribute
    return attribute


def get_attribute(key: str) -> Attribute:
    """A registered attribute, or a custom one ("custom.<key>", defined as data in leads.CustomAttribute)."""
    attribute = REGISTRY.get(key)
    if attribute is None and key.startswith("custom."):
        from .custom_attributes import get_custom_attribute

        attribute = get_custom_attribute(key)
    if attribute is None:
        raise ValidationError({"attribute": _("Unknown attribute “%(key)s”.") % {"key": key}})
    return attribute


def attribute_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Registered attributes grouped for a <select>, in registration order, then the custom ones."""
    from .custom_attributes import list_custom_attributes

    groups: dict[str, list[tuple[str, str]]] = {}
    for attribute in [*REGISTRY.values(), *list_custom_attributes()]:
        groups.setdefault(str(attribute.group), []).append((attribute.key, str(attribute.label)))
    return list(groups.items())


def _text(expr: models.Expression | str) -> models.Expression:
    ref = models.F(expr) if isinstance(expr, str) else expr
    return Coalesce(ref, Value(""), output_field=models.CharField())


FIT = _("Firmographic fit")
CONTACT = _("Contact and source")
BANT = _("Qualification (BANT)")
ENGAGEMENT = _("Engagement")

# Company -------------------------------------------------------------------------------

register(
    Attribute(
        key="company.industry",
        label=_("Company industry"),
        type=AttrType.CHOICE,
        group=FIT,
        choices=tuple(Industry.choices),
        getter=lambda s, now, w: s.company_industry,
        sql=lambda now, w: _text("company__industry"),
    )
)
register(
    Attribute(
        key="company.employees",
        label=_("Company employees"),
        type=AttrType.NUMBER,
        group=FIT,
        integer=True,
        getter=lambda s, now, w: s.company_employees,
        sql=lambda now, w: models.F("company__employee_count"),
    )
)
register(
    Attribute(
        key="company.revenue",
        label=_("Company annual revenue"),
        type=AttrType.NUMBER,
        group=FIT,
        getter=lambda s, now, w: s.company_revenue,
        sql=lambda now, w: models.F("company__annual_revenue"),
        help_text=_("In the company's own currency."),
    )
)
register(
    Attribute(
        key="company.country",
        label=_("Company country"),
        type=AttrType.CHOICE,
        group=FIT,
        choices=tuple((code, name) for code, name in countries),
        getter=lambda s, now, w: s.company_country,
        sql=lambda now, w: _text("company__country"),
    )
)
register(
    Attribute(
        key="company.region",
        label=_("Company region"),
        type=AttrType.TEXT,
        group=FIT,
        getter=lambda s, now, w: s.company_region,
        sql=lambda now, w: _text("company__region"),
    )
)
register(
    Attribute(
        key="company.competitor",
        label=_("Already served by a competitor"),
        type=AttrType.BOOLEAN,
        group=FIT,
        getter=lambda s, now, w: s.company_competitor,
        sql=lambda now, w: Coalesce(
            models.F("company__served_by_competitor"), Value(False), output_field=models.BooleanField()
        ),
    )
)

# Contact and source ----------------------------------------------------------------------

register(
    Attribute(
        key="lead.source",
        label=_("Lead source"),
        type=AttrType.CHOICE,
        group=CONTACT,
        choices=tuple(LeadSource.choices),
        getter=lambda s, now, w: s.source,
        sql=lambda now, w: models.F("source"),
    )
)
register(
    Attribute(
        key="lead.campaign",
        label=_("Campaign"),
        type=AttrType.TEXT,
        group=CONTACT,
        getter=lambda s, now, w: s.campaign,
        sql=lambda now, w: models.F("campaign"),
    )
)
register(
    Attribute(
        key="lead.job_title",
        label=_("Job title"),
        type=AttrType.TEXT,
        group=CONTACT,
        getter=lambda s, now, w: s.job_title,
        sql=lambda now, w: models.F("job_title"),
    )
)


class Seniority(models.TextChoices):
    C_LEVEL = "c_level", _("C-level or owner")
    VP = "vp", _("Vice president")
    DIRECTOR = "director", _("Director or head")
    MANAGER = "manager", _("Manager")
    INDIVIDUAL = "individual", _("Individual contributor")
    STUDENT = "student", _("Student or intern")
    UNKNOWN = "unknown", _("Unknown")


# Checked in this order; a keyword matches whole words of the title (after
# punctuation becomes spaces), so "Director" never reads as "CTO".
SENIORITY_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (Seniority.STUDENT, ("intern", "student", "trainee", "praktikant", "stażysta")),
    (
        Seniority.C_LEVEL,
        (
            "ceo",
            "cto",
            "cfo",
            "coo",
            "cio",
            "cmo",
            "cro",
            "chief",
            "founder",
            "co founder",
            "owner",
            "president",
            "managing director",
            "geschäftsführer",
            "prezes",
            "partner",
        ),
    ),
    (Seniority.VP, ("vp", "vice president", "svp", "evp")),
    (Seniority.DIRECTOR, ("director", "head", "dyrektor", "leiter")),
    (Seniority.MANAGER, ("manager", "lead", "kierownik", "supervisor")),
)


def seniority_of(title: str) -> str:
    """Seniority from a job title; the SQL form below mirrors these steps exactly."""
    padded = title_words(title)
    if not padded.strip(" "):
        return Seniority.UNKNOWN
    for level, keywords in SENIORITY_KEYWORDS:
        if any(f" {k} " in padded for k in keywords):
            return level
    return Seniority.INDIVIDUAL


def _seniority_sql(now: datetime, window: int | None) -> models.Expression:
    padded = models.F("job_title_words")
    cases = [models.When(Exact(Trim(padded), Value("")), then=Value(Seniority.UNKNOWN.value))]
    for level, keywords in SENIORITY_KEYWORDS:
        # One flat OR (not nested pairs): SQLite's parser has a small stack.
        condition = Q(*(Contains(padded, Value(f" {k} ")) for k in keywords), _connector=Q.OR)
        cases.append(models.When(condition, then=Value(str(level))))
    return models.Case(*cases, default=Value(Seniority.INDIVIDUAL.value), output_field=models.CharField())


register(
    Attribute(
        key="lead.seniority",
        label=_("Seniority (from the job title)"),
        type=AttrType.CHOICE,
        group=CONTACT,
        choices=tuple(Seniority.choices),
        getter=lambda s, now, w: seniority_of(s.job_title),
        sql=_seniority_sql,
    )
)

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "proton.me",
        "protonmail.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "t-online.de",
        "mail.ru",
        "yandex.ru",
        "wp.pl",
        "o2.pl",
        "onet.pl",
        "interia.pl",
        "seznam.cz",
        "orange.fr",
        "libero.it",
    }
)


def _free_mail_python(email: str) -> bool:
    return (email or "").lower().rpartition("@")[2] in FREE_MAIL_DOMAINS


def _free_mail_sql(now: datetime, window: int | None) -> models.Expression:
    condition = Q(*(("email__endswith", f"@{d}") for d in sorted(FREE_MAIL_DOMAINS)), _connector=Q.OR)
    return models.Case(
        models.When(condition, then=Value(True)), default=Value(False), output_field=models.BooleanField()
    )


register(
    Attribute(
        key="lead.free_mail",
        label=_("Email on a free-mail domain"),
        type=AttrType.BOOLEAN,
        group=CONTACT,
        getter=lambda s, now, w: _free_mail_python(s.email),
        sql=_free_mail_sql,
    )
)
register(
    Attribute(
        key="lead.age_days",
        label=_("Lead age in days"),
        type=AttrType.NUMBER,
        group=CONTACT,
        integer=True,
        getter=lambda s, now, w: _days_since(s.created_at, now),
        max_value=36500,
        moment_getter=lambda s: s.created_at,
        moment_sql=lambda: models.F("created_at"),
    )
)

# BANT ----------------------------------------------------------------------------------

for _key, _label, _field, _choices in (
    ("bant.budget", _("Budget"), "budget", BudgetStatus),
    ("bant.authority", _("Authority"), "authority", AuthorityLevel),
    ("bant.need", _("Need"), "need", NeedLevel),
    ("bant.timing", _("Timing"), "timing", TimingWindow),
):
    register(
        Attribute(
            key=_key,
            label=_label,
            type=AttrType.CHOICE,
            group=BANT,
            choices=tuple(_choices.choices),
            operators=(Op.EQ, Op.NE, Op.IN, Op.NOT_IN),
            getter=(lambda f: lambda s, now, w: getattr(s, f))(_field),
            sql=(lambda f: lambda now, w: Coalesce(models.F(f"qualification__{f}"), Value("unknown")))(_field),
        )
    )
register(
    Attribute(
        key="bant.met",
        label=_("BANT criteria met (0-4)"),
        type=AttrType.NUMBER,
        group=BANT,
        integer=True,
        operators=(Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN),
        getter=lambda s, now, w: s.bant_met,
        sql=lambda now, w: Coalesce(models.F("qualification__bant_met"), Value(0)),
    )
)
register(
    Attribute(
        key="bant.decision_date",
        label=_("Decision date"),
        type=AttrType.DATE,
        group=BANT,
        getter=lambda s, now, w: s.decision_date,
        sql=lambda now, w: models.F("qualification__decision_date"),
    )
)

# Engagement ------------------------------------------------------------------------------


def _days_since(moment: datetime | None, now: datetime) -> int | None:
    if moment is None:
        return None
    return (now - moment) // timedelta(days=1)


def _count_python(kinds: Sequence[str] | None) -> Callable[[LeadSnapshot, datetime, int | None], int]:
    def getter(s: LeadSnapshot, now: datetime, window: int | None) -> int:
        since = now - timedelta(days=window or 30)
        return sum(1 for kind, at in s.events if (kinds is None or kind in kinds) and since <= at <= now)

    return getter


def _count_sql(kinds: Sequence[str] | None) -> Callable[[datetime, int | None], models.Expression]:
    def sql(now: datetime, window: int | None) -> models.Expression:
        since = now - timedelta(days=window or 30)
        events = EngagementEvent.objects.filter(lead=OuterRef("pk"), occurred_at__gte=since, occurred_at__lte=now)
        if kinds is not None:
            events = events.filter(kind__in=list(kinds)) if len(kinds) > 1 else events.filter(kind=kinds[0])
        counted = events.order_by().values("lead").annotate(n=Count("*")).values("n")
        return Coalesce(Subquery(counted, output_field=models.IntegerField()), Value(0))

    return sql


register(
    Attribute(
        key="events.any",
        label=_("Engagement events of any kind"),
        type=AttrType.COUNT,
        group=ENGAGEMENT,
        event_kinds=("*",),
        getter=_count_python(None),
        sql=_count_sql(None),
        help_text=_("Counted over the rule's window, e.g. the last 30 days."),
    )
)
for _kind, _kind_label in EventKind.choices:
    register(
        Attribute(
            key=f"events.{_kind}",
            label=_kind_label,
            type=AttrType.COUNT,
            group=ENGAGEMENT,
            event_kinds=(_kind,),
            getter=_count_python((_kind,)),
            sql=_count_sql((_kind,)),
            help_text=_("Counted over the rule's window, e.g. the last 30 days."),
        )
    )


def _last_activity_sql() -> models.Expression:
    latest = (
        EngagementEvent.objects.filter(lead=OuterRef("pk"))
        .order_by()
        .values("lead")
        .annotate(m=Max("occurred_at"))
        .values("m")
    )
    return Subquery(latest, output_field=models.DateTimeField())


register(
    Attribute(
        key="events.days_since_last",
        label=_("Days since last activity"),
        type=AttrType.NUMBER,
        group=ENGAGEMENT,
        is_last_activity=True,
        integer=True,
        getter=lambda s, now, w: _days_since(s.last_activity_at, now),
        max_value=36500,
        moment_getter=lambda s: s.last_activity_at,
        moment_sql=_last_activity_sql,
        help_text=_("Empty when the lead has no activity yet."),
    )
)
