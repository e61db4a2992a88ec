"""Leads API: token login, leads, BANT qualification and engagement events (scoped by leads.selectors)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import BasePagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from leadqual.exceptions import error_responses

from . import services
from .filters import LeadFilter
from .models import Company, Lead, Qualification
from .roles import is_manager, is_rep
from .selectors import leads_editable_by, leads_visible_to
from .serializers import (
    EventBatchSerializer,
    EventInputSerializer,
    EventResultSerializer,
    LeadCreateSerializer,
    LeadDetailSerializer,
    LeadSerializer,
    LeadWriteSerializer,
    QualificationSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)

User = AbstractBaseUser | AnonymousUser
LEAD_RELATED = ("company", "score", "qualification")


# --- helpers -------------------------------------------------------------------------------


def protected_fields(*, user: User) -> tuple[str, ...]:
    """Lead fields the user may not write: reps do not assign leads (owner, team)."""
    return () if is_manager(user) else ("owner", "team")


def get_visible_lead(*, user: User, lead_id: int, related: Sequence[str] = LEAD_RELATED) -> Lead:
    try:
        return leads_visible_to(user).select_related(*related).get(pk=lead_id)
    except Lead.DoesNotExist:
        raise Http404 from None


def get_lead_for_write(*, user: User, lead_id: int) -> Lead:
    """The lead the user may change; 404 when they cannot see it, 403 when they only read it."""
    lead = leads_editable_by(user).filter(pk=lead_id).first()
    if lead is not None:
        return lead
    get_visible_lead(user=user, lead_id=lead_id, related=())
    raise PermissionDenied(_("You may read this lead but not change it."))


def resolve_company(*, data: Mapping[str, Any], acting_user: User) -> Company:
    """The company with the given domain when one exists; otherwise a new one."""
    try:
        domain = services.normalize_domain(data.get("domain", ""))
    except DjangoValidationError as exc:
        raise ValidationError({"company": {"domain": exc.messages}}) from None
    if domain:
        existing = Company.objects.filter(domain=domain).order_by("pk").first()
        if existing is not None:
            return existing
    return services.create_company(data=data, acting_user=acting_user)  # type: ignore[arg-type]


def lead_data(*, validated: Mapping[str, Any], acting_user: User) -> dict[str, Any]:
    """Validated lead input as the services take it (a nested company becomes a Company)."""
    data = dict(validated)
    if data.get("company") is not None:
        data["company"] = resolve_company(data=data["company"], acting_user=acting_user)
    return data


class LeadPagination(BasePagination):
    """Page-number pagination without a COUNT: one extra row tells whether a next page exists.

    Counting a million visible leads costs more than the page itself; the list needs only
    "is there more".
    """

    page_size = 50
    max_page_size = 200
    max_page = 10_000

    def _number(self, request: Request, name: str, default: int, maximum: int) -> int:
        raw = request.query_params.get(name)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except (TypeError, ValueError):
            value = 0
        if not 1 <= value <= maximum:
            raise ValidationError({name: [_("Give a whole number from 1 to %(max)s.") % {"max": maximum}]})
        return value

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list[Any]:
        self.request = request
        self.page = self._number(request, "page", 1, self.max_page)
        self.size = self._number(request, "page_size", self.page_size, self.max_page_size)
        offset = (self.page - 1) * self.size
        rows = list(queryset[offset : offset + self.size + 1])
        self.has_next = len(rows) > self.size
        return rows[: self.size]

    def _link(self, page: int) -> str:
        params = self.request.query_params.copy()
        params["page"] = str(page)
        return self.request.build_absolute_uri(f"{self.request.path}?{params.urlencode()}")

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {
                "next": self._link(self.page + 1) if self.has_next else None,
                "previous": self._link(self.page - 1) if self.page > 1 else None,
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {"next": link, "previous": link, "results": schema},
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": "page",
                "required": False,
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page},
            },
            {
                "name": "page_size",
                "required": False,
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]


# --- auth ------------------------------------------------------------------------------------


class TokenView(APIView):
    """Exchange a username and password for an API token (django-axes locks out repeated failures)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [AnonRateThrottle]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, **error_responses(400, 429)},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The Django request, not DRF's: axes reads the client address and marks lockouts on it.
        user = authenticate(request._request, **serializer.validated_data)
        if user is None:
            raise ValidationError({"non_field_errors": [_("Unable to log in with the given username and password.")]})
        # DRF's own token model and its get-or-create: one token per user.
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


# --- leads -----------------------------------------------------------------------------------


class LeadListView(GenericAPIView):
    serializer_class = LeadSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = LeadFilter
    pagination_class = LeadPagination

    def get_queryset(self) -> QuerySet[Lead]:
        return leads_visible_to(self.request.user).select_related(*LEAD_RELATED)

    @extend_schema(responses={200: LeadSerializer(many=True), **error_responses(400, 401, 429)})
    def get(self, request: Request) -> Response:
        leads = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(leads)
        return self.get_paginated_response(LeadSerializer(page, many=True).data)

    @extend_schema(
        request=LeadCreateSerializer,
        responses={201: LeadDetailSerializer, **error_responses(400, 401, 403, 409, 429)},
        description=gettext_lazy(
            "Create a lead with its company (matched by domain, or created) and BANT answers. "
            "A rep's new lead is theirs; only managers set owner and team. Any field the caller "
            "may not write (read-only, another role's, or unknown) is refused with a 400 field error."
        ),
    )
    def post(self, request: Request) -> Response:
        user = request.user
        if not (is_manager(user) or is_rep(user)):
            raise PermissionDenied(_("Your role cannot create leads."))
        serializer = LeadCreateSerializer(data=request.data, context={"protected": protected_fields(user=user)})
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            data = lead_data(validated=serializer.validated_data, acting_user=user)
            qualification = data.pop("qualification", None)
            if not is_manager(user):
                data["owner"] = user  # A rep's new lead is theirs (else it would vanish from their list).
            lead = services.create_lead(data=data, qualification=qualification, acting_user=user)
        lead = get_visible_lead(user=user, lead_id=lead.pk)
        return Response(LeadDetailSerializer(lead).data, status=status.HTTP_201_CREATED)


