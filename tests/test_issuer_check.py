"""The OIDC issuer check: what it says of a discovery document, where it refuses to go, how long
it may take, how many run at once, and that nothing a user types or a peer sends makes it fail
without a message and its audit entry."""

from __future__ import annotations

import ipaddress
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
import urllib3.util.connection
from django.core.cache import caches
from django.core.management import call_command
from django.db import connections
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from audit.models import AuditEntry
from audit.protocol import AuditContext
from devtools.sandbox import GLOBEX_ID
from devtools.support import hidden_fields
from orgadmin.issuer_check import TIMEOUT_SECONDS, TOO_LONG, IssuerCheck, Refused, check_issuer, fetch, is_public
from orgadmin.issuer_check.slots import SLOT_SECONDS, running_check
from tests.factories import make_user
from tests.support import Peer, peers, tls_server_context, trickling, trickling_tls

pytestmark = pytest.mark.django_db

# However the peer behaves, a check ends by its deadline; this much more is the slack a loaded
# test machine is given to notice (the trickling peers below would hold it for 20 s and more).
BOUND = TIMEOUT_SECONDS + 1.5
WELL_KNOWN = "/.well-known/openid-configuration"
BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture
def checker() -> AuditContext:
    return AuditContext(actor=None, actor_label="checker", request_id="req-check")


@pytest.fixture
def loopback_allowed(settings, sandbox):
    """The sandbox's identity provider, over plain http on loopback, may be checked."""
    settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = [sandbox.url]


def resolving_to(monkeypatch, *addresses: str) -> None:
    """The resolver answers these addresses for every host (as a hostile DNS record would)."""

    def getaddrinfo(host, port, *args, **kwargs):
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def landing_on(port: int) -> Callable[..., socket.socket]:
    """urllib3's network boundary (`create_connection`) made to connect to a loopback port,
    whatever address it was asked for; by address, so that no resolver is asked."""

    def create_connection(address, timeout=None, *args, **kwargs) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", port))
        return sock

    return create_connection


def check_entries() -> int:
    return AuditEntry.objects.filter(action="issuer.check").count()


@pytest.fixture
def serve() -> Iterator[Callable[..., Peer]]:
    """Starts peers with the behaviour given; stops them after the test."""
    with peers() as start:
        yield start


def scripted(connection: socket.socket, peer: Peer) -> None:
    """Reads the request, sends `peer.script` as the whole answer, and closes."""
    peer.request_head(connection)
    connection.sendall(peer.script)


def http_answer(body: bytes, status: str = "200 OK") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


def document(issuer: str, **fields: object) -> bytes:
    return json.dumps(
        {"issuer": issuer, "authorization_endpoint": "https://login.peer.example/authorize", **fields}
    ).encode()


class OutcomeTests:
    def test_a_matching_issuer(self, checker, sandbox, loopback_allowed):
        issuer = f"{sandbox.url}/_idp/good"
        result = check_issuer(issuer, context=checker)
        assert (result.reachable, result.valid_json, result.issuer_matches, result.passed) == (True, True, True, True)
        assert result.authorization_host == "login.good.example"
        entry = AuditEntry.objects.get(action="issuer.check")
        assert (entry.path, entry.outcome, entry.actor_username) == (
            f"{issuer}/.well-known/openid-configuration",
            "ok",
            "checker",
        )

    def test_a_trailing_slash_is_a_mismatch(self, checker, sandbox, loopback_allowed):
        result = check_issuer(f"{sandbox.url}/_idp/trailing-slash", context=checker)
        assert (result.reachable, result.valid_json, result.issuer_matches) == (True, True, False)
        assert "names the issuer" in result.problem
        assert AuditEntry.objects.get(action="issuer.check").outcome == "failed"

    def test_not_json_and_unreachable(self, checker, sandbox, settings):
        settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = [sandbox.url, "http://127.0.0.1:9"]
        garbage = check_issuer(f"{sandbox.url}/_idp/garbage", context=checker)
        assert (garbage.reachable, garbage.valid_json) == (True, False)
        unreachable = check_issuer("http://127.0.0.1:9", context=checker)  # nothing listens there
        assert not unreachable.reachable
        assert "could not be reached" in unreachable.problem


