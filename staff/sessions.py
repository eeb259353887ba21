"""The session store: Django's database sessions, loaded with a fixed query.

Every request of a signed-in member of staff loads its session first. Django's store builds and
compiles an ORM query for it each time; the same SELECT written once costs a fraction of that
(docs/performance.md has the figures). Everything else (saving,
expiry, sign-out everywhere, `allauth.usersessions`) is Django's own.
"""

from __future__ import annotations

from functools import cache

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def load(self) -> dict:
        """The data of the unexpired session with this key (a malformed key is None already:
        Django checks it when it is set). When there is none, Django's own `load()` answers, and
        drops the key, as it does: a stale cookie costs its ORM query, a live session does not."""
        if self.session_key is None:
            return {}
        connection = connections[router.db_for_read(Session)]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(_session_sql(), [self.session_key, now])
            row = cursor.fetchone()
        return self.decode(row[0]) if row is not None else super().load()


@cache
def _session_sql() -> str:
    table = Session._meta.db_table
    return f"SELECT session_data FROM {table} WHERE session_key = %s AND expire_date > %s"  # noqa: S608 (the model's table)
