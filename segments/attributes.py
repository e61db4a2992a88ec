"""Segment conditions: the scoring attributes plus the stored score, its band and parts, and territory coverage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef, Q, Value
from django.db.models.functions import Coalesce, Concat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leads.models import Team
from scoring.attributes import MAX_WINDOW_DAYS, REGISTRY, Attribute, AttrType, Op
from scoring.engine import RuleSpec
from scoring.snapshot import LeadSnapshot

CONDITION_FIELDS = frozenset({"attribute", "operator", "value", "window_days"})


@dataclass(frozen=True)
class ScoredLeadSnapshot(LeadSnapshot):
    """A lead snapshot with its stored score (0 and "" when not scored yet) and territory coverage."""

    score_total: int = 0
    score_band: str = ""
    score_fit: int = 0
    score_engagement: int = 0
    score_qualification: int = 0
    territory_covered: bool = False


SCORE = gettext_lazy("Score")
NUMBER_OPS = (Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN)


def _score_part(key: str, label: Any, field: str) -> Attribute:
    return Attribute(
        key=key,
        label=label,
        type=AttrType.NUMBER,
        group=SCORE,
        integer=True,
        operators=NUMBER_OPS,
        getter=lambda s, now, w: getattr(s, f"score_{field}"),
        sql=lambda now, w: Coalesce(models.F(f"score__{field}"), Value(0)),
    )


def _territory_sql(now: datetime, window: int | None) -> models.Expression:
    # Team.countries is stored as "DE,AT,CH": compare whole codes with commas around them.
    padded = Concat(Value(","), "countries", Value(","), output_field=models.CharField())
    needle = Concat(Value(","), OuterRef("company__country"), Value(","), output_field=models.CharField())
    covering = Team.objects.annotate(padded=padded).filter(padded__contains=needle)
    return models.Case(
        models.When(Q(company__country__gt="") & Exists(covering), then=Value(True)),
        default=Value(False),
        output_field=models.BooleanField(),
    )


SEGMENT_ATTRIBUTES: tuple[Attribute, ...] = (
    _score_part("score.total", gettext_lazy("Score total"), "total"),
    _score_part("score.fit", gettext_lazy("Score: fit part"), "fit"),
    _score_part("score.engagement", gettext_lazy("Score: engagement part"), "engagement"),
    _score_part("score.qualification", gettext_lazy("Score: qualification part"), "qualification"),
    Attribute(
        key="score.band",
        label=gettext_lazy("Score band"),
        type=AttrType.TEXT,
        group=SCORE,
        operators=(Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.IS_EMPTY, Op.IS_NOT_EMPTY),
        getter=lambda s, now, w: s.score_band,
        sql=lambda now, w: Coalesce(models.F("score__band"), Value(""), output_field=models.CharField()),
        help_text=gettext_lazy("Empty when the lead has no score yet."),
    ),
    Attribute(
        key="territory.covered",
        label=gettext_lazy("Company country is in a sales team's territory"),
        type=AttrType.BOOLEAN,
        group=SCORE,
        getter=lambda s, now, w: s.territory_covered,
        sql=_territory_sql,
    ),
)


def segment_registry() -> Mapping[str, Attribute]:
    """The scoring registry plus the segment-only attributes (built per call: the scoring one may grow)."""
    return {**REGISTRY, **{a.key: a for a in SEGMENT_ATTRIBUTES}}


def condition_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Attributes grouped for a <select>, in registration order."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for attribute in segment_registry().values():
        groups.setdefault(str(attribute.group), []).append((attribute.key, str(attribute.label)))
    return list(groups.items())


def validate_conditions(raw: Any) -> list[dict[str, Any]]:
    """Check a JSON list of conditions; return it canonical (values parsed by the attribute).

    Raises ValidationError({"conditions": [...]}) naming the condition at fault.
    """
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise ValidationError({"conditions": [_("Conditions must be a list.")]})
    registry = segment_registry()
    cleaned: list[dict[str, Any]] = []
    errors: list[str] = []
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, Mapping):
            errors.append(_("Condition %(n)d: must be an object.") % {"n": index})
            continue
        unknown = sorted(set(item) - CONDITION_FIELDS)
        if unknown:
            errors.append(_("Condition %(n)d: unknown keys %(keys)s.") % {"n": index, "keys": ", ".join(unknown)})
            continue
        attribute = registry.get(str(item.get("attribute", "")))
        if attribute is None:
            errors.append(
                _("Condition %(n)d: unknown attribute “%(key)s”.") % {"n": index, "key": item.get("attribute")}
            )
            continue
        try:
            value = attribute.parse_value(str(item.get("operator", "")), item.get("value"))
        except ValidationError as exc:
            messages = " ".join(m for ms in exc.message_dict.values() for m in ms)
            errors.append(_("Condition %(n)d: %(msg)s") % {"n": index, "msg": messages})
            continue
        except ValueError:
            errors.append(_("Condition %(n)d: choose an operator.") % {"n": index})
            continue
        window = item.get("window_days")
        if attribute.needs_window:
            try:
                window = int(window)
            except (TypeError, ValueError):
                window = 0
            if not 1 <= window <= MAX_WINDOW_DAYS:
                errors.append(
                    _("Condition %(n)d: engagement counts need a window of 1 to %(max)d days.")
                    % {"n": index, "max": MAX_WINDOW_DAYS}
                )
                continue
        elif window not in (None, ""):
            errors.append(_("Condition %(n)d: only engagement counts take a window.") % {"n": index})
            continue
        else:
            window = None
        cleaned.append(
            {"attribute": attribute.key, "operator": str(Op(item["operator"])), "value": value, "window_days": window}
        )
    if errors:
        raise ValidationError({"conditions": errors})
    return cleaned


def condition_specs(conditions: Sequence[Mapping[str, Any]]) -> tuple[RuleSpec, ...]:
    """Stored conditions as the engine's rule specs (points and category unused)."""
    return tuple(
        RuleSpec(
            id=index,
            name="",
            attribute=c["attribute"],
            operator=c["operator"],
            value=c.get("value"),
            points=0,
            category="fit",
            window_days=c.get("window_days"),
        )
        for index, c in enumerate(conditions)
    )


def describe_condition(condition: Mapping[str, Any]) -> str:
    """ "Budget equals none" for people reading a decision or the admin."""
    attribute = segment_registry().get(condition.get("attribute", ""))
    label = attribute.label if attribute else condition.get("attribute")
    value = condition.get("value")
    shown = "" if value is None else (", ".join(map(str, value)) if isinstance(value, list) else str(value))
    window = _(" in the last %(d)s days") % {"d": condition["window_days"]} if condition.get("window_days") else ""
    return f"{label} {Op(condition['operator']).label} {shown}{window}".strip()
