"""`manage.py seed_demo`: load the demo teams, users, companies, leads, BANT answers and events."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from leads.demo import seed_demo_data
from leads.models import Lead


class Command(BaseCommand):
    @property
    def help(self) -> str:  # type: ignore[override]
        # argparse needs a real string, so translate when the parser is built, not at import.
        return _(
            "Create believable demo data: sales teams, demo users per role, companies, leads, "
            "BANT answers and engagement events. The same seed on the same day gives the same data."
        )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--leads", type=int, default=2000, help=_("How many leads to create (default: 2000)."))
        parser.add_argument("--seed", type=int, default=1, help=_("Random seed (default: 1)."))
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help=_("Do nothing when the database already holds any lead."),
        )

    def handle(self, *args: Any, leads: int, seed: int, if_empty: bool, **options: Any) -> None:
        if leads < 0:
            raise CommandError(_("--leads must be zero or more."))
        if if_empty and Lead.objects.exists():
            self.stdout.write(_("Leads already exist: demo data not loaded."))
            return
        started = time.perf_counter()
        report = seed_demo_data(leads=leads, seed=seed)
        elapsed = time.perf_counter() - started
        self.stdout.write(self.style.SUCCESS(_("Demo data loaded in %(seconds).1f s.") % {"seconds": elapsed}))
        for label, count in (
            (_("Teams"), report.teams),
            (_("Users"), report.users),
            (_("Companies"), report.companies),
            (_("Leads"), report.leads),
            (_("Engagement events"), report.events),
        ):
            self.stdout.write(f"  {label}: {count}")
