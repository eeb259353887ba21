"""A real OpenID provider on loopback for the staff sign-in tests: the npm package `oidc-provider`
(tests/oidc/provider.mjs, installed by `npm ci --prefix tests/oidc`), started once and stopped
by process id."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import requests

from devtools.support import free_port, wait_until_listening

OIDC_DIR = Path(__file__).resolve().parents[1] / "oidc"
CLIENT_ID = "organization-portal"
CLIENT_SECRET = "test-oidc-client-secret-7d2f4b9c1e"


class OpenIDProvider:
    def __init__(self, workdir: Path, portal_url: str) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.accounts_file = workdir / "accounts.json"
        self.log = workdir / "openid-provider.log"
        self.portal_url = portal_url
        self.process: subprocess.Popen | None = None

    def start(self) -> OpenIDProvider:
        node = shutil.which("node")
        if node is None or not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
            pytest.fail("The test OpenID provider needs Node and `npm ci --prefix tests/oidc` (README, Run the tests)")
        self.set_accounts({})
        env = {
            "PATH": os.environ["PATH"],
            "PORT": str(self.port),
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_SECRET": CLIENT_SECRET,
            "REDIRECT_URI": f"{self.portal_url}/accounts/oidc/company/login/callback/",
            "POST_LOGOUT_REDIRECT_URI": f"{self.portal_url}/accounts/login/",
            "ACCOUNTS_FILE": str(self.accounts_file),
        }
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [node, str(OIDC_DIR / "provider.mjs")], cwd=OIDC_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        if not wait_until_listening(f"{self.issuer}/.well-known/openid-configuration", seconds=30):
            self.stop()
            pytest.fail(f"The test OpenID provider did not start:\n{self.log.read_text()}")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def set_accounts(self, accounts: dict[str, dict]) -> None:
        """The staff the provider knows, by subject: email, name and groups; read at each sign-in."""
        self.accounts_file.write_text(json.dumps(accounts))

    def misbehave(self, kind: str) -> None:
        """The next ID token comes back changed (`audience`, `issuer`, `expired`, `nonce`) or
        signed with a key the provider does not publish (`signature`)."""
        answer = requests.post(f"{self.issuer}/_test/fault", json={"kind": kind}, timeout=10)
        assert answer.json() == {"fault": kind}

    def portal_settings(self, settings, *, label: str = "Test IdP") -> None:
        """Points the portal's settings at this provider (tests' `settings` fixture)."""
        settings.PORTAL_OIDC_ISSUER = self.issuer
        settings.PORTAL_OIDC_LABEL = label
        settings.PORTAL_OIDC_ROLE_GROUPS = {
            "Admin": ["portal-admins"],
            "Editor": ["portal-editors"],
            "Viewer": ["portal-viewers"],
        }
        providers = {**settings.SOCIALACCOUNT_PROVIDERS}
        providers["openid_connect"] = {
            **providers["openid_connect"],
            "APPS": [
                {
                    "provider_id": "company",
                    "name": label,
                    "client_id": CLIENT_ID,
                    "secret": CLIENT_SECRET,
                    "settings": {"server_url": self.issuer, "scope": ["openid", "profile", "email", "groups"]},
                }
            ],
        }
        settings.SOCIALACCOUNT_PROVIDERS = providers
        policy = {**settings.CONTENT_SECURITY_POLICY}
        directives = {**policy["DIRECTIVES"], "form-action": [*policy["DIRECTIVES"]["form-action"], self.issuer]}
        settings.CONTENT_SECURITY_POLICY = {**policy, "DIRECTIVES": directives}
