"""Fault injection: what the sandbox does instead of, or to, an answer, and `POST /_sandbox/faults`
that sets it (for tests and load runs only, never part of Polytomic).

`POST /_sandbox/faults`: `{"latency_ms": 50, "rate": 0.05, "mix": ["status:503", "drop"],
"seed": 1, "queue": [{"method": "PUT", "path": "/api/organizations/<id>", "fault": "status:500"}]}`.
Queued faults answer the next matching request once each; `rate` applies a random fault of `mix`
to that share of all requests; `latency_ms` is added to every request. Faults: `latency:<ms>`,
`status:<code>` (401 also `status:401:legacy` and `status:401:nested`), `hang` (no answer until
the client gives up), `garbage` (a 200 that is not JSON), `drop` (the connection breaks
mid-answer), `trickle:<ms>` (the request is handled, and its answer sent a byte every <ms> ms),
`huge:<bytes>` (the request is handled, and answered with a 200 of that many bytes, declared),
`hold` (the request waits in flight, its idempotency key reserved, until a test sets
`Sandbox.release`, or `POST /_sandbox/release` does; `Sandbox.held` says it is waiting).
A queued rule may instead carry `"answer": {"status": 422, "body": {...}}` (or `"text"` for a
body that is not JSON, and `"headers"`): that exact answer, once, as if Polytomic sent it.
An `X-Sandbox-Fault` request header injects one for that request.
`"refuse_basic": 403` (or 401) makes the sandbox refuse every call made with HTTP Basic auth (the
roles and connections lists, asked as an organization with its id and the partner key) with that
status, until faults are set again: Polytomic as it would be if it did not take a partner key as
an organization-scoped key, which its API reference does not promise it does. All off by default.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from devtools.sandbox.answers import Response, error, reason

HANG_SECONDS = 60.0
# Faults that let the request be handled and then spoil its answer.
ANSWER_FAULTS = frozenset({"drop", "trickle", "huge", "hold"})


class DropConnection(Exception):
    """Raised mid-answer: the server closes the connection without finishing the response."""


@dataclass
class Faults:
    latency_ms: float = 0
    rate: float = 0
    mix: list[str] = field(default_factory=lambda: ["status:500", "status:503", "drop", "garbage"])
    queue: list[dict[str, Any]] = field(default_factory=list)
    refuse_basic: int = 0  # 401 or 403: every HTTP Basic call refused so; 0: none
    rng: random.Random = field(default_factory=random.Random)  # faults, not secrets

    def take(self, method: str, path: str, header: str) -> str | dict[str, Any] | None:
        """The fault for this request, if any: the header's, a queued one (a fault's name, or a
        scripted answer as a dict), or one drawn at `rate`."""
        if header:
            return header
        for index, rule in enumerate(self.queue):
            if rule.get("method", method).upper() == method and rule.get("path", path) == path:
                del self.queue[index]
                return dict(rule["answer"]) if "answer" in rule else str(rule["fault"])
        if self.rate and self.rng.random() < self.rate:
            return self.rng.choice(self.mix)
        return None

    def basic_refusal(self, authorization: str) -> dict[str, Any] | None:
        """The answer that refuses an HTTP Basic call while `refuse_basic` is set (its wording a
        guess: nothing public shows one), or None."""
        if not self.refuse_basic or authorization.partition(" ")[0].lower() != "basic":
            return None
        message = "organization-scoped access with a partner key is not enabled for this account"
        body = {"status": self.refuse_basic, "message": message, "key": "unauthorized"}
        return {"status": self.refuse_basic, "body": body}


class FaultInjection:
    """The faults in force and what they have done, mixed into `Sandbox` (which holds the lock)."""

    lock: threading.Lock
    stopping: threading.Event

    def reset_faults(self) -> None:
        """No fault in force and none remembered. The caller holds the lock."""
        self.trickles: list[dict[str, Any]] = []  # answers sent a byte at a time: how far each got
        self.trickle_ended = threading.Event()  # set as each of them ends
        self.held, self.release = threading.Event(), threading.Event()  # the `hold` fault
        self.faults = Faults()

    def with_fault(
        self, fault: str | dict[str, Any] | None, latency_ms: float, handle: Callable[[Callable[[], None]], Response]
    ) -> Response:
        """Faults that stand in for a broken network or proxy answer first; otherwise `handle`
        answers, given the delay to wait out once the request is admitted (latency, or `hold`)."""
        if isinstance(fault, dict):
            return _scripted(fault)
        kind, _, argument = (fault or "").partition(":")
        if kind == "latency":
            latency_ms += float(argument or 0)
        elif fault is not None and kind not in ANSWER_FAULTS:
            return self._fault(kind, argument)
        hold = kind == "hold"
        return handle(lambda: self._delay(latency_ms, hold=hold))

    def broken_answer(self, fault: str | dict[str, Any] | None, start_response: Callable) -> Iterable[bytes] | None:
        """`drop` and `huge` send an answer of their own in place of the request's; None otherwise."""
        kind, _, argument = fault.partition(":") if isinstance(fault, str) else ("", "", "")
        if kind == "drop":
            # Promise a body, send half of it, then break the connection.
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "4096")])
            return _dropping(b'{"data": [{"id": "')
        if kind == "huge":
            size = int(argument or 0)
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(size))])
            return _huge(size)
        return None

    def paced(self, fault: str | dict[str, Any] | None, path: str, payload: bytes) -> Iterable[bytes]:
        """The answer's body: at once, or with `trickle:<ms>` a byte every <ms> ms."""
        kind, _, argument = fault.partition(":") if isinstance(fault, str) else ("", "", "")
        if kind == "trickle":
            return self._trickled(path, payload, float(argument or 100) / 1000)
        return [payload]

    def set_faults(self, body: bytes) -> Response:
        """`POST /_sandbox/faults`: the faults in force from now on, replacing those before."""
        try:
            settings = json.loads(body or b"{}")
            faults = Faults(
                latency_ms=float(settings.get("latency_ms", 0)),
                rate=float(settings.get("rate", 0)),
                queue=list(settings.get("queue", [])),
                refuse_basic=_refusal_status(settings.get("refuse_basic", 0)),
                rng=random.Random(settings.get("seed")),  # noqa: S311 (drawing faults, not secrets)
            )
            if "mix" in settings:
                faults.mix = [str(kind) for kind in settings["mix"]]
        except (ValueError, TypeError, AttributeError):
            return error(400, "faults must be a JSON object as documented in devtools/sandbox/faults.py")
        with self.lock:
            self.faults = faults
        return Response(200, {"faults": {k: v for k, v in asdict(faults).items() if k != "rng"}})

    def _delay(self, latency_ms: float, *, hold: bool) -> None:
        """The added latency; a held request (fault `hold`) says so on `held` and waits, in
        flight with its idempotency key reserved, until a test sets `release` (or the sandbox stops)."""
        if hold:
            self.held.set()
            self.release.wait(HANG_SECONDS)
        if latency_ms > 0:
            time.sleep(latency_ms / 1000)

    def _trickled(self, path: str, payload: bytes, interval: float) -> Iterator[bytes]:
        """The answer a byte at a time; how much of it went out is kept in `trickles`."""
        sent = 0
        try:
            for index in range(len(payload)):
                if index and self.stopping.wait(interval):
                    return
                yield payload[index : index + 1]
                sent += 1
        finally:
            with self.lock:
                self.trickles.append({"path": path, "sent": sent, "of": len(payload)})
            self.trickle_ended.set()

    def _fault(self, kind: str, argument: str) -> Response:
        if kind == "hang":
            self.stopping.wait(HANG_SECONDS)
            return error(504, "the sandbox stopped waiting")
        if kind == "garbage":
            return Response(
                200, b"<html><body>Service temporarily unavailable</body></html>", {"Content-Type": "text/html"}
            )
        if kind == "status":
            code, _, shape = argument.partition(":")
            return _status_fault(int(code), shape)
        return error(400, f"unknown sandbox fault {kind!r}")


