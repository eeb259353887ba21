"""The audit walk's worker pool: its fork server only imports libraries; each worker sets Django up."""

from __future__ import annotations

import subprocess
import sys

from audit.worker_pool import PRELOADED
from tests.support import BASE_DIR, production_env


class PreloadTests:
    def test_the_fork_servers_imports_set_nothing_up(self):
        """What the fork server imports has no side effect: Django stays unset until a worker's
        own entry point sets it up."""
        probe = (
            f"import {', '.join(PRELOADED)}\n"
            "from django.apps import apps\n"
            "from django.conf import settings\n"
            "print(apps.ready, settings.configured)\n"
        )
        answer = subprocess.run(
            [sys.executable, "-c", probe], cwd=BASE_DIR, env=production_env(), capture_output=True, text=True,
            timeout=60, check=True,
        )  # fmt: skip
        assert answer.stdout.split() == ["False", "False"]

    def test_only_libraries_are_preloaded(self):
        ours = {"audit", "orgadmin", "staff", "portal", "devtools"}
        assert not [name for name in PRELOADED if name.split(".")[0] in ours]
