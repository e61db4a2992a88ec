"""Receivers: when a lead changes, enqueue its scoring (receivers only enqueue)."""

from __future__ import annotations

from typing import Any

# A batch this large is scored set-based in one task per slice, not one task per lead.
SLICE = 200


def enqueue_scoring(sender: Any, lead_ids: tuple[int, ...], reason: str, **kwargs: Any) -> None:
    """Runs after commit (leads sends the signal from on_commit), so `.delay` is safe here."""
    from .tasks import score_lead, score_leads

    if len(lead_ids) == 1:
        score_lead.delay(lead_ids[0])
        return
    for start in range(0, len(lead_ids), SLICE):
        score_leads.delay(list(lead_ids[start : start + SLICE]))
