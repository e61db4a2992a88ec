"""CSV exports streamed with constant memory, formula cells neutralised in SQL (OWASP ASVS 1.2.10)."""

from __future__ import annotations

import csv
import io
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection, models
from django.db.models import F, Q, Value
from django.db.models.functions import Cast, Coalesce, Concat, Substr
from django.db.models.lookups import In
from django.utils.translation import gettext as _

from leads.models import Lead

# A cell starting with one of these runs as a formula in a spreadsheet; NUL cannot
# occur in PostgreSQL text, so only SQLite needs to look for it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_ROWS = 2000
# What the COPY reader hands over at a time; at most QUEUE_CHUNKS of them wait.
FLUSH_CHARS = 64 * 1024
QUEUE_CHUNKS = 4


def _text(path: str) -> models.Expression:
    return Coalesce(F(path), Value(""), output_field=models.CharField())


class _NeutralisedPostgres(models.Func):
    """One integer test of the first character per cell: no substring, list of text compares or concat call.

    ``ascii()`` is the code of the first character (0 for '', NULL for NULL); a NULL
    cell stays NULL, which COPY writes as an empty field.
    """

    template = "CASE WHEN ascii(%(expressions)s) IN (%(codes)s) THEN '''' || %(expressions)s ELSE %(expressions)s END"
    output_field = models.TextField()

    def __init__(self, path: str) -> None:
        super().__init__(F(path), codes=", ".join(str(ord(c)) for c in FORMULA_STARTS))


def neutralised(path: str) -> models.Expression:
    """``'`` + the text cell at ``path`` when it starts like a formula, else the cell (computed by the database)."""
    if connection.vendor == "postgresql":
        return _NeutralisedPostgres(path)
    expression = _text(path)
    return models.Case(
        models.When(Q(In(Substr(expression, 1, 1), [*FORMULA_STARTS, "\x00"])), then=Concat(Value("'"), expression)),
        default=expression,
        output_field=models.CharField(),
    )


def export_columns() -> list[tuple[str, models.Expression]]:
    """(header, expression) of every exported column; text is neutralised, numbers stay numbers."""
    return [
        (_("lead id"), F("id")),
        (_("first name"), neutralised("first_name")),
        (_("last name"), neutralised("last_name")),
        (_("email"), neutralised("email")),
        (_("phone"), neutralised("phone")),
        (_("job title"), neutralised("job_title")),
        (_("company"), neutralised("company__name")),
        (_("country"), neutralised("company__country")),
        (_("employees"), F("company__employee_count")),
        (_("score"), F("score__total")),
        (_("band"), neutralised("score__band")),
        (_("status"), F("status")),
        (_("marketing consent"), Cast("marketing_consent", models.IntegerField())),
        (_("created at"), Cast("created_at", models.DateField())),
    ]


def export_select(leads: models.QuerySet[Lead]) -> tuple[list[str], str, list[Any]]:
    """Headers and the SQL (with parameters) selecting the export rows of ``leads`` in id order."""
    columns = export_columns()
    aliases = {f"c{i}": expression for i, (_header, expression) in enumerate(columns)}
    query = leads.order_by("id").annotate(**aliases).values_list(*aliases)
    sql, params = query.query.sql_with_params()
    return [header for header, _expression in columns], sql, list(params)


def _header_line(headers: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([neutralise_text(h) for h in headers])
    return buffer.getvalue()


def neutralise_text(value: str) -> str:
    """The Python twin of ``neutralised`` (headers are ours, but translations are data too)."""
    return "'" + value if value and value[0] in (*FORMULA_STARTS, "\x00") else value


def iter_csv(*, leads: models.QuerySet[Lead], on_done: Callable[[int], None] | None = None) -> Iterator[str]:
    """Yield the CSV text of ``leads`` in chunks; memory stays flat however many rows there are.

    PostgreSQL streams ``COPY (select) TO STDOUT`` through a small bounded
    queue; other databases read with a server-side cursor in chunks.
    ``on_done(rows)`` runs once the last row has been produced.
    """
    headers, sql, params = export_select(leads)
    yield _header_line(headers)
    if connection.vendor == "postgresql":
        rows = yield from _iter_copy(sql, params)
    else:
        rows = yield from _iter_cursor(sql, params)
    if on_done is not None:
        on_done(rows)


def _iter_cursor(sql: str, params: list[Any]) -> Iterator[str]:
    rows = 0
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(CHUNK_ROWS):
            writer.writerows(batch)
            rows += len(batch)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    return rows


class _Stop(Exception):
    """The reader went away: abort the COPY."""


class _QueueWriter:
    """A file-like sink for copy_expert that hands chunks to the reader through a bounded queue."""

    def __init__(self, chunks: queue.Queue[Any], stop: threading.Event) -> None:
        self.chunks = chunks
        self.stop = stop
        self.pending: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        # Called once per row: keep the bytes, decode once per chunk in flush().
        self.pending.append(data)
        self.size += len(data)
        if self.size >= FLUSH_CHARS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        chunk, self.pending, self.size = b"".join(self.pending).decode(), [], 0
        while True:
            if self.stop.is_set():
                raise _Stop
            try:
                self.chunks.put(chunk, timeout=0.5)
                return
            except queue.Full:
                continue


def _iter_copy(sql: str, params: list[Any]) -> Iterator[str]:
    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor() as cursor:
        # Parameters are bound by the driver (mogrify), never pasted from input.
        copy_sql = "COPY (" + cursor.mogrify(sql, params).decode() + ") TO STDOUT WITH (FORMAT csv)"
    chunks: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_CHUNKS)
    stop = threading.Event()
    result: dict[str, Any] = {}
    done = object()

    def produce() -> None:
        writer = _QueueWriter(chunks, stop)
        try:
            with raw.cursor() as cursor:
                cursor.copy_expert(copy_sql, writer, size=64 * 1024)
                writer.flush()
                result["rows"] = cursor.rowcount
        except _Stop:
            result["rows"] = -1
        except Exception as exc:  # handed to the reader, raised there
            result["error"] = exc
        finally:
            while not stop.is_set():
                try:
                    chunks.put(done, timeout=0.5)
                    break
                except queue.Full:
                    continue

    thread = threading.Thread(target=produce, name="csv-export", daemon=True)
    thread.start()
    try:
        while (chunk := chunks.get()) is not done:
            yield chunk
    finally:
        stop.set()
        thread.join()
    if "error" in result:
        raise result["error"]
    return int(result.get("rows", 0))
