"""The import service: the only writer of imported leads, import jobs, saved mappings and custom attributes.

A run reads the file in chunks. Every row is cleaned and matched first; only
then is the chunk written, set-based, in one transaction, so a bad row is
reported and skipped before anything is written and no row is half-written.
A dry run does everything except the writes. Leads are scored once, in bulk,
after the run: the import sends ``lead_changed`` a single time with every lead
it wrote, never once per lead.
"""

from __future__ import annotations

import csv
import logging
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.jobs import commit_without_flush_wait
from leads.models import (
    Company,
    CustomAttribute,
    DuplicatePolicy,
    ImportJob,
    ImportRowIssue,
    ImportState,
    Lead,
    LeadStatus,
    Qualification,
    RowIssueKind,
    SavedMapping,
)
from leads.services import BANT_CRITERIA, _notify_lead_changed

from . import bulk
from .dedup import Key, SeenKeys, find_existing, key_kind
from .detect import open_text, sniff
from .mapping import CompiledMapping, MappingError, RowError, RowParser, RowPlan, compile_mapping

logger = logging.getLogger(__name__)
User = AbstractBaseUser

# Rows per chunk: one transaction each, and the job's progress heartbeat (far below RESUME_AFTER).
CHUNK_SIZE = 5000
RESUME_AFTER = timedelta(minutes=2)
KEY_LABELS = {"email": "email", "phone": "phone", "person": "name at the same company"}
STAMPED = {criterion: frozenset(fields) for criterion, fields in BANT_CRITERIA.items()}


class JobTakenOver(Exception):
    """Another run of the same job committed this chunk first (a stalled worker came back)."""


def import_dir() -> Path:
    path = Path(getattr(settings, "LEADQUAL_IMPORT_DIR", settings.BASE_DIR / "var" / "imports"))
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- mappings ------------------------------------------------------------------------------


