"""Serializers of the leads API: they validate input and shape output; writes go through leads.services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.utils.translation import gettext_lazy as _
from django_countries.serializer_fields import CountryField
from rest_framework import serializers

from .filters import MAX_ID
from .models import Company, EventKind, Industry, Lead, LeadSource, LeadStatus, Qualification, Team
from .services import QUALIFICATION_FIELDS

CANNOT_WRITE = _("This field cannot be written.")
MAX_EVENTS_PER_BATCH = 1000


class StrictFieldsMixin:
    """Refuse, with a 400 field error, every key the caller may not write.

    Read-only fields (id, score, version, timestamps), fields the caller's role may not
    write (``context["protected"]``, e.g. owner and team for reps) and unknown names are
    all refused the same way, so a mass-assignment attempt is visible, never silent.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}  # type: ignore[attr-defined]
            writable -= set(self.context.get("protected", ()))  # type: ignore[attr-defined]
            refused = sorted(set(data) - writable)
            if refused:
                raise serializers.ValidationError({name: [CANNOT_WRITE] for name in refused})
        return super().to_internal_value(data)  # type: ignore[misc]


# --- output ------------------------------------------------------------------------------

_datetime = serializers.DateTimeField()
_money = serializers.DecimalField(max_digits=18, decimal_places=2)


def _dt(value: Any) -> str | None:
    return _datetime.to_representation(value) if value is not None else None


class CompanySerializer(serializers.ModelSerializer):
    country = CountryField(allow_blank=True)

    class Meta:
        model = Company
        fields = ["id", "name", "domain", "industry", "employee_count", "annual_revenue", "country", "region"]
        read_only_fields = fields


def company_data(company: Company | None) -> dict[str, Any] | None:
    if company is None:
        return None
    return {
        "id": company.pk,
        "name": company.name,
        "domain": company.domain,
        "industry": company.industry,
        "employee_count": company.employee_count,
        "annual_revenue": _money.to_representation(company.annual_revenue)
        if company.annual_revenue is not None
        else None,
        "country": company.country.code or "",
        "region": company.region,
    }


class ScoreSummarySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    band = serializers.CharField()


