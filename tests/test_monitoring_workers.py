"""`/metrics` under gunicorn: whichever worker answers a scrape, it counts the calls every worker
of the instance made (prometheus_client's multiprocess mode, set up by deploy/gunicorn.conf.py).
One portal of two workers on a database of the suite's kind, against the sandbox."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.harness import PortalServers, StaffClient, fresh_database, throwaway_workdir

SECONDS = 30  # the bound of every wait below
LIST = "/organizations/"


@pytest.fixture
def portal():
    backend = "postgres" if connection.vendor == "postgresql" else "sqlite"
    with throwaway_workdir("portal-metrics-") as workdir:
        database = fresh_database(backend, workdir, name=f"{connection.settings_dict['NAME']}_metrics")
        with PortalServers(
            database_url=database, workdir=workdir, accounts={"ada": "Admin"}, workers=2, threads=2,
            gunicorn_env={"PORTAL_METRICS_NETWORKS": "127.0.0.0/8"},
        ) as running:  # fmt: skip
            yield running


def browsers_on_each_worker(portal: PortalServers, cookies: dict) -> dict[int, StaffClient]:
    """A browser with `cookies` per worker, each with its keep-alive connection open to it: which
    worker accepts a new connection is the kernel's choice, so new ones are opened until each
    worker has one (for at most SECONDS)."""
    workers, found = portal.workers(), {}
    deadline = time.monotonic() + SECONDS
    while set(found) != set(workers) and time.monotonic() < deadline:
        browser = StaffClient(portal.portal_url, "ada")
        browser.cookies = dict(cookies)
        answer = browser.send("GET", "/healthz", stream=True)
        worker = portal.worker_serving(answer.raw.connection.sock.getsockname()[1])
        _ = answer.content  # read: the connection goes back to this browser's pool, still open
        found.setdefault(worker, browser)
    assert set(found) == set(workers), f"no connection reached every worker of {workers}"
    return found


def listed_ok(browser: StaffClient) -> float:
    scraped = browser.send("GET", "/metrics")
    assert scraped.status_code == 200, scraped.text[:500]
    for family in text_string_to_metric_families(scraped.text):
        for sample in family.samples:
            if sample.name == "portal_polytomic_calls_total" and sample.labels == {
                "action": "organization.list", "outcome": "ok"
            }:  # fmt: skip
                return sample.value
    return 0.0


def test_every_worker_answers_for_the_calls_of_all(portal):
    signed_in = StaffClient(portal.portal_url, "ada")
    assert signed_in.sign_in()
    browsers = browsers_on_each_worker(portal, signed_in.cookies)
    assert len(browsers) == 2
    first, second = browsers.values()
    for browser, pages in ((first, 2), (second, 3)):
        for _ in range(pages):
            assert browser.send("GET", LIST).status_code == 200
    assert [listed_ok(browser) for browser in (first, second)] == [5, 5]
