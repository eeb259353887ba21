"""Onboarding a customer in one resumable flow: their organization (its issuer checked before it
is saved), the partner's connections shared into it, its first administrators.

A flow is a saved record (`Onboarding`), and each write it makes at Polytomic a task
(`OnboardingTask`) with its own state and Idempotency-Key, so that a flow stopped halfway says
what was done, and a retried step never does anything twice:

- a task's key is made from the flow's key, the task and its `attempt`. It stays the same while
  the outcome is unknown (no answer: a timeout, a broken connection), so Polytomic replays what
  it did; it changes only after Polytomic answered (a refusal, an error), whose replay would
  only repeat that answer;
- the tasks of a step run in order; the first failure stops the step, the others stay pending;
- one operator runs a step at a time (`claimed`); the keys would keep two from doubling a write
  anyway, but not from confusing each other;
- every call of a flow carries its correlation id into the audit log, whoever runs it;
- nothing is undone behind the operator's back: an abandoned flow leaves what it created.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from audit.protocol import AuditContext, AuditUnavailable
from audit.queries import latest_rows
from orgadmin import outcomes
from orgadmin.idempotency import idempotency_key
from orgadmin.issuer_check import IssuerCheck
from orgadmin.models import Onboarding, OnboardingTask
from orgadmin.onboarding.claims import claimed, renew_claim
from orgadmin.organizations import credentials
from orgadmin.organizations import services as organization_services
from orgadmin.polytomic.client import client
from orgadmin.polytomic.connections import Connection
from orgadmin.polytomic.errors import PolytomicError, PolytomicOutcomeUnknown, PolytomicValidationError
from orgadmin.polytomic.fields import SECRETS, Organization, OrganizationInput
from orgadmin.polytomic.people import Role

Step = Onboarding.Step
State = OnboardingTask.State
FINISHED = (State.DONE, State.SKIPPED)
TO_SEND = (State.PENDING, State.FAILED, State.UNKNOWN)
MAX_CONNECTIONS = 50
MAX_ADMINISTRATORS = 10


class AlreadyDone(Exception):
    """The step was done meanwhile (in another tab, by another operator)."""

    message = "This step was done meanwhile: nothing was sent again."


# --- Reading a flow ---------------------------------------------------------------------------------


def current_step(flow: Onboarding, tasks: list[OnboardingTask]) -> str:
    """The first step not finished: the organization created; the connections chosen and each
    shared or left out; at least one administrator invited and none left to send."""
    by_step = {step: [task for task in tasks if task.step == step] for step in Step.values}
    if not any(task.state == State.DONE for task in by_step[Step.ORGANIZATION]):
        return Step.ORGANIZATION
    if not flow.connections_chosen or not _finished(by_step[Step.CONNECTIONS]):
        return Step.CONNECTIONS
    administrators = by_step[Step.ADMINISTRATORS]
    if not any(task.state == State.DONE for task in administrators) or not _finished(administrators):
        return Step.ADMINISTRATORS
    return Step.DONE


def _finished(tasks: list[OnboardingTask]) -> bool:
    return all(task.state in FINISHED for task in tasks)


def flow_context(context: AuditContext, flow: Onboarding | UUID) -> AuditContext:
    """The request's audit context, carrying the flow's correlation id."""
    correlation = flow.correlation_id if isinstance(flow, Onboarding) else flow
    return dataclasses.replace(context, correlation_id=UUID(str(correlation)))


def flow_activity(*, correlation_id: UUID, size: int) -> list[AuditEntry]:
    """The flow's latest calls (its correlation id's entries), one row each, for its page."""
    return latest_rows(correlation_id=correlation_id, size=size)


# --- Starting, and the organization ----------------------------------------------------------------


def kept_input(data: OrganizationInput) -> dict[str, str]:
    """What the flow keeps of the typed organization: everything but the client secret."""
    return {name: value for name, value in dataclasses.asdict(data).items() if name not in SECRETS}


def check_record(check: IssuerCheck | None, *, saved_anyway: bool) -> dict | None:
    if check is None:
        return None
    return {
        "issuer": check.issuer,
        "passed": check.passed,
        "problem": check.problem,
        "authorization_host": check.authorization_host,
        "saved_anyway": saved_anyway and not check.passed,
    }


@transaction.atomic
def start(
    *, actor: AbstractBaseUser, correlation_id: UUID, data: OrganizationInput, issuer_check: dict | None
) -> Onboarding:
    """The flow's record and its first task, before anything is sent."""
    flow = Onboarding.objects.create(
        correlation_id=correlation_id,
        key=uuid.uuid4().hex,
        started_by=actor,
        organization_input=kept_input(data),
        issuer_check=issuer_check,
    )
    OnboardingTask.objects.create(onboarding=flow, step=Step.ORGANIZATION, label=data.name.strip())
    return flow


