from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import override_settings

from tests.factories import make_user


@pytest.fixture(scope="session", autouse=True)
def _collected_static(tmp_path_factory: pytest.TempPathFactory):
    """Pages render with the production static storage (hashed names from a manifest), as they do
    under gunicorn, so a template naming a missing static file fails here rather than in production."""
    static_root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=static_root):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield


@pytest.fixture
def viewer(db):
    return make_user("vera", role="Viewer")


@pytest.fixture
def editor(db):
    return make_user("ed", role="Editor")


@pytest.fixture
def admin_user(db):
    return make_user("ada", role="Admin")
