"""In a child process of the benchmark: the time `record_call` takes to write one audit entry.

    python -m benchmarks.measure_audit_write 300    # with the portal's environment (DATABASE_URL...)

Each entry is what reading one organization records (its JSON answer, masked, hashed, chained and
inserted), written as the portal writes it, outside any transaction of the caller's. Prints the
median and 90th percentile in milliseconds, as JSON.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import django


def main(writes: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()
    from django.contrib.auth.models import User
    from requests import Response

    from devtools.sandbox import ACME_ID, seeded_organizations
    from orgadmin.audit import AuditContext, CallRecord, record_call

    actor = User.objects.order_by("id").first()
    context = AuditContext(actor=actor, request_id="0123456789abcdef", client_ip="127.0.0.1", user_agent="bench")
    acme = next(o for o in seeded_organizations() if o.id == ACME_ID)
    answer = Response()
    answer.status_code = 200
    answer._content = json.dumps({"data": acme.public()}).encode()
    answer.headers.update({"Content-Type": "application/json", "X-Polytomic-Version": "2025-09-18"})
    answer.encoding = "utf-8"  # as requests reads it from the Content-Type
    times = []
    for _ in range(writes + 10):
        record = CallRecord(
            context=context, action="organization.get", method="GET", path=f"/api/organizations/{ACME_ID}"
        )
        record.response(answer)
        record.response_text = answer.text
        record.payload = answer.json()  # as the client does when it reads the answer
        record.identify(organization_id=acme.id, organization_name=acme.name)
        started = time.perf_counter()
        record_call(record, duration_ms=50.0, attempts=1)
        times.append((time.perf_counter() - started) * 1000)
    times = sorted(times[10:])  # the first ones warm up connections and caches
    print(json.dumps({"median_ms": statistics.median(times), "p90_ms": times[int(0.9 * len(times))]}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
