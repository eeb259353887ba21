"""Helpers the test modules share (none imports another)."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import email
import email.policy
import hashlib
import hmac
import logging
import os
import signal
import socket
import sqlite3
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import requests
from aiosmtpd.controller import Controller
from django.urls import URLPattern, URLResolver, get_resolver

from benchmarks.harness import PortalServers, StaffClient, fresh_database, throwaway_workdir
from devtools.support import free_port, wait_until_listening

BASE_DIR = Path(__file__).resolve().parent.parent


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


# What a write's attempt carries, as its outcome does.
ATTEMPT_CARRIES = ("actor_username", "action", "method", "path", "idempotency_key", "request_id", "client_ip")


def verify_chain(*, using: str = "default") -> tuple:
    """The whole chain walked, as `verify_audit` walks it: the entries checked, and the first break."""
    from audit.verification import walk_chain

    walk = walk_chain(using=using)
    return walk.checked, walk.broken


def call_entries(**filters) -> list:
    """The audit entries of finished calls matching `filters`, oldest first, one per call: a read's
    entry, and a write's outcome, whose attempt is checked to stand before it in the log, for the
    same call. An attempt with no outcome fails the check: none is expected where this is used."""
    from audit.models import AuditEntry

    entries = list(AuditEntry.objects.filter(**filters).order_by("id"))
    outcomes = [entry for entry in entries if entry.phase == "outcome"]
    attempts = AuditEntry.objects.in_bulk([entry.attempt_id for entry in outcomes])
    for entry in entries:
        if entry.phase == "attempt":
            assert AuditEntry.objects.filter(attempt_id=entry.id).exists(), f"the attempt {entry.id} has no outcome"
            assert (entry.outcome, entry.response_status, entry.response_body, entry.attempts) == (
                "unknown",
                None,
                "",
                0,
            )
        else:
            assert entry.phase == "outcome" or entry.method == "GET" or entry.action.startswith("audit."), entry
    for outcome in outcomes:
        attempt = attempts.get(outcome.attempt_id)
        assert attempt is not None, f"the outcome {outcome.id} names no entry"
        assert (attempt.phase, attempt.id < outcome.id) == ("attempt", True), outcome
        assert [getattr(attempt, name) for name in ATTEMPT_CARRIES] == [
            getattr(outcome, name) for name in ATTEMPT_CARRIES
        ]
        assert outcome.request_body is None  # what was sent is on the attempt
    return [entry for entry in entries if entry.phase != "attempt"]


def only_call_entry(**filters):
    """The one finished call in the log (see `call_entries`)."""
    calls = call_entries(**filters)
    assert len(calls) == 1, calls
    return calls[0]


def attempt_of(outcome):
    """A write's attempt entry, from its outcome entry."""
    from audit.models import AuditEntry

    return AuditEntry.objects.get(pk=outcome.attempt_id, phase="attempt")


@contextlib.contextmanager
def guard_lifted(using: str = "default"):
    """The audit table's database guard (migration 0009) out of the way, as whoever owns the
    table or the database file can put it: the hash chain must still tell what they did."""
    from django.db import connections

    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE orgadmin_auditentry DISABLE TRIGGER orgadmin_audit_append_only")
            try:
                yield
            finally:
                cursor.execute("ALTER TABLE orgadmin_auditentry ENABLE TRIGGER orgadmin_audit_append_only")
            return
        cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'orgadmin_auditentry'")
        triggers = [sql for (sql,) in cursor.fetchall()]
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'orgadmin_auditentry'")
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP TRIGGER "{name}"')
        try:
            yield
        finally:
            for sql in triggers:
                cursor.execute(sql)


@contextlib.contextmanager
def audit_refuses_inserts(phase: str = "", action: str | tuple[str, ...] = ""):
    """The audit table refuses new entries (of one phase, or of one or more actions, only when
    given), until the block ends. The trigger is the test's own, dropped afterwards."""
    actions = ", ".join(f"'{name}'" for name in ((action,) if isinstance(action, str) else action))
    when = f"NEW.phase = '{phase}'" if phase else f"NEW.action IN ({actions})" if action else "TRUE"
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION test_refuse_audit_inserts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$"
            )
            cursor.execute(
                "CREATE TRIGGER test_refuse_audit_inserts BEFORE INSERT ON orgadmin_auditentry FOR EACH ROW "
                f"WHEN ({when}) EXECUTE FUNCTION test_refuse_audit_inserts()"
            )
            drop = [
                "DROP TRIGGER test_refuse_audit_inserts ON orgadmin_auditentry",
                "DROP FUNCTION test_refuse_audit_inserts()",
            ]
        else:
            cursor.execute(
                "CREATE TRIGGER test_refuse_audit_inserts BEFORE INSERT ON orgadmin_auditentry "
                f"WHEN {when.replace('TRUE', '1')} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
            )
            drop = ["DROP TRIGGER test_refuse_audit_inserts"]
        try:
            yield
        finally:
            for statement in drop:
                cursor.execute(statement)


