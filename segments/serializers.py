"""Serializers of segments, pipelines and nurture queues (read-only: writes go through services)."""

from __future__ import annotations

from rest_framework import serializers

from .models import NurtureQueue, Pipeline, Segment, Stage


class SegmentSerializer(serializers.ModelSerializer):
    destination = serializers.SerializerMethodField()
    policy = serializers.CharField(source="policy.name", default=None)
    members = serializers.SerializerMethodField()

    class Meta:
        model = Segment
        fields = ["id", "name", "description", "priority", "conditions", "is_fallback", "active", "destination"]
        fields += ["policy", "members"]

    def get_destination(self, obj: Segment) -> dict:
        if obj.stage_id:
            return {"kind": "stage", "pipeline": obj.stage.pipeline.name, "stage": obj.stage.name}
        return {"kind": "queue", "queue": obj.queue.name if obj.queue else None}

    def get_members(self, obj: Segment) -> int:
        return self.context.get("members", {}).get(obj.pk, 0)


class StageSerializer(serializers.ModelSerializer):
    leads = serializers.SerializerMethodField()

    class Meta:
        model = Stage
        fields = ["id", "name", "position", "is_closed", "leads"]

    def get_leads(self, obj: Stage) -> int:
        return self.context.get("stage_counts", {}).get(obj.pk, 0)


class PipelineSerializer(serializers.ModelSerializer):
    stages = StageSerializer(many=True, read_only=True)

    class Meta:
        model = Pipeline
        fields = ["id", "name", "description", "stages"]


class NurtureQueueSerializer(serializers.ModelSerializer):
    members = serializers.IntegerField(source="member_count", read_only=True)

    class Meta:
        model = NurtureQueue
        fields = ["id", "name", "purpose", "cadence_days", "revisit_after_days", "members"]