class ForgeryTests:
    """Server-side request forgery: the check reaches public https addresses, and nothing else."""

    def test_http_is_refused_outside_tests(self, sandbox):
        with pytest.raises(Refused, match="https"):
            fetch(f"{sandbox.url}/_idp/good/.well-known/openid-configuration")

    def test_loopback_is_refused_unless_allowed(self, sandbox):
        with pytest.raises(Refused, match="not a public address"):
            fetch("https://localhost/.well-known/openid-configuration")

    @pytest.mark.parametrize(
        "address",
        [
            "10.0.0.5",
            "172.16.1.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",  # noqa: S104 (an address to refuse, not to bind)
            "127.0.0.1",
            "224.0.0.1",  # multicast
            "240.0.0.1",  # reserved
            "198.18.0.1",  # benchmarking
            "192.0.2.1",  # documentation
            "192.88.99.1",  # the deprecated 6to4 relay anycast
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            # IPv6 forms that map, translate or tunnel to IPv4 that is not public
            "::ffff:127.0.0.1",  # IPv4-mapped
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",  # NAT64, well-known prefix, to 127.0.0.1
            "64:ff9b::a9fe:a9fe",  # to 169.254.169.254
            "64:ff9b:1::7f00:1",  # local-use NAT64 (never global)
            "64:ff9b:1::5db8:d822",
            "2002:7f00:1::",  # 6to4 of 127.0.0.1
            "2002:5db8:d822::1",  # 6to4 at all: a tunnel, not globally reachable
            "::7f00:1",  # IPv4-compatible (deprecated)
            "::5db8:d822",
            "::ffff:0:7f00:1",  # IPv4-translated
            "2001::1",  # Teredo
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2a00:1450:4001::5efe:7f00:1",  # ISATAP, tunnelled to 127.0.0.1
            "2a00:1450:4001::200:5efe:a00:1",  # ISATAP, to 10.0.0.1
            # deprecated and other non-global ranges
            "fec0::1",  # site-local
            "3ffe::1",  # the returned 6bone range
            "2001:db8::1",  # documentation
            "3fff::1",
            "100::1",  # discard-only
            "5f00::1",  # SRv6 SIDs
            "2001:2::1",  # benchmarking
        ],
    )
    def test_addresses_that_are_not_public_are_refused(self, monkeypatch, address):
        assert not is_public(ipaddress.ip_address(address))
        resolving_to(monkeypatch, address)
        with pytest.raises(Refused, match="not a public address"):
            fetch("https://idp.example/.well-known/openid-configuration")
        literal = f"[{address}]" if ":" in address else address
        with pytest.raises(Refused, match="not a public address"):
            fetch(f"https://{literal}/.well-known/openid-configuration")

    @pytest.mark.parametrize(
        "address",
        [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "2a00:1450:4001:81c::200e",
            "::ffff:93.184.216.34",  # IPv4-mapped, of a public address
            "64:ff9b::5db8:d822",  # NAT64 of a public address: how an IPv6-only host reaches it
        ],
    )
    def test_public_addresses_are_allowed(self, address):
        assert is_public(ipaddress.ip_address(address))

    def test_one_private_address_among_public_ones_is_refused(self, monkeypatch):
        resolving_to(monkeypatch, "93.184.216.34", "10.1.2.3")
        with pytest.raises(Refused, match="not a public address"):
            fetch("https://idp.example/.well-known/openid-configuration")

    def test_the_connected_address_is_checked_again(self, monkeypatch, serve):
        """The name resolves to a public address, but the network lands the connection on loopback
        (a resolver and a route that disagree, DNS rebinding between the two): the check refuses
        once connected, before sending anything, the TLS greeting included."""
        peer = serve(lambda connection, peer: peer.received.append(connection.recv(65536)))
        resolving_to(monkeypatch, "93.184.216.34")
        monkeypatch.setattr(urllib3.util.connection, "create_connection", landing_on(peer.port))
        with pytest.raises(Refused, match="connected to an address that is not public"):
            fetch("https://idp.example/.well-known/openid-configuration")
        peer.wait_for_connections(1)
        peer.stop()
        assert peer.received == [b""]  # the connection closed with nothing sent on it

    def test_a_redirect_is_not_followed(self, sandbox, loopback_allowed):
        with pytest.raises(Refused, match="redirected"):
            fetch(f"{sandbox.url}/_idp/moved/.well-known/openid-configuration")

    def test_credentials_in_the_url_are_refused(self, loopback_allowed):
        with pytest.raises(Refused, match="credentials"):
            fetch("https://user:pass@idp.example/.well-known/openid-configuration")


