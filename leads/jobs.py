"""Chunked jobs over every lead: the one mechanism behind bulk rescoring and bulk routing.

A job walks lead ids in ranges, one short transaction per chunk; the chunk's
writes and the job's cursor commit together, so a killed run redoes at most one
chunk (and redoing it writes nothing), a newer job supersedes an older one at
its next chunk boundary, and a retry after a database error resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

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


def run_sweep_job(
    *,
    model: type[J],
    job_id: int,
    chunk_size: int,
    apply_chunk: Callable[[QuerySet[Lead], tuple[int, int], J], int],
    counter: str,
    on_chunk: Callable[[J], None] | None = None,
    on_finished: Callable[[J], None] | None = None,
) -> J:
    """Run (or resume) a job from its cursor; ``apply_chunk`` returns what to add to ``counter``.

    ``on_finished`` runs once, in the run that completed the job.
    """
    job = model.objects.get(pk=job_id)
    if job.state in (JobState.DONE, JobState.SUPERSEDED):
        return job
    if job.state == JobState.PENDING:
        model.objects.filter(pk=job.pk, state=JobState.PENDING).update(
            state=JobState.RUNNING, started_at=timezone.now(), updated_at=timezone.now()
        )
    try:
        while True:
            job.refresh_from_db()
            if job.state != JobState.RUNNING:
                return job
            if job.cursor >= job.max_lead_id:
                break
            upper = job.cursor + chunk_size
            with transaction.atomic():
                chunk = Lead.objects.filter(id__gt=job.cursor, id__lte=upper)
                count = chunk.count()
                affected = apply_chunk(chunk, (job.cursor, upper), job)
                # The cursor moves in the same transaction as the chunk's writes.
                updated = model.objects.filter(pk=job.pk, state=JobState.RUNNING, cursor=job.cursor).update(
                    cursor=min(upper, job.max_lead_id),
                    done=min(job.total, job.done + count),
                    chunks_done=job.chunks_done + 1,
                    updated_at=timezone.now(),
                    **{counter: getattr(job, counter) + affected},
                )
                if not updated:  # superseded, or run twice at once: give the chunk back
                    transaction.set_rollback(True)
            if not updated:
                # Outside the rolled-back block: a query inside it raised TransactionManagementError,
                # which failed the job (fault suite, scenario 12: a redelivered job task).
                job.refresh_from_db()
                return job
            if on_chunk:
                job.refresh_from_db()
                on_chunk(job)
    except (OperationalError, InterfaceError):
        # Connection lost, deadlock: the task retries and resumes from the cursor, so the
        # job stays RUNNING (the periodic resume also restarts stalled jobs).
        raise
    except Exception as exc:
        model.objects.filter(pk=job.pk).update(state=JobState.FAILED, error=str(exc)[:2000])
        raise
    finished = model.objects.filter(pk=job.pk, state=JobState.RUNNING).update(
        state=JobState.DONE, done=job.total, finished_at=timezone.now()
    )
    job.refresh_from_db()
    if finished and on_finished:
        on_finished(job)
    return job


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
