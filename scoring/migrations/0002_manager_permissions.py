"""Give the Sales manager group the rule, cap and band permissions; create default caps and bands."""

from django.db import migrations

MODELS = ("pointrule", "categorycapsetting", "scoreband", "rulesversion", "rescorejob", "leadscore", "scorehistory")


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    manager, _ = Group.objects.get_or_create(name="Sales manager")
    manager.permissions.add(
        *Permission.objects.filter(content_type__app_label="scoring", content_type__model__in=MODELS)
    )
    CategoryCapSetting = apps.get_model("scoring", "CategoryCapSetting")
    for category, lo, hi in (("fit", -50, 40), ("engagement", -30, 30), ("qualification", -50, 30)):
        CategoryCapSetting.objects.get_or_create(category=category, defaults={"minimum": lo, "maximum": hi})
    ScoreBand = apps.get_model("scoring", "ScoreBand")
    if not ScoreBand.objects.exists():
        for name, minimum, description in (
            ("A", 80, "Hot: call today"),
            ("B", 50, "Warm: work this week"),
            ("C", 20, "Cool: nurture"),
            ("D", -1000, "Cold"),
        ):
            ScoreBand.objects.create(name=name, min_score=minimum, description=description)


class Migration(migrations.Migration):
    dependencies = [("scoring", "0001_initial"), ("leads", "0002_roles")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
