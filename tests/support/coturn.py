"""A real coturn TURN server on 127.0.0.1 for relayed-call tests."""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hub.turn import TurnSettings
from tests.support.requirements import require_tool

READY_MARKER = "Total General servers"


@dataclass(frozen=True)
class Coturn:
    url: str
    secret: str
    log: Path

    def settings(self, *, relay_only: bool = True) -> TurnSettings:
        return TurnSettings(urls=(self.url,), secret=self.secret, relay_only=relay_only)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def turnserver_path() -> str:
    return require_tool("turnserver", "coturn")


@contextlib.contextmanager
def running_coturn(workdir: Path) -> Iterator[Coturn]:
    """Start turnserver with REST (shared-secret) auth; loopback peers need explicit consent."""
    binary = turnserver_path()
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_udp_port()
    secret = secrets.token_hex(16)
    log = workdir / "turnserver.log"
    relay_min = 40000 + (port % 20000)
    args = [
        binary,
        "-n",  # no config file: everything is on this command line
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        f"--listening-port={port}",
        f"--min-port={relay_min}",
        f"--max-port={relay_min + 200}",
        "--use-auth-secret",
        f"--static-auth-secret={secret}",
        "--realm=kiosk.test",
        # Peers on 127.0.0.1 are refused unless allowed; coturn then insists on a CLI password.
        "--allow-loopback-peers",
        f"--cli-password={secrets.token_hex(8)}",
        "--no-cli",
        "--no-tls",
        "--no-dtls",
        "--fingerprint",
        f"--log-file={log}",  # a file, not stdout: coturn block-buffers a redirected stdout
        "--simple-log",
        "--verbose",  # session lines prove that relaying really happened
        f"--pidfile={workdir / 'turnserver.pid'}",
        f"--userdb={workdir / 'turndb'}",
    ]
    log.touch()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while READY_MARKER not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"turnserver did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield Coturn(url=f"turn:127.0.0.1:{port}?transport=udp", secret=secret, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
