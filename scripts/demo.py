"""`make demo`: a hub on SQLite, one simulated kiosk that keeps queueing, and the console URL.

The kiosk enrols as a technician would enrol a real one (docs/enrolment.md): a one-time code
from `kiosk-hub device enrol`, then `kiosk enrol` with that code and the tenant CA's
fingerprint; it then says hello with its certificate, no device token anywhere. The banner
shows both commands as they ran, and the logins of the demo adviser, administrator and
data-protection officer (scripts/demo_accounts.py; the kiosk gets the branch label it groups
statistics by).

Uses only the two console scripts (`kiosk-hub`, `kiosk`), exactly as an operator would, so the
demo exercises the same entry points as production. Ctrl-C stops everything cleanly.

Environment: DEMO_HOST (default 127.0.0.1), DEMO_PORT (default 8080), DEMO_ICE_HOST (addresses
the kiosk offers for media; default: the machine's own, as in production), DEMO_NETCUT=0 (do not
give the kiosk its own network namespace), DEMO_VERBOSE=1 (show the hub's and the kiosk's logs
here too), DEMO_VAR (where database, secrets, session and log live; default ./var).

The terminal stays readable: the banner comes once hub and kiosk are up, then the kiosk's status
lines, the four words of each verified call, and warnings or errors. Everything the hub and the
kiosk print (access log, routine INFO lines) goes to var/demo.log.

Pulling the kiosk's network: as root with `ip` (iproute2) and the hub on loopback, the kiosk
runs in its own network namespace, one veth link away (198.18.77.0/30, the benchmarking range
no real network routes; removed at exit), reaching the hub through a small TCP forwarder. Type
`cut 5` and Enter to take that link down for 5 s and watch the call heal.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

from scripts.demo_accounts import (
    ADVISER,
    DemoAccountError,
    banner_lines,
    ensure_account,
    ensure_governance_accounts,
    label_kiosk,
)
from scripts.demo_network import KioskNetwork, command, kiosk_network
from scripts.demo_signing import DemoSetupError
from scripts.demo_signing import prepare as prepare_signing
from testbed.netns import ChildNetns

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("DEMO_VAR") or ROOT / "var").resolve()
DB = VAR / "hub.sqlite3"
VAULT = VAR / "session"
LOG = VAR / "demo.log"
PASSWORD_FILE = VAR / "demo-adviser.password"
SECRET_FILE = VAR / "hub-secret"  # the hub's secret: its tenant CA key and codes derive from it
IDENTITY = VAR / "kiosk-identity"  # the demo kiosk's key and certificate (`kiosk enrol`)
BIN = Path(sys.executable).parent
DEVICE = "demo-kiosk"


def _hub(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "kiosk-hub"), *args, "--db", str(DB)],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def _ensure_accounts() -> tuple[str, list[str]]:
    """The demo adviser (password in var/demo-adviser.password), administrator and DPO, made
    once; returns the adviser's password and the banner's lines for the other two."""
    try:
        adviser = ensure_account(_hub, ADVISER, "adviser", PASSWORD_FILE)
        admin, dpo = ensure_governance_accounts(_hub, VAR)
    except DemoAccountError as exc:
        sys.exit(f"demo: {exc}")
    return adviser.password, banner_lines(admin, dpo, _shown)


def _ensure_hub_secret() -> None:
    """Make the hub secret once (`kiosk-hub secret create`); it stays with the database."""
    if SECRET_FILE.exists():
        return
    result = subprocess.run(
        [str(BIN / "kiosk-hub"), "secret", "create", str(SECRET_FILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"demo: could not make the hub secret: {result.stderr.strip()}")


def _enrol_kiosk(url: str, output: Output) -> list[str]:
    """Enrol the demo kiosk with a fresh one-time code, as a technician would.

    At every start: a new code (the hub revokes the earlier certificate of the name), then
    `kiosk enrol` with it. Returns the banner's lines: the two commands and what they said.
    """
    made = _hub("device", "enrol", DEVICE, "--hub-url", url, "--secret-file", str(SECRET_FILE))
    output.log_only("kiosk-hub", made.stdout + made.stderr)
    code = re.search(r"^\s+code:\s+(\S+)$", made.stdout, re.MULTILINE)
    typed = [line.strip() for line in made.stdout.splitlines() if "kiosk enrol " in line]
    if made.returncode != 0 or code is None or not typed:
        sys.exit(f"demo: could not make an enrolment code: {made.stderr.strip()}")
    typed_args = shlex.split(typed[0])[1:]  # the hub's printout: `kiosk enrol --hub ... --code`
    extra = ["--simulate"]  # and afterwards the simulated devices' self-test
    command = ["kiosk", *typed_args, "--identity-dir", _shown(IDENTITY), *extra]
    enrolled = subprocess.run(
        [str(BIN / "kiosk"), *typed_args, "--identity-dir", str(IDENTITY), *extra],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    output.log_only("kiosk enrol", enrolled.stdout + enrolled.stderr)
    if enrolled.returncode != 0:
        last = (enrolled.stderr or enrolled.stdout).strip().splitlines()[-1:]
        sys.exit(f"demo: `kiosk enrol` failed (status {enrolled.returncode}): {' '.join(last)}")
    return [
        "  The kiosk enrolled as a technician enrols one (docs/enrolment.md):",
        f"    $ kiosk-hub device enrol {DEVICE} --hub-url {url} "
        f"--secret-file {_shown(SECRET_FILE)}",
        f"      one-time code {code.group(1)}, with the hub's CA fingerprint",
        f"    $ {shlex.join(command)}",
        "      key made on the device, CA compared, certificate stored, self-test passed",
    ]


def _shown(path: Path) -> str:
    """``path`` as the person at the terminal can use it: relative to here when inside."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# A log record's start as the hub and the kiosk format them: "[asctime] [logger] LEVEL ...".