@contextlib.contextmanager
def chain_held(seconds: float = 20) -> Iterator[None]:
    """Another database session holds the audit chain's lock from the start of the block, for
    `seconds` (by default as long as the stuck append that once stalled every page) or until the
    block ends, whichever comes first: on PostgreSQL the chain's advisory lock, on SQLite the one
    write lock."""
    taken, done = threading.Event(), threading.Event()
    from django.db import connection

    from audit.store import CHAIN_LOCK_ID

    database = connection.settings_dict

    def hold() -> None:
        if connection.vendor == "postgresql":
            with psycopg.connect(
                host=database["HOST"], port=database["PORT"] or 5432, user=database["USER"],
                password=database["PASSWORD"], dbname=database["NAME"], autocommit=True,
            ) as other:  # fmt: skip
                other.execute("SELECT pg_advisory_lock(%s)", [CHAIN_LOCK_ID])
                taken.set()
                done.wait(seconds)
            return
        other = sqlite3.connect(database["NAME"], isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        taken.set()
        done.wait(seconds)
        other.execute("ROLLBACK")
        other.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(10), "the other session did not take the lock"
    try:
        yield
    finally:
        done.set()
        holder.join()


def totp(secret: str, at: float | None = None) -> str:
    """The six-digit code of RFC 6238 (SHA-1, 30-second steps) for a base32 secret."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int((time.time() if at is None else at) // 30)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


# --- A gunicorn worker killed with a write in flight (tests/test_kill*.py) --------------------------

KILL_SECONDS = 30  # the bound of every wait of the kill tests


def wait_for(condition, what: str):
    """Polls `condition` until it holds (its value), for at most KILL_SECONDS."""
    deadline = time.monotonic() + KILL_SECONDS
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {KILL_SECONDS} s")


@contextlib.contextmanager
def one_worker_portal(prefix: str) -> Iterator[PortalServers]:
    """The portal under gunicorn (one worker) and the sandbox, on a throwaway database of the
    suite's kind (named after `prefix`: letters, digits and underscores), with one Admin account,
    "admin"."""
    from django.db import connection

    backend = "postgres" if connection.vendor == "postgresql" else "sqlite"
    with throwaway_workdir(f"portal-{prefix}-") as workdir:
        database = fresh_database(backend, workdir, name=f"{connection.settings_dict['NAME']}_{prefix}")
        with PortalServers(database_url=database, workdir=workdir, accounts={"admin": "Admin"}, workers=1,
                           threads=2) as running:  # fmt: skip
            yield running


def killed_while_held(servers: PortalServers, staff: StaffClient, path: str, data: dict, held: tuple[str, str]) -> dict:
    """Posts `data` to `path` with the sandbox holding the write `held` (method, path); SIGKILLs
    the worker once the write is in flight, waits for gunicorn's next worker, and signs `staff`
    in again, as an operator would. The held request, as the sandbox received it."""
    earlier = len(servers.sandbox_log()["requests"])
    servers.set_faults(queue=[{"method": held[0], "path": held[1], "fault": "hold"}])
    outcome: list[object] = []

    def submit() -> None:
        try:
            outcome.append(staff.send("POST", path, data).status_code)
        except requests.RequestException as exc:  # the worker died with the request
            outcome.append(type(exc).__name__)

    submitting = threading.Thread(target=submit)
    submitting.start()
    [in_flight] = wait_for(
        lambda: [r for r in servers.sandbox_log()["requests"][earlier:] if (r["method"], r["path"]) == held],
        "the write reaching Polytomic",
    )
    [worker] = servers.workers()
    os.kill(worker, signal.SIGKILL)
    submitting.join(timeout=KILL_SECONDS)
    assert outcome, "the submit ended"
    assert outcome[0] != 302, outcome  # no answer came back: the worker was killed
    wait_for(lambda: servers.workers() and servers.workers() != [worker], "gunicorn starting another worker")
    assert wait_until_listening(f"{servers.portal_url}/healthz", seconds=KILL_SECONDS)
    staff.sign_in()  # the session survives, but sign in again as an operator would
    return in_flight


# --- A peer on loopback that behaves as told ---------------------------------------------------------


class Peer:
    """A TCP server on 127.0.0.1 that hands each connection to `behaviour(connection, peer)`, in a
    thread of its own. It counts the connections it accepted (`accepted`, with `changed` notified)
    and keeps what each sent it (`received`)."""

    def __init__(self, behaviour: Callable[[socket.socket, Peer], None]) -> None:
        self.behaviour = behaviour
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.changed = threading.Condition()
        self.accepted = 0
        self.received: list[bytes] = []
        self.sent = 0  # bytes trickled, by every connection together
        self.script = b""  # what `scripted` answers
        self.handlers: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def origin(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:  # the listener was closed: stop
                return
            with self.changed:
                self.accepted += 1
                self.changed.notify_all()
            handler = threading.Thread(target=self._handle, args=(connection,), daemon=True)
            self.handlers.append(handler)
            handler.start()

    def _handle(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            connection.settimeout(30)
            self.behaviour(connection, self)

    def wait_for_connections(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.accepted >= count, timeout=30), self.accepted

    def request_head(self, connection: socket.socket) -> bytes:
        """Reads the request up to its blank line (what follows, a body, is left unread)."""
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = connection.recv(4096)
            if not chunk:
                break
            head += chunk
        with self.changed:
            self.received.append(head)
        return head

    def trickle(self, connection: socket.socket, data: bytes, *, interval: float = 1.0) -> None:
        """Sends `data` a byte at a time, `interval` seconds apart (bounded: it ends when the data
        does, or when the peer stops)."""
        for byte in data:
            if self.stopping.wait(interval):
                return
            connection.sendall(bytes([byte]))
            with self.changed:
                self.sent += 1

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept (closing does not)
        self.listener.close()
        self.acceptor.join(timeout=10)
        for handler in self.handlers:
            handler.join(timeout=10)


@contextlib.contextmanager
def peers() -> Iterator[Callable[[Callable[[socket.socket, Peer], None]], Peer]]:
    """Starts peers with the behaviour given, within the block; stops them at its end."""
    started: list[Peer] = []

    def start(behaviour: Callable[[socket.socket, Peer], None]) -> Peer:
        started.append(Peer(behaviour))
        return started[-1]

    try:
        yield start
    finally:
        for peer in started:
            peer.stop()


def trickling(
    head: bytes, drip: bytes, *, interval: float = 1.0, tls: ssl.SSLContext | None = None
) -> Callable[[socket.socket, Peer], None]:
    """A peer that reads the request, sends `head` at once, then `drip` a byte every `interval`
    seconds; over TLS when given a server context (`tls`), its handshake at full speed."""

    def behaviour(connection: socket.socket, peer: Peer) -> None:
        answering = tls.wrap_socket(connection, server_side=True) if tls is not None else connection
        with answering:
            peer.request_head(answering)
            answering.sendall(head)
            peer.trickle(answering, drip, interval=interval)

    return behaviour


def trickling_tls(*, interval: float = 1.0) -> Callable[[socket.socket, Peer], None]:
    """A peer that takes the TLS greeting and answers with a handshake record a byte every
    `interval` seconds."""

    def behaviour(connection: socket.socket, peer: Peer) -> None:
        peer.received.append(connection.recv(65536))
        peer.trickle(connection, b"\x16\x03\x03\x40\x00" + b"\x00" * 100, interval=interval)

    return behaviour


def tls_server_context(directory: Path) -> tuple[ssl.SSLContext, str]:
    """A TLS server context for 127.0.0.1, its certificate made in `directory` and trusted by no
    one; and the path of that certificate, for a client to trust."""
    from devtools import tls

    certificate_file, key_file = tls.self_signed("127.0.0.1", directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate_file, key_file)
    return context, certificate_file


# --- A real SMTP server on loopback ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ReceivedMail:
    """One message as the SMTP server took it: the envelope, and the message as sent."""

    sender: str
    recipients: list[str]
    raw: str  # as it came over the wire, headers and encoded body
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["subject"])

    @property
    def body(self) -> str:
        return self.message.get_content().replace("\r\n", "\n")  # lines end CRLF on the wire

    @property
    def text(self) -> str:
        """Everything in it, as sent and decoded: what a scan for a secret reads."""
        return f"{self.raw}\n{self.subject}\n{self.body}"


class SmtpServer:
    """aiosmtpd's SMTP server on 127.0.0.1, keeping each message it accepts (`received`); while
    `refusal` is set (e.g. "554 5.7.1 Refused"), it answers every message with it instead."""

    def __init__(self) -> None:
        self.received: list[ReceivedMail] = []
        self.refusal = ""
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd calls it by this name
        if self.refusal:
            return self.refusal
        raw = envelope.original_content or envelope.content
        self.received.append(
            ReceivedMail(
                sender=envelope.mail_from,
                recipients=list(envelope.rcpt_tos),
                raw=raw.decode(errors="replace"),
                message=email.message_from_bytes(raw, policy=email.policy.default),
            )
        )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[ReceivedMail]:
        """The messages whose envelope names `address`."""
        return [mail for mail in self.received if address in mail.recipients]


@contextlib.contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    """A running `SmtpServer` within the block, stopped at its end. Its own log of each command
    (aiosmtpd's "mail.log") is kept to warnings meanwhile."""
    server = SmtpServer()
    chatter = logging.getLogger("mail.log")
    level = chatter.level
    chatter.setLevel(logging.WARNING)
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()
        chatter.setLevel(level)
