"""CSV import figures: dry run and real run of a generated file (rows/s, peak memory) against PostgreSQL COPY.

Two baselines from the same run: COPY of the CSV file into a scratch table (the bound the
issue names), and the write floor, the rows the real run wrote COPYed back into the same
tables, a chunk a transaction (what the database alone needs for them: indexes, foreign keys).

Run: ``DATABASE_URL=postgres://... python -m bench.import_bench --rows 100000`` (uses the database leadqual_import).
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench import ensure_database, report

BENCH_DB = "leadqual_import"
SOURCES = ["Google", "google", "LinkedIn", "Webinar", "Referral", "Select", "Event", "partner"]
HEADER = ["Email", "First name", "Last name", "Phone", "Company", "Website", "Country", "Lead Source", "Budget",
          "Visits", "Occupation", "Converted"]  # fmt: skip
MAPPING = {
    "columns": {
        "Email": "lead.email",
        "First name": "lead.first_name",
        "Last name": "lead.last_name",
        "Phone": "lead.phone",
        "Company": "company.name",
        "Website": "company.domain",
        "Country": "company.country",
        "Lead Source": {"to": "lead.source", "values": {"google": "ppc"}, "other": "other"},
        "Budget": "bant.budget",
        "Visits": {"to": "custom.visits", "type": "number"},
        "Occupation": {"to": "custom.occupation", "type": "choice"},
        "Converted": {"to": "outcome", "values": {"1": "won", "0": "lost"}},
    },
    "not_answered": ["Select", "N/A", "-"],
    "duplicates": "update",
}


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    """A realistic file: 1 company per 4 leads, half with phones, 2 % bad emails, 1 % in-file duplicates."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(rows):
            n = rng.randrange(i) if i and rng.random() < 0.01 else i  # an in-file duplicate
            company = n // 4
            email = f"person{n}@company{company}.example.com" if rng.random() > 0.02 else f"broken{n}.example.com"
            phone = f"+49 30 {1000000 + n:07d}" if n % 2 else ""
            writer.writerow(
                [email, f"First{n}", f"Last{n}", phone, f"Company {company}", f"company{company}.example.com",
                 rng.choice(["DE", "PL", "Germany", "SE"]), rng.choice(SOURCES),
                 rng.choice(["approved", "Planned", "none", "Select"]), rng.randrange(0, 40),
                 rng.choice(["Student", "Working Professional", "Unemployed", "-"]), rng.choice(["0", "1", ""])]
            )  # fmt: skip


def _reset(*, keep_jobs: bool = False) -> None:
    from django.db import connection

    jobs = "" if keep_jobs else "leads_importjob, leads_importrowissue, leads_customattribute, "
    with connection.cursor() as cursor:
        cursor.execute(
            f"TRUNCATE leads_lead, leads_company, leads_qualification, {jobs}"
            "scoring_leadscore, scoring_scorehistory RESTART IDENTITY CASCADE"
        )


def _import(path: Path, *, dry_run: bool, trace: bool = False) -> tuple[float, int, object]:
    from leads.imports import service

    job = service.create_import_job(source=path, file_name=path.name, mapping=MAPPING, dry_run=dry_run)
    gc.collect()
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    job = service.run_import(job_id=job.pk)
    elapsed = time.perf_counter() - start
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return elapsed, peak, job


def _copy(path: Path) -> float:
    from django.db import connection

    columns = ", ".join(f"c{i} text" for i in range(len(HEADER)))
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS bench_import_copy; CREATE UNLOGGED TABLE bench_import_copy ({columns})")
        start = time.perf_counter()
        with path.open("r", encoding="utf-8") as stream:
            cursor.cursor.copy_expert("COPY bench_import_copy FROM STDIN WITH (FORMAT csv, HEADER true)", stream)
        elapsed = time.perf_counter() - start
        cursor.execute("DROP TABLE bench_import_copy")
    return elapsed