_RECORD = re.compile(
    r"^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ )?(?:[\w.]+ )?"
    r"(DEBUG|INFO|WARNING|ERROR|CRITICAL) "
)
CODE_PREFIX = "verification code: "  # the kiosk's status line (appliance/runner/code_announcer.py)


class Output:
    """Where the children's lines go: all of them to var/demo.log, to the terminal only what
    matters (unless ``verbose``): problems, and the kiosk's status lines once the banner is out.
    """

    def __init__(self, log_path: Path, *, verbose: bool) -> None:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._log = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
        self._verbose = verbose
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.kiosk_ready = threading.Event()  # the kiosk said "kiosk ready" (start-up is over)
        self.banner_out = False

    def log_only(self, source: str, text: str) -> None:
        """A command's output, to the log file only."""
        with self._lock:
            for line in text.splitlines():
                self._log.write(f"{source}: {line}\n")

    def say(self, text: str, *, log: bool = True) -> None:
        """A line (or lines) of the demo's own, to the terminal and (unless not) the log."""
        with self._lock:
            print(text, flush=True)
            if log:
                self._log.write(text + "\n")

    def follow(self, source: str, stream: IO[str], kind: str) -> None:
        """Read ``stream`` on a thread until it ends; ``kind``: ``status`` (the kiosk's stdout),
        ``stderr`` (logs: problems are shown) or ``quiet`` (the log file only)."""
        show = {"status": self._status_shown, "stderr": self._problem}.get(kind, _never)
        thread = threading.Thread(target=self._read, args=(source, stream, show), daemon=True)
        thread.start()
        self._threads.append(thread)

    def drain(self) -> None:
        """Wait for the children's last lines (they have exited)."""
        for thread in self._threads:
            thread.join(5)
        self._log.close()

    def _read(self, source: str, stream: IO[str], show: Callable[[str], bool]) -> None:
        for raw in stream:
            line = raw.rstrip("\n")
            shown = show(line) or self._verbose  # show() first: it notices "kiosk ready"
            with self._lock:
                self._log.write(f"{source}: {line}\n")
                if line.startswith(CODE_PREFIX) and not self._verbose:
                    words = line.removeprefix(CODE_PREFIX)
                    print(
                        "demo: the call is verified; the kiosk shows these four words "
                        f"(the console must show the same):\n\n    {words}\n",
                        flush=True,
                    )
                elif shown:
                    print(f"{source}: {line}", flush=True)

    def _status_shown(self, line: str) -> bool:
        if line.startswith("kiosk ready"):
            self.kiosk_ready.set()
        return self.banner_out and not line.startswith(CODE_PREFIX)

    @staticmethod
    def _problem(line: str) -> bool:
        # Log records below WARNING stay in the log; anything else on stderr (a warning, an
        # error, its traceback, a fatal message) is shown.
        record = _RECORD.match(line)
        return record is None or record.group(1) not in ("DEBUG", "INFO")


