"""Pending single-lead scoring: lead changes gather in a Redis set and one task drains it.

A lead change adds the lead's id to a set per queue and schedules a drain task
unless one is already scheduled or running (a short-lived Redis key says so).
The drain scores what it pops: one by one when a few leads wait, set-based in
one statement when many do. So a burst of 5,000 changes costs a handful of
task messages instead of 5,000, ten changes to one lead are scored once, and a
quiet system still scores each change as soon as it is committed.

Nothing here is the source of truth: a lead whose score is older than its
version is found by the periodic stale-score sweep, so an id lost with a
Redis restart or a worker killed mid-drain delays a score, never loses it.

Used only with a Redis broker and a real worker; with the embedded
filesystem broker, or with tasks run inline, every change keeps its own task.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from django.conf import settings

# How long "a drain is scheduled or running" holds without being renewed: after a
# lost task message or a killed worker, the next change schedules a new drain.
DRAIN_LEASE_MS = 10_000

_clients: dict[tuple[int, str], object] = {}


def _redis_client(url: str):
    import redis

    key = (os.getpid(), url)  # a forked worker child gets its own connections
    if key not in _clients:
        _clients[key] = redis.Redis.from_url(url)
    return _clients[key]


class PendingLeads:
    """The set of lead ids waiting for a score on one queue, and the drain lease."""

    def __init__(self, client, queue: str) -> None:
        self.client = client
        self.members = f"leadqual:scoring:{queue}:pending"
        self.lease = f"leadqual:scoring:{queue}:drain"

    def add(self, lead_ids: Iterable[int]) -> bool:
        """Add ids; True when the caller took the lease and must schedule a drain."""
        ids = list(lead_ids)
        if not ids:
            return False
        pipe = self.client.pipeline(transaction=False)
        pipe.sadd(self.members, *ids)
        pipe.set(self.lease, 1, nx=True, px=DRAIN_LEASE_MS)
        return bool(pipe.execute()[1])

    def pop(self, count: int) -> list[int]:
        """Take up to `count` ids and renew the lease (the drain is alive)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.spop(self.members, count)
        pipe.pexpire(self.lease, DRAIN_LEASE_MS)
        popped = pipe.execute()[0] or []
        return sorted(int(value) for value in popped)

    def release(self) -> bool:
        """End a drain; True when ids arrived meanwhile and the caller took the lease back.

        An id added between the drain's last empty pop and this call found the
        lease taken and scheduled nothing: checking the set after dropping the
        lease is what keeps it from waiting for the sweep.
        """
        self.client.delete(self.lease)
        return self.claim()

    def claim(self) -> bool:
        """Take the lease if ids wait and no drain holds it (the periodic sweep asks too)."""
        if not self.client.scard(self.members):
            return False
        return bool(self.client.set(self.lease, 1, nx=True, px=DRAIN_LEASE_MS))

    def size(self) -> int:
        return int(self.client.scard(self.members))


def pending_leads() -> PendingLeads | None:
    """The pending set of the current queue, or None where changes keep one task each."""
    from leadqual.celery import app

    broker = str(app.conf.broker_url or "")
    if app.conf.task_always_eager or not broker.startswith(("redis://", "rediss://")):
        return None
    return PendingLeads(_redis_client(broker), app.conf.task_default_queue or settings.CELERY_TASK_DEFAULT_QUEUE)
