"""Imported once by the fork server of `orgadmin.audit_worker_pool`, so that the workers it forks start
with Django already set up (about half a second each otherwise)."""

from __future__ import annotations

import django

django.setup()
