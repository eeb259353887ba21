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
    accounts that sign in with a password alone (PORTAL_REQUIRE_MFA off), and act alone (PORTAL_FOUR_EYES
    off): the runs measure the organization pages and their calls, not sign-in or approvals."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789",
        "POLYTOMIC_PARTNER_API_KEY": "sandbox-partner-key",
        "AUDIT_CHAIN_KEY": "bench-audit-chain-key-0123456789",
        "ALLOWED_HOSTS": "127.0.0.1",
        "PORTAL_TRUSTED_PROXY_COUNT": "1",
        "PORTAL_REQUIRE_MFA": "false",
        "PORTAL_FOUR_EYES": "false",
        "DATABASE_URL": database_url,
        "STATIC_ROOT": f"{workdir}/static",
        "AUDIT_ANCHOR_FILE": f"{workdir}/audit-anchor",  # the throwaway database's, beside it
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
    (username, role) given; then the sandbox and `instances` portals start (each a gunicorn master
    with its workers, on a port of its own, all on the one database). On leaving, all are stopped.
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
        instances: int = 1,
    ) -> None:
        self.workdir = workdir
        self.sandbox_port = free_port()
        self.portal_ports = [free_port() for _ in range(instances)]
        self.portal_port = self.portal_ports[0]
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.portal_urls = [f"http://127.0.0.1:{port}" for port in self.portal_ports]
        self.portal_url = self.portal_urls[0]
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
        self.gunicorns: list[subprocess.Popen] = []
        self.sandbox: subprocess.Popen | None = None
        self.log_path = Path(workdir, "gunicorn.log")
        self.stream_path = Path(workdir, "gunicorn.out")  # standard output: the audit stream

    def manage(self, *command: str, check: bool = True, env: dict[str, str] | None = None) -> str:
        """A management command's output, in the portal's environment (with `env` over it)."""
        return manage({**self.env, **(env or {})}, *command, check=check)

    def __enter__(self) -> PortalServers:
        # One process for the three steps: each Django start-up costs a second of CPU.
        self.manage("shell", "-c", (
            "from django.contrib.auth.models import Group, User\n"
            "from django.core.management import call_command\n"
            "call_command('migrate', verbosity=0)\n"
            "call_command('collectstatic', interactive=False, verbosity=0)\n"
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
        self.start_portals()

    def start_portals(self) -> None:
        """Starts the portals (gunicorn masters), each on its port, and waits until each answers."""
        for instance, port in enumerate(self.portal_ports):
            with self.output(instance, "log").open("a") as log, self.output(instance, "out").open("a") as stream:
                gunicorn = subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py", "portal.wsgi"],
                    cwd=BASE_DIR, env={**self.env, "PORT": str(port)}, stdout=stream, stderr=log,
                )  # fmt: skip
            self.gunicorns.append(gunicorn)
            self.processes.append(gunicorn)
        for instance, url in enumerate(self.portal_urls):
            if not wait_until_listening(f"{url}/healthz"):
                sys.exit(f"gunicorn did not start: {self.output(instance, 'log').read_text()[-2000:]}")

    def output(self, instance: int, kind: str) -> Path:
        """Where a portal's gunicorn writes its standard error ("log") or output ("out"): the first
        one's are `log_path` and `stream_path`."""
        return Path(self.workdir, f"gunicorn{f'-{instance + 1}' if instance else ''}.{kind}")

    def stop_portals(self) -> None:
        """Stops the portals (not the sandbox), as a deploy or a crash of every instance would."""
        for gunicorn in self.gunicorns:
            self.processes.remove(gunicorn)
        self._stop(self.gunicorns)
        self.gunicorns.clear()

    @property
    def gunicorn(self) -> subprocess.Popen | None:
        """The first portal's gunicorn master."""
        return self.gunicorns[0] if self.gunicorns else None

    def workers(self, instance: int = 0) -> list[int]:
        """The process ids of a portal's gunicorn workers: its master's children."""
        if len(self.gunicorns) <= instance:
            return []
        master = self.gunicorns[instance].pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text()
        return [int(pid) for pid in children.split()]

    def worker_connected_from(self, port: int, instance: int = 0) -> int | None:
        """The worker of portal `instance` whose TCP connection has the local `port` (to find who
        sent a request the sandbox logged, with its peer port)."""
        return self._worker_with_socket(lambda local, remote: local == port, self.workers(instance))

    def worker_serving(self, client_port: int, instance: int = 0) -> int | None:
        """The worker of portal `instance` that holds the connection a client opened from
        `client_port` (which worker a keep-alive connection reaches is the kernel's choice)."""
        portal_port = self.portal_ports[instance]
        return self._worker_with_socket(
            lambda local, remote: (local, remote) == (portal_port, client_port), self.workers(instance)
        )

    @staticmethod
    def _worker_with_socket(matches, workers: list[int]) -> int | None:
        """The worker holding a TCP socket whose (local port, remote port) `matches`: found
        through the socket inodes in /proc."""
        inodes = {}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if matches(int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16)):
                    inodes[fields[9]] = True
        for pid in workers:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = str(fd.readlink())
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        return pid
        return None

    def set_faults(self, **faults: object) -> None:
        """The sandbox's faults from now on (`POST /_sandbox/faults`, devtools/sandbox/faults.py)."""
        requests.post(f"{self.sandbox_url}/_sandbox/faults", json=faults, timeout=30).raise_for_status()

    def sandbox_log(self) -> dict:
        """The sandbox's count of TCP connections accepted and its list of requests received."""
        return requests.get(f"{self.sandbox_url}/_sandbox/requests", timeout=30).json()

    def stop(self) -> None:
        self._stop(self.processes)
        self.processes.clear()
        self.gunicorns.clear()

    @staticmethod
    def _stop(processes: list[subprocess.Popen]) -> None:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

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

    def send(self, method: str, path: str, data: dict | None = None, *, stream: bool = False) -> requests.Response:
        """The answer, its cookies kept; with `stream`, its body is left to read, and its
        connection (`.raw.connection`) is held open until it is read."""
        # Behind the pretend TLS proxy, Django checks the Referer of a POST against https://host:port.
        headers = {"X-Forwarded-Proto": "https", "Referer": self.base.replace("http://", "https://", 1) + path}
        if "__Host-csrftoken" in self.cookies:
            headers["X-CSRFToken"] = self.cookies["__Host-csrftoken"]
        response = self.http.request(
            method, self.base + path, data=data, headers=headers, cookies=self.cookies,
            allow_redirects=False, timeout=30, stream=stream,
        )  # fmt: skip
        self.cookies.update(response.cookies.get_dict())
        return response

    def sign_in(self) -> bool:
        self.send("GET", "/accounts/login/")
        answer = self.send("POST", "/accounts/login/", {"login": self.username, "password": PASSWORD})
        return answer.status_code == 302 and "__Host-sessionid" in self.cookies

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())
