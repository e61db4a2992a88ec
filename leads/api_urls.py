"""API routes of the leads app: token login, leads, qualification, events."""

from django.urls import path

from . import api

urlpatterns = [
    path("auth/token/", api.TokenView.as_view(), name="api-token"),
    path("leads/", api.LeadListView.as_view(), name="lead-list"),
    path("leads/<int:lead_id>/", api.LeadDetailView.as_view(), name="lead-detail"),
    path("leads/<int:lead_id>/qualification/", api.LeadQualificationView.as_view(), name="lead-qualification"),
    path("events/", api.EventIngestView.as_view(), name="event-ingest"),
]