class LeadDetailView(APIView):
    @extend_schema(responses={200: LeadDetailSerializer, **error_responses(401, 404, 429)})
    def get(self, request: Request, lead_id: int) -> Response:
        return Response(LeadDetailSerializer(get_visible_lead(user=request.user, lead_id=lead_id)).data)

    @extend_schema(
        request=LeadWriteSerializer,
        responses={200: LeadDetailSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
        description=gettext_lazy(
            "Change some fields. Read-only fields (id, score, version, timestamps) and, for reps, "
            "owner and team are refused with a 400 field error and nothing is written."
        ),
    )
    def patch(self, request: Request, lead_id: int) -> Response:
        user = request.user
        lead = get_lead_for_write(user=user, lead_id=lead_id)
        serializer = LeadWriteSerializer(
            data=request.data, partial=True, context={"protected": protected_fields(user=user)}
        )
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            data = lead_data(validated=serializer.validated_data, acting_user=user)
            if data:
                services.update_lead(lead=lead.pk, data=data, acting_user=user)
        return Response(LeadDetailSerializer(get_visible_lead(user=user, lead_id=lead_id)).data)

    @extend_schema(responses={204: None, **error_responses(401, 403, 404, 429)})
    def delete(self, request: Request, lead_id: int) -> Response:
        lead = get_visible_lead(user=request.user, lead_id=lead_id, related=())
        if not is_manager(request.user):
            raise PermissionDenied(_("Only sales managers delete leads."))
        services.delete_lead(lead=lead, acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LeadQualificationView(APIView):
    @extend_schema(responses={200: QualificationSerializer, **error_responses(401, 404, 429)})
    def get(self, request: Request, lead_id: int) -> Response:
        lead = get_visible_lead(user=request.user, lead_id=lead_id, related=("qualification",))
        try:
            qualification = lead.qualification
        except Qualification.DoesNotExist:
            qualification = Qualification(lead=lead)
        return Response(QualificationSerializer(qualification).data)

    @extend_schema(
        request=QualificationSerializer,
        responses={200: QualificationSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
        description=gettext_lazy("Change BANT answers (reps and managers; marketers read only, 403)."),
    )
    def patch(self, request: Request, lead_id: int) -> Response:
        lead = get_lead_for_write(user=request.user, lead_id=lead_id)
        serializer = QualificationSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        qualification = services.update_qualification(
            lead=lead.pk, data=serializer.validated_data, acting_user=request.user
        )
        return Response(QualificationSerializer(qualification).data)


# --- events ----------------------------------------------------------------------------------


def resolve_event_leads(*, user: User, items: Sequence[Mapping[str, Any]], batch: bool) -> list[int]:
    """The lead id of every event, looked up among the leads the user can see."""
    ids = {item["lead"] for item in items if "lead" in item}
    emails = {services.normalize_email(item["email"]) for item in items if "email" in item}
    visible = leads_visible_to(user)
    known_ids = set(visible.filter(id__in=ids).values_list("id", flat=True)) if ids else set()
    by_email: dict[str, int] = {}
    if emails:
        # Lower(email) is what the unique index covers, so the lookup uses it.
        rows = visible.annotate(email_key=Lower("email")).filter(email_key__in=emails).values_list("email_key", "id")
        by_email = dict(rows)
    lead_ids: list[int] = []
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(items):
        prefix = f"events.{index}." if batch else ""
        if "lead" in item:
            if item["lead"] in known_ids:
                lead_ids.append(item["lead"])
                continue
            errors[f"{prefix}lead"] = [_("No such lead.")]
        else:
            lead_id = by_email.get(services.normalize_email(item["email"]))
            if lead_id is not None:
                lead_ids.append(lead_id)
                continue
            errors[f"{prefix}email"] = [_("No lead has this email.")]
    if errors:
        raise ValidationError(errors)
    return lead_ids


class EventIngestView(APIView):
    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="EventOrBatch",
            serializers=[EventInputSerializer, EventBatchSerializer],
            resource_type_field_name=None,
        ),
        responses={201: EventResultSerializer, **error_responses(400, 401, 409, 429)},
        description=gettext_lazy(
            'Record one event, or a batch of up to 1,000 as {"events": [...]}. The lead is given '
            "by id or by email. An event whose client_event_id is already stored is skipped, so a "
            "retried batch stores nothing twice. A batch is stored whole or not at all."
        ),
    )
    def post(self, request: Request) -> Response:
        batch = isinstance(request.data, Mapping) and "events" in request.data
        serializer = (EventBatchSerializer if batch else EventInputSerializer)(data=request.data)
        serializer.is_valid(raise_exception=True)
        items = serializer.validated_data["events"] if batch else [serializer.validated_data]
        lead_ids = resolve_event_leads(user=request.user, items=items, batch=batch)
        now = timezone.now()
        events = [
            services.EventInput(
                lead_id=lead_id,
                kind=item["kind"],
                occurred_at=item.get("occurred_at") or now,
                metadata=item.get("metadata") or {},
                client_event_id=item.get("client_event_id") or None,
            )
            for lead_id, item in zip(lead_ids, items, strict=True)
        ]
        created = services.record_events(events=events)
        body = {"received": len(events), "created": len(created), "duplicates": len(events) - len(created)}
        return Response(body, status=status.HTTP_201_CREATED)
