"""Filters of exportable lead lists (shared by the API and, later, pages)."""

from __future__ import annotations

import django_filters

from leads.models import Lead, LeadSource, LeadStatus


class ExportLeadFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=LeadStatus.choices)
    source = django_filters.MultipleChoiceFilter(choices=LeadSource.choices)
    segment = django_filters.NumberFilter(field_name="placement__segment_id")
    queue = django_filters.NumberFilter(field_name="placement__queue_id")
    band = django_filters.CharFilter(field_name="score__band")
    min_score = django_filters.NumberFilter(field_name="score__total", lookup_expr="gte")
    country = django_filters.CharFilter(field_name="company__country")
    marketing_consent = django_filters.BooleanFilter()

    class Meta:
        model = Lead
        fields = ["status", "source", "segment", "queue", "band", "min_score", "country", "marketing_consent"]
