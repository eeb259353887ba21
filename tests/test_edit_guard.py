"""The edit guard alone: what a save would change, whether the operator confirmed exactly that,
and whether the organization changed since the form was opened."""

from __future__ import annotations

import pytest

from orgadmin import edit_guard
from orgadmin.polytomic.fields import Organization, OrganizationInput

ACME = Organization(id="0b6f5d2e-1a2b-4c3d-8e9f-0a1b2c3d4e5f", name="Acme", sso_domain="acme.example",
                    sso_org_id="org_1", issuer="https://acme.okta.example")  # fmt: skip
KEEP = OrganizationInput(name="Acme", sso_domain="acme.example", sso_org_id="org_1",
                         issuer="https://acme.okta.example", client_id="client-1", client_secret="s3cret")  # fmt: skip


def submitted(**changes: str) -> OrganizationInput:
    return OrganizationInput(**(KEEP.values() | changes))


def decide(*, opened=ACME, current=ACME, sent=KEEP, confirmation="", last_client_id="client-1"):
    return edit_guard.decide(
        opened=opened, current=current, submitted=sent, confirmation=confirmation, last_client_id=last_client_id
    )


class OpenedStateTests:
    def test_the_opened_state_comes_back_as_it_was(self):
        assert edit_guard.opened_organization(edit_guard.opened_token(ACME), ACME.id) == ACME

    @pytest.mark.parametrize("token", ["", "forged", edit_guard.opened_token(ACME)[:-2]])
    def test_a_token_not_signed_by_the_portal_is_none(self, token):
        assert edit_guard.opened_organization(token, ACME.id) is None


class SummaryTests:
    def test_resending_the_same_block_changes_nothing(self):
        summary = edit_guard.summarise(before=ACME, after=KEEP, last_client_id="client-1")
        assert summary.changes == ()
        assert not summary.changes_sso
        assert summary.oidc_credentials_sent

    def test_a_rename_is_no_change_to_single_sign_on(self):
        summary = edit_guard.summarise(before=ACME, after=submitted(name="Acme Corp"), last_client_id="client-1")
        assert [(c.field.name, c.kind, c.label) for c in summary.changes] == [
            ("name", "changed", "Organization · Name")
        ]
        assert not summary.changes_sso

    def test_removing_oidc_and_saml_is_said(self):
        removed = OrganizationInput(name="Acme")
        summary = edit_guard.summarise(before=ACME, after=removed, last_client_id="client-1")
        assert summary.oidc_removed
        assert summary.saml_removed
        assert {c.field.name: c.kind for c in summary.changes} == {
            "sso_domain": "removed", "sso_org_id": "removed", "issuer": "removed", "client_id": "removed"
        }  # fmt: skip

    def test_the_secret_is_never_compared_or_shown(self):
        summary = edit_guard.summarise(before=ACME, after=submitted(client_secret="other"), last_client_id="client-1")
        assert all(not c.field.secret for c in summary.changes)
        assert "other" not in summary.fingerprint()

    def test_a_client_id_polytomic_never_returned_is_no_change_when_unknown(self):
        assert edit_guard.summarise(before=ACME, after=KEEP, last_client_id="").changes == ()
        known = edit_guard.summarise(before=ACME, after=submitted(client_id="client-2"), last_client_id="client-1")
        assert [(c.field.name, c.before, c.after) for c in known.changes] == [("client_id", "client-1", "client-2")]


class DecisionTests:
    def test_a_rename_goes_through_unconfirmed(self):
        assert decide(sent=submitted(name="Acme Corp")).go

    def test_a_change_to_single_sign_on_waits_for_its_confirmation(self):
        asked = decide(sent=submitted(sso_domain="acme.test"))
        assert (asked.go, asked.needs_confirmation) == (False, True)
        assert decide(sent=submitted(sso_domain="acme.test"), confirmation=asked.confirmation).go

    def test_a_confirmation_of_other_changes_does_not_count(self):
        asked = decide(sent=submitted(sso_domain="acme.test"))
        other = decide(sent=submitted(sso_domain="acme.other"), confirmation=asked.confirmation)
        assert not other.go
        assert other.confirmation != asked.confirmation

    def test_a_confirmation_for_another_organization_does_not_count(self):
        asked = decide(sent=submitted(sso_domain="acme.test"))
        other = Organization(**(ACME.values() | {"id": "7a1f0c2e-0000-4000-8000-000000000009"}))
        assert not decide(opened=other, current=other, sent=submitted(sso_domain="acme.test"),
                          confirmation=asked.confirmation).go  # fmt: skip

    def test_a_change_made_meanwhile_stops_the_save_and_is_shown(self):
        now = Organization(**(ACME.values() | {"id": ACME.id, "sso_org_id": "org_CHANGED"}))
        held = decide(current=now, sent=submitted(name="Acme Corp"))
        assert not held.go
        assert [(d.label, d.opened, d.now) for d in held.changed_meanwhile] == [
            ("SSO organization id", "org_1", "org_CHANGED")
        ]
        # Confirmed on the state as it is now, and opened on it, the save goes.
        assert decide(opened=now, current=now, sent=submitted(name="Acme Corp"), confirmation=held.confirmation).go
