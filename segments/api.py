"""Segments API: segments, pipelines and nurture queues (role-scoped by selectors), and CSV exports."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.request import Request
from rest_framework.views import APIView

from . import selectors, services
from .exports import iter_csv
from .serializers import NurtureQueueSerializer, PipelineSerializer, SegmentSerializer

CSV_RESPONSE = OpenApiResponse(description="text/csv, streamed")


class SegmentListView(generics.ListAPIView):
    serializer_class = SegmentSerializer

    def get_queryset(self):
        return selectors.list_segments(user=self.request.user)

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        context["members"] = selectors.count_members_by_segment(user=self.request.user)
        return context


class PipelineListView(generics.ListAPIView):
    serializer_class = PipelineSerializer

    def get_queryset(self):
        return selectors.list_pipelines(user=self.request.user)

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        context["stage_counts"] = selectors.count_leads_by_stage(user=self.request.user)
        return context


class NurtureQueueListView(generics.ListAPIView):
    serializer_class = NurtureQueueSerializer

    def get_queryset(self):
        return selectors.list_nurture_queues(user=self.request.user)


def _csv_response(*, request: Request, leads: Any, queue: Any, filters: dict[str, Any], name: str) -> Any:
    record = services.start_export(user=request.user, queue=queue, filters=filters)
    rows = iter_csv(leads=leads, on_done=lambda n: services.finish_export(export_id=record.pk, rows=n))
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


class NurtureQueueExportView(APIView):
    @extend_schema(responses={200: CSV_RESPONSE, 404: None})
    def get(self, request: Request, queue_id: int) -> Any:
        queue = selectors.get_nurture_queue_for_export(user=request.user, queue_id=queue_id)
        leads = selectors.list_queue_leads_for_export(user=request.user, queue=queue)
        return _csv_response(request=request, leads=leads, queue=queue, filters={}, name=f"queue-{queue.pk}")


class LeadExportView(APIView):
    @extend_schema(responses={200: CSV_RESPONSE, 400: None, 404: None})
    def get(self, request: Request) -> Any:
        filters = {key: request.query_params.getlist(key) for key in request.query_params}
        filters = {key: values[0] if len(values) == 1 else values for key, values in filters.items()}
        try:
            leads = selectors.list_leads_for_export(user=request.user, filters=request.query_params)
        except ValidationError as exc:
            raise ApiValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from None
        return _csv_response(request=request, leads=leads, queue=None, filters=filters, name="leads")
