"""Set-based inserts for the import on PostgreSQL: ids drawn from the sequence, rows sent with COPY.

The cleaned values of a row are already validated and in their stored form
(E.164 phones, country codes, folded choices), so no model instance is built:
a row is the table's default values with the row's own values laid over them.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from django.db import connection, models

# COPY's text format: tab-separated, \N for NULL, backslash escapes.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# str.translate with multi-character replacements walks the string a character at a time
# (~1 us for an email); most values need no escape, which one search tells.
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]").search
NULL = "\\N"
_json = json.JSONEncoder(check_circular=False).encode  # json.dumps without its per-call set-up


def copy_text(value: Any) -> str:
    """One value as COPY text."""
    kind = type(value)  # the common kinds first: this runs for every value of every row
    if kind is str:
        return value.translate(_ESCAPES) if _NEEDS_ESCAPE(value) else value
    if kind is int:
        return str(value)
    if value is None:
        return NULL
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, dict | list):
        value = _json(value)
    elif isinstance(value, datetime | date):
        return value.isoformat()
    else:
        value = str(value)
    return value.translate(_ESCAPES) if _NEEDS_ESCAPE(value) else value


class CopyTable:
    """Rows of one model as COPY lines; ``fixed`` values (timestamps, the job) are the same for every row."""

    def __init__(self, model: type[models.Model], fixed: Mapping[str, Any]) -> None:
        fields = [f for f in model._meta.concrete_fields if not f.generated]
        self.table = model._meta.db_table
        self.columns = [f.column for f in fields]
        self.index: dict[str, int] = {}
        for i, f in enumerate(fields):
            self.index[f.attname] = i
            self.index[f.name] = i
        self.template = [copy_text(f.get_default()) for f in fields]
        for name, value in fixed.items():
            self.template[self.index[name]] = copy_text(value)
        self.lines: list[str] = []

    def line(self, *parts: Mapping[str, Any]) -> str:
        """One row as a COPY line: the template with ``parts`` (field name -> value) laid over it."""
        line = self.template.copy()
        index = self.index
        for values in parts:
            for name, value in values.items():
                # copy_text's common cases inline: text that needs no escape (choices too: a
                # TextChoices member is a str whose characters are its value) and ids.
                if isinstance(value, str) and not _NEEDS_ESCAPE(value):
                    line[index[name]] = value
                elif type(value) is int:
                    line[index[name]] = str(value)
                else:
                    line[index[name]] = copy_text(value)
        return "\t".join(line)

    def add(self, *parts: Mapping[str, Any]) -> None:
        self.lines.append(self.line(*parts))

    def copy(self, lines: Iterable[str] | None = None) -> None:
        """Send the added rows, or ``lines`` as an iterator yields them, in one COPY statement.

        Given a generator, each block of lines is built while the database inserts the one
        before: the import's Python work and the server's inserts run at the same time.
        An IntegrityError here rolls back like any insert.
        """
        source = iter(self.lines if lines is None else lines)
        quote = connection.ops.quote_name
        sql = f"COPY {quote(self.table)} ({', '.join(quote(c) for c in self.columns)}) FROM STDIN"
        reader = _LineReader(source)
        if reader.peek():
            with connection.cursor() as cursor, connection.wrap_database_errors:
                cursor.cursor.copy_expert(sql, reader, size=COPY_BLOCK)
        self.lines = []


COPY_BLOCK = 128 * 1024  # ~400 lead rows: the server starts on the first while the next are built


class _LineReader(io.RawIOBase):
    """Lines from an iterator as a file for copy_expert, built and encoded a block at a time."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._pending = b""

    def readable(self) -> bool:
        return True

    def peek(self) -> bool:
        """Whether there is anything to send (reads the first block)."""
        self._pending = self._block(COPY_BLOCK)
        return bool(self._pending)

    def _block(self, size: int) -> bytes:
        parts, length = [], 0
        for line in self._lines:
            parts.append(line)
            length += len(line) + 1
            if 0 <= size <= length:
                break
        return ("\n".join(parts) + "\n").encode() if parts else b""

    def read(self, size: int = -1) -> bytes:
        block = self._pending
        while size < 0 or len(block) < size:
            more = self._block(COPY_BLOCK if size < 0 else size - len(block))
            if not more:
                break
            block += more
        if size < 0:
            self._pending = b""
            return block
        self._pending = block[size:]
        return block[:size]


def next_ids(model: type[models.Model], count: int) -> list[int]:
    """``count`` new primary keys from the table's sequence (one query)."""
    if not count:
        return []
    with connection.cursor() as cursor:
        # The sequence is looked up once (a CTE), not once per id: pg_get_serial_sequence in
        # the select list would read the catalogue for every row (~5x the time of nextval).
        cursor.execute(
            "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence(%s, %s)::regclass AS seq)"
            " SELECT nextval(s.seq) FROM s, generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return [row[0] for row in cursor.fetchall()]


def supported() -> bool:
    """COPY and sequences: PostgreSQL; other databases take the ORM's bulk_create."""
    return connection.vendor == "postgresql"


def update_rows(
    model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str], *, set_sql: str = ""
) -> None:
    """Write ``fields`` of ``objs`` (loaded, then changed in Python) in one UPDATE ... FROM a COPY-filled temp table.

    Django's bulk_update builds a CASE per field and row; this is one join. ``set_sql``
    adds assignments over the target row ``t`` (e.g. ``"version" = t."version" + 1``).
    """
    if not objs:
        return
    quote = connection.ops.quote_name
    meta = model._meta
    targets = [meta.get_field(name) for name in fields]
    columns = [meta.pk.column, *(f.column for f in targets)]
    table, staging = quote(meta.db_table), quote(f"import_staging_{meta.db_table}")
    buffer = io.StringIO()
    for obj in objs:
        values = [obj.pk, *(f.get_prep_value(getattr(obj, f.attname)) for f in targets)]
        buffer.write("\t".join(copy_text(v) for v in values))
        buffer.write("\n")
    buffer.seek(0)
    names = ", ".join(quote(c) for c in columns)
    assignments = [f"{quote(c)} = s.{quote(c)}" for c in columns[1:]]
    if set_sql:
        assignments.append(set_sql)
    with connection.cursor() as cursor, connection.wrap_database_errors:
        # Every name below is quoted and comes from the model's _meta; the values travel by COPY.
        cursor.execute(f"CREATE TEMP TABLE {staging} AS SELECT {names} FROM {table} WITH NO DATA")  # noqa: S608
        cursor.cursor.copy_expert(f"COPY {staging} ({names}) FROM STDIN", buffer)
        pk = quote(meta.pk.column)
        cursor.execute(
            f"UPDATE {table} AS t SET {', '.join(assignments)} FROM {staging} AS s WHERE t.{pk} = s.{pk}"  # noqa: S608
        )
        cursor.execute(f"DROP TABLE {staging}")
