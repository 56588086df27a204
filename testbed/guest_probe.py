#!/usr/bin/python3
"""The booted tests' probe: answers a fixed set of verbs on a QEMU virtio-serial port.

Runs only in a virtual machine that has the port ``org.branchkiosk.probe`` (the unit's
conditions; testbed/qemu.py adds the port). One JSON request per line, ``{"verb": ..., "id":
...}``, one JSON answer per line with the same id. There is no general shell: the verbs are
facts, leftovers, stop-kiosk, journal and poweroff. Standard library only (the system's python3).
"""

from __future__ import annotations

import errno
import json
import os
import pwd
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

PORT = "/dev/virtio-ports/org.branchkiosk.probe"
VAULT = "/run/kiosk/session"
IDENTITY = "/var/lib/branch-kiosk"
KIOSK_USER = "kiosk"
LEFTOVER = ".probe-leftover"
# Everywhere a session could leave something: RAM (must be gone after a reboot), the identity
# directory (must survive), and places that must refuse the write (read-only).
LEFTOVER_DIRS = (
    "/tmp",  # noqa: S108 (a marker, checked after a reboot)
    "/var/tmp",  # noqa: S108
    "/var/log",
    "/var/cache",
    "/var/lib/systemd",
    "/home",
    "/run",
    VAULT,
    IDENTITY,
    "/",
    "/etc",
    "/opt",
    "/boot/firmware",
)
KIOSK_PROPERTIES = (
    "ActiveState,SubState,StatusText,NRestarts,MainPID,ExecMainStartTimestampMonotonic,"
    "ActiveEnterTimestampMonotonic,InactiveExitTimestampMonotonic,WatchdogUSec,TimeoutAbortUSec,"
    "TimeoutStartUSec,RestartUSec,Result"
)
MAX_REQUEST = 512


def _out(*args: str) -> str:
    # fixed argument lists: nothing from the port reaches a command line
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=20)
    return done.stdout


def _show(*args: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in _out("/usr/bin/systemctl", "show", *args).splitlines())
    return {k: v for k, v in (p for p in pairs if len(p) == 2)}


def _mount(target: str) -> Any:
    text = _out(
        "/usr/bin/findmnt", "-J", "-o", "TARGET,SOURCE,FSTYPE,OPTIONS", "--mountpoint", target
    )
    return json.loads(text)["filesystems"][0] if text.strip() else None


def _as_kiosk(path: str, keep: bool) -> int:
    """Write ``path`` as the kiosk user (in a child process); 0 or the errno. ``keep``: leave
    it there (planted session content), else remove it again (the write check)."""
    try:
        user = pwd.getpwnam(KIOSK_USER)
    except KeyError:
        return errno.ENOENT
    pid = os.fork()
    if pid == 0:  # the child drops to the kiosk user and only tries the write
        code = 255
        try:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, b"left by the probe\n")
            os.fsync(fd)
            os.close(fd)
            if not keep:
                os.unlink(path)
            code = 0
        except OSError as error:
            code = min(error.errno or 255, 255)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _kiosk_can_write_vault() -> dict[str, Any]:
    """Create and remove a file in the vault as the kiosk user."""
    code = _as_kiosk(os.path.join(VAULT, ".probe-write"), keep=False)
    return {"ok": code == 0, "error": os.strerror(code) if code else ""}


def _vault_stat() -> dict[str, Any] | None:
    try:
        st = os.stat(VAULT)
    except OSError:
        return None
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    return {"mode": f"{st.st_mode & 0o7777:04o}", "owner": owner, "entries": len(os.listdir(VAULT))}


def _leftover_paths() -> list[str]:
    return [os.path.join(d, LEFTOVER) for d in LEFTOVER_DIRS]


