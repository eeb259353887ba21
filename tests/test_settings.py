"""Settings come from the environment; a missing secret stops start-up with a message naming it.

Settings are read once per process, so each case starts a fresh Python with exactly the
environment it describes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from devtools.support import free_port, run_python

BASE_DIR = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "SECRET_KEY": "k7#Qz!x2Lr9@Vb4^Nw6&Tp1*Hs8(Jd3)Fg5_Mc0+Ya7-Ue2=Oi9~Pl4",
    "POLYTOMIC_PARTNER_API_KEY": "partner-key-for-settings-tests",
    "AUDIT_CHAIN_KEY": "audit-chain-key-for-settings-tests",
    "ALLOWED_HOSTS": "portal.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://portal.example.com",
}

# The company's identity provider, as a deployment names it.
IDENTITY_PROVIDER = {
    "PORTAL_OIDC_ISSUER": "https://idp.example",
    "PORTAL_OIDC_CLIENT_ID": "portal",
    "PORTAL_OIDC_CLIENT_SECRET": "client-secret-for-settings-tests",
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


def setting_value(expression: str, env: dict[str, str]) -> str:
    """What `read_setting` prints, once the settings loaded."""
    result = read_setting(expression, env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


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
            ({**IDENTITY_PROVIDER, "PORTAL_OIDC_ISSUER": "http://idp.example", "PORTAL_OIDC_VIEWER_GROUPS": "staff"},
             "staff.E001"),
            (IDENTITY_PROVIDER, "staff.W002"),
            ({"PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS": "https://127.0.0.1:8443"}, "orgadmin.W002"),
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


SETTINGS_SOURCE = "\n".join(path.read_text() for path in sorted((BASE_DIR / "portal" / "settings").glob("*.py")))
# Every variable the settings read as a boolean, a number, one of a fixed set, a URL of a known
# scheme or a list of networks, with the rest of its call.
STRICT_READS = re.findall(
    r'env\.(bool|int|float|choices?|time_zone|service_url|networks)\(\s*"([A-Z_]+)"([^\n]*)', SETTINGS_SOURCE
)

LOAD_EACH = """
import json, os, sys
from django.core.exceptions import ImproperlyConfigured
base = dict(os.environ)
outcomes = {}
for case, variables in json.loads(sys.argv[1]).items():
    os.environ.clear()
    os.environ.update(base | variables)
    for module in [name for name in sys.modules if name == "portal.settings" or name.startswith("portal.settings.")]:
        del sys.modules[module]
    try:
        import portal.settings
    except ImproperlyConfigured as exc:
        outcomes[case] = str(exc)
    else:
        outcomes[case] = "started"
print(json.dumps(outcomes))
"""


def load_each(cases: dict[str, dict[str, str]]) -> dict[str, str]:
    """Loads the settings afresh once per case, in one new process, each time with exactly the
    production environment and the case's variables; says for each what stopped it, or "started"."""
    result = run_code(LOAD_EACH, PRODUCTION_ENV, json.dumps(cases))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def bad_values(kind: str, rest: str) -> list[str]:
    """Values a variable read by `env.<kind>(...<rest>` must refuse."""
    if kind == "bool":
        return ["ture", "yes please", "2", "enabled"]
    if kind == "int":
        minimum = int(re.search(r"minimum=(\d+)", rest).group(1))
        return [str(minimum - 1), "ten", "1.5", "3s"]
    if kind == "float":
        return ["0", "-1", "3s", "nan", "inf"]
    if kind == "time_zone":
        return ["Mars/Olympus_Mons", "../etc/passwd", "CEST+1"]
    if kind == "service_url":
        return ["postgress://db.internal/portal", "mysql://db.internal/portal", "memcache://cache:11211", "db.internal"]
    if kind == "networks":
        return ["10.0.0.0/33", "proxy.internal", "10.0.0.1, nonsense"]
    return ["no-such-value", "remove_sso", "remove-sso, change_sso", "remove-sso;delete", ",", "REMOVE-SSO", "10"]


