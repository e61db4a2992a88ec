"""LeadSnapshot: the frozen, ORM-free view of a lead that the engine scores."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class LeadSnapshot:
    lead_id: int
    version: int
    created_at: datetime
    email: str = ""
    job_title: str = ""
    source: str = ""
    campaign: str = ""
    company_industry: str = ""
    company_employees: int | None = None
    company_revenue: Decimal | None = None
    company_country: str = ""
    company_region: str = ""
    company_competitor: bool = False
    budget: str = "unknown"
    authority: str = "unknown"
    need: str = "unknown"
    timing: str = "unknown"
    bant_met: int = 0
    decision_date: date | None = None
    # (kind, occurred_at) of the events inside the longest window any rule uses.
    events: tuple[tuple[str, datetime], ...] = ()
    last_activity_at: datetime | None = None
    # Values of custom attributes (Lead.custom), read by the "custom.<key>" attributes.
    custom: Mapping[str, Any] = field(default_factory=dict)
