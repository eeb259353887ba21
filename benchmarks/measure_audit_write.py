"""In a child process of the benchmark: the time the audit log takes to record calls.

    python -m benchmarks.measure_audit_write 300    # with the portal's environment (DATABASE_URL...)

A read records one entry once answered (`record_call`: its JSON answer masked, hashed, chained and
inserted); a write records two, its attempt before it is sent (`record_attempt`) and its outcome
after. Each is written as the portal writes it, outside any transaction of the caller's. Prints
the median and 90th percentile of each, in milliseconds, as JSON.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import django


def summary(times: list[float]) -> dict[str, float]:
    times = sorted(times[10:])  # the first ones warm up connections and caches
    return {"median_ms": statistics.median(times), "p90_ms": times[int(0.9 * len(times))]}


def main(writes: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()
    from django.contrib.auth.models import User

    from audit.protocol import AuditContext
    from devtools.sandbox import ACME_ID, seeded_organizations
    from orgadmin.polytomic.recording import CallRecord, record_attempt, record_call
    from orgadmin.polytomic.transport import Answer

    actor = User.objects.order_by("id").first()
    context = AuditContext(actor=actor, request_id="0123456789abcdef", client_ip="127.0.0.1", user_agent="bench")
    acme = next(o for o in seeded_organizations() if o.id == ACME_ID)
    text = json.dumps({"data": acme.public()})
    headers = {"Content-Type": "application/json", "X-Polytomic-Version": "2025-09-18"}

    def answered(record: CallRecord) -> CallRecord:
        record.answered(status=200, headers=headers)
        # As the client hands it over: the body read once, as text and as JSON.
        record.answer = Answer(status=200, headers=headers, text=text, json=json.loads(text), is_json=True)
        record.identify(organization_id=acme.id, organization_name=acme.name)
        return record

    def timed(step, *args, **kwargs) -> float:
        started = time.perf_counter()
        step(*args, **kwargs)
        return (time.perf_counter() - started) * 1000

    reads, attempts, outcomes = [], [], []
    path = f"/api/organizations/{ACME_ID}"
    for n in range(writes + 10):
        read = CallRecord(context=context, action="organization.get", method="GET", path=path)
        reads.append(timed(record_call, answered(read), duration_ms=50.0))
        write = CallRecord(
            context=context, action="organization.update", method="PUT", path=path,
            request_body={"name": acme.name, "sso_domain": acme.sso_domain}, idempotency_key=f"bench-{n:08d}",
        )  # fmt: skip
        attempts.append(timed(record_attempt, write))
        outcomes.append(timed(record_call, answered(write), duration_ms=50.0))
    print(json.dumps({"read": summary(reads), "attempt": summary(attempts), "outcome": summary(outcomes)}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
