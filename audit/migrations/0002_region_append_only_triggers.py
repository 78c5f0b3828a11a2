from django.db import migrations, models

from audit.immutability import triggers_install, triggers_remove


def install(apps, schema_editor):
    triggers_install(schema_editor.connection)


def remove(apps, schema_editor):
    triggers_remove(schema_editor.connection)


class Migration(migrations.Migration):
    """The region of an entry, then the database-level append-only rule (ADR 0022).

    On SQLite a later migration that alters ``audit_auditevent`` remakes the table, which
    drops its triggers: such a migration must call ``triggers_install`` again
    (``audit_verify`` reports missing triggers).
    """

    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="region",
            field=models.CharField(blank=True, db_index=True, max_length=32),
        ),
        migrations.RunPython(install, remove, elidable=False),
    ]
