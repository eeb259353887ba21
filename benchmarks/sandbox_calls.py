"""The sandbox as the benchmark drives it: the latency it adds to every answer during the timed
runs, calls made to it directly (the yardstick a page is measured against), and filling it up
with organizations."""

from __future__ import annotations

import requests

from devtools.sandbox import PARTNER_KEY

LATENCY_MS = 50.0


class Polytomic:
    """Direct calls to the sandbox, pooled and keep-alive like the portal's own client."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.headers.update({
            "Authorization": f"Bearer {PARTNER_KEY}",
            "X-Polytomic-Version": "2025-09-18",
            "Accept": "application/json",
        })  # fmt: skip
        self.writes = 0

    def get(self, path: str) -> requests.Response:
        response = self.http.get(self.base + path, timeout=30)
        response.raise_for_status()
        response.json()
        return response

    def put(self, path: str, body: dict) -> requests.Response:
        self.writes += 1
        response = self.http.put(
            self.base + path, json=body, headers={"Idempotency-Key": f"bench-direct-{self.writes:08d}"}, timeout=30
        )
        response.raise_for_status()
        return response

    def create(self, name: str) -> str:
        response = self.http.post(self.base + "/api/organizations", json={"name": name}, timeout=30)
        response.raise_for_status()
        return response.json()["data"]["id"]

    def faults(self, **settings: object) -> None:
        requests.post(self.base + "/_sandbox/faults", json=settings, timeout=30).raise_for_status()


def fill_up(direct: Polytomic, organizations: int) -> None:
    """Creates organizations in the sandbox until it holds `organizations` (it starts with four)."""
    present = len(direct.get("/api/organizations").json()["data"])
    for n in range(present, organizations):
        direct.create(f"Bench organization {n:05d}")
