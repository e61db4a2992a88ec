"""API routes of the scoring app."""

urlpatterns: list = []
