"""URLs of the REST API, version 1 (each app contributes its routes)."""

from django.urls import include, path

urlpatterns = [
    path("", include("scoring.api_urls")),
    path("", include("segments.api_urls")),
    path("", include("leads.api_urls")),
    path("rules/", include("scoring.rules_api")),
]
