"""The sandbox's HTTP side: the WSGI application that routes a request to the API (state.py),
the faults (faults.py) or the control endpoints, and the loopback server that serves it.

Control endpoints, for tests and load runs only (never part of Polytomic):
- `GET /_sandbox/requests`: the API requests received (authorization masked), the TCP connections
  accepted (HTTP/1.1 keep-alive, so pooled clients reuse them), and how many bytes of each
  trickled answer went out before the client hung up; `POST /_sandbox/reset`
  restores the seeded state and clears the log, the idempotency keys and the faults.
- `POST /_sandbox/faults`: the faults in force (faults.py); `POST /_sandbox/release` lets the
  requests held by the `hold` fault go on (each is then carried out), and those held later too.
- `GET /_idp/<tenant>/.well-known/openid-configuration`: a customer's identity provider.
"""

from __future__ import annotations

import json
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qsl
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

from devtools import tls
from devtools.sandbox.answers import Response, error, reason
from devtools.sandbox.faults import DropConnection, FaultInjection
from devtools.sandbox.state import SandboxState

DEFAULT_VERSION = "2025-09-18"


class Sandbox(SandboxState, FaultInjection):
    """The sandbox's WSGI application, over its state and its faults. One lock guards all of it."""

    def __init__(self, *, partner_keys: dict[str, str] | None = None, bare_errors: bool = False) -> None:
        super().__init__(partner_keys=partner_keys)
        # Errors as bare {"status", "message"}: without the guessed `key` and `metadata`.
        self.bare_errors = bare_errors
        self.stopping = threading.Event()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.reset_state()
            self.reset_faults()
            self.received: list[dict[str, Any]] = []
            self.connections = 0  # TCP connections accepted

    def count_connection(self) -> None:
        with self.lock:
            self.connections += 1

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        path = environ.get("PATH_INFO", "")
        body = _read_body(environ)
        if path.startswith("/_sandbox/"):
            response = self._control(method, path, body)
            fault = None
        elif path.startswith("/_idp/"):
            base = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
            response = _identity_provider(path, base)
            fault = None
        else:
            headers = _request_headers(environ)
            exchange = {
                "method": method,
                "path": path,
                "query": environ.get("QUERY_STRING", ""),
                "peer_port": int(environ.get("REMOTE_PORT") or 0),
                "headers": _masked(headers),
                "body": _decoded(body),
            }
            with self.lock:
                self.received.append(exchange)
                fault = self.faults.take(method, path, headers.get("x-sandbox-fault", "")) or self.faults.basic_refusal(
                    headers.get("authorization", "")
                )
                latency_ms = self.faults.latency_ms
            query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
            handled: list[bool] = []  # whether the API itself answered, whatever a fault then did to its answer
            response = self.with_fault(
                fault, latency_ms, lambda delay: handled.append(True) or self.answer(method, path, headers, body, query,
                                                                                      delay)
            )  # fmt: skip
            response.headers.setdefault("X-Polytomic-Version", headers.get("x-polytomic-version") or DEFAULT_VERSION)
            if self.bare_errors and response.status >= 400 and isinstance(response.body, dict):
                response.body = {name: response.body[name] for name in ("status", "message") if name in response.body}
            # What was answered, for the contract tests (a fault's answer is no answer of Polytomic's).
            body = response.body.decode("utf-8", "replace") if isinstance(response.body, bytes) else response.body
            exchange["answer"] = {"status": response.status, "body": body, "fault": fault is not None,
                                  "acted": bool(handled) and 200 <= response.status < 300}  # fmt: skip
        payload = response.encoded()
        response_headers = [(name, value) for name, value in response.headers.items()]
        if payload:
            response_headers.append(("Content-Type", response.headers.get("Content-Type", "application/json")))
        broken = self.broken_answer(fault, start_response)
        if broken is not None:
            return broken
        response_headers.append(("Content-Length", str(len(payload))))
        start_response(f"{response.status} {reason(response.status)}", _unique(response_headers))
        return self.paced(fault, path, payload)

    def _control(self, method: str, path: str, body: bytes) -> Response:
        if (method, path) == ("GET", "/_sandbox/requests"):
            with self.lock:
                return Response(
                    200, {"requests": list(self.received), "connections": self.connections, "trickles": self.trickles}
                )
        if (method, path) == ("POST", "/_sandbox/reset"):
            self.reset()
            return Response(204)
        if (method, path) == ("POST", "/_sandbox/faults"):
            return self.set_faults(body)
        if (method, path) == ("POST", "/_sandbox/release"):
            held = self.held.is_set()
            self.release.set()
            return Response(200, {"released": held})
        return error(404, "no such sandbox endpoint")