class LoopbackOriginTests:
    """PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS opens exactly the origins it names, and only on loopback."""

    def test_only_the_named_origin_is_reached(self, settings, sandbox, serve):
        other = serve(scripted)
        settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = [sandbox.url]
        status, _ = fetch(f"{sandbox.url}/_idp/good{WELL_KNOWN}")
        assert status == 200
        with pytest.raises(Refused, match="https"):  # another port of the same host
            fetch(f"{other.origin()}{WELL_KNOWN}")
        with pytest.raises(Refused, match="not a public address"):  # https on the named port is another origin
            fetch(f"{sandbox.url.replace('http:', 'https:')}{WELL_KNOWN}")
        with pytest.raises(Refused, match="https"):  # the same port under another name is another origin
            fetch(f"{sandbox.url.replace('127.0.0.1', 'localhost')}{WELL_KNOWN}")
        assert other.accepted == 0

    def test_a_named_origin_must_resolve_to_loopback_only(self, settings, monkeypatch):
        settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = ["http://idp.example:8080"]
        resolving_to(monkeypatch, "127.0.0.1", "93.184.216.34")
        with pytest.raises(Refused, match="not a public address"):
            fetch(f"http://idp.example:8080{WELL_KNOWN}")


class EditFormTests:
    def test_the_edit_form_checks_the_typed_issuer(self, client, sandbox, loopback_allowed):
        client.force_login(make_user("ed", role="Editor"))
        assert (
            "Check the issuer" in client.get(reverse("orgadmin:organization-edit", args=[GLOBEX_ID])).content.decode()
        )
        url = reverse("orgadmin:issuer-check")
        good = client.post(url, {"issuer": f"{sandbox.url}/_idp/good"}).content.decode()
        assert "The issuer answers as expected." in good
        assert "login.good.example" in good
        slash = client.post(url, {"issuer": f"{sandbox.url}/_idp/trailing-slash"}).content.decode()
        assert "The issuer check found a problem." in slash
        assert "You can still save" in slash
        assert "Enter the issuer URL first." in client.post(url, {"issuer": " "}).content.decode()
        assert AuditEntry.objects.filter(action="issuer.check", actor_username="ed").count() == 2


