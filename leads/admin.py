"""Admin pages for teams, companies, leads, events and capture forms: they validate and call services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from . import capture, services
from .models import CaptureForm, Company, EngagementEvent, Lead, Membership, Qualification, QuestionUse, Team
from .roles import is_manager


class MembershipInline(admin.StackedInline):
    model = Membership
    can_delete = True
    extra = 0
    max_num = 1
    verbose_name = _("sales team")


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [MembershipInline]
    list_display = ("username", "email", "first_name", "last_name", "is_active", "team_name")
    list_select_related = ("membership__team",)

    @admin.display(description=_("team"))
    def team_name(self, obj: Any) -> str:
        membership = getattr(obj, "membership", None)
        return membership.team.name if membership else ""


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "countries", "regions", "created_at")
    search_fields = ("name",)


class CompanyForm(forms.ModelForm):
    class Meta:
        model = Company
        fields = "__all__"  # noqa: DJ007 -- the ModelAdmin decides which fields show

    def clean_domain(self) -> str:
        try:
            return services.normalize_domain(self.cleaned_data.get("domain", ""))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["domain"]) from None


@admin.register(Company)
class CompanyAdmin(SimpleHistoryAdmin):
    form = CompanyForm
    list_display = ("name", "domain", "industry", "employee_count", "country", "served_by_competitor")
    list_filter = ("industry", "served_by_competitor", "country")
    search_fields = ("name", "domain")

    def save_model(self, request: HttpRequest, obj: Company, form: forms.ModelForm, change: bool) -> None:
        fields = form.changed_data if change else list(form.cleaned_data)
        data = {name: form.cleaned_data[name] for name in fields if name in services.COMPANY_FIELDS}
        if change:
            services.update_company(company=obj, data=data, acting_user=request.user)
        else:
            obj.pk = services.create_company(data=data, acting_user=request.user).pk


class LeadForm(forms.ModelForm):
    class Meta:
        model = Lead
        fields = "__all__"  # noqa: DJ007 -- the ModelAdmin decides which fields show

    def clean_email(self) -> str:
        return services.normalize_email(self.cleaned_data.get("email", ""))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        phone = cleaned.get("phone")
        company = cleaned.get("company")
        region = str(company.country.code) if company and company.country else None
        if phone:
            try:
                cleaned["phone"] = services.normalize_phone(str(phone), region=region)
            except ValidationError as exc:
                self.add_error("phone", exc.message_dict["phone"])
        return cleaned


class QualificationInline(admin.StackedInline):
    model = Qualification
    can_delete = False
    fields = (
        ("budget", "budget_amount", "budget_currency"),
        "budget_notes",
        ("authority", "decision_maker"),
        "authority_notes",
        ("need", "need_pain"),
        "need_notes",
        ("timing", "decision_date"),
        "timing_notes",
        "bant_met",
    )
    readonly_fields = ("bant_met",)


class EventInline(admin.TabularInline):
    model = EngagementEvent
    extra = 0
    fields = ("kind", "occurred_at", "metadata")
    readonly_fields = ("kind", "occurred_at", "metadata")
    can_delete = False
    ordering = ("-occurred_at",)
    max_num = 0
    show_change_link = False


@admin.register(Lead)
class LeadAdmin(SimpleHistoryAdmin):
    form = LeadForm
    inlines = [QualificationInline, EventInline]
    list_display = ("__str__", "email", "company", "source", "status", "owner", "team", "version")
    list_filter = ("status", "source", "team", "do_not_contact")
    list_select_related = ("company", "owner", "team")
    search_fields = ("first_name", "last_name", "email", "company__name")
    autocomplete_fields = ("company",)
    readonly_fields = ("version", "created_at", "updated_at")

    def save_model(self, request: HttpRequest, obj: Lead, form: forms.ModelForm, change: bool) -> None:
        fields = form.changed_data if change else list(form.cleaned_data)
        data = {name: form.cleaned_data[name] for name in fields if name in services.LEAD_FIELDS}
        if change:
            services.update_lead(lead=obj, data=data, acting_user=request.user)
        else:
            obj.pk = services.create_lead(data=data, acting_user=request.user).pk

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        if formset.model is not Qualification:
            return  # events are read-only here
        for inline_form in formset.forms:
            data = {
                name: inline_form.cleaned_data[name]
                for name in inline_form.changed_data
                if name in services.QUALIFICATION_FIELDS
            }
            if data:
                services.update_qualification(lead=form.instance.pk, data=data, acting_user=request.user)


@admin.register(EngagementEvent)
class EngagementEventAdmin(admin.ModelAdmin):
    list_display = ("lead", "kind", "occurred_at")
    list_filter = ("kind",)
    list_select_related = ("lead",)
    search_fields = ("lead__email",)
    raw_id_fields = ("lead",)
    date_hierarchy = "occurred_at"
    fields = ("lead", "kind", "occurred_at", "metadata", "client_event_id")

    def save_model(self, request: HttpRequest, obj: EngagementEvent, form: forms.ModelForm, change: bool) -> None:
        if change:
            raise ValidationError(_("Events are facts: add a new event instead of editing one."))
        created = services.record_event(
            lead=obj.lead_id,
            kind=obj.kind,
            occurred_at=obj.occurred_at,
            metadata=obj.metadata,
            client_event_id=obj.client_event_id,
        )
        if created:
            obj.pk = created.pk

    def has_change_permission(self, request: HttpRequest, obj: EngagementEvent | None = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)


# --- public capture forms -------------------------------------------------------------------


def _question_field(key: str) -> forms.ChoiceField:
    return forms.ChoiceField(label=capture.QUESTIONS[key].label, choices=QuestionUse.choices, initial="hidden")


class _CaptureFormAdminForm(forms.ModelForm):
    """The form's settings plus one "not asked / optional / required" choice per catalogue question."""

    class Meta:
        model = CaptureForm
        fields = ["slug", "title", "intro", "thank_you", "active", "source", "campaign", "embed_origins"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        questions = self.instance.questions or {}
        for key in capture.QUESTIONS:
            self.fields[f"q_{key}"].initial = questions.get(key, QuestionUse.HIDDEN)

    def clean_embed_origins(self) -> str:
        try:
            return capture.clean_origins(self.cleaned_data.get("embed_origins", ""))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["embed_origins"]) from None

    def questions(self) -> dict[str, str]:
        return {key: self.cleaned_data[f"q_{key}"] for key in capture.QUESTIONS}


