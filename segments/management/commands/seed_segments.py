"""manage.py seed_segments: load the default pipelines, nurture queues, policies and segments."""

from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from segments.defaults import seed_default_segments
from segments.models import Segment


class Command(BaseCommand):
    help = _("Load the default segments, pipelines and nurture queues (then reroute every lead).")

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> Any:
        self.help = str(self.help)  # argparse needs a str, not a lazy translation
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--if-empty", action="store_true", help=_("Do nothing when segments exist."))

    def handle(self, *args: Any, **options: Any) -> None:
        if Segment.objects.exists():
            if options["if_empty"]:
                self.stdout.write(_("Segments exist; nothing loaded."))
                return
            self.stderr.write(_("Segments exist; remove them first or pass --if-empty."))
            return
        segments = seed_default_segments()
        self.stdout.write(_("Loaded %(n)d segments; every lead is being rerouted.") % {"n": len(segments)})
