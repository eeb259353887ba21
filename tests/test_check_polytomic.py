"""`manage.py check_polytomic`, the check after a deploy, against the sandbox."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEntry
from devtools.sandbox import OTHER_PARTNER_KEY
from devtools.support import free_port

pytestmark = pytest.mark.django_db


def check() -> str:
    out = StringIO()
    call_command("check_polytomic", stdout=out)
    return out.getvalue()


class CheckPolytomicTests:
    def test_a_partner_key_passes_and_the_call_is_audited(self, sandbox):
        assert "is reachable and the key is a partner key for Northwind Partners" in check()
        entry = AuditEntry.objects.get()
        assert (entry.action, entry.path, entry.outcome) == ("identity.get", "/api/me", "ok")
        assert entry.actor_username == "system:check_polytomic"

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
