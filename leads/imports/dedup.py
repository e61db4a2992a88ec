"""Duplicate keys: the rows seen earlier in the file (on disk, so memory stays flat) and the leads stored already."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable
from pathlib import Path

from django.db.models import Q
from django.db.models.functions import Lower

from leads.models import Lead

from .mapping import fold

Key = tuple[str, str]  # (kind, value): ("email", "a@b.com"), ("phone", "+4930..."), ("person", "ada|acme.com|acme")


class SeenKeys:
    """Keys of the rows accepted so far in this file, with their row number and lead id (0 in a dry run).

    Kept in a temporary SQLite file rather than a Python set: a million-row file
    would otherwise hold every key in memory.
    """

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="leadqual-import-")
        self._db = sqlite3.connect(Path(self._dir.name) / "keys.sqlite3")
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, row INTEGER, lead_id INTEGER)")

    @staticmethod
    def _text(key: Key) -> str:
        return f"{key[0]}:{key[1]}"

    def lookup(self, keys: Iterable[Key]) -> dict[Key, tuple[int, int]]:
        wanted = {self._text(k): k for k in keys}
        found: dict[Key, tuple[int, int]] = {}
        names = list(wanted)
        for start in range(0, len(names), 500):
            part = names[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT key, row, lead_id FROM seen WHERE key IN ({marks})", part)  # noqa: S608
            for text, row, lead_id in rows:
                found[wanted[text]] = (row, lead_id)
        return found

    def add(self, entries: Iterable[tuple[Key, int, int]]) -> None:
        self._db.executemany(
            "INSERT OR IGNORE INTO seen (key, row, lead_id) VALUES (?, ?, ?)",
            ((self._text(k), row, lead_id) for k, row, lead_id in entries),
        )

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()


def find_existing(keys: Iterable[Key]) -> dict[Key, int]:
    """Stored leads matching any of ``keys``: key -> lead id (the lowest id when several match)."""
    emails, phones, people = set(), set(), {}
    for kind, value in keys:
        if kind == "email":
            emails.add(value)
        elif kind == "phone":
            phones.add(value)
        else:
            person, domain, company = value.split("|", 2)
            people[(domain, company, person)] = value
    found: dict[Key, int] = {}
    if emails:
        rows = (
            Lead.objects.annotate(email_lower=Lower("email"))
            .filter(email_lower__in=emails)
            .order_by("id")
            .values_list("email_lower", "id")
        )
        for email, lead_id in rows:
            found.setdefault(("email", email), lead_id)
    if phones:
        for phone, lead_id in Lead.objects.filter(phone__in=phones).order_by("id").values_list("phone", "id"):
            found.setdefault(("phone", str(phone)), lead_id)
    if people:
        domains = {domain for domain, _c, _p in people}
        rows = (
            Lead.objects.filter(company__domain__in=domains)
            .filter(~Q(first_name="") | ~Q(last_name=""))
            .order_by("id")
            .values_list("company__domain", "company__name", "first_name", "last_name", "id")
        )
        for domain, company, first, last, lead_id in rows:
            person = fold(" ".join(filter(None, (first, last))))
            value = people.get((domain, fold(company), person))
            if value is not None:
                found.setdefault(("person", value), lead_id)
    return found
