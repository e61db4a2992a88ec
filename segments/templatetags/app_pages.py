"""Template helpers of the browser app: the user's role for the navigation, score deltas, band classes."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

from leads.imports.selectors import can_import
from leads.roles import is_manager, is_marketer, is_rep

register = template.Library()


@register.simple_tag(takes_context=True)
def app_role(context: template.Context) -> dict[str, Any]:
    """What the navigation offers: the queue to people who sell, imports to importers, admin to managers."""
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return {}
    manager, marketer, rep = is_manager(user), is_marketer(user), is_rep(user)
    label = _("Sales manager") if manager else _("Marketer") if marketer else _("Sales rep") if rep else ""
    return {"manager": manager, "sells": manager or rep, "imports": can_import(user), "label": label}


@register.filter
def band_class(band: str | None) -> str:
    """A CSS class per band letter (unknown or custom bands share a neutral look)."""
    band = (band or "").strip().upper()
    return f"band band-{band.lower()}" if band in {"A", "B", "C", "D"} else "band band-x"


@register.filter
def delta(total: int | None, before: int | None) -> int | None:
    if total is None or before is None:
        return None
    return total - before


@register.filter
def signed(value: int | None) -> str:
    if value is None:
        return ""
    return f"+{value}" if value > 0 else f"{value}" if value < 0 else "±0"


@register.filter
def ago(value: Any) -> str:
    """ "just now", or "3 hours ago" (Django's timesince, which says "0 minutes" for fresh times)."""
    if not value:
        return ""
    from django.utils import timezone
    from django.utils.timesince import timesince

    if (timezone.now() - value).total_seconds() < 60:
        return _("just now")
    return _("%(time)s ago") % {"time": timesince(value)}
