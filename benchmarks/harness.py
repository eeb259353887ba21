"""What load runs and benchmarks share: the portal under gunicorn and the sandbox, on loopback, on
a throwaway database, stopped at the end; and a signed-in member of staff talking to it over HTTP.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from devtools.support import free_port, run_python, wait_until_listening

BASE_DIR = Path(__file__).resolve().parent.parent
PASSWORD = "bench-and-load-password-0123"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_HOST_URL = "postgres://postgres@127.0.0.1:5432"


def postgres_available() -> bool:
    import psycopg

    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def fresh_database(backend: str, workdir: str, name: str = "portal_bench") -> str:
    """The URL of an empty throwaway database: a new SQLite file, or the PostgreSQL database `name`
    on 127.0.0.1, dropped and created again."""
    if backend == "sqlite":
        return f"sqlite:///{Path(workdir) / f'{name}-{time.monotonic_ns()}.sqlite3'}"
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    return f"{POSTGRES_HOST_URL}/{name}"


@contextmanager
def throwaway_database(backend: str, workdir: str, name: str = "portal_bench") -> Iterator[str]:
    """`fresh_database`, dropped again afterwards on PostgreSQL (a SQLite file goes with `workdir`)."""
    url = fresh_database(backend, workdir, name)
    try:
        yield url
    finally:
        if backend == "postgres":
            import psycopg

            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
                connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def portal_environment(database_url: str, workdir: str, **extra: str) -> dict[str, str]:
    """The production settings, on loopback, behind one pretend TLS proxy. Its staff are local
    accounts that sign in with a password alone (PORTAL_REQUIRE_MFA off), and act alone (FOUR_EYES
    off): the runs measure the organization pages and their calls, not sign-in or approvals."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789",
        "POLYTOMIC_PARTNER_API_KEY": "sandbox-partner-key",
        "AUDIT_CHAIN_KEY": "bench-audit-chain-key-0123456789",
        "ALLOWED_HOSTS": "127.0.0.1",
        "TRUSTED_PROXY_COUNT": "1",
        "PORTAL_REQUIRE_MFA": "false",
        "FOUR_EYES": "false",
        "DATABASE_URL": database_url,
        "STATIC_ROOT": f"{workdir}/static",
        "GUNICORN_BIND_HOST": "127.0.0.1",
        "GUNICORN_LOG_LEVEL": "warning",
        "PYTHONPATH": str(BASE_DIR),
        **extra,
    }


