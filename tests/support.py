"""Helpers the test modules share (none imports another)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver

BASE_DIR = Path(__file__).resolve().parent.parent


def run_python(*arguments: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs `python *arguments` in the project's directory with only `env`, and waits for it:
    the one way tests run a short-lived process of the portal's."""
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


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


def named_url_patterns(patterns=None, namespace: str = ""):
    """(name, pattern) for every named URL pattern of the project, namespaces included."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from named_url_patterns(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", entry
