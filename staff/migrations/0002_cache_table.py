"""The table of the portal's default cache, where django-allauth keeps the sign-in protections that
every worker and instance must share (settings, "Cache"): made by `migrate`, never by hand.

Django makes a database cache's table with `createcachetable`, not with a model; this runs it for
the database caches configured, and for the default table even when CACHE_URL names Redis, so a
deployment that later drops Redis finds its table in place. Running it again is harmless.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache.backends.db import BaseDatabaseCache
from django.core.management import call_command
from django.db import migrations
from django.utils.module_loading import import_string


def cache_tables() -> list[str]:
    configured = [
        config["LOCATION"]  # a database cache's table (Django's documented setting)
        for config in settings.CACHES.values()
        if issubclass(import_string(config["BACKEND"]), BaseDatabaseCache)
    ]
    return list(dict.fromkeys([settings.PORTAL_CACHE_TABLE, *configured]))


def create(apps, schema_editor):
    call_command("createcachetable", *cache_tables(), database=schema_editor.connection.alias, verbosity=0)


def drop(apps, schema_editor):
    existing = set(schema_editor.connection.introspection.table_names())
    for table in cache_tables():
        if table in existing:
            schema_editor.execute(f"DROP TABLE {schema_editor.quote_name(table)}")


class Migration(migrations.Migration):
    dependencies = [("staff", "0001_staff_sessions_permission")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