def create_organization(
    flow: Onboarding, *, context: AuditContext, data: OrganizationInput, issuer_check: dict | None,
    keep_credentials: bool = False,
) -> Organization:  # fmt: skip
    """Creates the organization (the step's one task), its OIDC credentials kept if chosen
    (organizations.credentials). Raises the client's error, recorded on the task first; a
    refusal's field errors are for the form."""
    with claimed(flow, by=context.actor_username):
        task = flow.tasks.get(step=Step.ORGANIZATION)
        if task.state == State.DONE:
            raise AlreadyDone
        Onboarding.objects.filter(pk=flow.pk).update(
            organization_input=kept_input(data), issuer_check=issuer_check, updated_at=timezone.now()
        )
        task.label = data.name.strip()
        key = _task_key(flow, task, AuditEntry.Action.CREATE)
        organization = _run(task, lambda: organization_services.organization_create_keyed(
            context=flow_context(context, flow), data=data, key=key
        ))  # fmt: skip
        Onboarding.objects.filter(pk=flow.pk).update(
            organization_id=organization.id, organization_name=organization.name, updated_at=timezone.now()
        )
        flow.organization_id, flow.organization_name = organization.id, organization.name
        credentials.credentials_sent(
            organization_id=organization.id, data=data, keep=keep_credentials, resent=False, by=context.actor_username
        )
        return organization


# --- The partner's connections ---------------------------------------------------------------------


def _choose_connections(flow: Onboarding, chosen: list[Connection]) -> None:
    """Records which connections are shared (possibly none): one task each, not yet sent."""
    with transaction.atomic():
        chosen_now = Onboarding.objects.filter(pk=flow.pk, connections_chosen=False).update(
            connections_chosen=True, updated_at=timezone.now()
        )
        flow.connections_chosen = True
        if not chosen_now:
            return  # chosen already, in another tab: that choice stands
        OnboardingTask.objects.bulk_create(
            OnboardingTask(
                onboarding=flow, step=Step.CONNECTIONS, target=connection.id,
                label=f"{connection.name} ({connection.type_name})" if connection.type_name else connection.name,
            )
            for connection in chosen[:MAX_CONNECTIONS]
        )  # fmt: skip


def share_connections(
    flow: Onboarding, *, context: AuditContext, owner_id: str, chosen: list[Connection] | None = None
) -> None:
    """Shares each chosen connection not yet shared, in order; stops at the first failure.
    `chosen`, the first time: which connections to share (possibly none)."""
    into = UUID(flow.organization_id)

    def share(task: OnboardingTask, key: str) -> str:
        shared = client().share_connection(
            UUID(owner_id), UUID(task.target), into=into, idempotency_key=key, context=flow_context(context, flow)
        )
        return shared.id

    def choose() -> None:
        if chosen is not None:
            _choose_connections(flow, chosen)

    _run_step(flow, Step.CONNECTIONS, AuditEntry.Action.CONNECTION_SHARE, share, context=context, first=choose)


