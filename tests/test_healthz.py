from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.support import run_python
from tests.support import production_env

BASE_DIR = Path(__file__).resolve().parent.parent


class HealthzTests:
    @pytest.mark.django_db
    def test_answers_ok_without_sign_in(self, client):
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok"}
        assert response["Cache-Control"] == "no-store"

    @pytest.mark.django_db
    def test_answers_a_probe_by_address_over_plain_http(self, client, settings):
        """Load balancers call the instance by IP: ALLOWED_HOSTS and the HTTPS redirect must not refuse them."""
        settings.SECURE_SSL_REDIRECT = True
        response = client.get("/healthz", HTTP_HOST="10.20.30.40:8000")
        assert response.status_code == 200

    @pytest.mark.django_db
    def test_refuses_other_methods(self, client):
        response = client.post("/healthz")
        assert response.status_code == 405
        assert response["Allow"] == "GET, HEAD"

    def test_answers_503_when_the_database_is_unreachable(self, tmp_path):
        """A fresh process whose database cannot be opened: a real failure, not a patched one."""
        code = (
            "import django, json; django.setup(); from django.test import Client; "
            "r = Client().get('/healthz'); print(json.dumps([r.status_code, r.json()]))"
        )
        env = production_env(
            ALLOWED_HOSTS="testserver", DATABASE_URL=f"sqlite:///{tmp_path / 'missing-directory' / 'db.sqlite3'}"
        )
        result = run_python("-c", code, env=env, timeout=60)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == [503, {"status": "unavailable", "database": "unreachable"}]
