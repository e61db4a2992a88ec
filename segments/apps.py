"""App config for segments: subscribes to scoring's score_changed and rescore_finished signals."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = _("Segments and routing")

    def ready(self) -> None:
        from scoring.signals import rescore_finished, score_changed

        from .receivers import enqueue_routing, enqueue_routing_job

        score_changed.connect(enqueue_routing, dispatch_uid="segments.enqueue_routing")
        rescore_finished.connect(enqueue_routing_job, dispatch_uid="segments.enqueue_routing_job")
