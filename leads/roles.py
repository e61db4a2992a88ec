"""The three roles, as Django groups, and how to tell a user's role."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    # The value is the Django group's name.
    SALES_REP = "Sales rep", _("Sales rep")
    SALES_MANAGER = "Sales manager", _("Sales manager")
    MARKETER = "Marketer", _("Marketer")


def get_user_roles(user: AbstractBaseUser | AnonymousUser) -> frozenset[str]:
    """The role names of a user (cached on the user object for the request)."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_leadqual_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]
        user._leadqual_roles = cached  # type: ignore[union-attr]
    return cached


def is_manager(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(getattr(user, "is_superuser", False)) or Role.SALES_MANAGER in get_user_roles(user)


def is_marketer(user: AbstractBaseUser | AnonymousUser) -> bool:
    return Role.MARKETER in get_user_roles(user)


def is_rep(user: AbstractBaseUser | AnonymousUser) -> bool:
    return Role.SALES_REP in get_user_roles(user)
