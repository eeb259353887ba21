"""The edit guard alone: what a save would change, whether the operator confirmed exactly that,
and whether the organization changed since the form was opened."""

from __future__ import annotations

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from orgadmin.organizations import edit_guard
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


# Values each field can take in the property test: blank, or one of two, so that every field is
# kept, added, changed or cleared in some example.
DOMAINS, ORG_IDS = ("", "acme.example", "acme.test"), ("", "org_1", "org_2")
ISSUERS, CLIENT_IDS = ("", "https://acme.okta.example", "https://acme.entra.example"), ("", "client-1", "client-2")
ROUTES = ("sso_domain", "sso_org_id", "issuer")


def waits(*, before=ACME, sent=KEEP, last_client_id="client-1", approval_for=("remove-sso", "change-sso", "delete")):
    summary = edit_guard.summarise(before=before, after=sent, last_client_id=last_client_id)
    with override_settings(PORTAL_FOUR_EYES=True, PORTAL_APPROVAL_FOR=list(approval_for)):
        return summary.needs_a_second_person


def the_readmes_rule(before: Organization, last_client_id: str, sent: OrganizationInput) -> tuple[bool, bool]:
    """README, "Four eyes", written out independently of the guard: (reroutes sign-in, removes SSO)."""
    had_sso = any(getattr(before, name) for name in ROUTES)
    known_client_id = last_client_id if before.issuer else ""
    if before.issuer and not known_client_id:
        client_id_changed = bool(sent.client_id)  # sent where the last one is not known
    else:
        client_id_changed = sent.client_id != known_client_id
    reroutes = had_sso and (client_id_changed or any(getattr(before, n) != getattr(sent, n) for n in ROUTES))
    removes = bool(before.sso_domain or before.sso_org_id) and not (sent.sso_domain or sent.sso_org_id)
    return reroutes, removes or (bool(before.issuer) and not sent.issuer)


class SecondPersonTests:
    """Which saves wait for a second person (`PORTAL_FOUR_EYES`, `PORTAL_APPROVAL_FOR`): the README's table."""

    GLOBEX = Organization(id=ACME.id, name="Globex", sso_domain="globex.example", issuer="https://globex.okta.example")
    GLOBEX_BLOCK = OrganizationInput(name="Globex", sso_domain="globex.example", issuer="https://globex.okta.example",
                                     client_id="0oa-globex", client_secret="s3cret")  # fmt: skip

    def globex(self, **changes: str) -> OrganizationInput:
        return OrganizationInput(**(self.GLOBEX_BLOCK.values() | changes))

    def test_a_second_single_sign_on_added_beside_oidc_waits(self):
        """The security review's case: OIDC and an SSO domain, and an Editor adds an SSO organization id."""
        assert waits(before=self.GLOBEX, sent=self.globex(sso_org_id="org_attacker"), last_client_id="0oa-globex")

    def test_oidc_added_beside_saml_waits(self):
        saml = Organization(id=ACME.id, name="Acme", sso_domain="acme.example", sso_org_id="org_1")
        assert waits(before=saml, sent=KEEP, last_client_id="")

    def test_a_swapped_client_id_waits(self):
        assert waits(sent=submitted(client_id="client-attacker"))

    def test_a_client_id_the_portal_cannot_compare_waits_and_is_shown(self):
        summary = edit_guard.summarise(before=ACME, after=KEEP, last_client_id="")
        assert summary.changes == ()
        assert summary.uncompared_client_id == "client-1"
        assert summary.as_record()["uncompared_client_id"] == "client-1"
        assert waits(sent=KEEP, last_client_id="")
        assert waits(sent=submitted(name="Acme Corp"), last_client_id="")  # a rename too, once

    @pytest.mark.parametrize(
        "sent",
        [KEEP, submitted(name="Acme Corp"), submitted(client_secret="rotated-secret")],
        ids=["the same block again", "a rename", "a new secret for the same client id"],
    )
    def test_what_keeps_where_sign_in_goes_goes_alone(self, sent):
        assert not waits(sent=sent, last_client_id="client-1")

    def test_the_first_single_sign_on_of_an_organization_goes_alone(self):
        bare = Organization(id=ACME.id, name="Acme")
        assert not waits(before=bare, sent=KEEP, last_client_id="")
        assert not edit_guard.summarise(before=bare, after=KEEP).had_single_sign_on

    def test_an_sso_domain_alone_is_single_sign_on_already(self):
        """The domain already sends the customer's users to single sign-on: what it leads to is a reroute."""
        domain_only = Organization(id=ACME.id, name="Acme", sso_domain="acme.example")
        assert waits(before=domain_only, sent=OrganizationInput(name="Acme", sso_domain="acme.example",
                                                                sso_org_id="org_attacker"))  # fmt: skip

    def test_without_change_sso_only_removals_wait_and_without_four_eyes_nothing(self):
        removed = OrganizationInput(name="Acme", issuer=KEEP.issuer, client_id="client-1", client_secret="s")
        assert not waits(sent=submitted(sso_org_id="org_2"), approval_for=["remove-sso", "delete"])
        assert waits(sent=removed, approval_for=["remove-sso"])
        with override_settings(PORTAL_FOUR_EYES=False):
            assert not edit_guard.summarise(before=ACME, after=removed, last_client_id="client-1").needs_a_second_person

    @given(
        before=st.builds(Organization, id=st.just(ACME.id), name=st.just("Acme"), sso_domain=st.sampled_from(DOMAINS),
                         sso_org_id=st.sampled_from(ORG_IDS), issuer=st.sampled_from(ISSUERS)),
        sent=st.builds(OrganizationInput, name=st.sampled_from(["Acme", "Acme Corp"]),
                       sso_domain=st.sampled_from(DOMAINS), sso_org_id=st.sampled_from(ORG_IDS),
                       issuer=st.sampled_from(ISSUERS), client_id=st.sampled_from(CLIENT_IDS),
                       client_secret=st.sampled_from(["", "s3cret"])),
        last_client_id=st.sampled_from(CLIENT_IDS),
    )  # fmt: skip
    def test_on_an_organization_with_any_sso_any_change_to_where_sign_in_goes_waits(self, before, sent, last_client_id):
        reroutes, removes = the_readmes_rule(before, last_client_id, sent)
        summary = edit_guard.summarise(before=before, after=sent, last_client_id=last_client_id)
        assert summary.reroutes_sign_in == reroutes
        assert waits(before=before, sent=sent, last_client_id=last_client_id) == (reroutes or removes)
        assert waits(before=before, sent=sent, last_client_id=last_client_id, approval_for=["remove-sso"]) == removes
        if not any(getattr(before, name) for name in ROUTES):
            assert not reroutes  # an organization's first single sign-on goes alone
