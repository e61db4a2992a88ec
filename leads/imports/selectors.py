"""Reads of import jobs, their row issues and saved mappings; who may import is decided here, once."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from leads.models import ImportJob, ImportRowIssue, SavedMapping
from leads.roles import is_manager, is_marketer

UserLike = AbstractBaseUser | AnonymousUser
# A cell starting with one of these runs as a formula in a spreadsheet (OWASP ASVS 1.2.10).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\0")
_NUMBER_RE = re.compile(r"^[+-]?\d+(\.\d+)?$")


def can_import(user: UserLike) -> bool:
    """Managers and marketers import leads; reps and everyone else do not."""
    return bool(user.is_authenticated and user.is_active and (is_manager(user) or is_marketer(user)))


def import_jobs_visible_to(user: UserLike) -> QuerySet[ImportJob]:
    if not can_import(user):
        return ImportJob.objects.none()
    return ImportJob.objects.all()


def get_import_job_for_user(*, user: UserLike, job_id: int) -> ImportJob:
    """The job, or Http404 when it does not exist or the user may not import."""
    try:
        return import_jobs_visible_to(user).select_related("created_by").get(pk=job_id)
    except ImportJob.DoesNotExist:
        raise Http404 from None


def list_import_jobs(*, user: UserLike, limit: int = 20) -> QuerySet[ImportJob]:
    return import_jobs_visible_to(user).select_related("created_by").order_by("-created_at", "-id")[:limit]


def list_saved_mappings(*, user: UserLike) -> QuerySet[SavedMapping]:
    if not can_import(user):
        return SavedMapping.objects.none()
    return SavedMapping.objects.order_by("name")


def get_saved_mapping(*, name: str) -> SavedMapping | None:
    return SavedMapping.objects.filter(name=name).first()


def list_issues(*, job: ImportJob, limit: int | None = 200) -> QuerySet[ImportRowIssue]:
    issues = job.issues.order_by("row_number", "id")
    return issues[:limit] if limit else issues


def top_reasons(*, job: ImportJob, limit: int = 10) -> list[tuple[str, int]]:
    """The commonest reasons, with the row-specific value cut off ("Lead Source: “x” is not one of ...")."""
    counts: dict[str, int] = {}
    for reason, n in job.issues.values_list("reason").annotate(n=Count("id")).order_by():
        for part in reason.split("; "):
            key = re.sub(r"“[^”]*”", "“…”", part)
            key = re.sub(r"\d+", "N", key)
            counts[key] = counts.get(key, 0) + n
    return sorted(counts.items(), key=lambda kv: -kv[1])[:limit]


def escape_cell(value: Any) -> Any:
    """Prefix a text cell that a spreadsheet would run as a formula with '; plain numbers stay numbers."""
    if isinstance(value, int | float):
        return value
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not _NUMBER_RE.match(text):
        return "'" + text
    return text


def iter_issue_report(*, job: ImportJob, header: list[str] | None = None) -> Iterator[str]:
    """The rejected and skipped rows as CSV lines (row, kind, reason, then the row as read), formula-escaped."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    columns = header or []
    writer.writerow([_("row"), _("kind"), _("reason"), *columns])
    yield buffer.getvalue()
    for issue in job.issues.order_by("row_number", "id").iterator(chunk_size=2000):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(
            [issue.row_number, issue.get_kind_display(), escape_cell(issue.reason), *map(escape_cell, issue.values)]
        )
        yield buffer.getvalue()
