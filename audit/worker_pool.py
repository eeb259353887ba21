"""The audit walk's worker pool: processes for the audit chain's parallel walk, started clean.

A worker forked straight from the process that asks for it would inherit that process's threads'
locks and its open database connections: forked from a process with other threads running (a
test run's live server, a gunicorn worker), such a pool can hang or talk over a connection that
is not its own. The workers here come from multiprocessing's fork server instead: one clean,
single-threaded process, started once, that forks the workers. Each worker sets Django up in its
entry point (`_start_worker`) and then opens connections of its own with the asking process's
database settings. The fork server imports beforehand only libraries whose import does nothing
else (`PRELOADED`), so that the workers it forks inherit them and set Django up in a fraction of
the time a cold start takes.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.pool import Pool
from typing import Any

import django
from django.db import connections

# Imported by the fork server before it forks any worker: plain libraries, which neither read the
# settings nor need the app registry on import (an import that fails is skipped by multiprocessing).
PRELOADED = [
    "django.db.models",
    "django.forms",
    "django.template.defaulttags",
    "django.db.backends.postgresql.base",
    "django.db.backends.sqlite3.base",
    "requests",
]


def worker_pool(processes: int, *, using: str) -> Pool:
    """A pool of `processes` workers whose `using` database is the caller's (in tests, the test
    database)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOADED)  # no effect once the server runs
    return context.Pool(processes, initializer=_start_worker, initargs=(using, dict(connections[using].settings_dict)))


def _start_worker(using: str, settings_dict: dict[str, Any]) -> None:
    """Each worker's entry point: Django set up here, explicitly, in the worker itself."""
    django.setup()
    connections[using].settings_dict = settings_dict