# The question fields are declared on the class (the admin checks its fieldsets against declared fields).
CaptureFormAdminForm = type(
    "CaptureFormAdminForm",
    (_CaptureFormAdminForm,),
    {"__module__": __name__, **{f"q_{key}": _question_field(key) for key in capture.QUESTIONS}},
)


@admin.register(CaptureForm)
class CaptureFormAdmin(admin.ModelAdmin):
    """Managers only: which questions a public form asks, how its leads are tagged, who may embed it."""

    form = CaptureFormAdminForm
    list_display = ("title", "slug", "active", "source", "campaign", "page_link", "updated_at")
    list_filter = ("active", "source")
    search_fields = ("title", "slug", "campaign")
    prepopulated_fields = {"slug": ("title",)}

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        groups = {"contact": _("Contact"), "company": _("Company"), "bant": _("BANT"), "consent": _("Consent")}
        return [
            (None, {"fields": ["title", "slug", "active", "intro", "thank_you"]}),
            (_("New leads"), {"fields": ["source", "campaign"]}),
            *[
                (label, {"fields": [f"q_{q.key}" for q in capture.QUESTIONS.values() if q.group == group]})
                for group, label in groups.items()
            ],
            (_("Embedding"), {"fields": ["embed_origins"]}),
        ]

    @admin.display(description=_("page"))
    def page_link(self, obj: CaptureForm) -> str:
        url = reverse("leads:capture", args=[obj.slug])
        return format_html('<a href="{}">{}</a>', url, url)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_manager(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_manager(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_manager(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_manager(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_manager(request.user)

    def save_model(self, request: HttpRequest, obj: CaptureForm, form: _CaptureFormAdminForm, change: bool) -> None:
        data = {name: form.cleaned_data.get(name) for name in _CaptureFormAdminForm.Meta.fields}
        saved = capture.save_capture_form(
            capture_form=obj if change else None, data={**data, "questions": form.questions()}
        )
        obj.pk = saved.pk
