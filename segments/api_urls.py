"""API routes of the segments app."""

from django.urls import path

from . import api

urlpatterns = [
    path("segments/", api.SegmentListView.as_view(), name="segment-list"),
    path("pipelines/", api.PipelineListView.as_view(), name="pipeline-list"),
    path("nurture-queues/", api.NurtureQueueListView.as_view(), name="nurture-queue-list"),
    path("nurture-queues/<int:queue_id>/export.csv", api.NurtureQueueExportView.as_view(), name="nurture-queue-export"),
    path("leads/export.csv", api.LeadExportView.as_view(), name="lead-export"),
]
