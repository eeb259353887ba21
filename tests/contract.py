"""Polytomic's published contract (tests/data/polytomic-contract.yaml), checked with openapi-core
against what crosses the wire between Polytomic's clients and the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

CONTRACT = OpenAPI.from_dict(yaml.safe_load((Path(__file__).parent / "data" / "polytomic-contract.yaml").read_text()))
SERVER = "https://app.polytomic.com"
# The clients the contract binds: the portal's own, and Polytomic's SDK. Tests that send the
# sandbox malformed requests on purpose do so with neither.
CLIENTS = ("partner-organization-portal/", "polytomic/")


def problems(exchanges: list[dict[str, Any]]) -> list[str]:
    """Where the requests of Polytomic's clients, and the sandbox's answers to them (but answers a
    fault stood in for), break the contract."""
    found = []
    for exchange in exchanges:
        if not exchange["headers"].get("user-agent", "").startswith(CLIENTS):
            continue
        label = f"{exchange['method']} {exchange['path']}"
        request = MockRequest(
            SERVER,
            exchange["method"].lower(),
            exchange["path"],
            args=dict(parse_qsl(exchange.get("query", ""))),
            headers=exchange["headers"],
            data=json.dumps(exchange["body"]) if exchange["body"] is not None else None,
        )
        try:
            CONTRACT.validate_request(request)
        except Exception as exc:  # openapi-core raises one error class per kind of breach
            found.append(f"request {label}: {_reason(exc)}")
        answer = exchange.get("answer")
        if answer is None or answer["fault"]:
            continue
        body = answer["body"]
        response = MockResponse(
            json.dumps(body).encode() if body is not None else b"",
            status_code=answer["status"],
            content_type="application/json" if body is not None else None,
        )
        try:
            CONTRACT.validate_response(request, response)
        except Exception as exc:
            found.append(f"answer {answer['status']} to {label}: {_reason(exc)}")
    return found


def _reason(exc: Exception) -> str:
    causes = getattr(exc, "__cause__", None)
    details = getattr(causes, "schema_errors", None) or []
    return "; ".join([str(exc), *(error.message for error in details)])
