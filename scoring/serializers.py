"""Serializers of the scoring API: they translate, nothing more."""

from __future__ import annotations

from rest_framework import serializers

from .models import LeadScore, ScoreHistory
from .selectors import effective_rules_version, fired_rules


class FiredRuleSerializer(serializers.Serializer):
    rule_id = serializers.IntegerField()
    name = serializers.CharField()
    category = serializers.CharField()
    points = serializers.IntegerField()


class LeadScoreSerializer(serializers.ModelSerializer):
    parts = serializers.SerializerMethodField()
    fired = serializers.SerializerMethodField()
    rules_version = serializers.SerializerMethodField()

    class Meta:
        model = LeadScore
        fields = ["lead", "total", "parts", "band", "fired", "rules_version", "lead_version", "computed_at"]
        read_only_fields = fields

    def get_parts(self, obj: LeadScore) -> dict[str, int]:
        return {"fit": obj.fit, "engagement": obj.engagement, "qualification": obj.qualification}

    @staticmethod
    def get_fired(obj: LeadScore) -> list[dict]:
        return FiredRuleSerializer(fired_rules(obj), many=True).data

    def get_rules_version(self, obj: LeadScore) -> int:
        return effective_rules_version(obj)


class ScoreHistorySerializer(serializers.ModelSerializer):
    class Meta:
        model = ScoreHistory
        fields = ["old_total", "total", "band", "reason", "rules_version", "lead_version", "created_at"]
        read_only_fields = fields
