"""One operator runs a step of an onboarding flow at a time: a claim on the flow's row, taken by a
compare-and-set, renewed per task and given up at the end, or left to expire if the process dies."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from orgadmin.models import Onboarding


class StepBusy(Exception):
    """Someone else is running a step of this flow right now."""

    def __init__(self, by: str) -> None:
        super().__init__(f"{by or 'Someone'} is running a step of this onboarding right now. Reload in a moment.")
        self.message = str(self)


class FlowClosed(Exception):
    """The flow is done or abandoned: nothing more is sent."""

    message = "This onboarding is closed: nothing more is sent for it."


def claim_seconds() -> float:
    """How long a claim holds without being renewed: longer than any one call can take."""
    return max(60.0, 3 * settings.POLYTOMIC_TOTAL_TIMEOUT)


@contextmanager
def claimed(flow: Onboarding, *, by: str) -> Iterator[None]:
    """Runs the block as the one operator running a step of this open flow: a compare-and-set
    on the flow's row, renewed per task, given up at the end (or left to expire if the process
    dies). Raises StepBusy or FlowClosed instead."""
    now = timezone.now()
    expired = now - timedelta(seconds=claim_seconds())
    taken = Onboarding.objects.filter(
        Q(running_since__isnull=True) | Q(running_since__lt=expired), pk=flow.pk, status=Onboarding.Status.OPEN
    ).update(running_since=now, running_by=by[:150])
    if not taken:
        current = Onboarding.objects.filter(pk=flow.pk).values("status", "running_by").first()
        if current is None or current["status"] != Onboarding.Status.OPEN:
            raise FlowClosed
        raise StepBusy(current["running_by"])
    flow.running_since = now
    try:
        yield
    finally:
        Onboarding.objects.filter(pk=flow.pk).update(running_since=None, running_by="")
        flow.running_since = None


def renew_claim(flow: Onboarding) -> None:
    now = timezone.now()
    Onboarding.objects.filter(pk=flow.pk).update(running_since=now)
    flow.running_since = now
