"""The sandbox's answers: a status, headers and a body, and the ApiError shape its errors take."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any


class Response:
    """One answer: status, headers, and a body (JSON-able, or bytes sent as they are)."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


def error(
    status: int, message: str | tuple[str, str], *, key: str = "", metadata: dict[str, Any] | None = None
) -> Response:
    """An ApiError answer; `message` may be one of the `Guess` pairs of wording and key."""
    if isinstance(message, tuple):
        message, key = message
    body: dict[str, Any] = {"status": status, "message": message}
    if key:
        body["key"] = key
    if metadata is not None:
        body["metadata"] = metadata
    return Response(status, body)


def reason(status: int) -> str:
    """The status line's phrase."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
