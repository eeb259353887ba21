"""Helpers for tests that start a fresh portal process."""

from __future__ import annotations

import os


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
