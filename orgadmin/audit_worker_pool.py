"""The audit walk's worker pool: processes for the audit chain's parallel walk, started clean.

A worker forked straight from the process that asks for it would inherit that process's threads'
locks and its open database connections: forked from a process with other threads running (a
test run's live server, a gunicorn worker), such a pool can hang or talk over a connection that
is not its own. The workers here come from multiprocessing's fork server instead: one clean,
single-threaded process, started once, that has Django set up (`orgadmin._audit_worker_server`) and
forks the workers, each of which then opens connections of its own with the asking process's
database settings.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.pool import Pool
from typing import Any

import django
from django.db import connections


def worker_pool(processes: int, *, using: str) -> Pool:
    """A pool of `processes` workers whose `using` database is the caller's (in tests, the test
    database)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["orgadmin._audit_worker_server"])  # no effect once the server runs
    return context.Pool(processes, initializer=_start_worker, initargs=(using, dict(connections[using].settings_dict)))


def _start_worker(using: str, settings_dict: dict[str, Any]) -> None:
    django.setup()  # already done by the fork server, unless its start-up could not do it
    connections[using].settings_dict = settings_dict
