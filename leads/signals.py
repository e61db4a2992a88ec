"""The signals of `leads`: how it tells other apps, without knowing them.

``lead_changed``: sent once per committed change, after the commit (never on
rollback), with ``lead_ids`` (a tuple of ids) and ``reason`` (a short machine
string, e.g. "lead_updated").

``lead_status_changed``: sent after the commit of a change of ``Lead.status``
(a created lead counts, from ""), with ``changes``: a tuple of
``(lead_id, old_status, new_status, version)``.

Receivers may only enqueue work.
"""

from django.dispatch import Signal

lead_changed = Signal()
lead_status_changed = Signal()
