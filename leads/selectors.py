"""Reads of leads that pages and the API share; role scoping happens here, once."""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404

from .models import Lead, Membership
from .roles import is_manager, is_marketer, is_rep


def get_user_team_id(user: AbstractBaseUser | AnonymousUser) -> int | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user).values_list("team_id", flat=True).first()


def visible_lead_parts(user: AbstractBaseUser | AnonymousUser) -> list[Q] | None:
    """The leads the user may read, as disjoint conditions whose union is the scope (None: every lead).

    Managers and marketers read all leads; a rep reads the leads they own and
    their team's unassigned pool (two parts, each with an index in created order);
    anyone else reads none (no part).
    """
    if not user.is_authenticated or not user.is_active:
        return []
    if is_manager(user) or is_marketer(user):
        return None
    if is_rep(user):
        parts = [Q(owner=user)]
        team_id = get_user_team_id(user)
        if team_id is not None:
            parts.append(Q(owner__isnull=True, team_id=team_id))
        return parts
    return []


def leads_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Lead]:
    """Every lead the user may read: the parts of ``visible_lead_parts`` in one condition."""
    return leads_in_parts(visible_lead_parts(user))


def leads_in_parts(parts: list[Q] | None) -> QuerySet[Lead]:
    """The leads of a scope given by ``visible_lead_parts``."""
    if parts is None:
        return Lead.objects.all()
    if not parts:
        return Lead.objects.none()
    return Lead.objects.filter(reduce(or_, parts))


def leads_editable_by(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Lead]:
    """Leads whose fields and qualification the user may change (marketers only read)."""
    if is_manager(user) or is_rep(user):
        return leads_visible_to(user)
    return Lead.objects.none()


def get_lead_for_user(*, user: AbstractBaseUser | AnonymousUser, lead_id: int, for_edit: bool = False) -> Lead:
    """The lead, or Http404 when it does not exist or the user may not see (or edit) it."""
    queryset = leads_editable_by(user) if for_edit else leads_visible_to(user)
    try:
        return queryset.select_related("company", "owner", "team").get(pk=lead_id)
    except Lead.DoesNotExist:
        raise Http404 from None
