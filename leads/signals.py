"""The "lead changed" signal: how `leads` tells other apps, without knowing them.

Sent once per committed change, after the commit (never on rollback), with
``lead_ids`` (a tuple of ids) and ``reason`` (a short machine string, e.g.
"lead_updated"). Receivers may only enqueue work.
"""

from django.dispatch import Signal

lead_changed = Signal()