def _refusal_status(value: Any) -> int:
    if value not in (0, 401, 403):
        raise ValueError("refuse_basic is 0, 401 or 403")
    return int(value)


def _status_fault(code: int, shape: str) -> Response:
    if code == 401 and shape == "legacy":
        return Response(401, {"code": 401, "context": {}, "error": "unauthorized", "status": "Unauthorized"})
    if code == 401 and shape == "nested":
        return Response(401, {"error": {"message": "invalid or unknown API key"}})
    if code in (502, 503, 504):  # as a proxy in front of the API would answer
        html = f"<html><head><title>{code}</title></head><body><h1>{code} {reason(code)}</h1></body></html>"
        return Response(code, html.encode(), {"Content-Type": "text/html"})
    response = error(code, f"sandbox fault: {reason(code).lower()}")
    if code == 429:
        response.headers["Retry-After"] = "1"
    return response


def _scripted(answer: dict[str, Any]) -> Response:
    """A queued rule's exact answer: what Polytomic, or something in front of it, might send."""
    headers = {str(name): str(value) for name, value in (answer.get("headers") or {}).items()}
    if "text" in answer:
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return Response(int(answer.get("status", 200)), str(answer["text"]).encode(), headers)
    return Response(int(answer.get("status", 200)), answer.get("body"), headers)


def _huge(size: int) -> Iterator[bytes]:
    """`size` bytes of one JSON object, whose name holds nearly all of them."""
    head, tail = b'{"data": {"id": "7a1f0c2e-0000-4000-8000-00000000f00d", "name": "', b'"}}'
    yield head
    left = size - len(head) - len(tail)
    while left > 0:
        chunk = min(left, 64 * 1024)
        yield b"x" * chunk
        left -= chunk
    yield tail


def _dropping(first_part: bytes) -> Iterator[bytes]:
    yield first_part
    raise DropConnection
