"""manage.py seed_rules: load the default B2B rule set (one version bump, one bulk rescore)."""

from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from scoring import services
from scoring.defaults import DEFAULT_RULES
from scoring.models import PointRule


class Command(BaseCommand):
    help = _("Load the default B2B point rules (replaces the current rules).")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--if-empty", action="store_true", help=_("Do nothing when rules exist."))
        parser.add_argument("--no-job", action="store_true", help=_("Do not start the bulk rescore job."))

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and PointRule.objects.exists():
            self.stdout.write(_("Rules exist; nothing loaded."))
            return
        rules = [{**r, "name": str(r["name"])} for r in DEFAULT_RULES]
        version = services.replace_rule_set(rules=rules, start_job=not options["no_job"])
        self.stdout.write(_("Loaded %(n)d rules as rules version %(v)d.") % {"n": len(rules), "v": version.number})
