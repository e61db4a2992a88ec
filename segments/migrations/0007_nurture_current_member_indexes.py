"""Indexes of a nurture queue's current members in the queue page's orders."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0006_stage_outcome"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="nurturemembership",
            index=models.Index(
                condition=models.Q(("left_at__isnull", True)),
                fields=["queue", "revisit_on", "entered_at", "id"],
                name="nurture_current_revisit_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="nurturemembership",
            index=models.Index(
                condition=models.Q(("left_at__isnull", True)),
                fields=["queue", "entered_at", "id"],
                name="nurture_current_entered_idx",
            ),
        ),
    ]
