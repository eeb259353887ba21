from __future__ import annotations

import ipaddress
import threading

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devtools.sandbox import PARTNER_KEY, Faults, RunningSandbox


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Command(BaseCommand):
    help = "Serves the Polytomic sandbox (a stand-in for Polytomic's Organizations API) on loopback until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8001, help="Port to listen on (default 8001; 0 picks one).")
        parser.add_argument("--host", default="127.0.0.1", help="Loopback address to listen on (default 127.0.0.1).")
        parser.add_argument("--latency-ms", type=float, default=0, help="Latency added to every API request.")
        parser.add_argument("--fault-rate", type=float, default=0, help="Share of API requests given a random fault.")

    def handle(self, *args: object, host: str, port: int, latency_ms: float, fault_rate: float, **options: object):
        if not is_loopback(host):
            raise CommandError(f"The sandbox listens on loopback only, not {host}.")
        with RunningSandbox(host=host, port=port) as running:
            running.sandbox.faults = Faults(latency_ms=latency_ms, rate=fault_rate)
            self.stdout.write(f"Polytomic sandbox on {running.url}")
            self.stdout.write(f"Partner API key: {PARTNER_KEY}")
            if latency_ms or fault_rate:
                self.stdout.write(f"Added latency {latency_ms:g} ms, fault rate {fault_rate:g}")
            self.stdout.write("Ctrl-C stops it.")
            self.stdout.flush()
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                self.stdout.write("Sandbox stopped.")
