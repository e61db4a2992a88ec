"""Routing's Celery surface: the beat schedule resumes stalled bulk routing jobs."""

from __future__ import annotations

from django.conf import settings

from leadqual.celery import app


def test_beat_resumes_stalled_routing_jobs():
    tasks = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    # Often enough that a job whose worker died resumes within minutes (stalled after 2 min).
    assert tasks["segments.resume_stalled_routing_jobs"] <= 300
    assert "segments.resume_stalled_routing_jobs" in app.tasks