def _write_floor() -> tuple[float, int]:
    """Seconds to COPY the companies, leads and qualifications now stored back into their tables; lead count."""
    from django.db import connection, transaction

    from leads.imports.service import CHUNK_SIZE
    from leads.jobs import commit_without_flush_wait
    from leads.models import Company, Lead, Qualification

    dumps = []
    with connection.cursor() as cursor:
        for model in (Company, Lead, Qualification):
            table = connection.ops.quote_name(model._meta.db_table)
            columns = ", ".join(connection.ops.quote_name(f.column) for f in model._meta.concrete_fields
                                if not f.generated)  # fmt: skip
            out = io.BytesIO()
            cursor.cursor.copy_expert(f"COPY (SELECT {columns} FROM {table} ORDER BY 1) TO STDOUT", out)
            dumps.append((f"COPY {table} ({columns}) FROM STDIN", out.getvalue().splitlines(keepends=True)))
    _reset(keep_jobs=True)
    start = time.perf_counter()
    for sql, lines in dumps:
        for i in range(0, len(lines), CHUNK_SIZE):
            with transaction.atomic(), connection.cursor() as cursor:
                commit_without_flush_wait()
                cursor.cursor.copy_expert(sql, io.BytesIO(b"".join(lines[i : i + CHUNK_SIZE])))
    return time.perf_counter() - start, len(dumps[1][1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=20_000, help="the smaller file, to compare memory peaks")
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        print("set DATABASE_URL to a PostgreSQL server", file=sys.stderr)
        return 2
    os.environ["DATABASE_URL"] = ensure_database(url, BENCH_DB)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadqual.settings")
    os.environ.setdefault("AXES_ENABLED", "0")
    import django

    django.setup()
    from django.conf import settings as django_settings
    from django.core.management import call_command

    from leads.signals import lead_changed

    django_settings.DEBUG = False  # DEBUG keeps every query in memory
    call_command("migrate", verbosity=0)
    # Scoring after the import runs in a worker; it is timed on its own below.
    lead_changed.disconnect(dispatch_uid="scoring.enqueue_scoring")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("LEADQUAL_IMPORT_DIR", tmp)
        from django.conf import settings

        settings.LEADQUAL_IMPORT_DIR = Path(tmp) / "stored"
        files = {}
        for n in (args.small, args.rows):
            files[n] = Path(tmp) / f"leads-{n}.csv"
            write_csv(files[n], n)
        print(f"file: {args.rows} rows, {files[args.rows].stat().st_size / 1e6:.1f} MB")
        dry_peaks, real_rates, dry_rates, rss = {}, {}, {}, {}
        for n in (args.small, args.rows):
            _reset()
            _e, dry_peaks[n], _j = _import(files[n], dry_run=True, trace=True)
            print(f"dry run {n:>7} rows: peak traced memory {dry_peaks[n] / 1e6:6.1f} MB (tracemalloc on)")
        for n in (args.small, args.rows):
            _reset()
            elapsed, _p, job = _import(files[n], dry_run=True)
            dry_rates[n] = n / elapsed
            print(f"dry run {n:>7} rows: {elapsed:6.2f} s = {n / elapsed:8.0f} rows/s "
                  f"(created {job.created}, updated {job.updated}, rejected {job.rejected})")  # fmt: skip
            _reset()
            elapsed, _p, job = _import(files[n], dry_run=False)
            real_rates[n] = n / elapsed
            rss[n] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"real    {n:>7} rows: {elapsed:6.2f} s = {n / elapsed:8.0f} rows/s "
                  f"(created {job.created}, updated {job.updated}, rejected {job.rejected}), "
                  f"max RSS so far {rss[n]:.0f} MB")  # fmt: skip
        real_peaks = {}
        for n in (args.small, args.rows):
            _reset()
            _e, real_peaks[n], _j = _import(files[n], dry_run=False, trace=True)
            print(f"real    {n:>7} rows: peak traced memory {real_peaks[n] / 1e6:6.1f} MB (tracemalloc on)")
        from leads.models import Lead
        from scoring import services

        ids = list(Lead.objects.values_list("id", flat=True))
        start = time.perf_counter()
        for i in range(0, len(ids), 5000):
            services.score_leads(lead_ids=ids[i : i + 5000])
        elapsed = time.perf_counter() - start
        print(f"scoring once after the import: {len(ids)} leads in {elapsed:.2f} s = {len(ids) / elapsed:.0f} leads/s")
        elapsed = _copy(files[args.rows])
        copy_rate = args.rows / elapsed
        print(f"COPY    {args.rows:>7} rows: {elapsed:6.2f} s = {copy_rate:8.0f} rows/s (scratch table)")
        elapsed, written = _write_floor()
        floor_rate = args.rows / elapsed
        print(f"floor   {args.rows:>7} rows: {elapsed:6.2f} s = {floor_rate:8.0f} rows/s "
              f"({written} leads, their qualifications and companies COPYed back, a chunk a transaction)")  # fmt: skip
    n, small = args.rows, args.small
    report.emit(
        [
            report.figure("import", f"real run, {n}-row CSV", real_rates[n], unit="rows/s", baseline=copy_rate,
                          goal=("value", ">=", 25000), note="baseline: PostgreSQL COPY of the same file"),
            report.figure("import", f"real run, {n}-row CSV, against the write floor", real_rates[n], unit="rows/s",
                          baseline=floor_rate, note="baseline: the rows it wrote COPYed back into the same tables"),
            report.figure("import", f"dry run, {n}-row CSV", dry_rates[n], unit="rows/s", baseline=copy_rate),
            report.figure("import", f"real run peak traced memory, {n} rows", real_peaks[n] / 1e6, unit="MB",
                          baseline=real_peaks[small] / 1e6, goal=("ratio", "<=", 1.5),
                          note=f"baseline: the same import of {small} rows (memory must not grow with the file)"),
            report.figure("import", f"dry run peak traced memory, {n} rows", dry_peaks[n] / 1e6, unit="MB",
                          baseline=dry_peaks[small] / 1e6, goal=("ratio", "<=", 1.5)),
            report.figure("import", "import process peak RSS", rss[n], unit="MB"),
        ]
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
