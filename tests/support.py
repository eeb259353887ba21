"""Helpers for tests and benchmark scripts that start servers on loopback."""

from __future__ import annotations

import html
import os
import re
import socket
import time

import requests


def production_env(**variables: str) -> dict[str, str]:
    """The environment of a fresh portal process with DEBUG off: only PATH, the settings module,
    throwaway values of the secrets that production requires, and `variables`."""
    return {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": "subprocess-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "POLYTOMIC_PARTNER_API_KEY": "subprocess-test-partner-key",
        "AUDIT_CHAIN_KEY": "subprocess-test-audit-chain-key",
        **variables,
    }


def free_port() -> int:
    """A loopback port nothing listens on (at the moment of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(url: str, seconds: float = 30) -> bool:
    """Polls `url` until anything answers; False if nothing did within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return True
        except requests.ConnectionError:
            time.sleep(0.2)
    return False


def hidden_field(page: str, name: str) -> str:
    """The value of a form's hidden (or any) input named `name` in a rendered page."""
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no input named {name} in the page"
    return html.unescape(match.group(1))