# --- The first administrators ----------------------------------------------------------------------


def organization_roles(flow: Onboarding, *, context: AuditContext) -> dict[str, Role]:
    roles = client().list_roles(UUID(flow.organization_id), context=flow_context(context, flow))
    return {role.id: role for role in roles}


def _add_administrators(flow: Onboarding, emails: list[str], roles: list[Role]) -> None:
    """One invitation task per email not asked for already, with the roles chosen."""
    known = set(flow.tasks.filter(step=Step.ADMINISTRATORS).values_list("target", flat=True))
    detail = {"role_ids": [role.id for role in roles], "role_names": [role.name for role in roles]}
    OnboardingTask.objects.bulk_create(
        (
            OnboardingTask(onboarding=flow, step=Step.ADMINISTRATORS, target=email, label=email, detail=detail)
            for email in emails
            if email not in known
        ),
        ignore_conflicts=True,
    )  # an email asked for meanwhile, in another tab, is asked once


def invite_administrators(
    flow: Onboarding, *, context: AuditContext, emails: list[str] = (), roles: list[Role] = ()
) -> None:
    """Invites each administrator not invited yet (first adding `emails`, with `roles`), in
    order; stops at the first failure."""
    organization_id = UUID(flow.organization_id)

    def invite(task: OnboardingTask, key: str) -> str:
        user = client().invite_user(
            organization_id, email=task.target, role_ids=task.detail["role_ids"], idempotency_key=key,
            context=flow_context(context, flow),
        )  # fmt: skip
        return user.id

    def add() -> None:
        if emails:
            _add_administrators(flow, list(emails), list(roles))

    _run_step(flow, Step.ADMINISTRATORS, AuditEntry.Action.USER_INVITE, invite, context=context, first=add)


# --- Running tasks ---------------------------------------------------------------------------------


def _run_step(flow: Onboarding, step: str, action: str, send, *, context: AuditContext, first) -> None:
    """Under the flow's claim: `first` (which adds the step's tasks), then each task to send."""
    with claimed(flow, by=context.actor_username):
        first()
        for task in flow.tasks.filter(step=step, state__in=TO_SEND).order_by("id"):
            renew_claim(flow)
            key = _task_key(flow, task, action)
            _run(task, lambda task=task, key=key: send(task, key))
        _close_if_done(flow, by=context.actor)


def _run(task: OnboardingTask, call):
    """Runs the task's call and records its outcome on the task; re-raises a failure. The task is
    of unknown outcome from before it is sent until an answer says otherwise: a worker killed in
    between leaves it so, never "not sent yet" (`resolve_unknown` finds out by reading)."""
    task.state = State.UNKNOWN
    task.save(update_fields=["state", "label", "updated_at"])
    try:
        result = call()
    except (PolytomicError, AuditUnavailable) as exc:
        # Polytomic answered, and not with a success it could not read (which may well have been done).
        answered = (
            isinstance(exc, PolytomicError)
            and exc.status is not None
            and not 200 <= exc.status < 300
            and not (isinstance(exc, PolytomicValidationError) and exc.in_flight)
        )
        # Sent, and no answer says what came of it: no answer, a success that cannot be read, the
        # log refusing its outcome, or Polytomic saying the key's first request is still in flight.
        unknown = (
            isinstance(exc, PolytomicOutcomeUnknown)
            or (isinstance(exc, PolytomicValidationError) and exc.in_flight)
            or (isinstance(exc, AuditUnavailable) and not exc.nothing_sent)
        )
        if answered:  # a retry must not be answered with the replay of this answer
            task.attempt += 1
        task.state = State.UNKNOWN if unknown and not answered else State.FAILED
        task.error = exc.message
        task.save(update_fields=["state", "attempt", "error", "label", "updated_at"])
        raise
    task.state, task.error = State.DONE, ""
    task.polytomic_id = getattr(result, "id", result)
    task.save(update_fields=["state", "error", "label", "polytomic_id", "updated_at"])
    return result


