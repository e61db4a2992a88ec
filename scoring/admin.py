"""Admin for rules, caps, bands, versions and jobs; managers only. Saves go through services."""

from __future__ import annotations

import json
import threading
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from leads.admin import LeadAdmin
from leads.jobs import JobState
from leads.models import Lead
from leads.roles import is_manager

from . import services
from .attributes import Op, attribute_choices, get_attribute
from .models import CategoryCapSetting, LeadScore, PointRule, RescoreJob, RulesVersion, ScoreBand
from .selectors import fired_rules


class ManagersOnlyMixin:
    """Rules and jobs are a manager's tools: reps and marketers get no access."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_manager(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_manager(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_manager(request.user)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return is_manager(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_manager(request.user)


class PointRuleForm(forms.ModelForm):
    attribute = forms.ChoiceField(label=_("attribute"))
    value = forms.CharField(
        label=_("value"),
        required=False,
        help_text=_("For “is one of”: values separated by commas. For “is between”: lowest, highest."),
    )

    class Media:
        js = ("scoring/rule_form.js",)

    class Meta:
        model = PointRule
        fields = ["name", "category", "attribute", "operator", "value", "window_days", "points", "active", "notes"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["attribute"].choices = [("", "---------"), *attribute_choices()]
        # The form's script offers only the operators each attribute allows.
        keys = [key for _group, attrs in attribute_choices() for key, _label in attrs]
        self.fields["attribute"].widget.attrs.update(
            {
                "data-operators": json.dumps({k: list(get_attribute(k).allowed_operators) for k in keys}),
                "data-windowed": json.dumps([k for k in keys if get_attribute(k).needs_window]),
            }
        )
        value = self.initial.get("value")
        if isinstance(value, list):
            self.initial["value"] = ", ".join(str(v) for v in value)
        elif value is None:
            self.initial["value"] = ""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        data = {name: cleaned.get(name) for name in services.RULE_FIELDS if name in cleaned}
        try:
            cleaned.update(services.validate_rule_data(data))
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return cleaned


_counts = threading.local()


@admin.register(PointRule)
class PointRuleAdmin(ManagersOnlyMixin, admin.ModelAdmin):
    form = PointRuleForm
    list_display = ("name", "category", "points", "condition", "active", "leads_matching")
    list_filter = ("category", "active")
    search_fields = ("name", "attribute", "notes")
    ordering = ("category", "-points")

    @admin.display(description=_("condition"))
    def condition(self, obj: PointRule) -> str:
        attribute = get_attribute(obj.attribute)
        value = (
            "" if obj.value is None else (", ".join(map(str, obj.value)) if isinstance(obj.value, list) else obj.value)
        )
        window = _(" in the last %(d)s days") % {"d": obj.window_days} if obj.window_days else ""
        return f"{attribute.label} {Op(obj.operator).label} {value}{window}".strip()

    @admin.display(description=_("leads matching now"))
    def leads_matching(self, obj: PointRule) -> int | str:
        counts = getattr(_counts, "value", None) or {}
        return counts.get(obj.pk, "-")

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        # One pass over the stored scores counts every rule at once (not one scan per rule).
        rule_ids = list(PointRule.objects.values_list("id", flat=True))
        aggregates = {f"r{rid}": Count("pk", filter=Q(fired__contains=f",{rid},")) for rid in rule_ids}
        _counts.value = (
            {int(k[1:]): v for k, v in LeadScore.objects.aggregate(**aggregates).items()} if aggregates else {}
        )
        try:
            response = super().changelist_view(request, extra_context)
            if hasattr(response, "render"):
                response.render()  # while the counts are set: TemplateResponse renders lazily
            return response
        finally:
            _counts.value = None

    def save_model(self, request: HttpRequest, obj: PointRule, form: forms.ModelForm, change: bool) -> None:
        data = {name: form.cleaned_data.get(name) for name in services.RULE_FIELDS}
        saved = services.save_point_rule(rule=obj if change else None, data=data, acting_user=request.user)
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: PointRule) -> None:
        services.delete_point_rule(rule=obj, acting_user=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for rule in queryset:
            services.delete_point_rule(rule=rule, acting_user=request.user)


@admin.register(CategoryCapSetting)
class CategoryCapAdmin(ManagersOnlyMixin, admin.ModelAdmin):
    list_display = ("category", "minimum", "maximum")

    def save_model(self, request: HttpRequest, obj: CategoryCapSetting, form: forms.ModelForm, change: bool) -> None:
        saved = services.save_category_cap(category=obj.category, minimum=obj.minimum, maximum=obj.maximum)
        obj.pk = saved.pk

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ScoreBand)
class ScoreBandAdmin(ManagersOnlyMixin, admin.ModelAdmin):
    list_display = ("name", "min_score", "description")

    def save_model(self, request: HttpRequest, obj: ScoreBand, form: forms.ModelForm, change: bool) -> None:
        saved = services.save_score_band(
            band=obj if change else None, name=obj.name, min_score=obj.min_score, description=obj.description
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: ScoreBand) -> None:
        services.delete_score_band(band=obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for band in queryset:
            services.delete_score_band(band=band)


class ReadOnlyMixin(ManagersOnlyMixin):
    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RulesVersion)
class RulesVersionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("number", "reason", "created_at")


@admin.register(RescoreJob)
class RescoreJobAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "rules_version", "reason", "state", "progress", "changed", "created_at", "finished_at")
    list_filter = ("state", "reason")
    readonly_fields = ("progress",)

    @admin.display(description=_("progress"))
    def progress(self, obj: RescoreJob) -> str:
        return format_html(
            '<progress max="100" value="{}"></progress> {}% ({} / {})', obj.percent, obj.percent, obj.done, obj.total
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        extra_context = extra_context or {}
        extra_context["running"] = RescoreJob.objects.filter(state=JobState.RUNNING).exists()
        return super().changelist_view(request, extra_context)


# The lead admin page shows the score, band and the "why" list. scoring may
# know leads (not the reverse), so it extends the leads app's admin here.
admin.site.unregister(Lead)


@admin.register(Lead)
class ScoredLeadAdmin(LeadAdmin):
    readonly_fields = (*LeadAdmin.readonly_fields, "score_summary", "score_reasons")
    list_display = (*LeadAdmin.list_display, "score_total", "score_band")
    list_select_related = (*LeadAdmin.list_select_related, "score")

    @admin.display(description=_("score"), ordering="score__total")
    def score_total(self, obj: Lead) -> int | None:
        score = getattr(obj, "score", None)
        return score.total if score else None

    @admin.display(description=_("band"), ordering="score__band")
    def score_band(self, obj: Lead) -> str:
        score = getattr(obj, "score", None)
        return score.band if score else ""

    @admin.display(description=_("score"))
    def score_summary(self, obj: Lead) -> str:
        score = LeadScore.objects.filter(lead=obj).first()
        if score is None:
            return str(_("Not scored yet"))
        return format_html(
            "<strong>{}</strong> ({}) — {} {}, {} {}, {} {}",
            score.total,
            score.band or "-",
            _("fit"),
            score.fit,
            _("engagement"),
            score.engagement,
            _("qualification"),
            score.qualification,
        )

    @admin.display(description=_("why"))
    def score_reasons(self, obj: Lead) -> str:
        score = LeadScore.objects.filter(lead=obj).first()
        if score is None:
            return ""
        lines = [(f"{'+' if f.points >= 0 else '-'}{abs(f.points)}", f.name) for f in fired_rules(score)]
        if not lines:
            return str(_("No rule fired."))
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{} {}</li>", lines))
