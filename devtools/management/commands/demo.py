from __future__ import annotations

import logging.config
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from audit.protocol import AuditContext
from devtools.management.commands.sandbox import is_loopback
from devtools.sandbox import GLOBEX_ID, PARTNER_KEY, RunningSandbox
from orgadmin.change_requests import requesting
from orgadmin.models import ChangeRequest
from orgadmin.organizations import edit_guard
from orgadmin.polytomic.client import client
from orgadmin.polytomic.fields import READABLE, Organization, OrganizationInput, Section, in_section

DEMO_ACCOUNTS = (
    ("demo-viewer", "Viewer", "view and search organizations"),
    ("demo-editor", "Editor", "also create and edit"),
    ("demo-admin", "Admin", "also delete, and browse the audit log"),
)


class Command(BaseCommand):
    help = (
        "Runs the portal on 127.0.0.1 against the built-in Polytomic sandbox, on the default SQLite "
        "database, with one demo account per role. Development only: it refuses to run with DEBUG off."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="Port of the portal (default 8000).")

    def handle(self, *args: object, port: int, **options: object) -> None:
        self._refuse_outside_development()
        audit_stream = self._audit_stream_beside_the_database()
        call_command("migrate", interactive=False, verbosity=0)
        passwords = self._demo_accounts()
        with RunningSandbox() as sandbox:
            # Point this process's portal at the sandbox; the development server runs in this
            # process (no autoreloader), so it serves with these settings.
            settings.POLYTOMIC_API_URL = sandbox.url
            settings.POLYTOMIC_PARTNER_API_KEY = PARTNER_KEY
            # Four eyes, as in production, with one request waiting so that the queue shows.
            settings.PORTAL_FOUR_EYES = True
            # The sandbox's identity provider, over https on loopback, for the OIDC issuer check:
            # that origin alone, so that a demo Editor reaches no other service of this machine.
            settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = [sandbox.serve_tls()]
            settings.PORTAL_ISSUER_CHECK_CA_FILE = sandbox.ca_file
            client.cache_clear()
            self._waiting_change_request(sandbox)
            self._banner(port, sandbox, passwords, audit_stream)
            try:
                call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, skip_checks=True)
            except KeyboardInterrupt:
                pass
            finally:
                self.stdout.write("Portal and sandbox stopped.")

    def _refuse_outside_development(self) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "The demo runs only with DEBUG=true: it creates sign-in accounts and prints their passwords."
            )
        configured = (
            settings.POLYTOMIC_API_URL if os.environ.keys() & {"POLYTOMIC_API_URL", "POLYTOMIC_API_URL_FILE"} else ""
        )
        if configured and not is_loopback(urlsplit(configured).hostname or ""):
            raise CommandError(
                f"POLYTOMIC_API_URL is set to {configured}: the demo only runs against its own sandbox. "
                "Unset POLYTOMIC_API_URL to run it."
            )
        if connection.vendor != "sqlite":
            raise CommandError("The demo runs on the default SQLite database: unset DATABASE_URL to run it.")

    def _demo_accounts(self) -> dict[str, str]:
        """One account per role, each with a new random password every run."""
        passwords = {}
        with transaction.atomic():
            for username, role, _ in DEMO_ACCOUNTS:
                user, _ = User.objects.get_or_create(username=username)
                passwords[username] = secrets.token_urlsafe(12)
                user.set_password(passwords[username])
                user.is_active = True
                user.save()
                user.groups.set([Group.objects.get(name=role)])
        return passwords

    def _waiting_change_request(self, sandbox: RunningSandbox) -> None:
        """demo-editor asks to remove Globex's OIDC: demo-admin finds it under Changes."""
        if ChangeRequest.objects.filter(status__in=ChangeRequest.OPEN).exists():
            return
        stored = sandbox.sandbox.organizations[GLOBEX_ID]
        globex = Organization(id=GLOBEX_ID, **{field.name: getattr(stored, field.name) or "" for field in READABLE})
        without_oidc = OrganizationInput(
            **{**globex.values(), **{field.name: "" for field in in_section(Section.OIDC)}}
        )
        requesting.request_update(
            context=AuditContext(actor=User.objects.get(username="demo-editor")),
            organization=globex,
            data=without_oidc,
            summary=edit_guard.summarise(before=globex, after=without_oidc).as_record(),
            reason="Globex is moving off Okta next week; their IT asked to turn OIDC off first (demo request).",
        )

    def _audit_stream_beside_the_database(self) -> str:
        """Where the audit stream goes. Unless AUDIT_STREAM_FILE names a file, it is standard
        output: in the demo its JSON lines would come before the banner and among the server's
        log, so they go to a file beside the demo's database instead (its stream, still whole)."""
        if settings.AUDIT_STREAM_FILE:
            return settings.AUDIT_STREAM_FILE
        path = Path(connection.settings_dict["NAME"]).with_name("audit-stream.jsonl")
        handler = {"class": "logging.handlers.WatchedFileHandler", "filename": str(path), "formatter": "line"}
        # In the settings, since the development server sets up logging from them again.
        settings.LOGGING = {**settings.LOGGING, "handlers": {**settings.LOGGING["handlers"], "audit_stream": handler}}
        logging.config.dictConfig(settings.LOGGING)
        return str(path)

    def _banner(self, port: int, sandbox: RunningSandbox, passwords: dict[str, str], audit_stream: str) -> None:
        lines = [
            "",
            "Partner organization portal: demo",
            f"  Portal:   http://127.0.0.1:{port}/",
            f"  Sandbox:  {sandbox.url} (stands in for Polytomic; nothing leaves this machine)",
            f"  OIDC issuers to check: {sandbox.tls_url}/_idp/good (answers as expected),"
            f" {sandbox.tls_url}/_idp/trailing-slash (names itself with a trailing slash)",
            "  Sign in as:",
            *(
                f"    {username:<12} password {passwords[username]}   ({role}: {can})"
                for username, role, can in DEMO_ACCOUNTS
            ),
            (
                "  They have no second factor: with DEBUG on, PORTAL_REQUIRE_MFA is off. In production every"
                " local account must set one up at its first sign-in."
                if not settings.PORTAL_REQUIRE_MFA
                else "  Each sets up a second factor at its first sign-in (PORTAL_REQUIRE_MFA is on)."
            ),
            "  demo-editor's request to remove Globex's OIDC waits under Changes for demo-admin's approval.",
            f"  Audit stream (one JSON line per entry): {audit_stream}",
            "  Ctrl-C stops the portal and the sandbox.",
            "",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()