# The write each step's task makes.
TASK_ACTIONS = {
    Step.ORGANIZATION: AuditEntry.Action.CREATE,
    Step.CONNECTIONS: AuditEntry.Action.CONNECTION_SHARE,
    Step.ADMINISTRATORS: AuditEntry.Action.USER_INVITE,
}


def resolve_unknown(flow: Onboarding, *, context: AuditContext) -> None:
    """Finds out by reading Polytomic what came of the flow's tasks of unknown outcome (their answer
    lost, or their worker killed): each write sent with the task's Idempotency-Key is resolved
    (orgadmin/outcomes.py), and the task ends done (with what Polytomic made) or failed, with a new
    key for its retry. A task with no write recorded was not sent: once it can no longer be in
    flight, it is failed, with nothing sent. Left unknown while Polytomic cannot say."""
    settled = False
    for task in flow.tasks.filter(state=State.UNKNOWN):
        key = _task_key(flow, task, TASK_ACTIONS[task.step])
        found = outcomes.what_came_of(
            context=flow_context(context, flow), correlation_id=flow.correlation_id, idempotency_key=key
        )
        if found is None and timezone.now() - task.updated_at > timedelta(seconds=outcomes.settle_seconds()):
            found = outcomes.Finding(False, "Nothing was sent: the portal stopped before sending it. Retry the step.")
        if found is None or found.done is None:
            continue
        ending = {"state": State.DONE, "error": "", "polytomic_id": found.polytomic_id} if found.done else {
            "state": State.FAILED, "error": found.words, "attempt": task.attempt + 1}  # fmt: skip
        if OnboardingTask.objects.filter(pk=task.pk, state=State.UNKNOWN).update(updated_at=timezone.now(), **ending):
            settled = True
            if found.done and task.step == Step.ORGANIZATION:
                Onboarding.objects.filter(pk=flow.pk).update(
                    organization_id=found.polytomic_id, organization_name=found.organization_name
                )
                flow.organization_id, flow.organization_name = found.polytomic_id, found.organization_name
    if settled:
        _close_if_done(flow, by=None)


def _task_key(flow: Onboarding, task: OnboardingTask, action: str) -> str:
    return idempotency_key(
        form_key=f"{flow.key}{task.attempt}", action=action, target=f"{flow.pk}:{task.step}:{task.target}"
    )


def skip(flow: Onboarding, task_id: int, *, by: AbstractBaseUser) -> OnboardingTask | None:
    """Leaves a connection or an invitation that failed out of the flow (the organization cannot
    be), under the flow's claim: never while a step is sending it."""
    with claimed(flow, by=by.get_username()):
        # Not one of unknown outcome: Polytomic may hold it (`resolve_unknown` finds out).
        task = flow.tasks.filter(pk=task_id, state__in=(State.PENDING, State.FAILED)).exclude(step=Step.ORGANIZATION)
        task = task.first()
        if task is not None:
            task.state = State.SKIPPED
            task.save(update_fields=["state", "updated_at"])
            _close_if_done(flow, by=by)
    return task


def _close_if_done(flow: Onboarding, *, by: AbstractBaseUser | None) -> None:
    if current_step(flow, list(flow.tasks.all())) == Step.DONE:
        now = timezone.now()
        Onboarding.objects.filter(pk=flow.pk, status=Onboarding.Status.OPEN).update(
            status=Onboarding.Status.DONE, closed_at=now, closed_by=by, updated_at=now
        )


def abandon(flow: Onboarding, *, by: AbstractBaseUser) -> bool:
    """Closes the flow; what it created stays at Polytomic. False if it was closed already."""
    return bool(
        Onboarding.objects.filter(pk=flow.pk, status=Onboarding.Status.OPEN).update(
            status=Onboarding.Status.ABANDONED, closed_at=timezone.now(), closed_by=by, updated_at=timezone.now()
        )
    )