def save_mapping(*, name: str, mapping: Mapping[str, Any], acting_user: User | None = None) -> SavedMapping:
    """Create or replace the named mapping."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the mapping a name.")})
    if not isinstance(mapping, Mapping) or not isinstance(mapping.get("columns", {}), Mapping):
        raise ValidationError({"mapping": _("A mapping is a JSON object with a “columns” object.")})
    saved, _created = SavedMapping.objects.update_or_create(
        name=name,
        defaults={"mapping": dict(mapping), "created_by": acting_user if acting_user and acting_user.pk else None},
    )
    return saved


# --- jobs -------------------------------------------------------------------------------


def create_import_job(
    *,
    source: IO[bytes] | Path,
    file_name: str,
    mapping: Mapping[str, Any],
    dry_run: bool,
    acting_user: User | None = None,
) -> ImportJob:
    """Store the uploaded file (or a copy of ``source``) and create a pending job for it."""
    target = import_dir() / f"{uuid.uuid4().hex}.csv"
    if isinstance(source, Path):
        shutil.copyfile(source, target)
    else:
        with target.open("wb") as out:
            shutil.copyfileobj(source, out)
    return ImportJob.objects.create(
        created_by=acting_user if acting_user and acting_user.pk else None,
        file_path=str(target),
        file_name=Path(file_name).name[:255],
        size_bytes=target.stat().st_size,
        mapping=dict(mapping),
        dry_run=dry_run,
    )


def copy_job(*, job: ImportJob, dry_run: bool, acting_user: User | None = None) -> ImportJob:
    """A new job over the same stored file and mapping (the real run after a dry run)."""
    return create_import_job(
        source=Path(job.file_path),
        file_name=job.file_name,
        mapping=job.mapping,
        dry_run=dry_run,
        acting_user=acting_user,
    )


def set_job_mapping(*, job: ImportJob, mapping: Mapping[str, Any]) -> ImportJob:
    """Give a job that has not started its (checked) mapping."""
    if job.state != ImportState.PENDING:
        raise ValidationError(_("This import has started already."))
    with open(job.file_path, "rb") as stream:
        dialect = sniff(stream, encoding=mapping.get("encoding") or None)
        try:
            header = next(csv.reader(open_text(stream, dialect.encoding), delimiter=dialect.delimiter), [])
        except (UnicodeDecodeError, csv.Error):
            header = []
    compile_mapping(mapping, header)
    job.mapping = dict(mapping)
    job.save(update_fields=["mapping", "updated_at"])
    return job


def start_import_job(*, job: ImportJob) -> None:
    """Run the job in a worker after the surrounding transaction commits."""
    from leads.tasks import run_import_job as run_import_job_task

    run_import_job_task.delay_on_commit(job.pk)


# --- one run ------------------------------------------------------------------------------


@dataclass
class Decision:
    """What happens to one good row."""

    plan: RowPlan
    action: str  # "create" | "update"
    lead_id: int | None = None  # the stored lead to update
    merged_into: Decision | None = None  # a duplicate earlier in the same chunk
    merged: list[RowPlan] = field(default_factory=list)


@dataclass
class ChunkCounts:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    duplicates_in_file: int = 0
    won: int = 0
    lost: int = 0

    def as_updates(self) -> dict[str, Any]:
        return {name: F(name) + value for name, value in vars(self).items() if value}


class _Run:
    def __init__(self, job: ImportJob, compiled: CompiledMapping, acting_user: User | None, seen: SeenKeys) -> None:
        self.job = job
        self.compiled = compiled
        self.seen = seen
        self.rows_done = job.rows_done
        self.acting_user = acting_user if acting_user and acting_user.pk else None
        self.dry_run = job.dry_run
        self.policy = compiled.duplicates
        self.new_definitions = {k: d for k, d in compiled.custom_definitions.items() if d.pk is None}

    # --- matching -------------------------------------------------------------------

    def decide(self, plans: Sequence[RowPlan], counts: ChunkCounts) -> tuple[list[Decision], list[ImportRowIssue]]:
        keys = {k for p in plans for k in p.dedup_keys()}
        earlier = self.seen.lookup(keys)
        stored = find_existing(keys)
        in_chunk: dict[Key, Decision] = {}
        decisions: list[Decision] = []
        issues: list[ImportRowIssue] = []
        for plan in plans:
            decision = self._decide_one(plan, in_chunk, earlier, stored, counts, issues)
            if decision is None:
                continue
            if decision.merged_into is None:
                decisions.append(decision)
                for key in plan.dedup_keys():
                    in_chunk.setdefault(key, decision)
        return decisions, issues

    def _decide_one(
        self,
        plan: RowPlan,
        in_chunk: dict[Key, Decision],
        earlier: dict[Key, tuple[int, int]],
        stored: dict[Key, int],
        counts: ChunkCounts,
        issues: list[ImportRowIssue],
    ) -> Decision | None:
        for key in plan.dedup_keys():
            if key in in_chunk or key in earlier:
                counts.duplicates_in_file += 1
                first = in_chunk.get(key)
                row = first.plan.number if first else earlier[key][0]
                if self.policy == DuplicatePolicy.SKIP:
                    reason = _("Duplicate of row %(row)s in this file (same %(key)s).") % {
                        "row": row,
                        "key": _(KEY_LABELS[key_kind(key)]),
                    }
                    return self._issue(plan, RowIssueKind.SKIPPED, reason, counts, issues)
                if self.policy == DuplicatePolicy.CREATE and not key.startswith("email:"):
                    continue  # another key may still match; else it is created
                if self.policy == DuplicatePolicy.CREATE:
                    reason = _("Row %(row)s of this file has the same email.") % {"row": row}
                    return self._issue(plan, RowIssueKind.REJECTED, reason, counts, issues)
                counts.updated += 1
                if first is not None:
                    first.merged.append(plan)
                    return Decision(plan=plan, action="update", merged_into=first)
                return Decision(plan=plan, action="update", lead_id=earlier[key][1] or None)
            if key in stored:
                lead_id = stored[key]
                if self.policy == DuplicatePolicy.SKIP:
                    reason = _("Matches the existing lead #%(id)s (same %(key)s).") % {
                        "id": lead_id,
                        "key": _(KEY_LABELS[key_kind(key)]),
                    }
                    return self._issue(plan, RowIssueKind.SKIPPED, reason, counts, issues)
                if self.policy == DuplicatePolicy.CREATE and not key.startswith("email:"):
                    continue
                if self.policy == DuplicatePolicy.CREATE:
                    reason = _("A lead with this email already exists (#%(id)s).") % {"id": lead_id}
                    return self._issue(plan, RowIssueKind.REJECTED, reason, counts, issues)
                counts.updated += 1
                return Decision(plan=plan, action="update", lead_id=lead_id)
        counts.created += 1
        return Decision(plan=plan, action="create")

    def _issue(
        self, plan: RowPlan | RowError, kind: str, reason: str, counts: ChunkCounts, issues: list[ImportRowIssue]
    ) -> None:
        if kind == RowIssueKind.SKIPPED:
            counts.skipped += 1
        else:
            counts.rejected += 1
        issues.append(
            ImportRowIssue(job_id=self.job.pk, row_number=plan.number, kind=kind, reason=reason[:2000], values=plan.raw)
        )

    # --- a chunk ----------------------------------------------------------------------

    def process(self, rows: Sequence[RowPlan | RowError], *, bytes_done: int | None = None) -> None:
        """Match and write one chunk of parsed rows (RowParser.parse) in one transaction."""
        counts = ChunkCounts()
        issues: list[ImportRowIssue] = []
        plans: list[RowPlan] = []
        for result in rows:
            if isinstance(result, RowError):
                self._issue(result, RowIssueKind.REJECTED, result.reason, counts, issues)
            else:
                plans.append(result)
        decisions, match_issues = self.decide(plans, counts)
        issues += match_issues
        with transaction.atomic():
            # The chunk claims its place first: the job row stays locked until the commit, and a
            # second run of the same job (a stalled worker that came back) sees rows_done moved and stops.
            claimed = ImportJob.objects.filter(pk=self.job.pk, rows_done=self.rows_done).update(
                rows_done=self.rows_done + len(rows), updated_at=timezone.now()
            )
            if not claimed:
                raise JobTakenOver
            commit_without_flush_wait()  # a lost chunk loses its progress row too and is redone
            if not self.dry_run:
                failed = self._write_or_isolate(decisions, counts)
                issues += failed
            for decision in decisions:
                rows_of = [decision.plan, *decision.merged]
                for plan in rows_of:
                    if plan.outcome == "won":
                        counts.won += 1
                    elif plan.outcome == "lost":
                        counts.lost += 1
            ImportRowIssue.objects.bulk_create(sorted(issues, key=lambda i: i.row_number), batch_size=1000)
            progress = counts.as_updates()
            if bytes_done is not None:
                progress["bytes_done"] = bytes_done
            if progress:
                ImportJob.objects.filter(pk=self.job.pk).update(**progress)
            # The keys commit just before the chunk: if the chunk then fails to commit, a resumed
            # run trims them (SeenKeys.trim), so the keys never get ahead of the written rows.
            self.seen.add(
                [
                    (key, d.plan.number, d.lead_id or 0)
                    for d in decisions
                    if d.action != "failed"
                    for plan in (d.plan, *d.merged)
                    for key in plan.dedup_keys()
                ]
            )
        self.rows_done += len(rows)

    def _write_or_isolate(self, decisions: list[Decision], counts: ChunkCounts) -> list[ImportRowIssue]:
        """Write the chunk; if the database refuses it (a race on an email), write row by row to find the culprit."""
        try:
            with self._attempt():
                self._write(decisions)
            return []
        except IntegrityError:
            if len(decisions) == 1:
                raise
        issues: list[ImportRowIssue] = []
        for decision in decisions:
            try:
                with self._attempt():
                    self._write([decision])
            except IntegrityError as exc:
                decision.lead_id = None
                if decision.action == "create":
                    counts.created -= 1
                else:
                    counts.updated -= 1
                for plan in [decision.plan, *decision.merged]:
                    self._issue(
                        plan, RowIssueKind.REJECTED, _("The database refused the row: %s") % exc, counts, issues
                    )
                decision.merged = []
                decision.action = "failed"
        return issues

    @contextmanager
    def _attempt(self) -> Iterator[None]:
        """A savepoint; when it rolls back, the custom attributes it created count as unsaved again."""
        pending = dict(self.new_definitions)
        try:
            with transaction.atomic():
                yield
        except IntegrityError:
            for definition in pending.values():
                definition.pk = None
                definition._state.adding = True
            self.new_definitions = pending
            raise

    # --- writing ------------------------------------------------------------------------

    def _write(self, decisions: list[Decision]) -> None:
        now = timezone.now()
        self._save_definitions(decisions)
        companies = self._companies(decisions, now)
        creates = [d for d in decisions if d.action == "create"]
        updates = [d for d in decisions if d.action == "update"]
        if bulk.supported():
            self._create_by_copy(creates, companies, now)
        else:
            self._create_by_orm(creates, companies, now)
        if updates:
            self._update(updates, companies, now)

    def _create_by_copy(self, creates: list[Decision], companies: dict[str, int], now: Any) -> None:
        """New leads and their qualifications: ids from the sequences, rows by COPY (no model instances)."""
        ids = bulk.next_ids(Lead, len(creates))
        leads = bulk.CopyTable(Lead, {"created_at": now, "updated_at": now, "import_job_id": self.job.pk})
        quals = bulk.CopyTable(Qualification, {})
        stamps: dict[tuple[str, ...], dict[str, Any]] = {}  # by the BANT fields a row answers

        def lead_lines() -> Iterator[str]:
            # Streamed into the COPY: a block of rows is built while the database inserts the one before.
            for decision, lead_id in zip(creates, ids, strict=True):
                plan = _merged(decision)
                decision.lead_id = lead_id
                own: dict[str, Any] = {"id": lead_id}
                if plan.custom:
                    own["custom"] = plan.custom
                if plan.company:
                    own["company_id"] = companies[_company_key(plan.company)]
                answered = tuple(plan.qualification)
                if answered not in stamps:
                    stamps[answered] = self._stamps(plan.qualification, now)
                quals.add(plan.qualification, {"lead_id": lead_id}, stamps[answered])
                yield leads.line(plan.lead, own)

        leads.copy(lead_lines())
        quals.copy()

    def _create_by_orm(self, creates: list[Decision], companies: dict[str, int], now: Any) -> None:
        new_leads = []
        for decision in creates:
            plan = _merged(decision)
            lead = Lead(
                **plan.lead,
                custom=plan.custom,
                company_id=companies.get(_company_key(plan.company)) if plan.company else None,
                import_job_id=self.job.pk,
            )
            new_leads.append(lead)
        Lead.objects.bulk_create(new_leads)
        quals = []
        for decision, lead in zip(creates, new_leads, strict=True):
            decision.lead_id = lead.pk
            plan = _merged(decision)
            quals.append(Qualification(lead=lead, **plan.qualification, **self._stamps(plan.qualification, now)))
        Qualification.objects.bulk_create(quals)

    def _save_definitions(self, decisions: list[Decision]) -> None:
        learned: dict[str, dict[str, str]] = {}
        for decision in decisions:
            for plan in (decision.plan, *decision.merged):
                for key, values in plan.new_choices.items():
                    learned.setdefault(key, {}).update(
                        {k: v for k, v in values.items() if k not in learned.get(key, {})}
                    )
        for key, definition in list(self.new_definitions.items()):
            definition.save()
            del self.new_definitions[key]
        for key, values in learned.items():
            definition = CustomAttribute.objects.select_for_update().get(key=key)
            known = {str(c[0]) for c in definition.choices}
            extra = [[k, label] for k, label in values.items() if k not in known]
            if extra:
                definition.choices = [*definition.choices, *extra]
                definition.save(update_fields=["choices", "updated_at"])

    def _companies(self, decisions: list[Decision], now: Any) -> dict[str, int]:
        """The company id of every row, found by domain (else by name) or created; gaps in stored ones filled."""
        wanted: dict[str, dict[str, Any]] = {}
        for decision in decisions:
            data = _merged(decision).company
            if data:
                wanted.setdefault(_company_key(data), {}).update(data)
        if not wanted:
            return {}
        domains = {d["domain"] for d in wanted.values() if d.get("domain")}
        names = {d["name"].lower() for d in wanted.values() if not d.get("domain")}
        found: dict[str, Company] = {}
        for company in Company.objects.filter(domain__in=domains).order_by("id"):
            found.setdefault(f"d:{company.domain}", company)
        if names:
            named = Company.objects.annotate(lname=Lower("name")).filter(lname__in=names, domain="").order_by("id")
            for company in named:
                found.setdefault(f"n:{company.name.lower()}", company)
        ids: dict[str, int] = {}
        to_create: list[tuple[str, dict[str, Any]]] = []
        to_fill, filled_fields = [], set()
        for key, data in wanted.items():
            company = found.get(key)
            if company is None:
                to_create.append((key, data))
                continue
            ids[key] = company.pk
            changed = [n for n, v in data.items() if v not in ("", None) and getattr(company, n) in ("", None)]
            for name in changed:
                setattr(company, name, data[name])
            if changed:
                to_fill.append(company)
                filled_fields.update(changed)
        if bulk.supported():
            table = bulk.CopyTable(Company, {"created_at": now, "updated_at": now})
            for (key, data), company_id in zip(to_create, bulk.next_ids(Company, len(to_create)), strict=True):
                table.add(data, {"id": company_id})
                ids[key] = company_id
            table.copy()
        else:
            created = Company.objects.bulk_create([Company(**data) for _key, data in to_create])
            ids.update((key, company.pk) for (key, _data), company in zip(to_create, created, strict=True))
        if to_fill:
            Company.objects.bulk_update(to_fill, [*sorted(filled_fields), "updated_at"])
        return ids

    def _stamps(self, written: Mapping[str, Any], now: Any) -> dict[str, Any]:
        """Who recorded each BANT criterion the row answers, and when."""
        stamps: dict[str, Any] = {}
        if written:
            user_id = self.acting_user.pk if self.acting_user else None
            for criterion, fields in STAMPED.items():
                if not fields.isdisjoint(written):
                    stamps[f"{criterion}_recorded_by_id"] = user_id
                    stamps[f"{criterion}_recorded_at"] = now
        return stamps

    def _update(self, updates: list[Decision], companies: dict[str, int], now: Any) -> None:
        leads = Lead.objects.in_bulk([d.lead_id for d in updates])
        quals = Qualification.objects.in_bulk([d.lead_id for d in updates])
        lead_fields: set[str] = {"import_job", "updated_at"}
        qual_fields: set[str] = set()
        missing_quals = []
        changed_leads = []
        for decision in updates:
            lead = leads[decision.lead_id]
            plan = _merged(decision)
            for name, value in plan.lead.items():
                if getattr(lead, name) != value:
                    setattr(lead, name, value)
                    lead_fields.add(name)
            if lead.status not in (LeadStatus.LOST, LeadStatus.DISQUALIFIED) and lead.status_reason:
                lead.status_reason = ""
                lead_fields.add("status_reason")
            if plan.custom:
                lead.custom = {**(lead.custom or {}), **plan.custom}
                lead_fields.add("custom")
            if plan.company:
                lead.company_id = companies[_company_key(plan.company)]
                lead_fields.add("company")
            lead.import_job_id = self.job.pk
            lead.updated_at = now
            changed_leads.append(lead)
            qual = quals.get(decision.lead_id)
            if qual is None:
                qual = Qualification(lead=lead)
                missing_quals.append(qual)
            stamps = self._stamps(plan.qualification, now)
            for name, value in [*plan.qualification.items(), *stamps.items()]:
                setattr(qual, name, value)
                qual_fields.add(name)
        changed_leads = list({lead.pk: lead for lead in changed_leads}.values())  # two rows may match one lead
        existing_quals = [q for q in quals.values() if q.pk]
        if bulk.supported():
            bulk.update_rows(Lead, changed_leads, sorted(lead_fields), set_sql='"version" = t."version" + 1')
            if qual_fields:
                bulk.update_rows(Qualification, existing_quals, sorted(qual_fields))
        else:
            Lead.objects.bulk_update(changed_leads, sorted(lead_fields), batch_size=500)
            Lead.objects.filter(id__in=[lead.pk for lead in changed_leads]).update(version=F("version") + 1)
            if qual_fields and existing_quals:
                Qualification.objects.bulk_update(existing_quals, sorted(qual_fields), batch_size=500)
        Qualification.objects.bulk_create(missing_quals)


def _merged(decision: Decision) -> RowPlan:
    """The row with the later duplicate rows of the same chunk laid over it (non-empty values win)."""
    if not decision.merged:
        return decision.plan
    cached = getattr(decision, "_merged_plan", None)
    if cached is not None:
        return cached
    base = decision.plan
    plan = RowPlan(
        number=base.number,
        raw=base.raw,
        lead=dict(base.lead),
        company=dict(base.company),
        qualification=dict(base.qualification),
        custom=dict(base.custom),
        outcome=base.outcome,
    )
    for later in decision.merged:
        plan.lead.update(later.lead)
        plan.company.update(later.company)
        plan.qualification.update(later.qualification)
        plan.custom.update(later.custom)
        plan.outcome = later.outcome or plan.outcome
    decision._merged_plan = plan  # type: ignore[attr-defined]
    return plan


def _company_key(data: Mapping[str, Any]) -> str:
    return f"d:{data['domain']}" if data.get("domain") else f"n:{data['name'].lower()}"


def _read_rows(text: IO[str], delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(row number as a spreadsheet shows it, cells); the header is row 1."""
    reader = csv.reader(text, delimiter=delimiter)
    for number, row in enumerate(reader, start=2):
        if not "".join(row).strip():
            continue  # blank lines (and rows of empty cells) are not rows
        yield number, row


