"""Point rules API for sales managers: the same validation and write path as the admin."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leadqual.exceptions import error_responses
from leads.roles import is_manager

from .models import PointRule
from .services import RULE_FIELDS, delete_point_rule, save_point_rule

CANNOT_WRITE = _("This field cannot be written.")


class IsManager(BasePermission):
    message = _("Only sales managers manage scoring rules.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and is_manager(request.user))


class PointRuleSerializer(serializers.ModelSerializer):
    """Shape only: attribute, operator, value and window are checked by ``validate_rule_data``."""

    value = serializers.JSONField(required=False, allow_null=True)

    class Meta:
        model = PointRule
        fields = [
            "id",
            "name",
            "attribute",
            "operator",
            "value",
            "window_days",
            "points",
            "category",
            "active",
            "notes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"window_days": {"max_value": 2_147_483_647}}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            refused = sorted(set(data) - RULE_FIELDS)
            if refused:
                raise serializers.ValidationError({name: [CANNOT_WRITE] for name in refused})
        return super().to_internal_value(data)


RULE_ERRORS = error_responses(400, 401, 403, 429)


class RuleListView(GenericAPIView):
    permission_classes = [IsManager]
    serializer_class = PointRuleSerializer
    queryset = PointRule.objects.order_by("category", "name", "id")

    @extend_schema(responses={200: PointRuleSerializer(many=True), **error_responses(401, 403, 429)})
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(PointRuleSerializer(page, many=True).data)

    @extend_schema(request=PointRuleSerializer, responses={201: PointRuleSerializer, **RULE_ERRORS})
    def post(self, request: Request) -> Response:
        serializer = PointRuleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rule = save_point_rule(data=serializer.validated_data, acting_user=request.user)
        return Response(PointRuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class RuleDetailView(APIView):
    permission_classes = [IsManager]

    @staticmethod
    def _rule(rule_id: int) -> PointRule:
        rule = PointRule.objects.filter(pk=rule_id).first()
        if rule is None:
            raise Http404
        return rule

    @extend_schema(responses={200: PointRuleSerializer, **error_responses(401, 403, 404, 429)})
    def get(self, request: Request, rule_id: int) -> Response:
        return Response(PointRuleSerializer(self._rule(rule_id)).data)

    @extend_schema(
        request=PointRuleSerializer(partial=True),
        responses={200: PointRuleSerializer, **error_responses(400, 401, 403, 404, 429)},
    )
    def patch(self, request: Request, rule_id: int) -> Response:
        rule = self._rule(rule_id)
        serializer = PointRuleSerializer(rule, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        rule = save_point_rule(rule=rule, data=serializer.validated_data, acting_user=request.user)
        return Response(PointRuleSerializer(rule).data)

    @extend_schema(responses={204: None, **error_responses(401, 403, 404, 429)})
    def delete(self, request: Request, rule_id: int) -> Response:
        delete_point_rule(rule=self._rule(rule_id), acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("", RuleListView.as_view(), name="rule-list"),
    path("<int:rule_id>/", RuleDetailView.as_view(), name="rule-detail"),
]
