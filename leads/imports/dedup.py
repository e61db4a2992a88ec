"""Duplicate keys: the rows seen earlier in the file (on disk, so memory stays flat) and the leads stored already."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from django.db import connection
from django.db.models import CharField, Q
from django.db.models.functions import Cast, Lower

from leads.models import Lead

from . import bulk
from .mapping import fold

# A duplicate key: its kind and value in one string, "email:a@b.com", "phone:+4930...",
# "person:ada|acme.com|acme" (a string costs less to build, hash and store than a tuple).
Key = str


def key_kind(key: Key) -> str:
    """ "email", "phone" or "person"."""
    return key.partition(":")[0]


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
        # WITHOUT ROWID: the key is the table's only b-tree (a rowid table keeps a second one for it).
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, row INTEGER, lead_id INTEGER) WITHOUT ROWID"
        )
        self._load_filter()

    def trim(self, *, after_row: int) -> None:
        """Forget the keys of rows after ``after_row`` (a chunk whose database transaction did not commit)."""
        self._db.execute("DELETE FROM seen WHERE row > ?", (after_row,))

    def lookup(self, keys: Iterable[Key]) -> dict[Key, tuple[int, int]]:
        """The keys seen before, with the row that first used each and its lead id."""
        names = list(filter(self._maybe, keys))
        found: dict[Key, tuple[int, int]] = {}
        for start in range(0, len(names), 900):
            part = names[start : start + 900]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT key, row, lead_id FROM seen WHERE key IN ({marks})", part)  # noqa: S608
            for key, row, lead_id in rows:
                found[key] = (row, lead_id)
        return found

    def add(self, entries: Iterable[tuple[Key, int, int]]) -> None:
        """Add keys (the first row to use a key keeps it) in one committed transaction."""
        rows = entries if isinstance(entries, list) else list(entries)
        self._db.execute("BEGIN")
        # A few statements of many rows each: SQLite's cost is per statement step far more than per
        # row, and each statement hands the GIL over (the parsing thread may keep it a while).
        per_statement = min(5000, self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // 3)
        for start in range(0, len(rows), per_statement):
            part = rows[start : start + per_statement]
            values = ",".join(["(?, ?, ?)"] * len(part))
            self._db.execute(
                f"INSERT OR IGNORE INTO seen (key, row, lead_id) VALUES {values}",  # noqa: S608
                [value for entry in part for value in entry],
            )
        self._db.execute("COMMIT")
        for text, _row, _lead_id in rows:
            self._remember(text)

    # Most keys of a file are new: a Bloom filter (fixed size, two bits per key) answers "never
    # seen" for them without asking SQLite; a "maybe" is asked. It lives in memory only and is
    # rebuilt from the file when a run resumes (Python's string hash differs between processes).
    _SHIFT = 25
    _BITS = 1 << _SHIFT  # 4 MB whatever the file: 0.03 % false "maybe" at 300,000 keys, 3 % at 3 million

    def _load_filter(self) -> None:
        self._filter = bytearray(self._BITS >> 3)
        for (text,) in self._db.execute("SELECT key FROM seen"):
            self._remember(text)

    def _remember(self, text: str) -> None:
        bits, h = self._filter, hash(text)
        a, b = h & (self._BITS - 1), (h >> self._SHIFT) & (self._BITS - 1)
        bits[a >> 3] |= 1 << (a & 7)
        bits[b >> 3] |= 1 << (b & 7)

    def _maybe(self, text: str) -> bool:
        bits, h = self._filter, hash(text)
        a, b = h & (self._BITS - 1), (h >> self._SHIFT) & (self._BITS - 1)
        return bool(bits[a >> 3] & (1 << (a & 7)) and bits[b >> 3] & (1 << (b & 7)))

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
    for key in keys:
        kind, _sep, value = key.partition(":")
        if kind == "email":
            emails.add(value)
        elif kind == "phone":
            phones.add(value)
        else:
            person, domain, company = value.split("|", 2)
            people[(domain, company, person)] = key
    found: dict[Key, int] = {}
    for kind, rows in _stored(emails, phones, {domain for domain, _c, _p in people}):
        if kind == "person":
            for domain, company, first, last, lead_id in rows:
                person = fold(" ".join(filter(None, (first, last))))
                key = people.get((domain, fold(company), person))
                if key is not None:
                    found.setdefault(key, lead_id)
        else:
            for value, lead_id in rows:
                found.setdefault(f"{kind}:{value}", lead_id)
    return found


# The same three reads in SQL for PostgreSQL, each an index probe per key: an array parameter
# instead of an IN list, whose values the ORM prepares one by one (~4 us each, and there are up
# to three keys a row), and a LATERAL probe per key instead of one "= ANY(...)": a table filled
# since its last ANALYZE has no statistics, and for thousands of values the planner then picks a
# scan of the whole table, once per chunk.
_STORED_SQL = {
    "email": (
        "SELECT k.v, l.id FROM unnest(%s::text[]) AS k(v)"
        " CROSS JOIN LATERAL (SELECT id FROM leads_lead WHERE lower(email) = k.v ORDER BY id LIMIT 1) AS l"
    ),
    "phone": (
        "SELECT k.v, l.id FROM unnest(%s::text[]) AS k(v)"
        " CROSS JOIN LATERAL (SELECT id FROM leads_lead WHERE phone = k.v ORDER BY id LIMIT 1) AS l"
    ),
    "person": (
        "SELECT c.domain, c.name, l.first_name, l.last_name, l.id FROM unnest(%s::text[]) AS k(v)"
        " CROSS JOIN LATERAL (SELECT id, name, domain FROM leads_company WHERE domain = k.v) AS c"
        " CROSS JOIN LATERAL (SELECT id, first_name, last_name FROM leads_lead WHERE company_id = c.id"
        " AND (first_name <> '' OR last_name <> '')) AS l ORDER BY l.id"
    ),
}


def _stored(emails: set[str], phones: set[str], domains: set[str]) -> Iterator[tuple[str, Iterable[tuple]]]:
    """(kind, rows) of the stored leads by lower-cased email, by E.164 phone, and with a name at a domain."""
    wanted = {"email": emails, "phone": phones, "person": domains}
    if bulk.supported():
        with connection.cursor() as cursor:
            for kind, values in wanted.items():
                if values:
                    cursor.execute(_STORED_SQL[kind], [list(values)])
                    yield kind, cursor.fetchall()
        return
    if emails:
        yield (
            "email",
            (
                Lead.objects.annotate(email_lower=Lower("email"))
                .filter(email_lower__in=emails)
                .order_by("id")
                .values_list("email_lower", "id")
            ),
        )
    if phones:
        # Compared as text: the phones are E.164 already, and PhoneNumberField would parse
        # every value again (about 40 us each). The cast is a relabel; the index still applies.
        yield (
            "phone",
            (
                Lead.objects.annotate(phone_text=Cast("phone", output_field=CharField()))
                .filter(phone_text__in=phones)
                .order_by("id")
                .values_list("phone_text", "id")
            ),
        )
    if domains:
        yield (
            "person",
            (
                Lead.objects.filter(company__domain__in=domains)
                .filter(~Q(first_name="") | ~Q(last_name=""))
                .order_by("id")
                .values_list("company__domain", "company__name", "first_name", "last_name", "id")
            ),
        )
