"""manage.py import_leads FILE [--mapping MAPPING.json] [--dry-run]: import leads from a CSV file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from leads.imports import service
from leads.imports.selectors import get_saved_mapping, iter_issue_report
from leads.models import ImportState


class Command(BaseCommand):
    help = "Import leads from a CSV file with a column mapping (dry run first with --dry-run)."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        self.help = _("Import leads from a CSV file with a column mapping (dry run first with --dry-run).")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help=_("The CSV file."))
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--mapping", type=Path, help=_("A mapping JSON file."))
        group.add_argument("--saved-mapping", help=_("The name of a mapping saved in the app."))
        parser.add_argument("--dry-run", action="store_true", help=_("Check every row, write nothing."))
        parser.add_argument("--duplicates", choices=["update", "skip", "create"], help=_("Override the policy."))
        parser.add_argument("--report", type=Path, help=_("Write the rejected and skipped rows to this CSV file."))
        parser.add_argument("--chunk-size", type=int, default=service.CHUNK_SIZE)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(_("No file at %(path)s.") % {"path": path})
        if options["mapping"]:
            try:
                mapping = json.loads(options["mapping"].read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CommandError(_("Cannot read the mapping: %(error)s") % {"error": exc}) from None
        else:
            saved = get_saved_mapping(name=options["saved_mapping"])
            if saved is None:
                raise CommandError(_("No saved mapping named %(name)s.") % {"name": options["saved_mapping"]})
            mapping = saved.mapping
        if options["duplicates"]:
            mapping = {**mapping, "duplicates": options["duplicates"]}
        job = service.create_import_job(source=path, file_name=path.name, mapping=mapping, dry_run=options["dry_run"])
        job = service.run_import(job_id=job.pk, chunk_size=options["chunk_size"])
        self.stdout.write(
            _(
                "%(mode)s %(file)s (%(encoding)s, delimiter %(delimiter)r, %(eol)s): %(rows)s rows, "
                "%(created)s created, %(updated)s updated, %(skipped)s skipped, %(rejected)s rejected, "
                "%(dups)s duplicates inside the file, %(won)s won, %(lost)s lost."
            )
            % {
                "mode": _("Dry run of") if job.dry_run else _("Imported"),
                "file": job.file_name,
                "encoding": job.encoding,
                "delimiter": job.delimiter,
                "eol": job.line_ending,
                "rows": job.rows_done,
                "created": job.created,
                "updated": job.updated,
                "skipped": job.skipped,
                "rejected": job.rejected,
                "dups": job.duplicates_in_file,
                "won": job.won,
                "lost": job.lost,
            }
        )
        if options["report"]:
            with options["report"].open("w", encoding="utf-8", newline="") as out:
                for line in iter_issue_report(job=job):
                    out.write(line)
            self.stdout.write(_("Report: %(path)s") % {"path": options["report"]})
        if job.state == ImportState.FAILED:
            raise CommandError(job.error)
