"""gunicorn settings for the portal container. Sizes come from the environment.

The portal spends most of a request waiting on Polytomic, so threads (gthread) carry the
concurrency: each worker process serves GUNICORN_THREADS requests at once.
"""

from __future__ import annotations

import os

bind = f"{os.environ.get('GUNICORN_BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 (in a container)
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
worker_class = "gthread"
# Heartbeat files on tmpfs: a container's overlay filesystem can stall them and get workers killed.
worker_tmp_dir = "/dev/shm"  # noqa: S108
# Above the portal's own upstream timeouts, so a slow Polytomic answer ends as a clear page, not a kill.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so slow growth in memory can never take an instance down.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
# Both on standard error, with the portal's own log: standard output carries only the audit stream
# (one JSON line per audit entry, README "Audit log"), for a log shipper to take as it is.
accesslog = "/dev/stderr"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Query strings stay out of the access log: search terms are the customers' data.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
