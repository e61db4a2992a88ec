"""API routes of the scoring app."""

from django.urls import path

from . import api

urlpatterns = [
    path("leads/<int:lead_id>/score/", api.LeadScoreView.as_view(), name="lead-score"),
    path("leads/<int:lead_id>/score-history/", api.LeadScoreHistoryView.as_view(), name="lead-score-history"),
]