@dataclass
class _Chunk:
    rows: list[RowPlan | RowError]
    after_row: int  # the last row read before this chunk (the header is row 1)
    bytes_done: int | None  # how far the file was read; None for the last chunk


def _parsed_chunks(
    rows: Iterable[tuple[int, list[str]]], parser: RowParser, *, skip: int, chunk_size: int, stream: IO[bytes]
) -> Iterator[_Chunk]:
    """The rows after the first ``skip`` (done by an earlier run), parsed, ``chunk_size`` at a time."""
    last_done = 1
    chunk: list[RowPlan | RowError] = []
    after_row = last_done
    for number, raw in rows:
        if skip:
            skip -= 1
            last_done = after_row = number
            continue
        chunk.append(parser.parse(number, raw))
        if len(chunk) >= chunk_size:
            yield _Chunk(chunk, after_row, stream.tell())
            after_row = number
            chunk = []
    if chunk:
        yield _Chunk(chunk, after_row, None)


def _keys_path(job: ImportJob) -> Path:
    return Path(f"{job.file_path}.keys.sqlite3")


def run_import(*, job_id: int, chunk_size: int = CHUNK_SIZE, resume_after: timedelta = RESUME_AFTER) -> ImportJob:
    """Run a pending job (dry or real) to the end; a finished job is returned as it is.

    A running job that made no progress for ``resume_after`` (its worker died)
    resumes after the last committed chunk: rows already written are not read
    again, and the duplicate keys of the rows done are read back from disk. A job
    still running elsewhere is returned as it is (state RUNNING).
    """
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, state=ImportState.PENDING).update(
        state=ImportState.RUNNING, started_at=now, updated_at=now
    ) or ImportJob.objects.filter(pk=job_id, state=ImportState.RUNNING, updated_at__lt=now - resume_after).update(
        updated_at=now
    )
    job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    if not claimed:
        return job
    seen = SeenKeys(_keys_path(job))
    if job.rows_done and not seen.existed and job.dry_run:
        # The keys of the rows done are gone (another machine, a cleaned disk): a dry run
        # writes no leads, so it starts over and its figures stay exact.
        with transaction.atomic():
            job.issues.all().delete()
            ImportJob.objects.filter(pk=job.pk).update(**dict.fromkeys(vars(ChunkCounts()), 0), rows_done=0)
        job.refresh_from_db()
    # Without those keys a real run goes on: the rows done are in the database, so a later
    # duplicate of one matches it as a stored lead (counted as such, not as an in-file duplicate).
    finished = False
    try:
        with open(job.file_path, "rb") as raw_stream:
            dialect = sniff(
                raw_stream, encoding=job.mapping.get("encoding") or None, delimiter=job.mapping.get("delimiter") or None
            )
            ImportJob.objects.filter(pk=job.pk).update(
                encoding=dialect.encoding, delimiter=dialect.delimiter, line_ending=dialect.line_ending
            )
            text = open_text(raw_stream, dialect.encoding)
            rows = _read_rows(text, dialect.delimiter)
            header = next(csv.reader(text, delimiter=dialect.delimiter), None)
            if not header:
                raise MappingError(_("The file is empty."))
            compiled = compile_mapping(job.mapping, header)
            run = _Run(job, compiled, job.created_by, seen)
            chunks = _parsed_chunks(
                rows, RowParser(compiled), skip=job.rows_done, chunk_size=chunk_size, stream=raw_stream
            )
            for number, chunk in enumerate(chunks):
                if number == 0:
                    seen.trim(after_row=chunk.after_row)  # the keys of a chunk that never committed
                run.process(chunk.rows, bytes_done=chunk.bytes_done)
    except JobTakenOver:
        logger.warning("import job %s: another run took the job over; this one stops", job.pk)
    except UnicodeDecodeError as exc:
        _fail(
            job,
            _("The file is not valid %(encoding)s (byte %(pos)s); choose its encoding.")
            % {"encoding": exc.encoding, "pos": exc.start},
            rows_read=True,
        )
        finished = True
    except (MappingError, csv.Error) as exc:
        message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        _fail(job, message)
        finished = True
    except (OperationalError, InterfaceError):
        # The database went away: leave the job running and resumable at once, for the task's retry.
        _release(job, resume_after)
        raise
    except Exception as exc:
        _fail(job, _("The import stopped: %(error)s") % {"error": exc})
        finished = True
        raise
    else:
        ImportJob.objects.filter(pk=job.pk).update(
            state=ImportState.DONE, bytes_done=job.size_bytes, finished_at=timezone.now(), updated_at=timezone.now()
        )
        finished = True
        if not job.dry_run:
            _score_after_import(job)
    finally:
        # Kept while the job may still resume (a kill, a lost database connection).
        seen.close(delete=finished)
    job.refresh_from_db()
    return job


