"""Segments' Celery surface: pinned task names, queues, and the beat entries that resume lost work."""

from __future__ import annotations

from django.conf import settings

from leadqual.celery import app


def test_beat_resumes_stalled_routing_jobs():
    tasks = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    # Often enough that a job whose worker died resumes within minutes (stalled after 2 min).
    assert tasks["segments.resume_stalled_routing_jobs"] <= 300
    assert "segments.resume_stalled_routing_jobs" in app.tasks


SEGMENTS_TASKS = {
    "segments.route_lead",
    "segments.route_leads",
    "segments.start_routing_job",
    "segments.run_routing_job",
    "segments.resume_stalled_routing_jobs",
    "segments.webhooks.emit",
    "segments.webhooks.deliver",
    "segments.webhooks.resume",
}


def test_segments_task_names_delivery_options_and_queues_are_pinned():
    app.loader.import_default_modules()
    registered = {name for name in app.tasks if name.startswith("segments.")}
    assert registered == SEGMENTS_TASKS
    for name in SEGMENTS_TASKS:
        task = app.tasks[name]
        assert task.acks_late is True and task.reject_on_worker_lost is True and task.ignore_result is True, name
        assert Exception not in getattr(task, "autoretry_for", ()), name
    # Webhook deliveries wait on other servers: never on the routing queue.
    routes = settings.CELERY_TASK_ROUTES
    assert next(iter(routes)) == "segments.webhooks.*"
    assert routes["segments.webhooks.*"]["queue"] == settings.CELERY_TASK_DEFAULT_QUEUE
    assert routes["segments.*"]["queue"] == settings.LEADQUAL_ROUTING_QUEUE
    tasks = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks["segments.webhooks.resume"] <= 300
