"""`manage.py check_polytomic`, the check after a deploy, against the sandbox."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEntry
from devtools.sandbox import OTHER_PARTNER_KEY, OWNER_ID
from devtools.support import free_port

pytestmark = pytest.mark.django_db


def check() -> str:
    out = StringIO()
    call_command("check_polytomic", stdout=out)
    return out.getvalue()


class CheckPolytomicTests:
    def test_a_partner_key_passes_and_the_calls_are_audited(self, sandbox):
        said = check()
        assert "is reachable and the key is a partner key for Northwind Partners" in said
        assert "Listing roles and connections by HTTP Basic as the owner organization" in said
        assert "(its id and the partner key) works: 2 roles, 3 connections." in said
        entries = AuditEntry.objects.order_by("id")
        assert [(e.action, e.path, e.outcome) for e in entries] == [
            ("identity.get", "/api/me", "ok"),
            ("role.list", "/api/permissions/roles", "ok"),
            ("connection.list", "/api/connections", "ok"),
        ]
        assert {e.actor_username for e in entries} == {"system:check_polytomic"}
        assert {e.organization_id for e in entries[1:]} == {OWNER_ID}
        basic = [r["headers"]["authorization"] for r in sandbox.sandbox.received if r["path"] != "/api/me"]
        assert basic == ["Basic [masked]"] * 2

    @pytest.mark.parametrize("status", [401, 403])
    def test_a_refused_basic_call_fails_and_says_so_plainly(self, sandbox, status):
        sandbox.sandbox.faults.refuse_basic = status
        with pytest.raises(CommandError) as caught:
            check()
        said = str(caught.value)
        assert f"by HTTP Basic as the owner organization (its id and the partner key) does NOT work: Polytomic " \
               f"refused it (HTTP {status})" in said  # fmt: skip
        assert "ask Polytomic support to let the partner key act as an organization" in said

    def test_a_basic_call_that_fails_otherwise_is_not_called_refused(self, sandbox):
        sandbox.sandbox.faults.queue.extend([{"path": "/api/permissions/roles", "fault": "status:503"}] * 3)
        with pytest.raises(CommandError, match="could not be checked: Polytomic is not able to answer"):
            check()

    def test_a_refused_key_fails(self, settings):
        settings.POLYTOMIC_PARTNER_API_KEY = "not-a-key-polytomic-knows"
        with pytest.raises(CommandError, match="did not confirm the key: Polytomic did not accept"):
            check()
        assert AuditEntry.objects.get().outcome == "rejected"

    def test_a_key_that_is_no_partner_key_fails(self, sandbox, settings):
        sandbox.sandbox.faults.queue.append(
            {"method": "GET", "path": "/api/me", "answer": {"status": 200, "body": {"data": {"is_user": True}}}}
        )
        with pytest.raises(CommandError, match="is not a partner key"):
            check()

    def test_an_unreachable_polytomic_fails(self, settings):
        settings.POLYTOMIC_API_URL = f"http://127.0.0.1:{free_port()}"
        with pytest.raises(CommandError, match="could not reach Polytomic"):
            check()

    def test_another_partners_key_is_one_too(self, settings):
        settings.POLYTOMIC_PARTNER_API_KEY = OTHER_PARTNER_KEY
        assert "partner key for Umbrella (another partner)" in check()