class StrictValueTests:
    """A value the portal does not understand stops start-up, naming the variable, the value and
    what is allowed, instead of switching a safeguard off (`PORTAL_FOUR_EYES=ture` read as false)."""

    def test_every_boolean_number_and_enumeration_is_read_strictly(self):
        kinds = {kind for kind, _, _ in STRICT_READS}
        # The pattern still finds each kind.
        assert kinds == {"bool", "int", "float", "choice", "choices", "time_zone", "service_url", "networks"}
        for kind, name, rest in STRICT_READS:
            if kind == "int":
                assert "minimum=" in rest, f"{name} is a number without a bound"
            if kind == "float":
                assert "positive=True" in rest, f"{name} is a number without a bound"
        fixed_sets = {"choice", "choices", "time_zone", "service_url"}
        enumerated = {name for kind, name, _ in STRICT_READS if kind in fixed_sets}
        assert enumerated >= {"PORTAL_APPROVAL_FOR", "LOG_LEVEL", "TIME_ZONE", "DATABASE_URL", "CACHE_URL"}

    def test_each_bad_value_stops_start_up_naming_variable_value_and_what_is_allowed(self):
        cases = {
            f"{name}={value}": {name: value} for kind, name, rest in STRICT_READS for value in bad_values(kind, rest)
        }
        outcomes = load_each(cases)
        for case, variables in cases.items():
            [(name, value)] = variables.items()
            assert outcomes[case].startswith(f"{name}={value.strip()!r} is not allowed: "), (case, outcomes[case])
            assert " use " in outcomes[case]  # and what is

    @pytest.mark.parametrize(
        ("variables", "fragment"),
        [
            ({"PORTAL_APPROVAL_FOR": "remove_sso"},
             "'remove_sso' is unknown; use a comma-separated list of remove-sso, change-sso, delete"),
            ({"PORTAL_FOUR_EYES": "ture"}, "use true or false (also yes/no, on/off, 1/0, in any case)"),
            ({"LOG_LEVEL": "verbose"}, "use one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
            ({"PORTAL_SESSION_IDLE_MINUTES": "0"}, "use a whole number of 1 or more"),
            ({"PORTAL_TRUSTED_PROXY_COUNT": "-1"}, "use a whole number of 0 or more"),
            ({"PORTAL_SETUP_LINK_HOURS": "169"}, "use a whole number of 1 or more and of 168 or less"),
            ({"PORTAL_SETUP_LINK_HOURS": "0"}, "use a whole number of 1 or more and of 168 or less"),
            ({"POLYTOMIC_READ_TIMEOUT": "0"}, "use a number above 0"),
            ({"TIME_ZONE": "Mars/Olympus_Mons"}, "use an IANA time zone name, e.g. UTC or Europe/Berlin"),
            ({"DATABASE_URL": "postgress://db.internal/portal"},
             "use a URL starting postgres://, postgresql://, sqlite://"),
            ({"CACHE_URL": "rediscache://cache.internal"},
             "use a URL starting dbcache://, redis://, rediss://, locmemcache://, dummycache://"),
            ({"PORTAL_TRUSTED_PROXY_NETWORKS": "10.0.0.0/8,proxy.internal"},
             "use IP addresses or networks, comma-separated ('proxy.internal' does not appear to be"),
        ],
    )  # fmt: skip
    def test_the_message_says_what_is_allowed(self, variables, fragment):
        assert fragment in load_each({"case": variables})["case"]

    def test_a_refused_url_never_shows_its_password(self):
        message = load_each({"case": {"DATABASE_URL": "postgress://portal:hunter2@db.internal/portal"}})["case"]
        assert message.startswith("DATABASE_URL='<a URL with a password>' is not allowed: use a URL starting")
        assert "hunter2" not in message

    def test_spaces_around_values_are_trimmed_and_the_usual_spellings_accepted(self):
        env = {
            **PRODUCTION_ENV,
            "PORTAL_APPROVAL_FOR": " remove-sso , change-sso,delete ",
            "PORTAL_FOUR_EYES": " TRUE ",
            "PORTAL_REQUIRE_MFA": "Yes",
            "SECURE_HSTS_PRELOAD": "off",
            "PORTAL_LOCAL_SIGNIN": "0",
            "LOG_LEVEL": " warning ",
            "PORTAL_SESSION_IDLE_MINUTES": " 45 ",
            "POLYTOMIC_READ_TIMEOUT": "4.5",
            "TIME_ZONE": " Europe/Berlin ",
        }
        expression = (
            "(PORTAL_APPROVAL_FOR, PORTAL_FOUR_EYES, PORTAL_REQUIRE_MFA, SECURE_HSTS_PRELOAD, PORTAL_LOCAL_SIGNIN,"
            " LOGGING['root']['level'], SESSION_COOKIE_AGE, POLYTOMIC_READ_TIMEOUT, TIME_ZONE)"
        )
        assert setting_value(expression, env) == (
            "(['remove-sso', 'change-sso', 'delete'], True, True, False, False, 'WARNING', 2700, 4.5, 'Europe/Berlin')"
        )

    def test_a_refused_fernet_key_is_never_shown(self):
        """PORTAL_OIDC_CREDENTIALS_KEYS holds secrets: the refusal names the key's place, not the key."""
        good = "x" * 43 + "="  # 32 bytes in URL-safe base64
        message = load_each({"case": {"PORTAL_OIDC_CREDENTIALS_KEYS": f"{good}, not-a-key-hunter2"}})["case"]
        assert message.startswith("PORTAL_OIDC_CREDENTIALS_KEYS: key 2 is not a Fernet key")
        assert "hunter2" not in message
        assert good not in message
        assert setting_value("PORTAL_OIDC_CREDENTIALS_KEYS", {**PRODUCTION_ENV, "PORTAL_OIDC_CREDENTIALS_KEYS": good})

    def test_an_empty_value_is_the_safe_default(self):
        env = {**PRODUCTION_ENV, "PORTAL_APPROVAL_FOR": "", "PORTAL_FOUR_EYES": " ", "LOG_LEVEL": ""}
        expression = "(PORTAL_APPROVAL_FOR, PORTAL_FOUR_EYES, LOGGING['root']['level'])"
        assert setting_value(expression, env) == "(['remove-sso', 'change-sso', 'delete'], True, 'INFO')"

    def test_a_subset_of_approvals_is_kept(self):
        env = {**PRODUCTION_ENV, "PORTAL_APPROVAL_FOR": "delete,"}
        assert setting_value("PORTAL_APPROVAL_FOR", env) == "['delete']"

    @pytest.mark.parametrize(
        "command",
        [["check"], ["check", "--deploy"], ["migrate"], ["runserver", "--noreload"], ["check", "--skip-checks"]],
    )
    def test_manage_py_refuses_to_run(self, tmp_path, command):
        database = tmp_path / "refused.sqlite3"
        env = {**PRODUCTION_ENV, "PORTAL_APPROVAL_FOR": "remove_sso", "DATABASE_URL": f"sqlite:///{database}"}
        args = [*command, f"127.0.0.1:{free_port()}"] if command[0] == "runserver" else command
        result = run_code("", env, "manage.py", *args)
        assert result.returncode != 0
        assert (
            result.stderr.strip()
            .splitlines()[-1]
            .endswith(
                "PORTAL_APPROVAL_FOR='remove_sso' is not allowed: 'remove_sso' is unknown; use a comma-separated "
                "list of remove-sso, change-sso, delete."
            )
        )
        assert not database.exists()


class MailSettingsTests:
    """Mail (portal/settings/mail.py): off without EMAIL_URL; with it, the SMTP server as its URL
    names it, and the sender and the portal's address required unless DEBUG."""

    MAIL = {
        "EMAIL_URL": "smtp+tls://portal%40partner.example:pa%2Fss@mail.partner.example",
        "DEFAULT_FROM_EMAIL": "Organization portal <portal@partner.example>",
        "PORTAL_BASE_URL": "https://portal.example.com/",
    }
    SHOWN = (
        "(PORTAL_MAIL_ON, EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT, EMAIL_USE_TLS, EMAIL_USE_SSL, EMAIL_HOST_USER,"
        " EMAIL_HOST_PASSWORD, EMAIL_TIMEOUT, DEFAULT_FROM_EMAIL, PORTAL_BASE_URL)"
    )

    def test_without_email_url_mail_is_off_and_django_sends_nothing(self):
        assert setting_value("(PORTAL_MAIL_ON, EMAIL_BACKEND)", PRODUCTION_ENV) == str(
            (False, "django.core.mail.backends.dummy.EmailBackend")
        )

    def test_the_server_is_read_from_its_url(self):
        assert setting_value(self.SHOWN, {**PRODUCTION_ENV, **self.MAIL}) == str((
            True, "django.core.mail.backends.smtp.EmailBackend", "mail.partner.example", 587, True, False,
            "portal@partner.example", "pa/ss", 10.0, "Organization portal <portal@partner.example>",
            "https://portal.example.com",
        ))  # fmt: skip

    @pytest.mark.parametrize(
        ("url", "port", "tls", "ssl"),
        [("smtp://mail.internal", 25, False, False), ("smtp://mail.internal:2525", 2525, False, False),
         ("smtp+ssl://mail.internal", 465, False, True)],
    )  # fmt: skip
    def test_the_port_follows_the_scheme_unless_named(self, url, port, tls, ssl):
        env = {**PRODUCTION_ENV, **self.MAIL, "EMAIL_URL": url}
        assert setting_value("(EMAIL_PORT, EMAIL_USE_TLS, EMAIL_USE_SSL)", env) == str((port, tls, ssl))

    def test_with_debug_the_sender_and_the_address_have_defaults(self):
        env = {"DEBUG": "true", "EMAIL_URL": "smtp://127.0.0.1:1025"}
        assert setting_value("(DEFAULT_FROM_EMAIL, PORTAL_BASE_URL)", env) == str(
            ("portal@localhost", "http://localhost:8000")
        )

    def test_what_stops_start_up(self):
        mail = self.MAIL
        cases = {
            "no address": {"EMAIL_URL": mail["EMAIL_URL"], "DEFAULT_FROM_EMAIL": mail["DEFAULT_FROM_EMAIL"]},
            "no sender": {"EMAIL_URL": mail["EMAIL_URL"], "PORTAL_BASE_URL": mail["PORTAL_BASE_URL"]},
            "smtps": {**mail, "EMAIL_URL": "smtps://portal:hunter2@mail.partner.example"},
            "options": {**mail, "EMAIL_URL": "smtp://mail.partner.example?ssl=False"},
            "no host": {**mail, "EMAIL_URL": "smtp+tls://portal:hunter2@:587"},
            "a path": {**mail, "PORTAL_BASE_URL": "https://portal.example.com/staff"},
            "plain http": {**mail, "PORTAL_BASE_URL": "http://portal.example.com"},
            "bad sender": {**mail, "DEFAULT_FROM_EMAIL": "the portal"},
        }
        outcomes = load_each(cases)
        assert outcomes["no address"].startswith("Set the PORTAL_BASE_URL environment variable")
        assert outcomes["no sender"].startswith("Set the DEFAULT_FROM_EMAIL environment variable")
        assert outcomes["smtps"] == (
            "EMAIL_URL='<a URL with a password>' is not allowed: use a URL starting smtp://, smtp+tls://, smtp+ssl://."
        )
        assert outcomes["options"] == (
            "EMAIL_URL='smtp://mail.partner.example?ssl=False' is not allowed: use smtp://user:password@host:port, "
            "naming the host and no ?options."
        )
        assert outcomes["no host"].startswith("EMAIL_URL='<a URL with a password>' is not allowed: ")
        assert outcomes["a path"] == (
            "PORTAL_BASE_URL='https://portal.example.com/staff' is not allowed: use the portal's scheme and host "
            "alone, e.g. https://admin.example.com."
        )
        assert outcomes["plain http"] == (
            "PORTAL_BASE_URL='http://portal.example.com' is not allowed: use a URL starting https://."
        )
        assert outcomes["bad sender"] == (
            "DEFAULT_FROM_EMAIL='the portal' is not allowed: use an address, or Name <address>."
        )
        assert "hunter2" not in str(outcomes)
