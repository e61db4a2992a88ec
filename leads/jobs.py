"""Chunked jobs over every lead: the one mechanism behind bulk rescoring and bulk routing.

A job walks lead ids in ranges, one short transaction per chunk; the chunk's
writes and the job's cursor commit together, so a killed run redoes at most one
chunk (and redoing it writes nothing), a newer job supersedes an older one at
its next chunk boundary, and a retry after a database error resumes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from django.db import InterfaceError, OperationalError, connection, models, transaction
from django.db.models import Max, Min, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Lead


class JobState(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    SUPERSEDED = "superseded", _("Superseded")


UNFINISHED = (JobState.PENDING, JobState.RUNNING)


def commit_without_flush_wait() -> None:
    """Inside a transaction: its commit does not wait for the WAL flush (PostgreSQL).

    Only for writes a crash may lose whole and the system redoes: scores (the sweep
    recomputes them) and job chunks whose cursor commits with them (the job resumes).
    Saves ~3 ms per commit.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def raw_params(params: Iterable[Any]) -> list[Any]:
    """Parameters of a raw statement, datetimes as the ORM stores them.

    SQLite keeps naive UTC text; a datetime passed raw would be stored, or compared, as other
    text (with its offset), so ORM reads filtering on it would not find it.
    """
    return [connection.ops.adapt_datetimefield_value(p) if isinstance(p, datetime) else p for p in params]


class LeadSweepJob(models.Model):
    """Progress of a job over every lead; ``cursor`` is the last lead id done."""

    state = models.CharField(_("state"), max_length=20, choices=JobState.choices, default=JobState.PENDING)
    total = models.PositiveIntegerField(_("leads"), default=0)
    done = models.PositiveIntegerField(_("leads done"), default=0)
    cursor = models.BigIntegerField(_("last lead id done"), default=0)
    max_lead_id = models.BigIntegerField(_("last lead id"), default=0)
    chunks_done = models.PositiveIntegerField(_("chunks done"), default=0)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @property
    def percent(self) -> int:
        if self.state == JobState.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0


J = TypeVar("J", bound=LeadSweepJob)


def start_sweep_job(*, model: type[J], task: Any | None, **fields: Any) -> J:
    """Create a job over every lead, supersede unfinished older ones, enqueue ``task`` after commit."""
    bounds = Lead.objects.aggregate(lo=Min("id"), hi=Max("id"))
    with transaction.atomic():
        model.objects.filter(state__in=UNFINISHED).update(state=JobState.SUPERSEDED, finished_at=timezone.now())
        job = model.objects.create(
            total=Lead.objects.count(),
            cursor=(bounds["lo"] or 1) - 1,
            max_lead_id=bounds["hi"] or 0,
            **fields,
        )
        if task is not None:
            task.delay_on_commit(job.pk)
    return job


#: A chunk's writes, given the job as the chunk's turn finds it: returns what to add to the counter.
ChunkWrite = Callable[[J], int]


def run_sweep_job(
    *,
    model: type[J],
    job_id: int,
    chunk_size: int,
    counter: str,
    apply_chunk: Callable[[QuerySet[Lead], tuple[int, int], J], int] | None = None,
    prepare_chunk: Callable[[QuerySet[Lead], tuple[int, int]], ChunkWrite[J]] | None = None,
    lanes: int = 1,
    on_chunk: Callable[[J], None] | None = None,
    on_finished: Callable[[J], None] | None = None,
) -> J:
    """Run (or resume) a job from its cursor, one transaction per chunk; ``on_finished`` runs once, in
    the run that completed the job.

    A chunk is either ``apply_chunk`` (read and write, returning what to add to ``counter``) or
    two phases: ``prepare_chunk`` reads what the chunk will write, without writing shared rows,
    and returns the write. With ``lanes`` > 1 (PostgreSQL, outside a transaction) that many
    connections take the chunks in turn: a chunk's reading runs while the chunk before it
    writes and commits, and its writing waits for that commit. Writes, cursor moves and
    ``on_chunk`` calls stay one chunk at a time and in order, so resuming, superseding and
    redoing a lost chunk work as with one lane.
    """
    if (apply_chunk is None) == (prepare_chunk is None):
        raise TypeError("run_sweep_job takes either apply_chunk or prepare_chunk")
    if apply_chunk is not None:
        one_phase = apply_chunk

        def prepare_chunk(chunk: QuerySet[Lead], id_range: tuple[int, int]) -> ChunkWrite[J]:
            return lambda job: one_phase(chunk, id_range, job)

    job = model.objects.get(pk=job_id)
    if job.state in (JobState.DONE, JobState.SUPERSEDED):
        return job
    if job.state == JobState.PENDING:
        model.objects.filter(pk=job.pk, state=JobState.PENDING).update(
            state=JobState.RUNNING, started_at=timezone.now(), updated_at=timezone.now()
        )
    sweep = _Sweep(model, job.pk, chunk_size, counter, prepare_chunk, on_chunk)
    try:
        # A second connection sees only committed rows, and SQLite has one writer: one lane there.
        overlap = connection.vendor == "postgresql" and not connection.in_atomic_block
        completed = sweep.run(lanes if overlap else 1)
    except (OperationalError, InterfaceError):
        # Connection lost, deadlock: the task retries and resumes from the cursor, so the
        # job stays RUNNING (the periodic resume also restarts stalled jobs).
        raise
    except Exception as exc:
        model.objects.filter(pk=job.pk).update(state=JobState.FAILED, error=str(exc)[:2000])
        raise
    job.refresh_from_db()
    if not completed:
        return job
    finished = model.objects.filter(pk=job.pk, state=JobState.RUNNING).update(
        state=JobState.DONE, done=job.total, finished_at=timezone.now()
    )
    job.refresh_from_db()
    if finished and on_finished:
        on_finished(job)
    return job