def facts() -> dict[str, Any]:
    """The state the booted tests check: mounts, swap, command line, the kiosk's unit."""
    with open("/proc/cmdline", encoding="ascii") as f:
        cmdline = f.read().strip()
    with open("/proc/uptime", encoding="ascii") as f:
        uptime = float(f.read().split()[0])
    with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
        boot_id = f.read().strip()
    return {
        "boot_id": boot_id,
        "uptime_s": uptime,
        "realtime": time.time(),
        "mounts": {t: _mount(t) for t in ("/", VAULT, IDENTITY, "/boot/firmware")},
        "swapon": _out("/usr/sbin/swapon", "--show", "--noheadings"),
        "cmdline": cmdline,
        "kiosk": _show("kiosk.service", "-p", KIOSK_PROPERTIES),
        "manager": _show("-p", "RuntimeWatchdogUSec"),
        "timesync": {
            **_show("systemd-timesyncd.service", "-p", "ActiveState,SubState,StatusText"),
            "timedatectl": _out("/usr/bin/timedatectl", "show"),
        },
        "vault": _vault_stat(),
        "kiosk_can_write_vault": _kiosk_can_write_vault(),
        "leftovers": {p: os.path.exists(p) for p in _leftover_paths()},
    }


def leftovers() -> dict[str, str]:
    """Write a marker into every place of LEFTOVER_DIRS; say where it worked."""
    written: dict[str, str] = {}
    for path in _leftover_paths():
        if path.startswith(VAULT + "/"):  # session content is the kiosk's, like a call's files
            code = _as_kiosk(path, keep=True)
            written[path] = os.strerror(code) if code else "written"
            continue
        try:
            with open(path, "w", encoding="ascii") as f:
                f.write("left by the probe\n")
                f.flush()
                os.fsync(f.fileno())
            written[path] = "written"
        except OSError as error:
            written[path] = os.strerror(error.errno or 0)
    os.sync()
    return written


def stop_kiosk() -> dict[str, Any]:
    """SIGSTOP the kiosk's main process: a hang, as far as its watchdog can tell."""
    pid = int(_show("kiosk.service", "-p", "MainPID").get("MainPID", "0"))
    if pid <= 0:
        raise ProbeError("kiosk.service has no main process")
    os.kill(pid, signal.SIGSTOP)
    return {"pid": pid}


def journal() -> list[str]:
    """This boot's journal lines of kiosk.service (status lines only: no personal data)."""
    text = _out(
        "journalctl",
        "-b",
        "-u",
        "kiosk.service",
        "-o",
        "short-monotonic",
        "--no-pager",
        "-n",
        "400",
    )
    return text.splitlines()


def poweroff() -> str:
    """A clean shutdown, queued (the answer goes out before systemd stops the probe)."""
    subprocess.run(["/usr/bin/systemctl", "poweroff", "--no-block"], check=True, timeout=20)
    return "powering off"


class ProbeError(Exception):
    """A verb could not be carried out."""


VERBS: dict[str, Callable[[], Any]] = {
    "facts": facts,
    "leftovers": leftovers,
    "stop-kiosk": stop_kiosk,
    "journal": journal,
    "poweroff": poweroff,
}


def answer(line: bytes) -> dict[str, Any]:
    """The answer to one request line."""
    try:
        request = json.loads(line)
        verb, ident = request["verb"], str(request.get("id", ""))[:32]
    except (ValueError, KeyError, TypeError, AttributeError):
        return {"ok": False, "error": "a request is a JSON object with a verb"}
    if not isinstance(verb, str) or verb not in VERBS:
        return {"ok": False, "id": ident, "error": f"verbs: {', '.join(sorted(VERBS))}"}
    try:
        return {"ok": True, "id": ident, "result": VERBS[verb]()}
    except (ProbeError, OSError, subprocess.SubprocessError) as error:
        return {"ok": False, "id": ident, "error": f"{verb}: {type(error).__name__}: {error}"}


def serve(port: str = PORT) -> None:
    """Read requests from the port until it disappears; nobody connected reads as EOF."""
    fd = os.open(port, os.O_RDWR | os.O_CLOEXEC)
    buffer = b""
    while True:
        data = os.read(fd, 4096)
        if not data:  # the host side is not connected: wait for it
            buffer = b""
            time.sleep(0.1)
            continue
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            reply = json.dumps(answer(line)).encode() + b"\n"
            try:
                while reply:  # a virtio port takes at most 32 KiB per write
                    reply = reply[os.write(fd, reply) :]
            except OSError:
                pass  # the host hung up: it asks again
        if len(buffer) > MAX_REQUEST:
            buffer = b""


if __name__ == "__main__":
    serve(sys.argv[1] if len(sys.argv) > 1 else PORT)
