"""The shared client under threads, as gunicorn's gthread workers use it, against a real HTTP server
on loopback: every call answered correctly, connections kept alive and reused."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection

from audit.models import AuditEntry
from audit.protocol import AuditContext
from orgadmin.organizations import queries

THREADS = 8
CALLS_PER_THREAD = 10


class CountingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), OrganizationsHandler)
        self.connections = 0
        self.lock = threading.Lock()

    def process_request(self, request, client_address):
        with self.lock:
            self.connections += 1
        super().process_request(request, client_address)


class OrganizationsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_GET(self) -> None:
        # Each caller asks for its own organization and must get exactly that one back.
        organization_id = self.path.rsplit("/", 1)[-1]
        body = json.dumps({"data": {"id": organization_id, "name": f"Org {organization_id[-4:]}"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[CountingServer]:
    server = CountingServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.mark.django_db(transaction=True)
def test_threads_share_the_client_and_its_kept_alive_connections(settings, server):
    settings.POLYTOMIC_API_URL = f"http://127.0.0.1:{server.server_address[1]}"
    context = AuditContext(actor=None, actor_label="concurrency-test")

    def worker(thread_number: int) -> list[bool]:
        results = []
        for call_number in range(CALLS_PER_THREAD):
            wanted = f"00000000-0000-4000-8000-{thread_number:06d}{call_number:06d}"
            found = queries.organization_get(context=context, organization_id=uuid.UUID(wanted))
            results.append(found.id == wanted)
        connection.close()  # this thread's database connection
        return results

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = [ok for batch in pool.map(worker, range(THREADS)) for ok in batch]

    assert results == [True] * (THREADS * CALLS_PER_THREAD)
    # Keep-alive pooling: no more TCP connections than threads, however many calls.
    assert server.connections <= THREADS
    # One audit entry for every call, written from eight threads at once.
    assert AuditEntry.objects.filter(actor_username="concurrency-test").count() == THREADS * CALLS_PER_THREAD
