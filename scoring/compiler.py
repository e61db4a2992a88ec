"""Compile a rule set into Django expressions over the Lead table: the SQL twin of the engine.

Every value from a rule reaches the database as a query parameter; the SQL
text comes only from registered attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Lower
from django.db.models.lookups import (
    Contains,
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
)

from leads.jobs import raw_params

from .attributes import Attribute, AttrType, Op, get_attribute, typed
from .engine import CATEGORIES, RuleSet, RuleSpec, days_window


def _not(condition: Any) -> Q:
    return ~Q(condition)


def condition_for(rule: RuleSpec, now: datetime, *, registry: Mapping[str, Attribute] | None = None) -> Q | Any:
    """A boolean SQL condition equivalent to ``engine.matches(rule, ·, now, registry=registry)``."""
    attribute = get_attribute(rule.attribute) if registry is None else registry[rule.attribute]
    op = Op(rule.operator)
    value = typed(attribute, rule.value)
    if attribute.moment_sql is not None:
        moment = attribute.moment_sql()
        if op == Op.IS_EMPTY:
            return IsNull(moment, True)
        if op == Op.IS_NOT_EMPTY:
            return IsNull(moment, False)
        if op == Op.NE:
            low, high = days_window(Op.EQ, value, now)
            return Q(IsNull(moment, False)) & (Q(LessThanOrEqual(moment, low)) | Q(GreaterThan(moment, high)))
        low, high = days_window(op, value, now)
        condition = Q(IsNull(moment, False))
        if low is not None:
            condition &= Q(GreaterThan(moment, low))
        if high is not None:
            condition &= Q(LessThanOrEqual(moment, high))
        return condition

    expr = attribute.sql(now, rule.window_days)  # type: ignore[misc]
    if attribute.type == AttrType.TEXT:
        expr = Lower(expr)
    if op == Op.IS_EMPTY:
        if attribute.type in (AttrType.TEXT, AttrType.CHOICE):
            return Q(IsNull(expr, True)) | Q(Exact(expr, Value("")))
        return IsNull(expr, True)
    if op == Op.IS_NOT_EMPTY:
        if attribute.type in (AttrType.TEXT, AttrType.CHOICE):
            return Q(IsNull(expr, False)) & _not(Exact(expr, Value("")))
        return IsNull(expr, False)
    present = Q(IsNull(expr, False))
    if op == Op.EQ:
        return present & Q(Exact(expr, value))
    if op == Op.NE:
        return present & _not(Exact(expr, value))
    if op == Op.IN:
        return present & Q(In(expr, list(value)))
    if op == Op.NOT_IN:
        return present & _not(In(expr, list(value)))
    if op == Op.CONTAINS:
        return present & Q(Contains(expr, value))
    if op == Op.GT:
        return present & Q(GreaterThan(expr, value))
    if op == Op.GTE:
        return present & Q(GreaterThanOrEqual(expr, value))
    if op == Op.LT:
        return present & Q(LessThan(expr, value))
    if op == Op.LTE:
        return present & Q(LessThanOrEqual(expr, value))
    if op == Op.BETWEEN:
        return present & Q(GreaterThanOrEqual(expr, value[0])) & Q(LessThanOrEqual(expr, value[1]))
    raise ValueError(f"unknown operator {op!r}")


def rule_flags(rules: RuleSet, now: datetime) -> dict[str, models.Expression]:
    """One 0/1 column per rule (``r_0``, ``r_1``, ...): each condition is evaluated once per row."""
    return {
        f"r_{i}": models.Case(
            models.When(condition_for(rule, now), then=Value(1)),
            default=Value(0),
            output_field=models.IntegerField(),
        )
        for i, rule in enumerate(rules.rules)
    }


def _vendor() -> str:
    from django.db import connection

    return connection.vendor


def _is_event_rule(rule: RuleSpec) -> bool:
    attribute = get_attribute(rule.attribute)
    return bool(attribute.event_kinds) or attribute.is_last_activity


_SQL_OPS = {Op.EQ: "=", Op.NE: "<>", Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}


def _event_flag(rule: RuleSpec, now: datetime, column: str) -> tuple[str, list[Any]]:
    """SQL text (and parameters) of an engagement rule over the chunk's event aggregate.

    Same semantics as ``engine.matches``: counts are never missing (0), the last
    activity is missing when the lead has no event and then matches only "is empty".
    """
    attribute = get_attribute(rule.attribute)
    op = Op(rule.operator)
    value = typed(attribute, rule.value)
    if attribute.is_last_activity:
        if op == Op.IS_EMPTY:
            return f"{column} IS NULL", []
        if op == Op.IS_NOT_EMPTY:
            return f"{column} IS NOT NULL", []
        if op == Op.NE:
            low, high = days_window(Op.EQ, value, now)
            return f"({column} IS NOT NULL AND ({column} <= %s OR {column} > %s))", [low, high]
        low, high = days_window(op, value, now)
        parts, params = [f"{column} IS NOT NULL"], []
        if low is not None:
            parts.append(f"{column} > %s")
            params.append(low)
        if high is not None:
            parts.append(f"{column} <= %s")
            params.append(high)
        return "(" + " AND ".join(parts) + ")", params
    count = f"COALESCE({column}, 0)"
    # Counts are whole numbers (parse_value insists); ints compare as numbers on every backend.
    if op == Op.BETWEEN:
        return f"({count} >= %s AND {count} <= %s)", [int(value[0]), int(value[1])]
    return f"{count} {_SQL_OPS[op]} %s", [int(value)]


def _event_aggregate(
    rules: RuleSet, now: datetime, leads: models.QuerySet, id_range: tuple[int, int] | None
) -> tuple[str, list[Any], dict[int, str]]:
    """One grouped pass over the chunk's events: a count column per (kinds, window), and the last activity."""
    columns: dict[tuple[tuple[str, ...], int], str] = {}
    select, params = ["e.lead_id"], []
    column_of: dict[int, str] = {}
    for i, rule in enumerate(rules.rules):
        attribute = get_attribute(rule.attribute)
        if attribute.is_last_activity:
            column_of[i] = "ev.last_at"
            continue
        if not attribute.event_kinds:
            continue
        key = (attribute.event_kinds, rule.window_days or 30)
        if key not in columns:
            columns[key] = f"c_{len(columns)}"
            since = now - timedelta(days=key[1])
            condition = "e.occurred_at >= %s AND e.occurred_at <= %s"
            params += [since, now]
            if key[0] != ("*",):
                condition += " AND e.kind IN (" + ", ".join(["%s"] * len(key[0])) + ")"
                params += list(key[0])
            select.append(f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END) AS {columns[key]}")
        column_of[i] = f"ev.{columns[key]}"
    select.append("MAX(e.occurred_at) AS last_at")
    if id_range is not None:
        # A bulk job's chunk is an id range: an index range scan over its events.
        where, where_params = "e.lead_id > %s AND e.lead_id <= %s", list(id_range)
    else:
        ids_sql, where_params = leads.order_by().values("id").query.sql_with_params()
        where = f"e.lead_id IN ({ids_sql})"
    sql = (
        f"SELECT {', '.join(select)} FROM leads_engagementevent e "  # noqa: S608 -- generated aliases only
        f"WHERE {where} GROUP BY e.lead_id"
    )
    return sql, [*params, *where_params], column_of


