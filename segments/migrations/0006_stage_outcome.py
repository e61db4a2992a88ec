"""Stage.outcome: what entering a stage means for the lead's status; closed stages named like an outcome get it."""

from django.db import migrations, models

# The closed stages seed_segments creates (and what teams usually call them), by outcome.
OUTCOME_NAMES = {
    "won": ("won", "closed won", "gewonnen"),
    "lost": ("lost", "closed lost", "verloren"),
    "disqualified": ("disqualified", "disqualifiziert"),
}


def set_outcomes(apps, schema_editor):
    Stage = apps.get_model("segments", "Stage")
    for stage in Stage.objects.filter(is_closed=True, outcome="open"):
        name = stage.name.strip().lower()
        for outcome, names in OUTCOME_NAMES.items():
            if name in names:
                stage.outcome = outcome
                stage.save(update_fields=["outcome"])
                break


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0005_webhooks"),
    ]

    operations = [
        migrations.AddField(
            model_name="stage",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("open", "Open: the lead is still being sold to"),
                    ("won", "Won"),
                    ("lost", "Lost (a reason is required)"),
                    ("disqualified", "Disqualified (a reason is required)"),
                ],
                default="open",
                help_text="Moving a lead here sets its status: won, lost or disqualified (with a reason); open changes none.",
                max_length=20,
                verbose_name="outcome",
            ),
        ),
        migrations.RunPython(set_outcomes, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="stage",
            constraint=models.CheckConstraint(
                condition=models.Q(("outcome", "open"), ("is_closed", True), _connector="OR"),
                name="stage_outcome_needs_closed",
                violation_error_message="A won, lost or disqualified stage is a closed stage.",
            ),
        ),
    ]
