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

    from devtools.sandbox import ACME_ID, seeded_organizations
    from orgadmin.polytomic.recording import AuditContext, CallRecord, record_call
    from orgadmin.polytomic.transport import Answer

    actor = User.objects.order_by("id").first()
    context = AuditContext(actor=actor, request_id="0123456789abcdef", client_ip="127.0.0.1", user_agent="bench")
    acme = next(o for o in seeded_organizations() if o.id == ACME_ID)
    text = json.dumps({"data": acme.public()})
    headers = {"Content-Type": "application/json", "X-Polytomic-Version": "2025-09-18"}
    times = []
    for _ in range(writes + 10):
        record = CallRecord(
            context=context, action="organization.get", method="GET", path=f"/api/organizations/{ACME_ID}"
        )
        record.answered(status=200, headers=headers)
        # As the client hands it over: the body read once, as text and as JSON.
        record.answer = Answer(status=200, headers=headers, text=text, json=json.loads(text), is_json=True)
        record.identify(organization_id=acme.id, organization_name=acme.name)
        started = time.perf_counter()
        record_call(record, duration_ms=50.0)
        times.append((time.perf_counter() - started) * 1000)
    times = sorted(times[10:])  # the first ones warm up connections and caches
    print(json.dumps({"median_ms": statistics.median(times), "p90_ms": times[int(0.9 * len(times))]}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
