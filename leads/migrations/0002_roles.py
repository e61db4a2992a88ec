"""Create the three role groups with their model permissions."""

from django.db import migrations

ROLE_PERMISSIONS = {
    "Sales rep": [
        ("leads", "lead", ("view", "change")),
        ("leads", "qualification", ("view", "change")),
        ("leads", "company", ("view", "change", "add")),
        ("leads", "engagementevent", ("view", "add")),
    ],
    "Sales manager": [
        ("leads", "lead", ("view", "change", "add", "delete")),
        ("leads", "qualification", ("view", "change", "add")),
        ("leads", "company", ("view", "change", "add", "delete")),
        ("leads", "engagementevent", ("view", "add")),
        ("leads", "team", ("view", "change", "add")),
        ("leads", "membership", ("view", "change", "add", "delete")),
    ],
    "Marketer": [
        ("leads", "lead", ("view",)),
        ("leads", "qualification", ("view",)),
        ("leads", "company", ("view",)),
        ("leads", "engagementevent", ("view", "add")),
    ],
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, grants in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for app_label, model, actions in grants:
            codenames = [f"{action}_{model}" for action in actions]
            group.permissions.add(*Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
