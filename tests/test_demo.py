"""`manage.py demo`: the README's run command, started as a newcomer would, and its refusals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from devtools.sandbox import PARTNER_KEY
from devtools.support import free_port, run_python, wait_until_listening

BASE_DIR = Path(__file__).resolve().parent.parent


def demo_env(tmp_path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "PYTHONUNBUFFERED": "1",
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        **extra,
    }


class DemoProcess:
    """The demo command in a child process, its output collected by a reader thread."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "demo", "--port", str(port)],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self.printed = threading.Condition()  # notified at each line, and when the output ends
        self.ended = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with self.printed:
                self.output.append(line)
                self.printed.notify_all()
        with self.printed:
            self.ended = True
            self.printed.notify_all()

    def wait_for(self, text: str, seconds: float = 60) -> str:
        with self.printed:
            found = self.printed.wait_for(lambda: self.ended or text in "".join(self.output), timeout=seconds)
            joined = "".join(self.output)
        if not found or text not in joined:
            pytest.fail(f"the demo did not print {text!r}:\n{joined}")
        return joined

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


class DemoTests:
    def test_the_demo_serves_the_portal_against_the_sandbox_until_ctrl_c(self, tmp_path):
        port = free_port()
        demo = DemoProcess(demo_env(tmp_path), port)
        try:
            banner = demo.wait_for("Ctrl-C stops the portal and the sandbox.")
            # The banner comes first: nothing before it, the audit stream's JSON lines least of all.
            assert banner[: banner.index("Partner organization portal: demo")].strip() == ""
            audit_stream = Path(re.search(r"Audit stream \(one JSON line per entry\): (\S+)", banner).group(1))
            accounts = dict(re.findall(r"^\s+(demo-\w+)\s+password (\S+)", banner, flags=re.MULTILINE))
            assert set(accounts) == {"demo-viewer", "demo-editor", "demo-admin"}
            assert "They have no second factor: with DEBUG on, PORTAL_REQUIRE_MFA is off." in banner
            assert "request to remove Globex's OIDC waits under Changes" in banner
            sandbox_url = re.search(r"Sandbox:\s+(http://127\.0\.0\.1:\d+)", banner).group(1)
            portal = f"http://127.0.0.1:{port}"
            assert wait_until_listening(f"{portal}/healthz"), "the portal did not start"

            # The sandbox the portal points at answers like Polytomic, on loopback.
            listed = requests.get(
                f"{sandbox_url}/api/organizations", headers={"Authorization": f"Bearer {PARTNER_KEY}"}, timeout=5
            )
            assert listed.json()["data"][0]["name"] == "Northwind Partners"

            with requests.Session() as browser:
                browser.get(f"{portal}/accounts/login/", timeout=10)
                signed_in = browser.post(
                    f"{portal}/accounts/login/",
                    data={
                        "login": "demo-editor",
                        "password": accounts["demo-editor"],
                        "csrfmiddlewaretoken": browser.cookies["csrftoken"],
                    },
                    timeout=10,
                )
                assert signed_in.url == f"{portal}/organizations/"
                assert 'title="Your role">Editor<' in signed_in.text
                stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', signed_in.text).group(1)
                assert browser.get(f"{portal}{stylesheet}", timeout=10).status_code == 200
                queue = browser.get(f"{portal}/changes/", timeout=10).text
                assert "Globex" in queue
                assert "Waiting for approval" in queue
                # The banner's test issuer, checked by the portal over https on loopback.
                issuer = re.search(r"(https://127\.0\.0\.1:\d+/_idp/good)", banner).group(1)
                checked = browser.post(
                    f"{portal}/organizations/check-issuer/",
                    data={"issuer": issuer},
                    headers={"X-CSRFToken": browser.cookies["csrftoken"], "Referer": f"{portal}/onboarding/new/"},
                    timeout=10,
                )
                assert "The issuer answers as expected" in checked.text
                # That origin alone: not the sandbox's plain http, not another service on loopback.
                for elsewhere, says in (
                    (f"{sandbox_url}/_idp/good", "must be an https:// URL"),
                    (f"https://127.0.0.1:{port}", "not a public address"),
                ):
                    refused = browser.post(
                        f"{portal}/organizations/check-issuer/",
                        data={"issuer": elsewhere},
                        headers={"X-CSRFToken": browser.cookies["csrftoken"], "Referer": f"{portal}/onboarding/new/"},
                        timeout=10,
                    )
                    assert says in refused.text
        finally:
            returncode = demo.stop()
        assert returncode == 0, "".join(demo.output)
        assert "Portal and sandbox stopped." in "".join(demo.output)
        # The stream is whole, in its file beside the demo's database, and none of it on the console.
        assert audit_stream.parent == tmp_path
        actions = [json.loads(line)["action"] for line in audit_stream.read_text().splitlines()]
        assert "change.request" in actions
        assert "issuer.check" in actions
        assert not [line for line in demo.output if line.lstrip().startswith("{")]
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{sandbox_url}/api/organizations", timeout=2)

    def test_a_second_run_gives_new_passwords(self, tmp_path):
        passwords = []
        for _ in range(2):
            demo = DemoProcess(demo_env(tmp_path), free_port())
            try:
                banner = demo.wait_for("Ctrl-C stops")
                passwords.append(re.search(r"demo-admin\s+password (\S+)", banner).group(1))
            finally:
                demo.stop()
        assert passwords[0] != passwords[1]


def run_demo(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_python("manage.py", "demo", "--port", str(free_port()), env=env, timeout=60)


class DemoRefusalTests:
    @pytest.mark.parametrize(
        ("devtools", "said"),
        [("", "Unknown command: 'demo'"), ("true", "The demo runs only with DEBUG=true")],
        ids=["as-in-production", "devtools-forced-on"],
    )
    def test_refuses_with_debug_off(self, tmp_path, devtools, said):
        """With DEBUG off the development tools are not installed; forced on, the demo still refuses."""
        env = demo_env(
            tmp_path,
            DEBUG="false",
            SECRET_KEY="demo-refusal-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            POLYTOMIC_PARTNER_API_KEY="real-looking-key",
            AUDIT_CHAIN_KEY="real-looking-chain-key",
            ALLOWED_HOSTS="portal.example.com",
            PORTAL_DEVTOOLS=devtools,
        )
        result = run_demo(env)
        assert result.returncode == 1
        assert said in result.stderr
        assert not (tmp_path / "demo.sqlite3").exists()

    @pytest.mark.parametrize("url", ["https://app.polytomic.com", "https://polytomic.internal.example"])
    def test_refuses_a_real_polytomic_url(self, tmp_path, url):
        result = run_demo(demo_env(tmp_path, POLYTOMIC_API_URL=url))
        assert result.returncode == 1
        assert f"POLYTOMIC_API_URL is set to {url}" in result.stderr
        assert not (tmp_path / "demo.sqlite3").exists()

    def test_refuses_a_database_other_than_sqlite(self, tmp_path):
        result = run_demo(demo_env(tmp_path, DATABASE_URL="postgres://nobody@127.0.0.1:9/none"))
        assert result.returncode == 1
        assert "unset DATABASE_URL" in result.stderr