class _GiveBack(Exception):
    """The chunk's turn found the job superseded, finished elsewhere or stopped: roll the chunk back."""


class _Sweep(Generic[J]):
    """The chunks of one run of a job: one after another, or in lanes (see ``run_sweep_job``)."""

    def __init__(
        self,
        model: type[J],
        job_id: int,
        chunk_size: int,
        counter: str,
        prepare_chunk: Callable[[QuerySet[Lead], tuple[int, int]], ChunkWrite[J]],
        on_chunk: Callable[[J], None] | None,
    ) -> None:
        self.model, self.job_id, self.chunk_size, self.counter = model, job_id, chunk_size, counter
        self.prepare_chunk, self.on_chunk = prepare_chunk, on_chunk
        # The index of the chunk whose turn it is to write, and whether the run stopped.
        self._turn = threading.Condition()
        self._next = 0
        self._stopped = False
        self._error: BaseException | None = None

    def run(self, lanes: int) -> bool:
        """The chunks from the cursor, ``lanes`` connections taking them in turn (1: this one alone);
        True when the last chunk committed."""
        job = self.model.objects.get(pk=self.job_id)
        if job.state != JobState.RUNNING:
            return False
        bounds = range(job.cursor, job.max_lead_id, self.chunk_size)
        ranges = [(lo, lo + self.chunk_size) for lo in bounds]
        threads = [
            threading.Thread(target=self._lane, args=(ranges, lane, lanes, True), name=f"sweep-lane-{lane}")
            for lane in range(1, lanes)
        ]
        for thread in threads:
            thread.start()
        self._lane(ranges, 0, lanes, False)
        for thread in threads:
            thread.join()
        if self._error is not None:
            raise self._error
        return self._next == len(ranges)

    def _lane(self, ranges: list[tuple[int, int]], lane: int, lanes: int, own_connection: bool) -> None:
        try:
            for index in range(lane, len(ranges), lanes):
                if not self._chunk(index, *ranges[index]):
                    self._stop()
                    return
                with self._turn:
                    self._next = index + 1
                    self._turn.notify_all()
        except BaseException as exc:  # handed to the caller's thread, which raises it
            self._stop(exc)
        finally:
            if own_connection:
                connection.close()

    def _wait_turn(self, index: int) -> None:
        with self._turn:
            self._turn.wait_for(lambda: self._stopped or self._next == index)
            if self._stopped:
                raise _GiveBack

    def _stop(self, error: BaseException | None = None) -> None:
        with self._turn:
            self._stopped = True
            if error is not None and not isinstance(error, _GiveBack) and self._error is None:
                self._error = error
            self._turn.notify_all()

    def _chunk(self, index: int, lower: int, upper: int) -> bool:
        """Chunk ``index`` in one transaction; False when it was given back (the run ends there)."""
        try:
            with transaction.atomic():
                chunk = Lead.objects.filter(id__gt=lower, id__lte=upper)
                count = chunk.count()
                write = self.prepare_chunk(chunk, (lower, upper))
                self._wait_turn(index)  # until the chunk before this one has committed
                job = self.model.objects.get(pk=self.job_id)
                if job.state != JobState.RUNNING or job.cursor != lower:
                    raise _GiveBack
                affected = write(job)
                # The cursor moves in the same transaction as the chunk's writes.
                updated = self.model.objects.filter(pk=job.pk, state=JobState.RUNNING, cursor=lower).update(
                    cursor=min(upper, job.max_lead_id),
                    done=min(job.total, job.done + count),
                    chunks_done=job.chunks_done + 1,
                    updated_at=timezone.now(),
                    **{self.counter: getattr(job, self.counter) + affected},
                )
                if not updated:  # superseded, or run twice at once: give the chunk back
                    raise _GiveBack
        except _GiveBack:
            # Raised out of the block, which rolls it back: a query inside a rolled-back block
            # raised TransactionManagementError, which failed the job (fault suite, scenario 12).
            return False
        if self.on_chunk:
            self.on_chunk(self.model.objects.get(pk=self.job_id))
        return True


def resume_stalled_sweep_jobs(
    *, model: type[LeadSweepJob], task: Any, stalled_after: timedelta = timedelta(minutes=2)
) -> list[int]:
    """Re-enqueue the newest unfinished job when it made no progress lately (its worker died).

    Running a job twice is harmless: a chunk lands only if the job's cursor has not moved.
    """
    jobs = list(model.objects.filter(state__in=UNFINISHED).order_by("-id"))
    for old in jobs[1:]:
        model.objects.filter(pk=old.pk).update(state=JobState.SUPERSEDED, finished_at=timezone.now())
    resumed = []
    for job in jobs[:1]:
        if job.updated_at < timezone.now() - stalled_after:
            task.delay(job.pk)
            resumed.append(job.pk)
    return resumed