class LeadSerializer(serializers.ModelSerializer):
    """A lead as the list and the detail show it (all read-only).

    ``to_representation`` is written out by hand: the generic field loop costs half the
    throughput of a 50-row page. ``test_representation_matches_declared_fields`` keeps the
    two in step; the declared fields are what the OpenAPI schema shows.
    """

    full_name = serializers.CharField()
    phone = serializers.CharField()
    company = CompanySerializer(allow_null=True)
    score = ScoreSummarySerializer(allow_null=True, help_text=_("Null until the lead is first scored."))
    bant_met = serializers.IntegerField(help_text=_("BANT criteria met, 0-4."))

    class Meta:
        model = Lead
        fields = [
            "id",
            "first_name",
            "last_name",
            "full_name",
            "email",
            "phone",
            "job_title",
            "company",
            "source",
            "campaign",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
            "owner",
            "team",
            "status",
            "status_reason",
            "do_not_contact",
            "marketing_consent",
            "version",
            "score",
            "bant_met",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def to_representation(self, lead: Lead) -> dict[str, Any]:
        try:
            stored = lead.score  # type: ignore[attr-defined]
            score = {"total": stored.total, "band": stored.band}
        except ObjectDoesNotExist:
            score = None
        try:
            bant_met = lead.qualification.bant_met
        except ObjectDoesNotExist:
            bant_met = 0
        return {
            "id": lead.pk,
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "full_name": lead.full_name,
            "email": lead.email,
            "phone": str(lead.phone) if lead.phone else "",
            "job_title": lead.job_title,
            "company": company_data(lead.company),
            "source": lead.source,
            "campaign": lead.campaign,
            "utm_source": lead.utm_source,
            "utm_medium": lead.utm_medium,
            "utm_campaign": lead.utm_campaign,
            "utm_term": lead.utm_term,
            "utm_content": lead.utm_content,
            "owner": lead.owner_id,
            "team": lead.team_id,
            "status": lead.status,
            "status_reason": lead.status_reason,
            "do_not_contact": lead.do_not_contact,
            "marketing_consent": lead.marketing_consent,
            "version": lead.version,
            "score": score,
            "bant_met": bant_met,
            "created_at": _dt(lead.created_at),
            "updated_at": _dt(lead.updated_at),
        }


class QualificationSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """BANT answers; writing any answer of a criterion stamps who recorded it and when."""

    class Meta:
        model = Qualification
        fields = [
            *sorted(QUALIFICATION_FIELDS),
            "bant_met",
            "budget_recorded_by",
            "budget_recorded_at",
            "authority_recorded_by",
            "authority_recorded_at",
            "need_recorded_by",
            "need_recorded_at",
            "timing_recorded_by",
            "timing_recorded_at",
        ]
        read_only_fields = [name for name in fields if name not in QUALIFICATION_FIELDS]


class LeadDetailSerializer(LeadSerializer):
    qualification = QualificationSerializer()

    class Meta(LeadSerializer.Meta):
        fields = [*LeadSerializer.Meta.fields, "qualification"]
        read_only_fields = fields

    def to_representation(self, lead: Lead) -> dict[str, Any]:
        data = super().to_representation(lead)
        try:
            data["qualification"] = QualificationSerializer(lead.qualification).data
        except ObjectDoesNotExist:
            data["qualification"] = None
        return data


# --- input -------------------------------------------------------------------------------


class CompanyInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """A lead's company: matched by its domain when one is known, created otherwise."""

    name = serializers.CharField(max_length=200)
    domain = serializers.CharField(max_length=253, required=False, allow_blank=True)
    industry = serializers.ChoiceField(choices=Industry.choices, required=False, allow_blank=True)
    industry_other = serializers.CharField(max_length=120, required=False, allow_blank=True)
    employee_count = serializers.IntegerField(min_value=0, max_value=2_147_483_647, required=False, allow_null=True)
    annual_revenue = serializers.DecimalField(
        max_digits=18, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    revenue_currency = serializers.CharField(max_length=3, required=False, allow_blank=True)
    country = CountryField(required=False, allow_blank=True)
    region = serializers.CharField(max_length=120, required=False, allow_blank=True)
    served_by_competitor = serializers.BooleanField(required=False)
    competitor_name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    notes = serializers.CharField(max_length=10_000, required=False, allow_blank=True)


def _text(max_length: int) -> serializers.CharField:
    return serializers.CharField(max_length=max_length, required=False, allow_blank=True)


class LeadWriteSerializer(StrictFieldsMixin, serializers.Serializer):
    """The writable fields of a lead (create: email required; PATCH: any subset)."""

    first_name = _text(100)
    last_name = _text(100)
    email = serializers.EmailField(max_length=254)
    phone = _text(40)
    job_title = _text(200)
    company = CompanyInputSerializer(required=False, allow_null=True)
    source = serializers.ChoiceField(choices=LeadSource.choices, required=False)
    campaign = _text(200)
    utm_source = _text(200)
    utm_medium = _text(200)
    utm_campaign = _text(200)
    utm_term = _text(200)
    utm_content = _text(200)
    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.all(), required=False, allow_null=True, help_text=_("Managers only.")
    )
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), required=False, allow_null=True, help_text=_("Managers only.")
    )
    status = serializers.ChoiceField(choices=LeadStatus.choices, required=False)
    status_reason = _text(300)
    do_not_contact = serializers.BooleanField(required=False)
    marketing_consent = serializers.BooleanField(required=False)

    def to_internal_value(self, data: Any) -> Any:
        # Ids beyond bigint would reach the database as an error; refuse them as bad input.
        if isinstance(data, Mapping):
            for name in ("owner", "team"):
                value = data.get(name)
                if isinstance(value, int) and not isinstance(value, bool) and not 0 < value <= MAX_ID:
                    raise serializers.ValidationError({name: [_("Invalid id.")]})
        return super().to_internal_value(data)


class LeadCreateSerializer(LeadWriteSerializer):
    qualification = QualificationSerializer(required=False)


# --- events ------------------------------------------------------------------------------


class EventInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """One engagement event; the lead by ``lead`` (id) or by ``email``, exactly one of them."""

    lead = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    email = serializers.EmailField(max_length=254, required=False)
    kind = serializers.ChoiceField(choices=EventKind.choices)
    occurred_at = serializers.DateTimeField(required=False, help_text=_("Default: when it is received."))
    metadata = serializers.DictField(required=False)
    client_event_id = serializers.CharField(
        max_length=100,
        required=False,
        allow_null=True,
        help_text=_("Set it, and a retried delivery of the same event is stored once."),
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("lead" in attrs) == ("email" in attrs):
            raise serializers.ValidationError({"lead": [_("Give either the lead id or its email.")]})
        return attrs


class EventBatchSerializer(StrictFieldsMixin, serializers.Serializer):
    events = EventInputSerializer(many=True, min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class EventResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text=_("Events whose client event id was already stored."))


# --- auth --------------------------------------------------------------------------------


class TokenRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
