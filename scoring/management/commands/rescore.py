"""manage.py rescore --all: run the bulk rescore in the foreground, with a progress bar."""

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from scoring import services
from scoring.models import RescoreJob, ScoreChangeReason


class Command(BaseCommand):
    help = _("Rescore every lead set-based in the database, chunk by chunk.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--all", action="store_true", help=_("Rescore every lead."))
        parser.add_argument("--chunk-size", type=int, default=None)
        parser.add_argument("--resume", type=int, metavar="JOB_ID", help=_("Resume an unfinished job."))

    def handle(self, *args: Any, **options: Any) -> None:
        if options["resume"]:
            job = RescoreJob.objects.filter(pk=options["resume"]).first()
            if job is None:
                raise CommandError(_("No rescore job %(id)s.") % {"id": options["resume"]})
        elif options["all"]:
            job = services.start_rescore_job(reason=ScoreChangeReason.RULE_CHANGE, enqueue=False)
        else:
            raise CommandError(_("Say --all (or --resume JOB_ID)."))
        started = time.monotonic()

        def progress(current: RescoreJob) -> None:
            width = 40
            filled = int(width * current.percent / 100)
            sys.stdout.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {current.percent:3d}% {current.done}/{current.total}"
            )
            sys.stdout.flush()

        job = services.run_rescore_job(job_id=job.pk, chunk_size=options["chunk_size"], on_chunk=progress)
        self.stdout.write("")
        self.stdout.write(
            _("Job %(id)s %(state)s: %(done)d leads, %(changed)d totals changed, %(s).1f s.")
            % {
                "id": job.pk,
                "state": job.state,
                "done": job.done,
                "changed": job.changed,
                "s": time.monotonic() - started,
            }
        )
