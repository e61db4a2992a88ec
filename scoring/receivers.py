"""Receivers: when a lead changes, enqueue its scoring (receivers only enqueue)."""

from __future__ import annotations

from typing import Any

# A batch is scored set-based, one task per slice of ids (one SQL statement each), never
# one task per lead: an import of 100,000 leads becomes 50 tasks.
SLICE = 2000


def enqueue_scoring(sender: Any, lead_ids: tuple[int, ...], reason: str, **kwargs: Any) -> None:
    """Runs after commit (leads sends the signal from on_commit), so `.delay` is safe here."""
    from .services import enqueue_single_lead_scoring
    from .tasks import score_leads

    if len(lead_ids) == 1:
        enqueue_single_lead_scoring(lead_ids[0])
        return
    for start in range(0, len(lead_ids), SLICE):
        score_leads.delay(list(lead_ids[start : start + SLICE]))
