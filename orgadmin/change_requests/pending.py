"""What waits for a second person, as the pages around a request show it: the requests waiting
for some organizations (one query however many), and why approving a request would void it."""

from __future__ import annotations

from collections.abc import Iterable

from orgadmin.models import ChangeRequest
from orgadmin.polytomic.fields import BY_NAME, Organization


def waiting_for(organization_ids: Iterable[str]) -> dict[str, list[ChangeRequest]]:
    """Each of these organizations' requests waiting for a decision, oldest first, in one query
    (the list's badge, the organization's banner, the edit form's warning)."""
    waiting: dict[str, list[ChangeRequest]] = {}
    for change in (
        ChangeRequest.objects.filter(
            ChangeRequest.waiting_q(), organization_id__in=[str(id) for id in organization_ids]
        )
        .only("pk", "organization_id", "kind", "summary", "requested_at", "requested_by_id")
        .order_by("requested_at", "pk")
    ):
        waiting.setdefault(change.organization_id, []).append(change)
    return waiting


def waiting_on(organization_id: str) -> list[ChangeRequest]:
    """One organization's requests waiting for a decision, oldest first."""
    return waiting_for([organization_id]).get(str(organization_id), [])


def why_approving_voids(change: ChangeRequest, current: Organization | None) -> str:
    """Why approving this waiting request would send nothing and void it (the sender reads the
    organization again and compares it with the organization as it was asked on); "" if it would not.
    `current` is the organization as read now, None if Polytomic no longer has it."""
    if current is None:
        return "Polytomic no longer has the organization: approving it would void it and send nothing."
    found = current.values()
    changed = [BY_NAME[name].label for name, value in found.items() if value != change.organization_state.get(name, "")]
    if not changed:
        return ""
    return (
        f"The organization changed at Polytomic since the request ({', '.join(changed)}): approving it would void it "
        "and send nothing. Reject it, or its requester withdraws it, and ask again on the organization as it is now."
    )
