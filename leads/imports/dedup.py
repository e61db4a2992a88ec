"""Duplicate keys: the rows seen earlier in the file (on disk, so memory stays flat) and the leads stored already."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable
from pathlib import Path

from django.db.models import CharField, Q
from django.db.models.functions import Cast, Lower

from leads.models import Lead

from .mapping import fold

Key = tuple[str, str]  # (kind, value): ("email", "a@b.com"), ("phone", "+4930..."), ("person", "ada|acme.com|acme")


class SeenKeys:
    """Keys of the rows accepted so far in this file, with their row number and lead id (0 in a dry run).

    Kept in an SQLite file rather than a Python set: a million-row file would
    otherwise hold every key in memory. The file lives next to the stored CSV so
    that a run resumed after its worker died finds the keys of the rows already
    done: a chunk's keys are committed here just before the chunk itself commits
    in the database, and ``trim`` drops the keys of a chunk that never committed.
    WAL makes each commit atomic even when the process is killed mid-write.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._dir = None
        if path is None:
            self._dir = tempfile.TemporaryDirectory(prefix="leadqual-import-")
            path = Path(self._dir.name) / "keys.sqlite3"
        self.path = path
        self.existed = path.exists()
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")  # survives a killed process; a lost machine restarts the job
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, row INTEGER, lead_id INTEGER)")

    @staticmethod
    def _text(key: Key) -> str:
        return f"{key[0]}:{key[1]}"

    def trim(self, *, after_row: int) -> None:
        """Forget the keys of rows after ``after_row`` (a chunk whose database transaction did not commit)."""
        self._db.execute("DELETE FROM seen WHERE row > ?", (after_row,))

    def lookup(self, keys: Iterable[Key]) -> dict[Key, tuple[int, int]]:
        wanted = {self._text(k): k for k in keys}
        found: dict[Key, tuple[int, int]] = {}
        names = list(wanted)
        for start in range(0, len(names), 900):
            part = names[start : start + 900]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT key, row, lead_id FROM seen WHERE key IN ({marks})", part)  # noqa: S608
            for text, row, lead_id in rows:
                found[wanted[text]] = (row, lead_id)
        return found

    def add(self, entries: Iterable[tuple[Key, int, int]]) -> None:
        """Add keys (the first row to use a key keeps it) in one committed transaction."""
        self._db.execute("BEGIN")
        self._db.executemany(
            "INSERT OR IGNORE INTO seen (key, row, lead_id) VALUES (?, ?, ?)",
            ((self._text(k), row, lead_id) for k, row, lead_id in entries),
        )
        self._db.execute("COMMIT")

    def close(self, *, delete: bool = False) -> None:
        self._db.close()
        if self._dir is not None:
            self._dir.cleanup()
        elif delete:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)


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
        # Compared as text: the phones are E.164 already, and PhoneNumberField would parse
        # every value again (about 40 us each). The cast is a relabel; the index still applies.
        rows = (
            Lead.objects.annotate(phone_text=Cast("phone", output_field=CharField()))
            .filter(phone_text__in=phones)
            .order_by("id")
            .values_list("phone_text", "id")
        )
        for phone, lead_id in rows:
            found.setdefault(("phone", phone), lead_id)
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