class CreateFormTests:
    """The plain create form checks the issuer as onboarding does: the button (htmx), and the
    form's own post, which holds a failed check until "Save anyway" (without JavaScript too)."""

    @pytest.fixture
    def as_editor(self, client):
        client.force_login(make_user("ed", role="Editor"))
        return client

    @pytest.fixture(autouse=True)
    def _loopback(self, settings, sandbox):
        """The sandbox's identity provider, over https on loopback (the form takes https issuers
        only), trusted through its own certificate."""
        settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = [sandbox.serve_tls()]
        settings.PORTAL_ISSUER_CHECK_CA_FILE = sandbox.ca_file

    def typed(self, client, sandbox, tenant: str, **more: str) -> dict[str, str]:
        page = client.get(reverse("orgadmin:organization-create")).content.decode()
        oidc = {"issuer": f"{sandbox.tls_url}/_idp/{tenant}", "client_id": "hooli-client", "client_secret": "s3cret"}
        return hidden_fields(page) | {"name": "Hooli"} | oidc | more

    def creates(self, sandbox) -> list[dict]:
        return [r for r in sandbox.sandbox.received if r["method"] == "POST" and r["path"] == "/api/organizations"]

    def test_the_create_form_has_the_check_button(self, as_editor):
        page = as_editor.get(reverse("orgadmin:organization-create")).content.decode()
        assert "Check the issuer" in page
        assert f'hx-post="{reverse("orgadmin:issuer-check")}"' in page

    def test_a_matching_issuer_is_created_at_once(self, as_editor, sandbox):
        answer = as_editor.post(reverse("orgadmin:organization-create"), self.typed(as_editor, sandbox, "good"))
        assert answer.status_code == 302
        assert len(self.creates(sandbox)) == 1
        assert AuditEntry.objects.filter(action="issuer.check", outcome="ok", actor_username="ed").count() == 1

    @pytest.mark.parametrize("htmx", [False, True], ids=["without JavaScript", "htmx"])
    def test_a_failed_check_holds_the_form_until_saved_anyway(self, as_editor, sandbox, htmx):
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        fields = self.typed(as_editor, sandbox, "trailing-slash")
        held = as_editor.post(reverse("orgadmin:organization-create"), fields, **headers)
        page = held.content.decode()
        assert held.status_code == 200
        assert "The issuer check found a problem" in page
        assert "Names the same issuer: no" in page
        assert 'name="save_anyway"' in page
        assert ("enter the client secret again" in page) is not htmx  # htmx keeps what was typed
        assert "s3cret" not in page
        assert not self.creates(sandbox)
        saved = as_editor.post(reverse("orgadmin:organization-create"), fields | {"save_anyway": "on"}, **headers)
        assert saved.status_code == 200 if htmx else 302
        assert len(self.creates(sandbox)) == 1
        assert AuditEntry.objects.filter(action="issuer.check", outcome="failed").count() == 2

    def test_without_an_issuer_nothing_is_checked(self, as_editor, sandbox):
        page = as_editor.get(reverse("orgadmin:organization-create")).content.decode()
        answer = as_editor.post(reverse("orgadmin:organization-create"), hidden_fields(page) | {"name": "Hooli"})
        assert answer.status_code == 302
        assert check_entries() == 0


class TlsTests:
    """The check speaks https as production does: the certificate must be one it trusts."""

    def test_a_trusted_certificate_is_read_and_an_untrusted_one_refused(self, checker, sandbox, settings):
        issuer = f"{sandbox.serve_tls()}/_idp/good"
        settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = [sandbox.tls_url]
        settings.PORTAL_ISSUER_CHECK_CA_FILE = sandbox.ca_file
        assert check_issuer(issuer, context=checker).passed
        settings.PORTAL_ISSUER_CHECK_CA_FILE = None  # the system's authorities: they never signed it
        untrusted = check_issuer(issuer, context=checker)
        assert not untrusted.reachable
        assert "could not be reached" in untrusted.problem


# --- One deadline over the whole check --------------------------------------------------------------


