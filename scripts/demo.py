"""`make demo`: a hub on SQLite, one simulated kiosk that keeps queueing, and the console URL.

Uses only the two console scripts (`kiosk-hub`, `kiosk`), exactly as an operator would, so the
demo exercises the same entry points as production. Ctrl-C stops everything cleanly.

Environment: DEMO_HOST (default 127.0.0.1), DEMO_PORT (default 8080), DEMO_ICE_HOST (addresses
the kiosk offers for media; default: the machine's own, as in production).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
DB = VAR / "hub.sqlite3"
VAULT = VAR / "session"
BIN = Path(sys.executable).parent
ADVISER = "demo"
DEVICE = "demo-kiosk"


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")


def _hub(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "kiosk-hub"), *args, "--db", str(DB)],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def _ensure_adviser() -> str:
    """Create the demo adviser once; its password lives in var/demo-adviser.password."""
    pw_file = VAR / "demo-adviser.password"
    listed = _hub("adviser", "list")
    exists = listed.returncode == 0 and any(
        line.split("\t")[1:2] == [ADVISER] for line in listed.stdout.splitlines()
    )
    if exists and pw_file.exists():
        return pw_file.read_text().strip()
    password = secrets.token_urlsafe(12)
    _write_secret(pw_file, password)
    action = "passwd" if exists else "add"
    result = _hub("adviser", action, ADVISER, "--password-file", str(pw_file))
    if result.returncode != 0:
        sys.exit(f"demo: could not create the demo adviser: {result.stderr.strip()}")
    return password


def _device_token_file() -> Path:
    """(Re-)issue the demo kiosk's token each start: the hub keeps only its hash."""
    listed = _hub("device", "list")
    exists = listed.returncode == 0 and any(
        line.split("\t")[1:2] == [DEVICE] for line in listed.stdout.splitlines()
    )
    result = _hub("device", "add", DEVICE, *(["--replace"] if exists else []))
    if result.returncode != 0:
        sys.exit(f"demo: could not register the demo kiosk: {result.stderr.strip()}")
    token_file = VAR / "demo-kiosk.token"
    _write_secret(token_file, result.stdout.strip().splitlines()[-1])
    return token_file


def _wait_for_hub(url: str, hub: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            sys.exit("demo: the hub exited during start-up (see its messages above)")
        try:
            with urllib.request.urlopen(url + "/api/csrf", timeout=1):  # noqa: S310 (our own URL)
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    sys.exit(f"demo: the hub did not answer on {url} within {timeout_s:.0f} s")


def main() -> int:
    host = os.environ.get("DEMO_HOST", "127.0.0.1")
    port = os.environ.get("DEMO_PORT", "8080")
    VAR.mkdir(mode=0o700, exist_ok=True)
    password = _ensure_adviser()
    token_file = _device_token_file()
    url = f"http://{host}:{port}"

    # Own sessions: Ctrl-C reaches only this script, which stops kiosk first, then hub.
    hub = subprocess.Popen(
        [str(BIN / "kiosk-hub"), "serve", "--host", host, "--port", port, "--db", str(DB)],
        start_new_session=True,
    )
    _wait_for_hub(url, hub)
    kiosk_cmd = [
        str(BIN / "kiosk"),
        "run",
        "--simulate",
        "--hub",
        f"ws://{host}:{port}",
        "--token-file",
        str(token_file),
        # The demo's session vault lives under ./var, not the machine's /run/kiosk/session.
        "--vault",
        str(VAULT),
    ]
    for addr in filter(None, os.environ.get("DEMO_ICE_HOST", "").split(",")):
        kiosk_cmd += ["--ice-host", addr]
    # With a screen, the kiosk opens its touch UI and a person plays the customer; without one
    # (a server, SSH) a simulated customer queues by itself and answers chat messages.
    windowed = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if not windowed:
        kiosk_cmd.append("--no-ui")
    kiosk = subprocess.Popen(kiosk_cmd, start_new_session=True)

    print(
        "\n"
        "  Branch Kiosk demo is running.\n"
        f"  Adviser console:  {url}/\n"
        f"  Name:             {ADVISER}\n"
        f"  Password:         {password}\n"
        + (
            "  The kiosk window is open: start a consultation there as the customer,\n"
            "  then accept it in the console.\n"
            if windowed
            else "  A simulated kiosk is waiting in the queue; accept it to start a call.\n"
        )
        + "  Ctrl-C stops hub and kiosk.\n",
        flush=True,
    )

    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not stopping and hub.poll() is None and kiosk.poll() is None:
        time.sleep(0.2)
    for proc in (kiosk, hub):  # kiosk first, so it can say goodbye to the hub
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    # As root the kiosk mounted a tmpfs for its vault (wiped at its exit): take it down.
    if os.path.ismount(VAULT):
        subprocess.run(["umount", str(VAULT)], check=False)  # noqa: S607
    print("demo: stopped", flush=True)
    return 0 if stopping else 1


if __name__ == "__main__":
    raise SystemExit(main())
