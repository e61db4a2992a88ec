"""App config for segments: routing follows scoring's signals; webhooks follow band and status changes."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = _("Segments and routing")

    def ready(self) -> None:
        from leads.signals import lead_status_changed
        from scoring.signals import band_changed, rescore_finished, score_changed

        from .receivers import enqueue_band_webhooks, enqueue_routing, enqueue_routing_job, enqueue_status_webhooks

        score_changed.connect(enqueue_routing, dispatch_uid="segments.enqueue_routing")
        rescore_finished.connect(enqueue_routing_job, dispatch_uid="segments.enqueue_routing_job")
        band_changed.connect(enqueue_band_webhooks, dispatch_uid="segments.enqueue_band_webhooks")
        lead_status_changed.connect(enqueue_status_webhooks, dispatch_uid="segments.enqueue_status_webhooks")