class DeadlineTests:
    """However slowly the peer answers (each byte well within any socket timeout), the check ends
    by TIMEOUT_SECONDS with a message and its audit entry."""

    def ends_in_time(self, issuer: str, checker: AuditContext, peer: Peer | None = None) -> None:
        started = time.monotonic()
        result = check_issuer(issuer, context=checker)
        took = time.monotonic() - started
        assert took < BOUND, took
        assert result.problem == TOO_LONG
        entry = AuditEntry.objects.get(action="issuer.check")
        assert (entry.outcome, entry.error_message) == ("failed", TOO_LONG)
        if peer is not None:
            assert peer.sent >= 2  # it was trickling, not stuck or closed

    @pytest.mark.parametrize(
        ("head", "drip"),
        [
            (b"", b"HTTP/1.1 200 OK\r\n" + b"X" * 40),  # the status line
            (b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"y" * 40),  # a header
            (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", b"{" + b" " * 40),  # the body, declared
            (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b"{" + b" " * 40),  # the body, to the end
        ],
        ids=["status-line", "headers", "body", "body-until-closed"],
    )
    def test_a_trickled_answer(self, settings, checker, serve, head, drip):
        peer = serve(trickling(head, drip))
        settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = [peer.origin()]
        self.ends_in_time(peer.origin(), checker, peer)

    @pytest.mark.parametrize(
        "head",
        [b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"],
        ids=["body", "body-until-closed"],
    )
    def test_a_body_trickled_over_tls(self, settings, checker, serve, tmp_path, head):
        tls, certificate_file = tls_server_context(tmp_path)
        peer = serve(trickling(head, b"{" + b" " * 40, tls=tls))
        settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = [peer.origin("https")]
        settings.PORTAL_ISSUER_CHECK_CA_FILE = certificate_file
        self.ends_in_time(peer.origin("https"), checker, peer)

    def test_a_trickled_tls_handshake(self, settings, checker, serve):
        peer = serve(trickling_tls())
        settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = [peer.origin("https")]
        self.ends_in_time(peer.origin("https"), checker, peer)

    def test_a_resolver_that_does_not_answer(self, monkeypatch, checker):
        answer = threading.Event()
        asked = threading.Event()

        def getaddrinfo(*args, **kwargs):
            asked.set()
            answer.wait(timeout=60)  # released below, once the check has given up on it
            raise socket.gaierror("no answer")

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        try:
            self.ends_in_time("https://slow-resolver.example", checker)
            assert asked.is_set()
        finally:
            answer.set()

    def test_a_resolution_that_never_ends_does_not_hold_up_the_process_exit(self):
        """A worker stopped while a resolution hangs (the demo's Ctrl-C, gunicorn's restart)
        exits at once: the resolver's thread is not one the interpreter waits for."""
        process = subprocess.Popen(
            [sys.executable, "-c", STUCK_RESOLVER],
            cwd=BASE_DIR,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(process.stdout, selectors.EVENT_READ)
                assert selector.select(timeout=60), "the check did not end"  # Django's start included
            refused_at, _, said = process.stdout.readline().partition(" ")
            assert said.strip() == TOO_LONG, said or process.stderr.read()
            exited = process.wait(timeout=10)
            assert exited == 0, process.stderr.read()
            assert time.monotonic() - float(refused_at) < 10
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


# The check in a process of its own, whose resolver never answers; it prints when it was refused
# and what it said, then ends, as a worker stopped at that moment would.
STUCK_RESOLVER = """
import socket
import threading
import time

import django

django.setup()
from orgadmin.issuer_check import Refused, fetch


def getaddrinfo(*args, **kwargs):
    threading.Event().wait()  # no answer, ever


socket.getaddrinfo = getaddrinfo
try:
    fetch("https://stuck-resolver.example")
except Refused as refused:
    print(time.monotonic(), refused.message, flush=True)
"""


# --- How many checks run at once --------------------------------------------------------------------


def holding(release: threading.Event) -> Callable[[socket.socket, Peer], None]:
    """A peer that reads the request and answers with a good document once released."""

    def behaviour(connection: socket.socket, peer: Peer) -> None:
        peer.request_head(connection)
        release.wait(timeout=30)
        connection.sendall(http_answer(document(peer.origin())))

    return behaviour


class Running:
    """Checks running in threads, each against a peer that holds its answer."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.results: list[IssuerCheck] = []

    def start(self, issuer: str, context: AuditContext) -> None:
        def run() -> None:
            try:
                self.results.append(check_issuer(issuer, context=context))
            finally:
                connections.close_all()

        self.threads.append(threading.Thread(target=run))
        self.threads[-1].start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=30)
            assert not thread.is_alive()


@pytest.fixture(params=["default", "database"])
def slots_cache(request, settings) -> str:
    """The cache the slots live in: the portal's default, and the database cache (each thread has
    its own instance of it, as each worker process would, sharing only the table)."""
    if request.param == "database":
        settings.CACHES = {
            **settings.CACHES,
            "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "issuer_check_slots"},
        }
        call_command("createcachetable", verbosity=0)
    caches["default"].clear()
    return request.param


@pytest.mark.django_db(transaction=True)
class ConcurrencyCapTests:
    def refused_at_once(self, issuer: str, context: AuditContext, says: str) -> None:
        before = check_entries()
        started = time.monotonic()
        result = check_issuer(issuer, context=context)
        assert time.monotonic() - started < 1.0  # it did not wait for a slot
        assert says in result.problem
        assert not result.reachable
        assert check_entries() == before + 1
        assert AuditEntry.objects.filter(action="issuer.check", error_message=result.problem).exists()

    def test_a_user_runs_two_checks_at_once_at_most(self, settings, serve, slots_cache, sandbox):
        release = threading.Event()
        peer = serve(holding(release))
        settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = [peer.origin(), sandbox.url]
        ed, jo = AuditContext(actor=make_user("ed")), AuditContext(actor=make_user("jo"))
        running = Running()
        try:
            running.start(peer.origin(), ed)
            running.start(peer.origin(), ed)
            peer.wait_for_connections(2)
            self.refused_at_once(f"{sandbox.url}/_idp/good", ed, "You already have 2 issuer checks running")
            assert check_issuer(f"{sandbox.url}/_idp/good", context=jo).passed  # another user is not held up
        finally:
            release.set()
            running.join()
        assert all(result.passed for result in running.results)
        assert check_issuer(f"{sandbox.url}/_idp/good", context=ed).passed  # the slots were given back

    def test_the_portal_runs_max_total_checks_at_once(self, settings, serve, slots_cache, sandbox):
        settings.PORTAL_ISSUER_CHECK_MAX_TOTAL = 3
        release = threading.Event()
        peer = serve(holding(release))
        settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = [peer.origin(), sandbox.url]
        ed, jo, al = (AuditContext(actor=make_user(name)) for name in ("ed", "jo", "al"))
        running = Running()
        try:
            for context in (ed, ed, jo):
                running.start(peer.origin(), context)
            peer.wait_for_connections(3)
            self.refused_at_once(f"{sandbox.url}/_idp/good", al, "3 issuer checks are already running")
        finally:
            release.set()
            running.join()
        assert check_issuer(f"{sandbox.url}/_idp/good", context=al).passed

    def test_the_slots_of_a_worker_that_died_expire_by_themselves(self, slots_cache, sandbox, loopback_allowed):
        ed = AuditContext(actor=make_user("ed"))
        # Two checks that took their slots, in a worker killed before it gave them back (kept
        # referenced: a generator collected would run its `finally`, which a killed process does not).
        killed = [running_check(ed) for _ in range(2)]
        for running in killed:
            running.__enter__()
        self.refused_at_once(f"{sandbox.url}/_idp/good", ed, "You already have 2 issuer checks running")
        with time_machine.travel(timezone.now() + timedelta(seconds=SLOT_SECONDS + 1)):
            assert check_issuer(f"{sandbox.url}/_idp/good", context=ed).passed
        for running in killed:  # ended here, while the test's cache is still the one configured
            running.__exit__(None, None, None)


# --- Whatever is typed or sent: a message and one audit entry, never an exception ----------------------

MALFORMED_ISSUERS = [
    ("https://example.com:99999", "port"),
    ("https://example.com:abc", "port"),
    ("https://example.com:0", "port"),
    (f"https://{'a' * 64}.example.com", "not a valid host name"),
    ("https://a..b/", "not a valid host name"),
    ("https://[::1", "not a well-formed URL"),
    ("https://[bad]/", "not a well-formed URL"),
    ("https://exa%00mple.com", "not a valid host name"),
    ("https://idp.example/tenant?x=1", "no query"),
    ("ftp://idp.example", "https"),
    ("https://", "no host"),
]
# What only a caller other than a form can pass: no browser sends a lone surrogate.
UNENCODABLE_ISSUERS = [
    ("https://\ud800.example", "not a valid host name"),
    ("https://idp.example/\ud800", "well-formed"),
]


class MalformedInputTests:
    @pytest.mark.parametrize(("issuer", "says"), MALFORMED_ISSUERS + UNENCODABLE_ISSUERS)
    def test_a_url_that_cannot_be_fetched_is_a_message_and_an_entry(self, checker, issuer, says):
        result = check_issuer(issuer, context=checker)
        assert says in result.problem
        entry = AuditEntry.objects.get(action="issuer.check")
        assert entry.outcome == "failed"
        assert says in entry.error_message

    @pytest.mark.parametrize("path", ["/_idp/ten ant", "/_idp/é"])
    def test_a_path_with_a_space_or_a_letter_beyond_ascii_is_fetched_encoded(
        self, checker, sandbox, loopback_allowed, path
    ):
        issuer = f"{sandbox.url}{path}"
        result = check_issuer(issuer, context=checker)
        assert result.reachable  # the request was sent, its path percent-encoded
        assert result.passed or result.problem
        assert check_entries() == 1

    @pytest.mark.parametrize(
        ("answer", "says"),
        [
            (lambda issuer: b"[" * 60000, "not JSON"),
            (lambda issuer: b'{"issuer": ' * 5000, "not JSON"),
            (lambda issuer: b"\xff\xfe\x00garbage", "not JSON"),
            (lambda issuer: document(issuer, authorization_endpoint="http://[bad"), "no authorization endpoint"),
            (lambda issuer: document(issuer, authorization_endpoint=["nested"] * 3), "no authorization endpoint"),
            (lambda issuer: json.dumps({"issuer": [[[[]]]]}).encode(), "names no issuer"),
            (lambda issuer: document("x" * 5000), "names the issuer"),
        ],
        ids=["nested-60000", "objects-5000", "not-utf8", "endpoint-bracket", "endpoint-list", "issuer-list", "long"],
    )
    def test_a_document_that_cannot_be_read_is_a_message_and_an_entry(self, checker, settings, serve, answer, says):
        peer = serve(scripted)
        peer.script = http_answer(answer(peer.origin()))
        settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = [peer.origin()]
        result = check_issuer(peer.origin(), context=checker)
        assert says in result.problem
        assert not result.passed
        assert AuditEntry.objects.get(action="issuer.check").error_message == result.problem

    @pytest.mark.parametrize(("issuer", "says"), MALFORMED_ISSUERS)
    def test_the_check_button_answers_each_with_a_message(self, client, issuer, says):
        client.force_login(make_user("ed", role="Editor"))
        answer = client.post(reverse("orgadmin:issuer-check"), {"issuer": issuer})
        assert answer.status_code == 200
        assert "The issuer check found a problem." in answer.content.decode()
        assert AuditEntry.objects.filter(action="issuer.check", actor_username="ed").count() == 1

    def test_the_check_button_shows_what_a_peer_names_however_it_is_spelt(self, client, settings, serve):
        """A document naming a lone surrogate (valid JSON, no valid text) gives a page, not a 500."""
        peer = serve(scripted)
        peer.script = http_answer(b'{"issuer": "\\ud800\\u0000", "authorization_endpoint": "https://\\udfff/"}')
        settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = [peer.origin()]
        client.force_login(make_user("ed", role="Editor"))
        answer = client.post(reverse("orgadmin:issuer-check"), {"issuer": peer.origin()})
        assert answer.status_code == 200
        assert "names the issuer" in answer.content.decode()
        assert AuditEntry.objects.filter(action="issuer.check", actor_username="ed").count() == 1

    @pytest.mark.parametrize(("issuer", "says"), MALFORMED_ISSUERS)
    def test_the_onboarding_form_answers_each_with_a_message(self, client, issuer, says):
        client.force_login(make_user("ed", role="Editor"))
        new = reverse("orgadmin:onboarding-new")
        fields = {"name": "Hooli", "issuer": issuer, "client_id": "hooli", "client_secret": "s3cret-value"}
        page = client.get(new).content.decode()
        answer = client.post(new, {**hidden_fields(page), **fields})
        assert answer.status_code in (200, 422)  # held by the check, or refused by the field's rule
        text = answer.content.decode()
        assert "Enter an https:// URL" in text or "The issuer check found a problem" in text


# Issuer URLs as typed: anything, and URLs put together from parts that are each likely to be wrong.
_hosts = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"[a-z0-9.-]{0,70}", fullmatch=True),
    st.ip_addresses().map(lambda a: f"[{a}]" if a.version == 6 else str(a)),
    st.sampled_from(["[::1", "[bad]", "a..b", "a" * 64 + ".example", "xn--", "localhost", "é.example", "\ud800"]),
)
_ports = st.one_of(st.just(""), st.integers(-1, 100000).map(lambda p: f":{p}"), st.text(max_size=6).map(":".__add__))
_urls = st.one_of(
    st.text(max_size=200),
    st.builds(
        "{}://{}{}{}".format,
        st.sampled_from(["https", "http", "HTTPS", "ftp", ""]),
        _hosts,
        _ports,
        st.text(max_size=40),
    ),
)
# What an issuer may answer: its document's fields of any JSON type, JSON of any shape, or any bytes.
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
_documents = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "issuer": st.one_of(st.just("ISSUER"), _json),  # "ISSUER": the issuer checked
            "authorization_endpoint": st.one_of(_urls, _json),
        },
    ).map(lambda fields: json.dumps(fields).encode()),
    _json.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=300),
    st.integers(1, 64000).map(lambda depth: b"[" * depth),
)
_answers = st.one_of(
    st.tuples(st.sampled_from(["200 OK", "200 OK", "301 Moved", "404 Not Found", "500 Oops"]), _documents),
    st.binary(max_size=300).map(lambda raw: (None, raw)),  # not even HTTP
)
PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class PropertyTests:
    """Over generated issuers and answers: check_issuer raises nothing, records exactly one entry,
    and says what is wrong whenever it did not pass."""

    @pytest.fixture
    def scripted(self, settings, serve, monkeypatch) -> Peer:
        """A peer answering whatever the example sets, named as a loopback origin; a resolver
        that answers a documentation address, a public one or nothing; and a network that lands
        every connection on the peer."""
        peer = serve(scripted)
        settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = [peer.origin()]

        def getaddrinfo(host, port, *args, **kwargs):
            choice = sum(host.encode() if isinstance(host, str) else host) % 3
            if choice == 0:
                raise socket.gaierror("no such name")
            address = ("192.0.2.1", "93.184.216.34")[choice - 1]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(urllib3.util.connection, "create_connection", landing_on(peer.port))
        return peer

    def holds(self, issuer: str, checker: AuditContext) -> None:
        before = check_entries()
        result = check_issuer(issuer, context=checker)  # raises nothing
        assert check_entries() == before + 1
        assert result.passed or result.problem

    @PROPERTY
    @given(issuer=_urls)
    @example(issuer="https://example.com:99999")
    @example(issuer="https://example.com:abc")
    @example(issuer=f"https://{'a' * 64}.com")
    @example(issuer="https://a..b/")
    @example(issuer="https://[::1")
    @example(issuer="https://93.184.216.34/")  # public, but the network lands on loopback
    def test_any_typed_issuer(self, scripted, checker, issuer):
        scripted.script = http_answer(document(issuer))
        self.holds(issuer, checker)

    @PROPERTY
    @given(path=st.text(max_size=40), answer=_answers)
    @example(path="/ten ant", answer=("200 OK", b"[" * 60000))
    @example(path="/é", answer=("200 OK", document("ISSUER", authorization_endpoint="http://[bad")))
    @example(path="", answer=(None, b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n{}"))
    @example(path="", answer=(None, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"))
    def test_any_answer(self, scripted, checker, path, answer):
        issuer = scripted.origin() + ("/" + path.lstrip("/") if path else "")
        status, body = answer
        body = body.replace(b'"ISSUER"', json.dumps(issuer).encode())  # the issuer checked, where named
        scripted.script = body if status is None else http_answer(body, status)
        self.holds(issuer, checker)
