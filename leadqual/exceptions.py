"""One JSON error shape for the whole API: {"detail", "code", "errors": {field: [messages]}}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

NON_FIELD = "non_field_errors"


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = gettext_lazy("The request conflicts with a concurrent change; retry it.")
    default_code = "conflict"


def django_validation_errors(exc: DjangoValidationError) -> dict[str, list[str]]:
    """A service's ValidationError as {field: [messages]} ("__all__" becomes non_field_errors)."""
    if hasattr(exc, "error_dict"):
        return {(NON_FIELD if name == "__all__" else name): list(msgs) for name, msgs in exc.message_dict.items()}
    return {NON_FIELD: list(exc.messages)}


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as one level: {"company.domain": [...], "events.3.kind": [...]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            # An error about the object itself keeps the object's own path.
            own = key in ("__all__", NON_FIELD)
            path = (prefix or NON_FIELD) if own else (f"{prefix}.{key}" if prefix else str(key))
            for sub, messages in flatten_errors(value, path).items():
                flat.setdefault(sub, []).extend(messages)
    elif isinstance(detail, list | tuple):
        if all(not isinstance(item, Mapping | list | tuple) for item in detail):
            flat[prefix or NON_FIELD] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                if item:
                    for sub, messages in flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)).items():
                        flat.setdefault(sub, []).extend(messages)
    else:
        flat[prefix or NON_FIELD] = [str(detail)]
    return flat


def error_body(*, detail: str, code: str, errors: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    return {"detail": detail, "code": code, "errors": dict(errors or {})}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus Django ValidationError (400) and IntegrityError (409), reshaped to one body."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(django_validation_errors(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, IntegrityError):
        # Services turn every expected constraint into a ValidationError; what is left is a
        # race between two concurrent writes of the same thing (a retried event batch).
        exc = ConflictError(_("The request conflicts with a concurrent change; retry it."))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(detail=_("Invalid input."), code="invalid", errors=flatten_errors(response.data))
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        detail = exc.detail if isinstance(exc.detail, str) else str(response.data)
        response.data = error_body(detail=str(detail), code=code)
    return response


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """django-axes lockout: the API's error shape under /api/, axes' plain message elsewhere."""
    from axes.helpers import get_lockout_message

    status_code = settings.AXES_HTTP_RESPONSE_CODE
    if request.path.startswith("/api/"):
        body = error_body(detail=_("Too many failed login attempts; try again later."), code="locked_out", errors={})
        return JsonResponse(body, status=status_code)
    return HttpResponse(get_lockout_message(), status=status_code)


class ErrorSerializer(serializers.Serializer):
    """The body of every error response."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for the given error status codes, all with the one error body."""
    descriptions = {
        400: _("Invalid input: messages per field."),
        401: _("Not authenticated."),
        403: _("Not allowed for your role."),
        404: _("Not found, or not visible to you."),
        409: _("Conflict with a concurrent change."),
        429: _("Too many requests."),
    }
    return {code: OpenApiResponse(ErrorSerializer, description=descriptions.get(code, "")) for code in codes}
