"""Scoring API endpoints: a lead's score and its history (role-scoped by the selectors)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import ScoreHistory
from .selectors import get_lead_score, list_score_history
from .serializers import LeadScoreSerializer, ScoreHistorySerializer


class LeadScoreView(APIView):
    @extend_schema(responses={200: LeadScoreSerializer, 404: None})
    def get(self, request: Request, lead_id: int) -> Response:
        score = get_lead_score(user=request.user, lead_id=lead_id)
        if score is None:
            raise Http404
        return Response(LeadScoreSerializer(score).data)


class LeadScoreHistoryView(generics.ListAPIView):
    serializer_class = ScoreHistorySerializer

    def get_queryset(self) -> QuerySet[ScoreHistory]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no lead
            return ScoreHistory.objects.none()
        return list_score_history(user=self.request.user, lead_id=self.kwargs["lead_id"])

    @extend_schema(responses={200: ScoreHistorySerializer(many=True), 404: None})
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)
