"""The default pipelines, nurture queue, policies and segments: how B2B sales teams usually segment."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from . import services
from .models import PolicyKind, Segment, StageOutcome


@transaction.atomic
def seed_default_segments() -> list[Segment]:
    """Create the default setup; one bulk routing job follows after commit."""
    fast = services.create_pipeline(
        name=_("Fast track"),
        description=_("Small companies with big potential: short cycle, one decision maker."),
        stages=[_("New"), _("Contacted"), _("Qualified"), _("Proposal"), _("Won"), _("Lost")],
        closed=[_("Won"), _("Lost")],
        outcomes={_("Won"): StageOutcome.WON, _("Lost"): StageOutcome.LOST},
    )
    enterprise = services.create_pipeline(
        name=_("Enterprise"),
        description=_("Large companies: long cycle, many people in the decision."),
        stages=[
            _("New"),
            _("Contacted"),
            _("Discovery"),
            _("Qualified"),
            _("Proposal"),
            _("Negotiation"),
            _("Won"),
            _("Lost"),
        ],
        closed=[_("Won"), _("Lost")],
        outcomes={_("Won"): StageOutcome.WON, _("Lost"): StageOutcome.LOST},
    )
    review = services.create_pipeline(
        name=_("Disqualification review"),
        description=_("A manager decides whether these leads are worth selling to at all."),
        stages=[_("To review"), _("Kept"), _("Disqualified")],
        closed=[_("Kept"), _("Disqualified")],
        outcomes={_("Disqualified"): StageOutcome.DISQUALIFIED},
    )
    education = services.create_nurture_queue(
        name=_("Educational nurture"),
        purpose=_("No budget yet: teach, stay in touch, and ask again when the next budget is planned."),
        cadence_days=14,
        revisit_after_days=90,
    )
    general = services.create_nurture_queue(
        name=_("General nurture"),
        purpose=_("Everyone no segment takes: newsletters until they show intent."),
        cadence_days=30,
        revisit_after_days=180,
    )
    territory = services.save_assignment_policy(
        data={"name": _("By territory"), "kind": PolicyKind.TERRITORY, "capacity": 400}
    )
    least_loaded = services.save_assignment_policy(
        data={"name": _("Least-loaded rep"), "kind": PolicyKind.LEAST_LOADED, "capacity": 400}
    )
    first = {p.pk: p.stages.order_by("position").first() for p in (fast, enterprise, review)}
    specs = [
        {
            "name": _("Disqualification review"),
            "description": _("Already served by a competitor, or outside every team's territory."),
            "priority": 10,
            "conditions": [{"attribute": "company.competitor", "operator": "eq", "value": True}],
            "stage": first[review.pk],
        },
        {
            "name": _("Outside our territory"),
            "description": _("No sales team covers the company's country: review before anyone sells."),
            "priority": 20,
            "conditions": [{"attribute": "territory.covered", "operator": "eq", "value": False}],
            "stage": first[review.pk],
        },
        {
            "name": _("No budget: educate"),
            "description": _("Budget is none: nurture with content and revisit in a quarter."),
            "priority": 30,
            "conditions": [{"attribute": "bant.budget", "operator": "eq", "value": "none"}],
            "queue": education,
        },
        {
            "name": _("Enterprise"),
            "description": _("1,000 employees or more: many people decide, the cycle is long."),
            "priority": 40,
            "conditions": [{"attribute": "company.employees", "operator": "gte", "value": 1000}],
            "stage": first[enterprise.pk],
            "policy": territory,
        },
        {
            "name": _("Fast track"),
            "description": _("Under 200 employees with a strong fit and real engagement."),
            "priority": 50,
            "conditions": [
                {"attribute": "company.employees", "operator": "lt", "value": 200},
                {"attribute": "score.fit", "operator": "gte", "value": 20},
                {"attribute": "score.total", "operator": "gte", "value": 40},
            ],
            "stage": first[fast.pk],
            "policy": least_loaded,
        },
        {
            "name": _("Everyone else"),
            "description": _("The fallback: leads no other segment takes."),
            "priority": 1000,
            "is_fallback": True,
            "queue": general,
        },
    ]
    return [services.save_segment(data=spec) for spec in specs]
