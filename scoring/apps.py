"""App config for scoring: subscribes to the leads app's "lead changed" signal."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = _("Scoring")

    def ready(self) -> None:
        from leads.signals import lead_changed

        from .receivers import enqueue_scoring

        lead_changed.connect(enqueue_scoring, dispatch_uid="scoring.enqueue_scoring")
