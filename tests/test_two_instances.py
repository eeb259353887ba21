"""The second-factor protections hold across processes: two portals (two gunicorn masters, each
on a loopback port of its own, with two workers each) on one database of the suite's kind (a
SQLite file, or PostgreSQL), the cache as configured (the database's table by default; CI runs
this once more with CACHE_URL naming Redis).

Signed in over HTTP as a browser is, with a password and an authenticator app: a code accepted
by one portal is refused by the other, also when both receive it at the same moment; wrong codes
sent to each of the four workers in turn are counted together, so that the sixth try is refused
even with the right code; and after both portals restart, it still is.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests
from django.db import connection

from benchmarks.harness import PASSWORD, PortalServers, StaffClient, fresh_database, throwaway_workdir
from tests.support import totp

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # both accounts' authenticator app
SIGN_IN, SECOND_STEP = "/accounts/login/", "/accounts/2fa/authenticate/"
INCORRECT, PAUSED = "Incorrect code.", "Too many failed login attempts"
TRIES = 5  # wrong codes a staff member may send in five minutes (ACCOUNT_RATE_LIMITS)
A, B = 0, 1  # the two portals
SECONDS = 30  # the bound of every wait below
# The time a code must have left when it is sent: the requests that must see it still current
# take well under a second; this leaves a loaded machine ten times that.
TIME_LEFT = 8


@pytest.fixture(scope="module")
def portals():
    """The two portals, shared by the module's tests: each test signs in accounts of its own
    (a code accepted for one account is not refused for another), so none sees another's codes."""
    backend = "postgres" if connection.vendor == "postgresql" else "sqlite"
    with throwaway_workdir("portal-two-") as workdir:
        database = fresh_database(backend, workdir, name=f"{connection.settings_dict['NAME']}_instances")
        with PortalServers(
            database_url=database, workdir=workdir, accounts={"ed": "Editor", "ada": "Admin", "eve": "Editor"},
            workers=2, threads=2, instances=2, gunicorn_env={"PORTAL_REQUIRE_MFA": "true"},
        ) as running:  # fmt: skip
            running.manage("shell", "-c", (
                "from allauth.mfa.totp.internal.auth import TOTP\n"
                "from django.contrib.auth.models import User\n"
                "for user in User.objects.all():\n"
                f"    TOTP.activate(user, {SECRET!r})\n"
            ))  # fmt: skip
            yield running


def at_second_step(portals: PortalServers, instance: int, username: str) -> StaffClient:
    """A browser signed in with the password at a portal, asked for its authenticator app's code."""
    browser = StaffClient(portals.portal_urls[instance], username)
    browser.send("GET", SIGN_IN)
    answer = browser.send("POST", SIGN_IN, {"login": username, "password": PASSWORD})
    assert (answer.status_code, answer.headers.get("Location")) == (302, SECOND_STEP), answer.text[:2000]
    return browser


def code_with_time_left(seconds: float = TIME_LEFT) -> str:
    """The current code, once at least `seconds` of its 30 are left: waits for the next one if not."""
    left = 30 - time.time() % 30
    if left < seconds:
        time.sleep(left)  # until the clock starts the next code: the condition itself, bounded by 30 s
    return totp(SECRET)


def sent(portals: PortalServers, instance: int, browser: StaffClient, method: str, path: str, data=None):
    """The answer, and the worker of the portal that gave it: looked up while the keep-alive
    connection that carried it is still open."""
    response = browser.send(method, path, data, stream=True)
    worker = portals.worker_serving(response.raw.connection.sock.getsockname()[1], instance)
    _ = response.content  # read, which hands the connection back to the browser's pool
    return response, worker


def through(portals: PortalServers, instance: int, worker: int, cookies: dict, pool: dict) -> StaffClient:
    """A browser with `cookies` whose keep-alive connection has just reached `worker` of the
    portal: which worker accepts a new connection is the kernel's choice, so new ones are opened
    until one lands there (for at most SECONDS: a worker still starting accepts none)."""
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        browser = pool.pop((instance, worker), None) or StaffClient(portals.portal_urls[instance], "")
        browser.cookies = cookies
        _, reached = sent(portals, instance, browser, "GET", "/healthz")
        pool[(instance, reached)] = browser
        if reached == worker:
            return browser
    raise AssertionError(f"no connection reached worker {worker} of portal {instance}")


def test_a_code_is_accepted_once_and_wrong_codes_are_counted_together_through_a_restart(portals):
    assert all(len(portals.workers(instance)) == 2 for instance in (A, B))

    # A code accepted by one portal is refused by the other while it is still the current code.
    first, second = at_second_step(portals, A, "ed"), at_second_step(portals, B, "ed")
    code = code_with_time_left()
    accepted = first.send("POST", SECOND_STEP, {"code": code})
    assert (accepted.status_code, accepted.headers.get("Location")) == (302, "/"), accepted.text[:2000]
    replayed = second.send("POST", SECOND_STEP, {"code": code})
    assert totp(SECRET) == code  # still current: refused for having been used, not for its age
    assert replayed.status_code == 200
    assert INCORRECT in replayed.text

    # Wrong codes through each worker of each portal in turn, on one browser's session: the five
    # allowed are counted together, and the sixth try is refused although its code is right.
    browser = at_second_step(portals, A, "ada")
    workers = [(instance, worker) for instance in (A, B) for worker in portals.workers(instance)]
    pool: dict[tuple[int, int], StaffClient] = {}
    for instance, worker in (workers * 2)[:TRIES]:
        wrong = f"{(int(totp(SECRET)) + 1) % 1_000_000:06d}"
        answer, answered_by = sent(
            portals, instance, through(portals, instance, worker, browser.cookies, pool), "POST", SECOND_STEP,
            {"code": wrong},
        )  # fmt: skip
        assert answered_by == worker
        assert answer.status_code == 200
        assert INCORRECT in answer.text
    instance, worker = workers[-1]
    paused = through(portals, instance, worker, browser.cookies, pool).send("POST", SECOND_STEP, {"code": totp(SECRET)})
    assert paused.status_code == 200
    assert PAUSED in paused.text

    # Both portals stop and start again (every worker new): the count is where it was.
    before = {pid for instance in (A, B) for pid in portals.workers(instance)}
    portals.stop_portals()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{portals.portal_urls[A]}/healthz", timeout=5)
    portals.start_portals()
    assert before.isdisjoint(pid for instance in (A, B) for pid in portals.workers(instance))
    for instance in (A, B):
        again = StaffClient(portals.portal_urls[instance], "ada")
        again.cookies = dict(browser.cookies)
        still = again.send("POST", SECOND_STEP, {"code": totp(SECRET)})
        assert still.status_code == 200
        assert PAUSED in still.text


def test_one_code_sent_to_both_portals_at_once_is_accepted_once(portals):
    browsers = {A: at_second_step(portals, A, "eve"), B: at_second_step(portals, B, "eve")}
    code = code_with_time_left()
    together = threading.Barrier(len(browsers))
    answers: dict[int, int] = {}

    def send(instance: int) -> None:
        together.wait(timeout=SECONDS)
        answers[instance] = browsers[instance].send("POST", SECOND_STEP, {"code": code}).status_code

    threads = [threading.Thread(target=send, args=(instance,)) for instance in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SECONDS)
    assert totp(SECRET) == code  # still current: one was refused for its use by the other
    assert sorted(answers.values()) == [200, 302]