def resume_stalled_imports(*, resume_after: timedelta = RESUME_AFTER) -> list[int]:
    """Re-enqueue import jobs that made no progress for ``resume_after`` (their message was lost).

    A job's own task retries while it runs elsewhere; this covers a message that is gone
    altogether (a Redis restart without persistence). Running a job twice is harmless.
    """
    from leads.tasks import run_import_job as run_import_job_task

    stalled = list(
        ImportJob.objects.filter(
            state__in=[ImportState.PENDING, ImportState.RUNNING], updated_at__lt=timezone.now() - resume_after
        ).values_list("id", flat=True)
    )
    for job_id in stalled:
        run_import_job_task.delay(job_id)
    return stalled


def seconds_until_resumable(job: ImportJob, resume_after: timedelta = RESUME_AFTER) -> float:
    """When a running job counts as stalled (no progress for ``resume_after``), from now."""
    return max(1.0, (job.updated_at + resume_after - timezone.now()).total_seconds() + 1)


def _release(job: ImportJob, resume_after: timedelta) -> None:
    with suppress(OperationalError, InterfaceError):  # still down: the job resumes once it counts as stalled
        ImportJob.objects.filter(pk=job.pk, state=ImportState.RUNNING).update(
            updated_at=timezone.now() - resume_after - timedelta(seconds=1)
        )


def _fail(job: ImportJob, message: str, *, rows_read: bool = False) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        state=ImportState.FAILED, error=message[:4000], finished_at=timezone.now(), updated_at=timezone.now()
    )


def _score_after_import(job: ImportJob) -> None:
    """Score every lead the import wrote, once, in bulk (the scoring app listens to ``lead_changed``)."""
    with transaction.atomic():
        ids = Lead.objects.filter(import_job=job).values_list("id", flat=True).order_by("id")
        _notify_lead_changed(ids.iterator(chunk_size=10_000), reason="lead_imported")