def run_checked(env: dict[str, str], *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    """`python *arguments`, run as `devtools.support.run_python` runs it; when `check`, exits with
    its error output if it fails."""
    result = run_python(*arguments, env=env)
    if check and result.returncode != 0:
        sys.exit(f"python {' '.join(arguments)} failed:\n{result.stderr[-2000:]}")
    return result


def manage(env: dict[str, str], *command: str, check: bool = True) -> str:
    """A management command's output (stdout and stderr), run as `run_checked` runs it."""
    result = run_checked(env, "manage.py", *command, check=check)
    return (result.stdout + result.stderr).strip()


class PortalServers:
    """The sandbox (`manage.py sandbox`) and gunicorn (`deploy/gunicorn.conf.py`), on loopback.

    On entering: the database is migrated, static files collected and one account made per
    (username, role) given; then both servers start. On leaving, both are stopped.
    """

    def __init__(
        self,
        *,
        database_url: str,
        workdir: str,
        accounts: dict[str, str],
        workers: int,
        threads: int,
        latency_ms: float = 0,
        fault_rate: float = 0,
        gunicorn_env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.sandbox_port, self.portal_port = free_port(), free_port()
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.portal_url = f"http://127.0.0.1:{self.portal_port}"
        self.env = portal_environment(
            database_url,
            workdir,
            POLYTOMIC_API_URL=self.sandbox_url,
            PORT=str(self.portal_port),
            GUNICORN_WORKERS=str(workers),
            GUNICORN_THREADS=str(threads),
            **(gunicorn_env or {}),
        )
        self.accounts = accounts
        self.latency_ms = latency_ms
        self.fault_rate = fault_rate
        self.processes: list[subprocess.Popen] = []
        self.gunicorn: subprocess.Popen | None = None
        self.sandbox: subprocess.Popen | None = None
        self.log_path = Path(workdir, "gunicorn.log")
        self.stream_path = Path(workdir, "gunicorn.out")  # standard output: the audit stream

    def manage(self, *command: str, check: bool = True, env: dict[str, str] | None = None) -> str:
        """A management command's output, in the portal's environment (with `env` over it)."""
        return manage({**self.env, **(env or {})}, *command, check=check)

    def __enter__(self) -> PortalServers:
        self.manage("migrate", "--verbosity", "0")
        self.manage("collectstatic", "--noinput", "--verbosity", "0")
        self.manage("shell", "-c", (
            "from django.contrib.auth.models import Group, User\n"
            f"for name, role in {self.accounts!r}.items():\n"
            f"    User.objects.create_user(name, password={PASSWORD!r}).groups.add(Group.objects.get(name=role))\n"
        ))  # fmt: skip
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.sandbox = subprocess.Popen(
            [sys.executable, "manage.py", "sandbox", "--port", str(self.sandbox_port),
             "--latency-ms", str(self.latency_ms), "--fault-rate", str(self.fault_rate)],
            # The sandbox is a development tool; the portal under gunicorn runs as in production.
            cwd=BASE_DIR, env={**self.env, "PORTAL_DEVTOOLS": "true"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.processes.append(self.sandbox)
        if not wait_until_listening(f"{self.sandbox_url}/_sandbox/requests"):
            sys.exit("the sandbox did not start")
        with self.log_path.open("w") as log, self.stream_path.open("w") as stream:
            self.gunicorn = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py", "portal.wsgi"],
                cwd=BASE_DIR, env=self.env, stdout=stream, stderr=log,
            )  # fmt: skip
        self.processes.append(self.gunicorn)
        if not wait_until_listening(f"{self.portal_url}/healthz"):
            sys.exit(f"gunicorn did not start: {self.log_path.read_text()[-2000:]}")

    def workers(self) -> list[int]:
        """The process ids of gunicorn's workers: its master's children."""
        if self.gunicorn is None:
            return []
        children = Path(f"/proc/{self.gunicorn.pid}/task/{self.gunicorn.pid}/children").read_text()
        return [int(pid) for pid in children.split()]

    def worker_connected_from(self, port: int) -> int | None:
        """The worker whose TCP connection has the local `port` (to find who sent a request the
        sandbox logged, with its peer port): matched through the socket inodes in /proc."""
        inodes = {}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes[fields[9]] = True
        for pid in self.workers():
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = str(fd.readlink())
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        return pid
        return None

    def set_faults(self, **faults: object) -> None:
        """The sandbox's faults from now on (`POST /_sandbox/faults`, devtools/sandbox.py)."""
        requests.post(f"{self.sandbox_url}/_sandbox/faults", json=faults, timeout=30).raise_for_status()

    def sandbox_log(self) -> dict:
        """The sandbox's count of TCP connections accepted and its list of requests received."""
        return requests.get(f"{self.sandbox_url}/_sandbox/requests", timeout=30).json()

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def throwaway_workdir(prefix: str) -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True)


class StaffClient:
    """One signed-in member of staff, with their own cookies (kept by hand: the portal's cookies are
    Secure, and this client talks plain HTTP on loopback behind a pretend TLS proxy)."""

    def __init__(self, base: str, username: str) -> None:
        self.base = base
        self.username = username
        self.cookies: dict[str, str] = {}
        self.http = requests.Session()

    def send(self, method: str, path: str, data: dict | None = None) -> requests.Response:
        # Behind the pretend TLS proxy, Django checks the Referer of a POST against https://host:port.
        headers = {"X-Forwarded-Proto": "https", "Referer": self.base.replace("http://", "https://", 1) + path}
        if "__Host-csrftoken" in self.cookies:
            headers["X-CSRFToken"] = self.cookies["__Host-csrftoken"]
        response = self.http.request(
            method, self.base + path, data=data, headers=headers, cookies=self.cookies,
            allow_redirects=False, timeout=30,
        )  # fmt: skip
        self.cookies.update(response.cookies.get_dict())
        return response

    def sign_in(self) -> bool:
        self.send("GET", "/accounts/login/")
        answer = self.send("POST", "/accounts/login/", {"login": self.username, "password": PASSWORD})
        return answer.status_code == 302 and "__Host-sessionid" in self.cookies

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())
