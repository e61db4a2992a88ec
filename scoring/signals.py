"""Signals of the scoring app: sent after commit.

``score_changed``: stored scores of these leads changed (any part, the band or
the fired rules), with ``lead_ids`` and ``reason``. ``band_changed``: the band
of these stored scores changed, with ``changes``, a tuple of
``(lead_id, old_band, new_band, lead_version, rules_version)`` (``old_band``
is "" for a lead's first score), and ``reason``. ``rescore_finished``: a bulk
job finished (``job_id``). Receivers may only enqueue work.
"""

from django.dispatch import Signal

score_changed = Signal()
band_changed = Signal()
rescore_finished = Signal()