def _identity_provider(path: str, base: str) -> Response:
    """A customer's identity provider, as far as the portal's issuer check looks: the discovery
    document of `/_idp/<tenant>`. Tenants: `good` (names itself), `trailing-slash` (names itself
    with a trailing slash, the classic broken setup), `moved` (redirects), `garbage` (not JSON)."""
    tenant, _, rest = path.removeprefix("/_idp/").partition("/")
    if rest != ".well-known/openid-configuration":
        return error(404, "no such document")
    issuer = f"{base}/_idp/{tenant}"
    if tenant == "moved":
        return Response(302, None, {"Location": "http://169.254.169.254/latest/meta-data/"})
    if tenant == "garbage":
        return Response(200, b"<html>not a discovery document</html>", {"Content-Type": "text/html"})
    named = issuer + "/" if tenant == "trailing-slash" else issuer
    return Response(200, {"issuer": named, "authorization_endpoint": f"https://login.{tenant}.example/authorize"})


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _request_headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    return headers


def _masked(headers: dict[str, str]) -> dict[str, str]:
    masked = dict(headers)
    if "authorization" in masked:
        scheme = masked["authorization"].partition(" ")[0]
        masked["authorization"] = f"{scheme} [masked]"
    return masked


def _decoded(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def _unique(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: dict[str, tuple[str, str]] = {}
    for name, value in headers:
        seen[name.lower()] = (name, value)
    return list(seen.values())


# --- Serving -----------------------------------------------------------------------------------


class _ServerHandler(ServerHandler):
    http_version = "1.1"

    def cleanup_headers(self) -> None:
        super().cleanup_headers()
        # HTTP/1.1: a server that will close the connection says so, or the client may pool it.
        if self.request_handler.close_connection:
            self.headers["Connection"] = "close"

    def log_exception(self, exc_info: Any) -> None:
        if isinstance(exc_info[1], DropConnection):
            self.request_handler.close_connection = True  # the answer is broken: so is the connection
        else:
            super().log_exception(exc_info)


class _KeepAliveHandler(WSGIRequestHandler):
    """wsgiref's handler speaking HTTP/1.1 with keep-alive, as an API behind a load balancer does,
    so that clients' connection pooling is exercised; no access log, no traceback for a drop."""

    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle kept-alive connection is closed after this many seconds
    # wsgiref writes the headers and the body separately: without TCP_NODELAY, Nagle's algorithm
    # and the client's delayed ACK hold each answer on a kept-alive connection for ~40 ms.
    disable_nagle_algorithm = True

    def handle(self) -> None:
        self.close_connection = False
        while not self.close_connection:
            self._handle_one()

    def _handle_one(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except TimeoutError:
            self.close_connection = True
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            self.close_connection = True
            return
        if not self.parse_request():  # also decides close_connection from the request's headers
            self.close_connection = True
            return
        handler = _ServerHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=True)
        handler.request_handler = self
        handler.run(self.server.get_app())
        self.wfile.flush()

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["REMOTE_PORT"] = str(self.client_address[1])  # which of the client's connections it came on
        return environ

    def log_message(self, format: str, *args: Any) -> None:
        pass


class SandboxServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def process_request(self, request: Any, client_address: Any) -> None:
        self.get_app().count_connection()
        super().process_request(request, client_address)


class RunningSandbox:
    """A sandbox served on loopback from a background thread; `stop()` ends it.

    `tls_url` serves the same sandbox over https, with a certificate made for 127.0.0.1 that only
    `ca_file` trusts: where an https URL is required (a customer's OIDC issuer, `/_idp/...`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, sandbox: Sandbox | None = None) -> None:
        self.sandbox = sandbox or Sandbox()
        self.server = make_server(host, port, self.sandbox, server_class=SandboxServer, handler_class=_KeepAliveHandler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self.servers = [self.server]
        self.threads = [self._serve(self.server)]
        self.host, self.tls_url, self.ca_file = host, "", ""
        self.certificate_dir: tempfile.TemporaryDirectory | None = None

    def _serve(self, server: WSGIServer) -> threading.Thread:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        return thread

    def serve_tls(self) -> str:
        """Starts the https listener (once); its base URL."""
        if not self.tls_url:
            self.certificate_dir = tempfile.TemporaryDirectory(prefix="sandbox-tls-")
            self.ca_file, key_file = tls.self_signed(self.host, Path(self.certificate_dir.name))
            server = make_server(
                self.host, 0, self.sandbox, server_class=SandboxServer, handler_class=_KeepAliveHandler
            )
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.ca_file, key_file)
            server.socket = context.wrap_socket(server.socket, server_side=True)
            server.base_environ["HTTPS"] = "on"  # wsgi.url_scheme https
            self.servers.append(server)
            self.threads.append(self._serve(server))
            self.tls_url = f"https://{self.host}:{server.server_address[1]}"
        return self.tls_url

    def stop(self) -> None:
        self.sandbox.stopping.set()  # releases hanging requests
        self.sandbox.release.set()  # and held ones
        for server in self.servers:
            server.shutdown()
            server.server_close()
        for thread in self.threads:
            thread.join(timeout=10)
        if self.certificate_dir is not None:
            self.certificate_dir.cleanup()

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
