"""Admin for segments, pipelines, queues, policies, routing jobs, exports and webhooks; saves go through services."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from scoring.admin import ManagersOnlyMixin, ReadOnlyMixin

from . import services, webhooks
from .attributes import describe_condition
from .models import (
    AssignmentPolicy,
    ExportRecord,
    LeadPlacement,
    NurtureQueue,
    Pipeline,
    RepCapacity,
    RoutingDecision,
    RoutingJob,
    Segment,
    Stage,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)


class SegmentForm(forms.ModelForm):
    conditions = forms.CharField(
        label=gettext_lazy("conditions"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 90}),
        help_text=gettext_lazy(
            'A JSON list, all must hold, e.g. [{"attribute": "score.fit", "operator": "gte", "value": 40}, '
            '{"attribute": "bant.budget", "operator": "eq", "value": "none"}].'
        ),
    )

    class Meta:
        model = Segment
        fields = ["name", "description", "priority", "conditions", "stage", "policy", "queue", "is_fallback", "active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        value = self.initial.get("conditions")
        if isinstance(value, list):
            self.initial["conditions"] = json.dumps(value, indent=1)

    def clean_conditions(self) -> Any:
        raw = self.cleaned_data.get("conditions") or "[]"
        try:
            return json.loads(raw)
        except ValueError:
            raise ValidationError(_("Write the conditions as a JSON list.")) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        data = {name: cleaned.get(name) for name in services.SEGMENT_FIELDS if name in cleaned}
        try:
            cleaned.update(services.validate_segment_data(data))
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                self.add_error(name if name in self.fields else None, messages)
            return cleaned
        if "_preview" in self.data:
            # The preview is shown as the form's message so nothing is saved.
            moves = services.preview_segment_change(segment=self.instance if self.instance.pk else None, data=data)
            lines = [
                _("%(n)d leads: %(src)s → %(dst)s") % {"n": m.leads, "src": m.from_segment, "dst": m.to_segment}
                for m in moves
            ] or [_("No lead would move.")]
            raise ValidationError([_("Preview (nothing saved yet):"), *lines])
        return cleaned


@admin.register(Segment)
class SegmentAdmin(ManagersOnlyMixin, admin.ModelAdmin):
    form = SegmentForm
    list_display = ("name", "priority", "condition_text", "destination", "policy", "is_fallback", "active", "members")
    list_filter = ("active", "is_fallback")
    list_select_related = ("stage__pipeline", "queue", "policy")
    ordering = ("is_fallback", "priority", "id")

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(member_count=Count("placements"))

    @admin.display(description=gettext_lazy("members"), ordering="member_count")
    def members(self, obj: Segment) -> int:
        return obj.member_count  # type: ignore[attr-defined]

    @admin.display(description=gettext_lazy("conditions"))
    def condition_text(self, obj: Segment) -> str:
        if obj.is_fallback:
            return _("every lead no other segment takes")
        return _(" and ").join(describe_condition(c) for c in obj.conditions) or _("every lead")

    @admin.display(description=gettext_lazy("destination"))
    def destination(self, obj: Segment) -> str:
        return str(obj.stage) if obj.stage_id else str(obj.queue)

    def save_model(self, request: HttpRequest, obj: Segment, form: forms.ModelForm, change: bool) -> None:
        data = {name: form.cleaned_data.get(name) for name in services.SEGMENT_FIELDS}
        saved = services.save_segment(segment=obj if change else None, data=data, acting_user=request.user)
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Segment) -> None:
        services.delete_segment(segment=obj, acting_user=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for segment in queryset:
            services.delete_segment(segment=segment, acting_user=request.user)


class StageInline(admin.TabularInline):
    model = Stage
    extra = 0
    ordering = ("position",)


@admin.register(Pipeline)
class PipelineAdmin(ManagersOnlyMixin, admin.ModelAdmin):
    inlines = [StageInline]
    list_display = ("name", "stage_list", "leads")

    def get_queryset(self, request: HttpRequest) -> Any:
        return (
            super()
            .get_queryset(request)
            .prefetch_related("stages")
            .annotate(lead_count=Count("stages__visits", filter=Q(stages__visits__left_at__isnull=True)))
        )

    @admin.display(description=gettext_lazy("stages"))
    def stage_list(self, obj: Pipeline) -> str:
        return " → ".join(s.name for s in obj.stages.all())

    @admin.display(description=gettext_lazy("leads"), ordering="lead_count")
    def leads(self, obj: Pipeline) -> int:
        return obj.lead_count  # type: ignore[attr-defined]


@admin.register(NurtureQueue)
class NurtureQueueAdmin(ManagersOnlyMixin, admin.ModelAdmin):
    list_display = ("name", "cadence_days", "revisit_after_days", "members_now", "due_now")

    def get_queryset(self, request: HttpRequest) -> Any:
        from django.utils import timezone

        open_stay = Q(members__left_at__isnull=True)
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_count=Count("members", filter=open_stay),
                due_count=Count("members", filter=open_stay & Q(members__revisit_on__lte=timezone.localdate())),
            )
        )

    @admin.display(description=gettext_lazy("members"), ordering="member_count")
    def members_now(self, obj: NurtureQueue) -> int:
        return obj.member_count  # type: ignore[attr-defined]

    @admin.display(description=gettext_lazy("due for a revisit"), ordering="due_count")
    def due_now(self, obj: NurtureQueue) -> int:
        return obj.due_count  # type: ignore[attr-defined]


@admin.register(AssignmentPolicy)
class AssignmentPolicyAdmin(ManagersOnlyMixin, admin.ModelAdmin):
    list_display = ("name", "kind", "team", "user", "capacity")
    exclude = ("turns",)

    def save_model(self, request: HttpRequest, obj: AssignmentPolicy, form: forms.ModelForm, change: bool) -> None:
        data = {name: form.cleaned_data.get(name) for name in ("name", "kind", "team", "user", "capacity")}
        saved = services.save_assignment_policy(policy=obj if change else None, data=data, acting_user=request.user)
        obj.pk = saved.pk


@admin.register(RepCapacity)
class RepCapacityAdmin(ManagersOnlyMixin, admin.ModelAdmin):
    list_display = ("user", "max_open_leads")


@admin.register(RoutingJob)
class RoutingJobAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "reason", "state", "progress", "moved", "created_at", "finished_at")
    list_filter = ("state", "reason")

    @admin.display(description=gettext_lazy("progress"))
    def progress(self, obj: RoutingJob) -> str:
        return format_html(
            '<progress max="100" value="{}"></progress> {}% ({} / {})', obj.percent, obj.percent, obj.done, obj.total
        )


@admin.register(RoutingDecision)
class RoutingDecisionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("lead", "created_at", "reason", "from_segment", "to_segment", "to_owner", "policy_note")
    list_select_related = ("lead", "from_segment", "to_segment", "to_owner")
    list_filter = ("reason",)
    raw_id_fields = ("lead",)


@admin.register(ExportRecord)
class ExportRecordAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("started_at", "user", "queue", "rows", "filters", "finished_at")
    list_select_related = ("user", "queue")


class PlacementActionForm(ActionForm):
    """The admin action bar plus the owner the "set owner" action gives."""

    owner = forms.ModelChoiceField(
        label=gettext_lazy("owner"),
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        required=False,
    )


@admin.register(LeadPlacement)
class LeadPlacementAdmin(ManagersOnlyMixin, admin.ModelAdmin):
    """Where leads are; pins and hand-set owners go through the routing services (actions only)."""

    list_display = ("lead", "segment", "stage", "queue", "pinned", "manual_owner", "routed_at")
    list_select_related = ("lead", "segment", "stage__pipeline", "queue")
    list_filter = ("pinned", "manual_owner", "segment")
    raw_id_fields = ("lead",)
    search_fields = ("lead__email",)
    action_form = PlacementActionForm
    actions = ("pin_leads", "unpin_leads", "set_owner", "release_owner")

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Placements change only through routing and the actions below (one writer per fact).
        return [f.name for f in LeadPlacement._meta.fields]

    @admin.action(description=gettext_lazy("Pin: routing never moves these leads"))
    def pin_leads(self, request: HttpRequest, queryset: Any) -> None:
        for lead_id in queryset.values_list("lead_id", flat=True):
            services.pin_lead(lead=lead_id, pinned=True, acting_user=request.user)
        self.message_user(request, _("%(n)d leads pinned.") % {"n": queryset.count()})

    @admin.action(description=gettext_lazy("Unpin: routing may move these leads again"))
    def unpin_leads(self, request: HttpRequest, queryset: Any) -> None:
        for lead_id in queryset.values_list("lead_id", flat=True):
            services.pin_lead(lead=lead_id, pinned=False, acting_user=request.user)
        self.message_user(request, _("%(n)d leads unpinned.") % {"n": queryset.count()})

    @admin.action(description=gettext_lazy("Set the owner chosen above (routing keeps it)"))
    def set_owner(self, request: HttpRequest, queryset: Any) -> None:
        try:  # the action bar's own "action" choices are not the owner's business: clean the one field
            owner = PlacementActionForm.base_fields["owner"].clean(request.POST.get("owner"))
        except ValidationError:
            owner = None
        if owner is None:
            self.message_user(request, _("Choose an owner first."), level=messages.ERROR)
            return
        lead_ids = list(queryset.values_list("lead_id", flat=True))
        try:
            with transaction.atomic():  # all the selected leads or none
                for lead_id in lead_ids:
                    services.change_lead_owner(lead=lead_id, owner=owner, acting_user=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), level=messages.ERROR)
            return
        self.message_user(request, _("%(n)d leads now owned by %(owner)s.") % {"n": len(lead_ids), "owner": owner})

    @admin.action(description=gettext_lazy("Release the owner: routing may pick one again"))
    def release_owner(self, request: HttpRequest, queryset: Any) -> None:
        for lead_id in queryset.values_list("lead_id", flat=True):
            services.release_lead_owner(lead=lead_id)
        self.message_user(request, _("%(n)d leads released.") % {"n": queryset.count()})


# --- outbound webhooks ----------------------------------------------------------------------


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(label=gettext_lazy("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=gettext_lazy("events"), choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple
    )
    secret = forms.CharField(
        label=gettext_lazy("signing secret"),
        required=False,
        max_length=128,
        widget=forms.TextInput(attrs={"size": 70, "autocomplete": "off"}),
        help_text=gettext_lazy(
            "Receivers check X-Leadqual-Signature: sha256=<hex HMAC-SHA256 of the raw body with this secret>. "
            "Leave empty for a new random secret."
        ),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "events", "active", "secret"]


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("number", "attempted_at", "response_code", "error", "duration_ms", "retry_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ManagersOnlyMixin, admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("name", "url", "event_list", "active", "masked_secret", "created_at")
    list_filter = ("active",)
    search_fields = ("name", "url")

    @admin.display(description=gettext_lazy("events"))
    def event_list(self, obj: WebhookEndpoint) -> str:
        labels = dict(WebhookEvent.choices)
        return ", ".join(str(labels.get(e, e)) for e in obj.events)

    @admin.display(description=gettext_lazy("secret"))
    def masked_secret(self, obj: WebhookEndpoint) -> str:
        return webhooks.mask_secret(obj.secret)

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: forms.ModelForm, change: bool) -> None:
        data = {name: form.cleaned_data.get(name) for name in webhooks.ENDPOINT_FIELDS}
        data["events"] = list(data["events"] or [])
        try:
            saved = webhooks.save_webhook_endpoint(endpoint=obj if change else None, data=data)
        except ValidationError as exc:
            # The form validated the same fields; a service error here is a race, shown as a message.
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            return
        obj.pk = saved.pk


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "endpoint", "event", "lead_id", "state", "attempts", "response_code", "created_at")
    list_filter = ("state", "event", "endpoint")
    list_select_related = ("endpoint",)
    search_fields = ("=event_id", "=lead_id")
    readonly_fields = (
        "endpoint",
        "event",
        "event_id",
        "lead_id",
        "payload",
        "state",
        "attempts",
        "response_code",
        "error",
        "created_at",
        "last_attempt_at",
        "next_attempt_at",
        "delivered_at",
    )
    inlines = [WebhookAttemptInline]
    actions = ["send_again"]

    @admin.action(description=gettext_lazy("Send the failed deliveries again"))
    def send_again(self, request: HttpRequest, queryset: Any) -> None:
        count = webhooks.redeliver(delivery_ids=queryset.values_list("id", flat=True))
        self.message_user(request, _("%(count)d deliveries queued again.") % {"count": count}, messages.SUCCESS)
