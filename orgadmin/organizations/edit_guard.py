"""The edit guard: what stands between an edit form and a PUT that would wipe or rewire a
customer's single sign-on by accident.

Polytomic replaces the whole SSO/OIDC configuration on every update, so an edit form always
sends all of it, and the guard decides whether a valid submission may go:

1. **Changed meanwhile.** The form carries the organization as it was when it was opened
   (signed, `opened_token`). If Polytomic has it otherwise now, nothing is sent: the operator is
   shown what changed, and the form now stands on the current state.
2. **Confirmed.** A save that changes single sign-on needs the operator's confirmation of exactly
   the changes they were shown: the form carries a token signed over that change summary
   (`confirmation_token`), which any other change would not match.
3. Otherwise the save goes through.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing

from orgadmin.polytomic.fields import (
    FIELDS,
    MARKERS,
    READABLE,
    REMEMBERED,
    ROUTING,
    Field,
    Organization,
    OrganizationInput,
    Section,
)

OPENED_SALT = "orgadmin.edit-guard.opened"
CONFIRM_SALT = "orgadmin.edit-guard.confirm"


def opened_token(organization: Organization) -> str:
    """The organization's state as Polytomic returns it, signed, for the form to carry."""
    return signing.dumps(organization.values(), salt=OPENED_SALT, compress=True)


