from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.db import BaseDatabaseCache
from django.core.management import call_command
from django.core.signals import setting_changed
from django.db.backends.base.operations import BaseDatabaseOperations
from django.dispatch import receiver
from django.test import Client, override_settings
from hypothesis import settings as hypothesis_settings

from devtools.sandbox import PARTNER_KEY, RunningSandbox
from orgadmin.polytomic.client import client
from tests import contract
from tests.factories import make_user
from tests.support import SmtpServer, guard_lifted, smtp_server

# Property tests explore new examples on every developer run; CI (HYPOTHESIS_PROFILE=ci) runs the
# same examples every time, so a landing is never refused by chance. A failure found locally is
# fixed and kept as an @example.
hypothesis_settings.register_profile("dev")
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory) -> None:
    """On SQLite, test in a database file, as the portal runs, not in memory.

    Django's in-memory test database uses SQLite's shared cache, where a second connection that
    writes while another writes fails at once ("database table is locked"); a file waits its turn,
    as it does under a threaded server.
    """
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("database") / "test.sqlite3")


@pytest.fixture(scope="session", autouse=True)
def _collected_static(tmp_path_factory: pytest.TempPathFactory):
    """Pages render with the production static storage (hashed names from a manifest), as they do
    under gunicorn, so a template naming a missing static file fails here rather than in production."""
    static_root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=static_root):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield


@pytest.fixture(scope="session", autouse=True)
def _flush_through_the_audit_guard() -> Iterator[None]:
    """Between transactional tests Django empties every table, with TRUNCATE on PostgreSQL. The
    database refuses that of the audit log (migrations 0009 and 0010), even on the path
    `prune_audit` takes: the suite's flush lifts the guard, as the table's owner can."""
    flush = BaseDatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        with guard_lifted(self.connection.alias):
            flush(self, sql_list)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseDatabaseOperations, "execute_sql_flush", execute_sql_flush)
        yield


@pytest.fixture(autouse=True)
def _force_login_is_a_password_sign_in_just_now(monkeypatch) -> None:
    """Tests sign staff in with the test client's force_login: it stands for a local account's
    password sign-in just now, recorded in the session as django-allauth records one, so that the
    rules that read how and when someone signed in (staff.signin, staff.recent_sign_in) see a sign-in.
    The tests of those rules record their own (tests/test_staff_*.py)."""
    sign_in = Client.force_login

    def force_login(self: Client, user, backend=None) -> None:
        sign_in(self, user, backend)
        session = self.session
        session["account_authentication_methods"] = [{"method": "password", "at": time.time()}]
        session["account_authentication_methods_user"] = str(user.pk)
        session.save()

    monkeypatch.setattr(Client, "force_login", force_login)


@pytest.fixture
def audit_stream() -> Iterator[list[str]]:
    """The lines the audit stream logger writes during the test (it does not propagate: caplog
    would not see them). Entries are streamed once their transaction commits, and the test's own
    never does: a test runs its calls inside `django_capture_on_commit_callbacks(execute=True)`."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    stream = logging.getLogger("orgadmin.audit.stream")
    stream.addHandler(handler)
    try:
        yield lines
    finally:
        stream.removeHandler(handler)


@receiver(setting_changed)
def _rebuild_the_client(*, setting: str, **kwargs: object) -> None:
    """The portal builds its Polytomic client from settings once per process; tests change them."""
    if setting.startswith("POLYTOMIC_"):
        client.cache_clear()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    """The Polytomic sandbox on loopback, for the whole run."""
    with RunningSandbox() as running:
        yield running


@pytest.fixture(autouse=True)
def _portal_uses_the_sandbox(sandbox, settings) -> Iterator[None]:
    """Every test's portal talks to the sandbox, freshly seeded (tests that script answers with
    `responses` point it elsewhere in their own fixtures). After the test, every request the
    portal's client and Polytomic's SDK sent it, and every answer it gave them, must have kept
    Polytomic's published contract."""
    sandbox.sandbox.reset()
    settings.POLYTOMIC_API_URL = sandbox.url
    settings.POLYTOMIC_PARTNER_API_KEY = PARTNER_KEY
    yield
    broken = contract.problems(sandbox.sandbox.received)
    assert not broken, "Polytomic's contract was broken:\n" + "\n".join(broken)


@pytest.fixture
def customer_identity_provider(sandbox, settings) -> str:
    """A customer's identity provider: the sandbox's discovery documents over https on loopback,
    which the issuer check may reach and trusts through the sandbox's own certificate. Its origin."""
    origin = sandbox.serve_tls()
    settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = [origin]
    settings.PORTAL_ISSUER_CHECK_CA_FILE = sandbox.ca_file
    return origin


@pytest.fixture(autouse=True)
def _empty_cache(request: pytest.FixtureRequest) -> None:
    """Every test starts with an empty cache (sign-in limits, used codes). The portal's cache is a
    table of the database unless CACHE_URL names another (settings, "Cache"); that table is emptied
    once the test's database is open, in the tests that open one (the others cannot reach it)."""
    uses_database = request.node.get_closest_marker("django_db") or {"db", "transactional_db", "live_server"} & set(
        request.fixturenames
    )
    if uses_database:
        request.getfixturevalue("db")  # the database as the test has it, transactional or not
    if uses_database or not isinstance(caches["default"], BaseDatabaseCache):
        cache.clear()


@pytest.fixture(autouse=True)
def _audit_anchor_of_the_test(settings, tmp_path) -> None:
    """verify_audit keeps the head it verified outside the database (AUDIT_ANCHOR_FILE): each test's
    log is its own, and so is the head kept of it."""
    settings.AUDIT_ANCHOR_FILE = tmp_path / "audit-anchor"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Django's advice for tests: production's deliberately slow hasher would dominate the suite."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def mail_server(settings) -> Iterator[SmtpServer]:
    """A real SMTP server on loopback, and the portal's mail on and sent to it, as EMAIL_URL
    smtp://127.0.0.1:<port> would set it (portal/settings/mail.py); stopped after the test."""
    with smtp_server() as server:
        settings.PORTAL_MAIL_ON = True
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_TIMEOUT = 5
        settings.DEFAULT_FROM_EMAIL = "Organization portal <portal@portal.example>"
        settings.PORTAL_BASE_URL = "https://portal.example"
        yield server


@pytest.fixture
def viewer(db):
    return make_user("vera", role="Viewer")


@pytest.fixture
def editor(db):
    return make_user("ed", role="Editor")


@pytest.fixture
def admin_user(db):
    return make_user("ada", role="Admin")
