"""gunicorn settings for the portal container. Sizes come from the environment.

The portal spends most of a request waiting on Polytomic, so threads (gthread) carry the
concurrency: each worker process serves GUNICORN_THREADS requests at once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from portal.environment import PortalEnv

# Read strictly, as the portal's settings are: gunicorn would take GUNICORN_LOG_LEVEL=verbose as
# "info" without a word. gunicorn puts its working directory on the import path before reading
# this file.
env = PortalEnv()

_host = env.str("GUNICORN_BIND_HOST", default="0.0.0.0")  # noqa: S104 (in a container)
_port = env.int("PORT", default=8000, minimum=1)
bind = f"{_host}:{_port}"
workers = env.int("GUNICORN_WORKERS", default=2, minimum=1)
threads = env.int("GUNICORN_THREADS", default=8, minimum=1)
worker_class = "gthread"
# Heartbeat files on tmpfs: a container's overlay filesystem can stall them and get workers killed.
worker_tmp_dir = "/dev/shm"  # noqa: S108
# Above the portal's own upstream timeouts, so a slow Polytomic answer ends as a clear page, not a kill.
timeout = env.int("GUNICORN_TIMEOUT", default=60, minimum=1)
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so slow growth in memory can never take an instance down.
max_requests = env.int("GUNICORN_MAX_REQUESTS", default=2000, minimum=1)
max_requests_jitter = 200
# Both on standard error, with the portal's own log: standard output carries only the audit stream
# (one JSON line per audit entry, README "Audit log"), for a log shipper to take as it is.
accesslog = "/dev/stderr"
errorlog = "-"
loglevel = env.choice(
    "GUNICORN_LOG_LEVEL", ("debug", "info", "warning", "error", "critical"), default="info", ignore_case=True
)
# Query strings stay out of the access log: search terms are the customers' data.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'


# /metrics adds up every worker's counts (monitoring/metrics.py): prometheus_client keeps each
# process's values in files under PROMETHEUS_MULTIPROC_DIR, which must be set before a worker
# imports it and be empty at start. Unset, each master makes a directory of its own on tmpfs,
# removed when it stops; set, its files are emptied at start.
_metrics_directory = env.text("PROMETHEUS_MULTIPROC_DIR")  # read here, where it is checked, as the rest


def on_starting(server: object) -> None:
    directory = _metrics_directory
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        for file in Path(directory).glob("*.db"):
            file.unlink()
    else:
        shm = Path("/dev/shm")  # noqa: S108
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
            prefix="portal-metrics-", dir=shm if shm.is_dir() else None
        )
        _made.append(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def child_exit(server: object, worker: object) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: object) -> None:
    for directory in _made:
        shutil.rmtree(directory, ignore_errors=True)


_made: list[str] = []