def opened_organization(token: str, organization_id: object) -> Organization | None:
    """The organization as the form was opened on it; None when the token is not one of ours."""
    try:
        state = signing.loads(token, salt=OPENED_SALT)
        return Organization(id=str(organization_id), **{field.name: str(state[field.name]) for field in READABLE})
    except (signing.BadSignature, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class Change:
    field: Field
    before: str
    after: str

    @property
    def label(self) -> str:
        return f"{self.field.section} · {self.field.label}"

    @property
    def kind(self) -> str:
        if not self.before:
            return "added"
        if not self.after:
            return "removed"
        return "changed"


@dataclass(frozen=True)
class ChangeSummary:
    """What a save will change at Polytomic, for the operator to confirm."""

    changes: tuple[Change, ...]
    saml_removed: bool
    oidc_removed: bool
    oidc_credentials_sent: bool
    # Before the save, something already decided where the customer's users sign in (a field of
    # ROUTING was set): the organization has single sign-on.
    had_single_sign_on: bool
    # The client id sent to an organization with OIDC whose last client id the portal does not
    # know (Polytomic never returns it): whether it changed cannot be told. Blank otherwise.
    uncompared_client_id: str
    # What the save does to the client secret (organizations.credentials.secret_note): "resent as
    # kept on <date>", "unchanged", "replaced", "sent", or blank when it sends none.
    client_secret: str = ""
    resends_kept: bool = False

    @property
    def changes_sso(self) -> bool:
        return any(change.field.section is not Section.ORGANIZATION for change in self.changes)

    @property
    def can_lock_out(self) -> bool:
        """Whether the save could leave the customer unable to sign in: it changes or removes
        single sign-on, or sends OIDC credentials (which a typo would break), so it goes only
        after a recent sign-in check (staff.recent_sign_in)."""
        return self.changes_sso or self.saml_removed or self.oidc_removed or self.oidc_credentials_sent

    @property
    def reroutes_sign_in(self) -> bool:
        """Whether the save adds, changes or clears anything that decides where the customer's
        users sign in (SSO domain, SSO organization id, issuer, client id) on an organization
        that already has single sign-on, or sends it a client id that cannot be compared with
        the one last sent. A second sign-in route added beside the first is a reroute too: it
        can send the customer's users to someone else's identity provider. The first
        configuration of an organization without single sign-on is not."""
        if not self.had_single_sign_on:
            return False
        return bool(self.uncompared_client_id) or any(change.field.routes_sign_in for change in self.changes)

    @property
    def needs_a_second_person(self) -> bool:
        """Whether the change waits for another person's approval (PORTAL_FOUR_EYES): it removes
        SAML SSO or OIDC ("remove-sso"), or reroutes sign-in ("change-sso", `reroutes_sign_in`).
        README, "Four eyes", has the whole table."""
        if not settings.PORTAL_FOUR_EYES:
            return False
        policy = set(settings.PORTAL_APPROVAL_FOR)
        removes = "remove-sso" in policy and (self.saml_removed or self.oidc_removed)
        return removes or ("change-sso" in policy and self.reroutes_sign_in)

    def as_record(self) -> dict[str, Any]:
        """The summary as the requester confirmed it, to show the approver exactly that."""
        return {
            "changes": [
                {"label": change.label, "kind": change.kind, "before": change.before, "after": change.after}
                for change in self.changes
            ],
            "saml_removed": self.saml_removed,
            "oidc_removed": self.oidc_removed,
            "oidc_credentials_sent": self.oidc_credentials_sent,
            "uncompared_client_id": self.uncompared_client_id,
            "client_secret": self.client_secret,
            "resends_kept": self.resends_kept,
        }

    def fingerprint(self) -> str:
        changes = [[change.field.name, change.before, change.after] for change in self.changes]
        return json.dumps([changes, self.client_secret] if self.resends_kept else changes)


def summarise(
    *, before: Organization, after: OrganizationInput, last_client_id: str = "", client_secret: str = "",
    resends_kept: bool = False,
) -> ChangeSummary:  # fmt: skip
    """Compares the organization as Polytomic has it with what a save would send. A secret is
    never compared or shown. The client id, which Polytomic never returns, is compared with
    the one the portal last sent, when it knows one."""
    known = before.values() | {REMEMBERED: last_client_id if before.has_oidc else ""}
    sent = after.body()
    changes = []
    uncompared = ""
    for field in FIELDS:
        if field.secret:
            continue
        old, new = known.get(field.name, ""), sent.get(field.name, "")
        if not field.readable and not old and new and before.has_oidc:
            uncompared = new  # unknown before: not a change that can be shown, nor known not to be one
            continue
        if old != new:
            changes.append(Change(field=field, before=old, after=new))
    return ChangeSummary(
        changes=tuple(changes),
        saml_removed=_any_in(known, Section.SAML) and not _any_in(sent, Section.SAML),
        oidc_removed=before.has_oidc and not sent.get(MARKERS[Section.OIDC]),
        oidc_credentials_sent=any(sent.get(field.name) for field in FIELDS if field.secret),
        had_single_sign_on=any(known.get(field.name) for field in ROUTING),
        uncompared_client_id=uncompared,
        client_secret=client_secret,
        resends_kept=resends_kept,
    )


def _any_in(body: dict[str, Any], section: Section) -> bool:
    return any(body.get(field.name) for field in FIELDS if field.section is section)


def confirmation_token(organization: Organization, summary: ChangeSummary) -> str:
    """Signed over the organization and exactly the changes shown."""
    return signing.Signer(salt=CONFIRM_SALT).sign(f"{organization.id}:{summary.fingerprint()}").rsplit(":", 1)[1]


@dataclass(frozen=True)
class Difference:
    """A field someone changed at Polytomic since the form was opened."""

    label: str
    opened: str
    now: str


def changed_meanwhile(opened: Organization, current: Organization) -> tuple[Difference, ...]:
    was, now = opened.values(), current.values()
    return tuple(
        Difference(label=field.label, opened=was[field.name], now=now[field.name])
        for field in READABLE
        if was[field.name] != now[field.name]
    )


@dataclass(frozen=True)
class Decision:
    """The guard's answer to one valid submission of an edit form."""

    summary: ChangeSummary
    # The token a confirmation of this summary must carry, on the organization as it is now.
    confirmation: str
    changed_meanwhile: tuple[Difference, ...] = ()
    needs_confirmation: bool = False

    @property
    def go(self) -> bool:
        return not self.changed_meanwhile and not self.needs_confirmation


def decide(
    *, opened: Organization, current: Organization, submitted: OrganizationInput, confirmation: str,
    last_client_id: str, client_secret: str = "", resends_kept: bool = False,
) -> Decision:  # fmt: skip
    summary = summarise(
        before=current, after=submitted, last_client_id=last_client_id, client_secret=client_secret,
        resends_kept=resends_kept,
    )  # fmt: skip
    token = confirmation_token(current, summary)
    differences = changed_meanwhile(opened, current)
    if differences:
        return Decision(summary=summary, confirmation=token, changed_meanwhile=differences, needs_confirmation=True)
    # Credentials resent as kept overwrite any changed outside the portal since: confirmed first.
    unconfirmed = (summary.changes_sso or summary.resends_kept) and confirmation != token
    return Decision(summary=summary, confirmation=token, needs_confirmation=unconfirmed)
