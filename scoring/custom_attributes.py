"""Custom lead attributes (leads.CustomAttribute) as the scoring attributes ``custom.<key>``, cached per process."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import DatabaseError, models
from django.db.models import Count, Func, Max, Q, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from leads.models import CustomAttribute, CustomAttributeType

from .attributes import Attribute, AttrType
from .snapshot import LeadSnapshot

PREFIX = "custom."
GROUP = _("Custom attributes")
# Another process (web, worker) may change the definitions: a cached set older
# than this is checked against the table before use (one small query).
RECHECK_SECONDS = 2.0

_TYPES = {
    CustomAttributeType.CHOICE: AttrType.CHOICE,
    CustomAttributeType.NUMBER: AttrType.NUMBER,
    CustomAttributeType.BOOLEAN: AttrType.BOOLEAN,
    CustomAttributeType.TEXT: AttrType.TEXT,
}


class CastNumeric(Func):
    """CAST(x AS NUMERIC): unbounded numeric on PostgreSQL, numeric affinity on SQLite."""

    template = "CAST(%(expressions)s AS NUMERIC)"
    output_field = models.DecimalField()


def _number_getter(key: str) -> Any:
    def getter(s: LeadSnapshot, now: datetime, w: int | None) -> Decimal | None:
        value = s.custom.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return Decimal(str(value))

    return getter


def _boolean_getter(key: str) -> Any:
    def getter(s: LeadSnapshot, now: datetime, w: int | None) -> bool | None:
        value = s.custom.get(key)
        return value if isinstance(value, bool) else None

    return getter


def _text_getter(key: str) -> Any:
    def getter(s: LeadSnapshot, now: datetime, w: int | None) -> str:
        value = s.custom.get(key)
        return value if isinstance(value, str) else ""

    return getter


def _number_sql(key: str) -> Any:
    return lambda now, w: CastNumeric(KeyTextTransform(key, "custom"))


def _boolean_sql(key: str) -> Any:
    # JSON true / false through the ORM's own key lookup (the same on PostgreSQL and
    # SQLite); the trailing __exact keeps a key such as "contains" a key, not a lookup.
    lookup = f"custom__{key}__exact"

    def sql(now: datetime, w: int | None) -> models.Expression:
        return models.Case(
            models.When(Q(**{lookup: True}), then=Value(True)),
            models.When(Q(**{lookup: False}), then=Value(False)),
            default=Value(None),
            output_field=models.BooleanField(),
        )

    return sql


def _text_sql(key: str) -> Any:
    return lambda now, w: Coalesce(KeyTextTransform(key, "custom"), Value(""), output_field=models.CharField())


def build_attribute(definition: CustomAttribute) -> Attribute:
    """The scoring attribute of one definition: Python reads ``snapshot.custom[key]``, SQL the JSON key."""
    key = definition.key
    attr_type = _TYPES[CustomAttributeType(definition.type)]
    if attr_type == AttrType.NUMBER:
        getter, sql = _number_getter(key), _number_sql(key)
    elif attr_type == AttrType.BOOLEAN:
        getter, sql = _boolean_getter(key), _boolean_sql(key)
    else:
        getter, sql = _text_getter(key), _text_sql(key)
    return Attribute(
        key=PREFIX + key,
        label=definition.label,
        type=attr_type,
        group=GROUP,
        getter=getter,
        sql=sql,
        choices=tuple((str(c[0]), str(c[1])) for c in definition.choices or ()),
        help_text=definition.help_text,
    )


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stamp: tuple[Any, ...] | None = None
        self.checked = 0.0
        self.attributes: dict[str, Attribute] = {}

    def clear(self) -> None:
        with self.lock:
            self.stamp, self.checked, self.attributes = None, 0.0, {}

    def get(self, *, force: bool = False) -> dict[str, Attribute]:
        now = time.monotonic()
        if not force and self.stamp is not None and now - self.checked < RECHECK_SECONDS:
            return self.attributes
        stamp_row = CustomAttribute.objects.aggregate(n=Count("id"), last=Max("updated_at"), top=Max("id"))
        stamp = (stamp_row["n"], stamp_row["last"], stamp_row["top"])
        with self.lock:
            if stamp != self.stamp:
                self.attributes = {
                    PREFIX + d.key: build_attribute(d) for d in CustomAttribute.objects.order_by("label", "key")
                }
                self.stamp = stamp
            self.checked = now
            return self.attributes


_cache = _Cache()


def get_custom_attribute(key: str) -> Attribute | None:
    """The attribute for ``custom.<key>``; an unknown key re-reads the definitions before giving up."""
    attributes = _cache.get()
    if key not in attributes:
        attributes = _cache.get(force=True)
    return attributes.get(key)


def list_custom_attributes() -> list[Attribute]:
    try:
        return list(_cache.get().values())
    except DatabaseError:  # before migrations (e.g. a check command on a fresh database)
        return []


def clear_cache() -> None:
    _cache.clear()