def score_select(
    rules: RuleSet, now: datetime, leads: models.QuerySet, *, id_range: tuple[int, int] | None = None
) -> tuple[str, list[Any]]:
    """SQL selecting (id, version, fit, engagement, qualification, total, band, fired) for ``leads``.

    The innermost query is Django's (the registered attributes' expressions);
    engagement rules read one grouped pass over the leads' events (a subquery
    per lead and rule was the bulk of the cost); the outer layers add up points,
    clamp the parts, pick the band and list the fired rule ids. Only generated
    aliases reach the SQL text; every number and name is a parameter.
    ``id_range`` (exclusive low, inclusive high) says ``leads`` is exactly that id range.
    """
    event_rules = {i for i, rule in enumerate(rules.rules) if _is_event_rule(rule)}
    flags = {name: expr for name, expr in rule_flags(rules, now).items() if int(name[2:]) not in event_rules}
    inner = leads.order_by().annotate(**flags).values_list("id", "version", *flags)
    inner_sql, inner_params = inner.query.sql_with_params()
    # An optimisation fence: without it the planner inlines each r_i into every
    # place the outer layers use it (parts, clamps, total, band), evaluating
    # every condition dozens of times per row.
    fence = " OFFSET 0" if _vendor() == "postgresql" else " LIMIT -1 OFFSET 0"
    inner_sql += fence
    if event_rules:
        agg_sql, agg_params, column_of = _event_aggregate(rules, now, leads, id_range)
        event_cols, event_params = [], []
        for i in sorted(event_rules):
            text, values = _event_flag(rules.rules[i], now, column_of[i])
            event_cols.append(f"(CASE WHEN {text} THEN 1 ELSE 0 END) AS r_{i}")
            event_params += values
        inner_sql = (
            f"SELECT l0.*, {', '.join(event_cols)} FROM ({inner_sql}) l0 "  # noqa: S608 -- generated aliases only
            f"LEFT JOIN ({agg_sql}) ev ON ev.lead_id = l0.id{fence}"
        )
        inner_params = [*raw_params(event_params), *inner_params, *raw_params(agg_params)]
    params: list[Any] = []

    raw_cols = []
    for category in CATEGORIES:
        terms = ["0"]
        for i, rule in enumerate(rules.rules):
            if rule.category == category:
                terms.append(f"r_{i} * %s")
                params.append(rule.points)
        raw_cols.append(f"({' + '.join(terms)}) AS raw_{category}")
    fired_terms = ["%s"]
    params_fired: list[Any] = [","]
    for i, rule in enumerate(rules.rules):
        fired_terms.append(f"(CASE WHEN r_{i} = 1 THEN %s ELSE '' END)")
        params_fired.append(f"{rule.id},")
    level2 = (
        f"SELECT id, version, {', '.join(raw_cols)}, ({' || '.join(fired_terms)}) AS fired "  # noqa: S608 -- aliases only
        f"FROM ({inner_sql}) l1"
    )
    params = [*params, *params_fired, *inner_params]

    clamp_cols = []
    clamp_params: list[Any] = []
    for category in CATEGORIES:
        cap = rules.caps.get(category)
        if cap is None:
            clamp_cols.append(f"raw_{category} AS {category}")
        else:
            clamp_cols.append(
                f"(CASE WHEN raw_{category} < %s THEN %s WHEN raw_{category} > %s THEN %s "
                f"ELSE raw_{category} END) AS {category}"
            )
            clamp_params += [cap.minimum, cap.minimum, cap.maximum, cap.maximum]
    level3 = f"SELECT id, version, {', '.join(clamp_cols)}, fired FROM ({level2}) l2"  # noqa: S608 -- aliases only
    params = clamp_params + params

    total = " + ".join(CATEGORIES)
    level4 = f"SELECT id, version, {', '.join(CATEGORIES)}, ({total}) AS total, fired FROM ({level3}) l3"  # noqa: S608

    band_sql = "''"
    band_params: list[Any] = []
    bands = rules.bands_desc()
    if bands:
        band_sql = "CASE " + " ".join("WHEN total >= %s THEN %s" for _b in bands) + " ELSE '' END"
        for band in bands:
            band_params += [band.min_score, band.name]
    final = (
        f"SELECT id, version, {', '.join(CATEGORIES)}, total, ({band_sql}) AS band, fired "  # noqa: S608
        f"FROM ({level4}) l4"
    )
    return final, band_params + params
