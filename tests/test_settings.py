"""Settings come from the environment; a missing secret stops start-up with a message naming it.

Settings are read once per process, so each case starts a fresh Python with exactly the
environment it describes.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from devtools.support import run_python

BASE_DIR = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "SECRET_KEY": "k7#Qz!x2Lr9@Vb4^Nw6&Tp1*Hs8(Jd3)Fg5_Mc0+Ya7-Ue2=Oi9~Pl4",
    "POLYTOMIC_PARTNER_API_KEY": "partner-key-for-settings-tests",
    "AUDIT_CHAIN_KEY": "audit-chain-key-for-settings-tests",
    "ALLOWED_HOSTS": "portal.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://portal.example.com",
}


def run_code(code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Runs Python in the project with only the given variables (and PATH) set."""
    clean_env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "portal.settings", **env}
    return run_python(*(["-c", code] if code else []), *args, env=clean_env, timeout=60)


def read_setting(expression: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Prints a Python expression over the names of the settings module, evaluated in a fresh process."""
    code = (
        "import django; django.setup(); from django.conf import settings; "
        f"print(eval({expression!r}, {{}}, {{n: getattr(settings, n) for n in dir(settings) if n.isupper()}}))"
    )
    return run_code(code, env)


class RequiredSecretTests:
    @pytest.mark.parametrize("name", ["SECRET_KEY", "POLYTOMIC_PARTNER_API_KEY", "AUDIT_CHAIN_KEY"])
    def test_missing_secret_stops_start_up_naming_it(self, name):
        env = {key: value for key, value in PRODUCTION_ENV.items() if key != name}
        result = read_setting("DEBUG", env)
        assert result.returncode != 0
        assert "ImproperlyConfigured" in result.stderr
        assert name in result.stderr.strip().splitlines()[-1]

    @pytest.mark.parametrize("name", ["SECRET_KEY", "POLYTOMIC_PARTNER_API_KEY", "AUDIT_CHAIN_KEY"])
    def test_blank_secret_stops_start_up_naming_it(self, name):
        result = read_setting("DEBUG", {**PRODUCTION_ENV, name: "   "})
        assert result.returncode != 0
        assert name in result.stderr.strip().splitlines()[-1]

    def test_debug_runs_without_secrets(self):
        result = read_setting("POLYTOMIC_PARTNER_API_KEY == ''", {"DEBUG": "true"})
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "True"


class PartnerKeyFileTests:
    def test_key_is_read_from_the_named_file_without_its_newline(self, tmp_path):
        key_file = tmp_path / "partner-key"
        key_file.write_text("key-from-a-mounted-secret\n")
        env = {k: v for k, v in PRODUCTION_ENV.items() if k != "POLYTOMIC_PARTNER_API_KEY"}
        env["POLYTOMIC_PARTNER_API_KEY_FILE"] = str(key_file)
        result = read_setting("POLYTOMIC_PARTNER_API_KEY == 'key-from-a-mounted-secret'", env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "True"

    def test_unreadable_key_file_stops_start_up_naming_the_variable(self, tmp_path):
        env = {**PRODUCTION_ENV, "POLYTOMIC_PARTNER_API_KEY_FILE": str(tmp_path / "missing")}
        result = read_setting("DEBUG", env)
        assert result.returncode != 0
        assert "POLYTOMIC_PARTNER_API_KEY_FILE" in result.stderr.strip().splitlines()[-1]


class DefaultsTests:
    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ("DEBUG", "False"),
            ("POLYTOMIC_API_URL", "https://app.polytomic.com"),
            ("POLYTOMIC_API_VERSION", "2025-09-18"),
            ("(POLYTOMIC_CONNECT_TIMEOUT, POLYTOMIC_READ_TIMEOUT)", "(3.05, 15.0)"),
            ("DATABASES['default']['ENGINE']", "django.db.backends.sqlite3"),
            ("str(DATABASES['default']['NAME']).endswith('/db.sqlite3')", "True"),
            ("SESSION_COOKIE_AGE", "1800"),
            ("(SESSION_COOKIE_SECURE, CSRF_COOKIE_SECURE)", "(True, True)"),
        ],
    )
    def test_default(self, expression, expected):
        result = read_setting(expression, PRODUCTION_ENV)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == expected

    def test_environment_overrides(self):
        env = {
            **PRODUCTION_ENV,
            "POLYTOMIC_API_URL": "https://polytomic.internal.example/",
            "POLYTOMIC_API_VERSION": "2026-01-01",
            "POLYTOMIC_CONNECT_TIMEOUT": "1.5",
            "POLYTOMIC_READ_TIMEOUT": "4",
            "DATABASE_URL": "postgres://portal:pw@db.internal:5432/portal",
        }
        expression = (
            "(POLYTOMIC_API_URL, POLYTOMIC_API_VERSION, POLYTOMIC_CONNECT_TIMEOUT, POLYTOMIC_READ_TIMEOUT,"
            " DATABASES['default']['ENGINE'], DATABASES['default']['HOST'])"
        )
        result = read_setting(expression, env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == (
            "('https://polytomic.internal.example', '2026-01-01', 1.5, 4.0,"
            " 'django.db.backends.postgresql', 'db.internal')"
        )


class DeployCheckTests:
    def test_production_settings_pass_the_deploy_check(self, tmp_path):
        env = {**PRODUCTION_ENV, "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}"}
        result = run_code("", env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
        assert result.returncode == 0, result.stderr
        assert "System check identified no issues" in result.stdout

    @pytest.mark.parametrize(
        ("variables", "problem"),
        [
            ({"PORTAL_REQUIRE_MFA": "false"}, "staff.W001"),
            ({"OIDC_ISSUER": "http://idp.example", "OIDC_CLIENT_ID": "p", "OIDC_CLIENT_SECRET": "s",
              "OIDC_VIEWER_GROUPS": "staff"}, "staff.E001"),
            ({"OIDC_ISSUER": "https://idp.example", "OIDC_CLIENT_ID": "p", "OIDC_CLIENT_SECRET": "s"}, "staff.W002"),
            ({"ISSUER_CHECK_ALLOW_LOOPBACK": "true"}, "orgadmin.W002"),
            ({"CACHE_URL": "locmemcache://"}, "staff.W003"),
            ({"CACHE_URL": "dummycache://"}, "staff.W003"),
        ],
    )  # fmt: skip
    def test_the_deploy_check_catches_weak_staff_sign_in(self, tmp_path, variables, problem):
        env = {**PRODUCTION_ENV, **variables, "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}"}
        result = run_code("", env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
        assert result.returncode != 0
        assert problem in result.stderr

    def test_the_deploy_check_catches_debug(self, tmp_path):
        env = {**PRODUCTION_ENV, "DEBUG": "true", "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}"}
        result = run_code("", env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
        assert result.returncode != 0
        assert "security.W018" in result.stderr


class CacheTests:
    """Where the sign-in protections' shared state lives (settings, "Cache")."""

    SHOWN = "(CACHES['default']['BACKEND'], CACHES['default']['LOCATION'], CACHES['default']['KEY_PREFIX'])"

    def test_the_default_is_a_table_of_the_database(self):
        result = read_setting(self.SHOWN, PRODUCTION_ENV)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(("django.core.cache.backends.db.DatabaseCache", "portal_cache", "portal"))

    @pytest.mark.parametrize(
        ("url", "location", "prefix"),
        [
            ("redis://cache.internal:6379/2", "redis://cache.internal:6379/2", "portal"),
            ("rediss://cache.internal:6380/0?key_prefix=staging", "rediss://cache.internal:6380/0", "staging"),
        ],
    )
    def test_a_redis_url_takes_djangos_own_backend(self, url, location, prefix, tmp_path):
        # Even where django-redis is installed, which django-environ would pick instead.
        (tmp_path / "django_redis").mkdir()
        (tmp_path / "django_redis" / "__init__.py").write_text("")
        result = read_setting(self.SHOWN, {**PRODUCTION_ENV, "CACHE_URL": url, "PYTHONPATH": str(tmp_path)})
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(("django.core.cache.backends.redis.RedisCache", location, prefix))


class EnvExampleTests:
    def test_lists_every_variable_the_portal_reads(self):
        sources = (BASE_DIR / "portal" / "settings.py").read_text() + (
            BASE_DIR / "deploy" / "gunicorn.conf.py"
        ).read_text()
        read = set(re.findall(r'(?:env\.\w+|_required_secret|os\.environ\.get)\(\s*"([A-Z_]+)"', sources))
        assert len(read) > 20  # the pattern still finds them
        listed = set(re.findall(r"^#? ?([A-Z_]+)=", (BASE_DIR / ".env.example").read_text(), flags=re.MULTILINE))
        assert read - listed == set()
