"""Signals of the scoring app: sent after commit, with ``lead_ids`` and ``reason``.

``score_changed``: stored scores of these leads changed (any part, the band or
the fired rules). ``rescore_finished``: a bulk job finished (``job_id``).
Receivers may only enqueue work.
"""

from django.dispatch import Signal

score_changed = Signal()
rescore_finished = Signal()