def _never(_line: str) -> bool:
    return False


def _wait_for_hub(url: str, hub: subprocess.Popen[str], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            sys.exit(f"demo: the hub exited during start-up (see {_shown(LOG)})")
        try:
            with urllib.request.urlopen(url + "/api/csrf", timeout=1):  # noqa: S310 (our own URL)
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    sys.exit(f"demo: the hub did not answer on {url} within {timeout_s:.0f} s")


def main() -> int:
    with contextlib.ExitStack() as stack:
        return _run(stack)


class _Stop:
    """Set by Ctrl-C (SIGINT) or SIGTERM; from the first moment, so start-up stops cleanly too."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self._set)
        signal.signal(signal.SIGTERM, self._set)

    def _set(self, _signum: int, _frame: object) -> None:
        self.requested = True


def _spawn(cmd: list[str], source: str, output: Output) -> subprocess.Popen[str]:
    # Own sessions: Ctrl-C reaches only this script, which stops kiosk first, then hub.
    proc = subprocess.Popen(
        cmd,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None and proc.stderr is not None  # noqa: S101 - PIPE above
    output.follow(source, proc.stdout, "status" if source == "kiosk" else "quiet")
    output.follow(source, proc.stderr, "stderr")
    return proc


def _banner(
    url: str,
    password: str,
    *,
    windowed: bool,
    net: KioskNetwork,
    enrolment: list[str],
    governance: list[str],
) -> str:
    lines = [
        "",
        "  Branch Kiosk demo is running.",
        f"  Adviser console:  {url}/",
        f"  Name:             {ADVISER}",
        f"  Password:         {password}   (also in {_shown(PASSWORD_FILE)})",
        *governance,
        *enrolment,
        "  The kiosk window is open: start a consultation there as the customer,\n"
        "  then accept it in the console."
        if windowed
        else "  A simulated kiosk is waiting in the queue; accept it to start a call.",
        "  When a call is verified, the kiosk's four words are printed here.",
        "  Type `cut 5` and Enter to pull the kiosk's network for 5 s."
        if net.ns is not None
        else f"  The kiosk shares this machine's network ({net.no_cut}): no `cut`.",
        f"  Logs of hub and kiosk: {_shown(LOG)} (DEMO_VERBOSE=1 shows them here).",
        "  Ctrl-C stops hub and kiosk.",
        "",
    ]
    return "\n".join(lines)


def _run(stack: contextlib.ExitStack) -> int:
    stop = _Stop()
    host = os.environ.get("DEMO_HOST", "127.0.0.1")
    port = os.environ.get("DEMO_PORT", "8080")
    VAR.mkdir(mode=0o700, exist_ok=True)
    password, governance = _ensure_accounts()
    _ensure_hub_secret()
    url = f"http://{host}:{port}"
    output = Output(LOG, verbose=os.environ.get("DEMO_VERBOSE", "0") not in ("", "0"))

    hub = _spawn(
        [str(BIN / "kiosk-hub"), "serve", "--host", host, "--port", port, "--db", str(DB)]
        + ["--secret-file", str(SECRET_FILE)],  # device tokens stay off, as in production
        "hub",
        output,
    )
    procs = {"hub": hub}

    def running() -> bool:
        return not stop.requested and all(p.poll() is None for p in procs.values())

    try:
        _wait_for_hub(url, hub)
        enrolment = _enrol_kiosk(url, output)
        try:  # the statistics group by it
            label_kiosk(_hub, DEVICE)
        except DemoAccountError as exc:
            sys.exit(f"demo: {exc}")
        try:  # before the kiosk connects: its welcome carries the trustee
            enrolment += prepare_signing(VAR, SECRET_FILE, _hub, _shown)
        except DemoSetupError as exc:
            sys.exit(f"demo: {exc}")
        net = stack.enter_context(kiosk_network(host, port))
        kiosk_cmd = [
            *net.prefix,
            str(BIN / "kiosk"),
            "run",
            "--simulate",
            *[arg for addr in net.ice_hosts for arg in ("--ice-host", addr)],
            "--hub",  # as enrolled, or through the forwarder from the kiosk's own namespace
            net.hub_url,
            "--identity-dir",  # the certificate from `kiosk enrol`: no token
            str(IDENTITY),
            # The demo's session vault lives under ./var, not the machine's /run/kiosk/session.
            "--vault",
            str(VAULT),
        ]
        for addr in filter(None, os.environ.get("DEMO_ICE_HOST", "").split(",")):
            kiosk_cmd += ["--ice-host", addr]
        # With a screen, the kiosk opens its touch UI and a person plays the customer; without
        # one (a server, SSH) a simulated customer queues by itself and answers chat messages.
        windowed = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        if not windowed:
            kiosk_cmd.append("--no-ui")
        # Listed first: stopped first, so that it can say goodbye to the hub.
        procs = {"kiosk": _spawn(kiosk_cmd, "kiosk", output), **procs}

        # The banner comes after the start-up lines, so that it stays on the screen.
        deadline = time.monotonic() + 30
        while running() and not output.kiosk_ready.wait(0.2) and time.monotonic() < deadline:
            pass
        if running():
            output.banner_out = True
            banner = _banner(
                url,
                password,
                windowed=windowed,
                net=net,
                enrolment=enrolment,
                governance=governance,
            )
            output.say(banner, log=False)  # the password
            if not output.kiosk_ready.is_set():
                output.say(f"demo: the kiosk is not ready yet (see {_shown(LOG)})")
        _serve_commands(stop, running, net.ns)
    finally:
        exited = {name: p.returncode for name, p in procs.items() if p.poll() is not None}
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        output.drain()
    for name, status in exited.items():
        print(f"demo: the {name} exited by itself (status {status})", flush=True)
    # As root the kiosk mounted a tmpfs for its vault (wiped at its exit): take it down.
    if os.path.ismount(VAULT):
        subprocess.run(["umount", str(VAULT)], check=False)  # noqa: S607
    print("demo: stopped", flush=True)
    return 0 if stop.requested else 1


def _serve_commands(stop: _Stop, running: Callable[[], bool], ns: ChildNetns | None) -> None:
    """Read commands (`cut`) from stdin until stopped, or until hub or kiosk exits."""
    reading = not sys.stdin.closed  # commands on stdin until it ends (EOF)
    while running():
        if not reading:
            time.sleep(0.2)
            continue
        with contextlib.suppress(InterruptedError):
            readable, _, _ = select.select([sys.stdin], [], [], 0.2)
            if readable:
                line = sys.stdin.readline()
                reading = bool(line)
                command(line, ns)


if __name__ == "__main__":
    raise SystemExit(main())
