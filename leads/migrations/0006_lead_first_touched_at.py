"""Lead.first_touched_at, filled for the leads already stored; the indexes of a rep's two scope parts."""

from django.conf import settings
from django.db import migrations, models

# As leads.models.FIRST_TOUCH_KINDS is when this runs (a migration must not follow later code).
FIRST_TOUCH_KINDS = ("call", "meeting")
NEW = "new"


def backfill_first_touched_at(apps, schema_editor):
    """Set every lead's first touch from what is stored, in one set-based UPDATE.

    The same definition the analytics page computed per lead until now, and leads.services keeps
    from here on: the earliest of the first call or meeting at or after the lead's creation and,
    for a lead not in New now, its first status change away from New (the first record of its
    field history that is not New, when that record is a change: a lead created in another status
    never changed away from New). Leads without either keep NULL. One statement for PostgreSQL and
    SQLite (3.33 or later: UPDATE ... FROM, window functions); rerunning it changes nothing.
    """
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    lead = quote(apps.get_model("leads", "Lead")._meta.db_table)
    event = quote(apps.get_model("leads", "EngagementEvent")._meta.db_table)
    history = quote(apps.get_model("leads", "HistoricalLead")._meta.db_table)
    # Table names come from the models' metadata, values travel as parameters.
    sql = f"""
        UPDATE {lead} SET first_touched_at = touch.touched_at
        FROM (
            SELECT lead_id, MIN(touched_at) AS touched_at FROM (
                SELECT e.lead_id AS lead_id, e.occurred_at AS touched_at
                FROM {event} e JOIN {lead} l ON l.id = e.lead_id
                WHERE e.kind IN (%s, %s) AND e.occurred_at >= l.created_at
                UNION ALL
                SELECT h.id, h.history_date
                FROM (
                    SELECT id, history_type, history_date,
                           ROW_NUMBER() OVER (PARTITION BY id ORDER BY history_date, history_id) AS position
                    FROM {history} WHERE status <> %s
                ) h JOIN {lead} l ON l.id = h.id
                WHERE h.position = 1 AND h.history_type = '~' AND l.status <> %s
            ) firsts
            GROUP BY lead_id
        ) touch
        WHERE {lead}.id = touch.lead_id
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*FIRST_TOUCH_KINDS, NEW, NEW])


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0005_capture_forms"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="lead",
            name="first_touched_at",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="The first call or meeting since the lead was created, or its first change away from New.",
                null=True,
                verbose_name="first touched at",
            ),
        ),
        migrations.AddIndex(
            model_name="lead",
            index=models.Index(fields=["owner", "created_at", "id"], name="lead_owner_created_idx"),
        ),
        migrations.AddIndex(
            model_name="lead",
            index=models.Index(
                condition=models.Q(("owner__isnull", True)),
                fields=["team", "created_at", "id"],
                name="lead_pool_created_idx",
            ),
        ),
        migrations.RunPython(backfill_first_touched_at, migrations.RunPython.noop),
    ]
