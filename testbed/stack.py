"""A real hub and a simulated kiosk as separate processes, started as an operator would.

Shared by the benchmarks and the end-to-end tests: everything is started through the console
scripts (`kiosk-hub`, `kiosk`) on loopback only; the console runs in testbed/browser.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


class HarnessError(RuntimeError):
    """The stack could not be brought up; the message says which part and why."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _cli(name: str, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(BIN / name), *args], input=stdin, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise HarnessError(f"{name} {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result.stdout


@dataclass
class Stack:
    """Hub and kiosk processes with their files under ``workdir``.

    ``device_tokens``: the hub accepts device tokens (``--allow-device-tokens``, off in
    production) and ``start_kiosk`` connects with one; off, kiosks enrol with a code.
    ``source_tree``: run hub and kiosk from another checkout's sources (e.g. ``git archive``
    of an older commit, to measure before and after a change); default: this one.
    """

    workdir: Path
    adviser: str = "adviser"
    password: str = "correct horse battery"
    port: int = field(default_factory=free_port)
    device_tokens: bool = True
    hub: subprocess.Popen[bytes] | None = None
    kiosk: subprocess.Popen[bytes] | None = None
    source_tree: Path | None = None

    @property
    def env(self) -> dict[str, str] | None:
        """The children's environment: ``source_tree`` first on the import path, if set."""
        if self.source_tree is None:
            return None
        return {**os.environ, "PYTHONPATH": str(self.source_tree.resolve())}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self) -> Path:
        return self.workdir / "hub.sqlite3"

    @property
    def stats_file(self) -> Path:
        return self.workdir / "kiosk-stats.jsonl"

    @property
    def kiosk_log(self) -> Path:
        return self.workdir / "kiosk.log"

    @property
    def hub_log(self) -> Path:
        return self.workdir / "hub.log"

    def start_hub(self, *extra: str) -> None:
        """Start ``kiosk-hub serve`` (``extra``: more serve options, e.g. TURN settings)."""
        tokens = ("--allow-device-tokens",) if self.device_tokens else ()
        self.workdir.mkdir(parents=True, exist_ok=True)
        pw = self.workdir / "adviser.password"
        first_start = not pw.exists()  # a restarted hub keeps its adviser and kiosk
        pw.write_text(self.password + "\n")
        if first_start:
            _cli(
                "kiosk-hub",
                "adviser",
                "add",
                self.adviser,
                "--password-file",
                str(pw),
                "--db",
                str(self.db),
            )
        if first_start and self.device_tokens:
            token = _cli("kiosk-hub", "device", "add", "kiosk-1", "--db", str(self.db))
            (self.workdir / "token").write_text(token.strip().splitlines()[-1] + "\n")
        if "--turn-url" in extra:
            # TURN is a third party: the hub offers it only to a tenant that switched it on
            _cli("kiosk-hub", "tenant", "set", "default", "--turn", "on", "--db", str(self.db))
        with self.hub_log.open("ab") as log:  # the child keeps its own descriptor
            self.hub = subprocess.Popen(
                [
                    str(BIN / "kiosk-hub"),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--db",
                    str(self.db),
                    *tokens,
                    *extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.hub.poll() is not None:
                raise HarnessError(f"hub exited: {self.hub_log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/api/csrf", timeout=1):  # noqa: S310
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise HarnessError("hub did not answer within 20 s")

    def start_kiosk(self, *extra: str, config: str | None = None) -> None:
        """`kiosk run --simulate --no-ui` against this hub; with device tokens off it needs
        ``--identity-dir`` in ``extra`` (an enrolled kiosk, testbed/enrolled.py). ``config``:
        a config file's TOML text (e.g. a ``[devices.camera]`` table), written to the workdir."""
        token = ("--token-file", str(self.workdir / "token")) if self.device_tokens else ()
        if config is not None:
            (self.workdir / "kiosk.toml").write_text(config, encoding="utf-8")
            extra = ("--config", str(self.workdir / "kiosk.toml"), *extra)
        with self.kiosk_log.open("ab") as log:
            self.kiosk = subprocess.Popen(
                [
                    str(BIN / "kiosk"),
                    "run",
                    "--simulate",
                    "--no-ui",  # the simulated customer queues and chats by itself
                    "--hub",
                    f"ws://127.0.0.1:{self.port}",
                    *token,
                    "--ice-host",
                    "127.0.0.1",
                    "--stats-file",
                    str(self.stats_file),
                    "--vault",  # a private vault, never the machine's /run/kiosk/session
                    str(self.workdir / "vault"),
                    *extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )

    def kiosk_calls(self) -> list[dict[str, Any]]:
        """Per-call statistics the kiosk appended to its stats file (one JSON line per call)."""
        if not self.stats_file.exists():
            return []
        return [json.loads(line) for line in self.stats_file.read_text().splitlines() if line]

    def stop_process(self, proc: subprocess.Popen[bytes] | None) -> int | None:
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None

    def stop(self) -> None:
        self.stop_process(self.kiosk)
        self.stop_process(self.hub)
        # As root the kiosk mounted a tmpfs for its vault; it stays mounted (as on a device)
        # until we take it down, or the work directory could not be removed.
        vault = self.workdir / "vault"
        if os.path.ismount(vault):
            subprocess.run(["umount", str(vault)], check=False, capture_output=True)


async def wait_until(
    predicate: Callable[..., object], timeout_s: float, what: str, interval: float = 0.05
) -> None:
    """Poll a sync predicate until true; raise HarnessError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(interval)
    raise HarnessError(f"timed out after {timeout_s:.0f} s waiting for {what}")
