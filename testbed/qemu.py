"""The amd64 kiosk image booted under QEMU/KVM, for the booted tests and ``bench boot``.

A machine is a qcow2 overlay over the raw image that ``make image`` built (the image itself is
never written), a private copy of OVMF's variables, a serial console written to a file, and the
probe's virtio-serial port (``org.branchkiosk.probe``: testbed/guest_probe.py
answers a fixed set of verbs there). The test's ``kiosk.toml`` goes onto p1 (the FAT boot
partition) in a layer of its own between the image and the overlay, so everything the guest
writes, and only that, is in the overlay (``written_extents``). No loop device, nbd or mount:
mtools edits a raw copy of p1 and ``qemu-io`` writes the clusters that changed.

    with Machine(image, workdir, kiosk_toml=text) as vm:
        vm.boot()
        facts = vm.probe("facts")
        vm.power_cut(); vm.boot()      # the same overlay, as after pulling the plug

Inside ``scripts/loopback-only`` the guest's user-mode network reaches only the host's
loopback, as 10.0.2.2. Nothing here needs root beyond /dev/kvm.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from testbed.qemu_disk import (
    CLUSTER,
    CONFIG_PATH,
    BootEntry,
    Extent,
    Partition,
    QemuError,
    boot_entry,
    outside,
    partitions,
    run_tool,
    write_config_layer,
)

__all__ = [
    "CLUSTER",
    "CONFIG_PATH",
    "BootEntry",
    "Extent",
    "Machine",
    "Partition",
    "QemuError",
    "accelerator",
    "boot_entry",
    "kvm_usable",
    "missing_tools",
    "outside",
    "partitions",
    "write_config_layer",
]

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
PROBE_PORT = "org.branchkiosk.probe"
HOST_FROM_GUEST = "10.0.2.2"  # QEMU user networking: the host's loopback, seen from the guest
TOOLS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "qemu-io": "qemu-utils",
    "mcopy": "mtools",
    "sfdisk": "fdisk",
}


def missing_tools() -> list[str]:
    """What the harness lacks on this host, each as ``tool (apt-get install package)``."""
    missing = [f"{t} (apt-get install {p})" for t, p in TOOLS.items() if shutil.which(t) is None]
    for path in (OVMF_CODE, OVMF_VARS):
        if not path.exists():
            missing.append(f"{path} (apt-get install ovmf)")
    return missing


def kvm_usable() -> bool:
    """Whether /dev/kvm exists and this process may open it."""
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def accelerator() -> tuple[str, str]:
    """("kvm" or "tcg", why): KVM when it can run a stock kernel and firmware, else TCG.

    /dev/kvm alone is not enough: under PVM (module kvm_pvm, a nested hypervisor without
    VMX/SVM) only PVM-built guest kernels run; OVMF dies with "KVM internal error" and a
    stock kernel spins in its decompressor. ``BRANCH_KIOSK_QEMU_ACCEL`` overrides the choice.
    """
    forced = os.environ.get("BRANCH_KIOSK_QEMU_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced, f"BRANCH_KIOSK_QEMU_ACCEL={forced}"
    if not kvm_usable():
        return "tcg", "/dev/kvm is missing or not writable"
    if Path("/sys/module/kvm_pvm").exists():
        return "tcg", "/dev/kvm is PVM (kvm_pvm): it runs only PVM guest kernels"
    flags = Path("/proc/cpuinfo").read_text(errors="replace")
    if not re.search(r"^flags\s*:.*\b(vmx|svm)\b", flags, re.MULTILINE):
        return "tcg", "the CPU has no vmx/svm flag (nested virtualisation off)"
    return "kvm", "/dev/kvm with hardware virtualisation"


@dataclass
class Machine:
    """One kiosk under QEMU/KVM with its overlay, console, probe and QMP sockets in ``workdir``.

    ``kiosk_toml``: the configuration written onto p1 (None: the image's shipped example).
    A context manager: on exit QEMU is killed if still running and ``workdir`` is removed.
    """

    image: Path
    workdir: Path
    kiosk_toml: str | None = None
    memory_mib: int = 1536
    accel: str = field(default_factory=lambda: accelerator()[0])
    # "uefi": OVMF and the image's systemd-boot; "direct": QEMU loads the default loader
    # entry's kernel, initrd and command line itself (the same files, ~30 s less under TCG).
    firmware: str = ""
    cpus: int = 2
    process: subprocess.Popen[bytes] | None = None
    boots: int = 0
    boot_started: float = 0.0  # time.monotonic() when the last boot's QEMU was started
    _entry: BootEntry | None = field(default=None, repr=False)

    @property
    def overlay(self) -> Path:
        return self.workdir / "disk.qcow2"

    def console_log(self, boot: int | None = None) -> Path:
        """The guest's serial console (kernel, systemd, ttyS0) of ``boot`` (default: the last)."""
        return self.workdir / f"console-{self.boots if boot is None else boot}.log"

    @property
    def _probe_sock(self) -> Path:
        return self.workdir / "probe.sock"

    @property
    def _qmp_sock(self) -> Path:
        return self.workdir / "qmp.sock"

    def __enter__(self) -> Machine:
        try:
            self.prepare()
        except BaseException:
            self.close()  # nothing of a half-prepared machine stays behind
            raise
        return self

    def layout(self) -> list[Partition]:
        """The partitions of the image this machine was prepared from."""
        return partitions(self.workdir / "base.img")

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def prepare(self) -> None:
        """Create the workdir, the config layer, the overlay and the OVMF variables copy."""
        if not self.image.exists():
            raise QemuError(f"{self.image} does not exist: run `make image` (ARCH=amd64)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        base = self.workdir / "base.img"
        # Pin this build: `make image` replaces the file (mv), and a later boot of the same
        # overlay over a new image would read garbage. A hard link is free; else a sparse copy.
        try:
            os.link(self.image.resolve(), base)
        except OSError:
            run_tool(
                "cp", "--sparse=always", "--reflink=auto", self.image.resolve(), base, timeout=600
            )
        if self.kiosk_toml is not None:
            layer = self.workdir / "config.qcow2"
            write_config_layer(base, layer, self.kiosk_toml, self.workdir / "scratch")
            base_args = ["-F", "qcow2", "-b", str(layer)]
        else:
            base_args = ["-F", "raw", "-b", str(base)]
        run_tool("qemu-img", "create", "-q", "-f", "qcow2", *base_args, self.overlay)
        shutil.copyfile(OVMF_VARS, self.workdir / "OVMF_VARS.fd")
        self._entry = boot_entry(base, self.workdir / "boot")

    def command(self, firmware: str | None = None) -> list[str]:
        """The QEMU command line of a boot (``firmware``: "uefi" or "direct")."""
        firmware = firmware or self.firmware or ("uefi" if self.accel == "kvm" else "direct")
        if firmware == "uefi":
            loader = [
                "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
                "-drive", f"if=pflash,format=raw,file={self.workdir / 'OVMF_VARS.fd'}",
            ]  # fmt: skip
        elif firmware == "direct":
            entry = self._entry
            if entry is None:
                raise QemuError("prepare() the machine first")
            loader = ["-kernel", str(entry.kernel), "-initrd", str(entry.initrd)]
            loader += ["-append", entry.options]
        else:
            raise QemuError(f"firmware {firmware!r}: expected 'uefi' or 'direct'")
        return [*self._command_base(), *loader]

    def _command_base(self) -> list[str]:
        probe = f"socket,id=probe,path={self._probe_sock},server=on,wait=off"
        return [
            "qemu-system-x86_64",
            "-name", "branch-kiosk-test",
            "-machine", f"q35,accel={self.accel}", "-cpu", "host" if self.accel == "kvm" else "max",
            "-smp", str(self.cpus), "-m", str(self.memory_mib),
            "-nodefaults", "-no-user-config", "-display", "none",
            "-drive", f"if=virtio,format=qcow2,file={self.overlay}",
            "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
            "-device", "virtio-gpu-pci",
            # a hardware watchdog for systemd's RuntimeWatchdogSec=
            "-device", "i6300esb",
            "-serial", f"file:{self.console_log()}",
            "-device", "virtio-serial-pci",
            "-chardev", probe,
            "-device", f"virtserialport,chardev=probe,name={PROBE_PORT}",
            "-qmp", f"unix:{self._qmp_sock},server=on,wait=off",
            "-rtc", "base=utc",
        ]  # fmt: skip

    def boot(self, firmware: str | None = None) -> None:
        """Start QEMU on the overlay (again, after ``power_cut`` or ``shutdown``)."""
        if self.running:
            raise QemuError("the machine is already running")
        if self.accel == "kvm" and not kvm_usable():
            raise QemuError("/dev/kvm is missing or not writable (set BRANCH_KIOSK_QEMU_ACCEL=tcg)")
        for sock in (self._probe_sock, self._qmp_sock):
            sock.unlink(missing_ok=True)
        self.boots += 1
        stderr = (self.workdir / f"qemu-{self.boots}.log").open("wb")
        with stderr:
            self.boot_started = time.monotonic()
            self.process = subprocess.Popen(
                self.command(firmware), stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr
            )
        deadline = time.monotonic() + 10
        while not (self._probe_sock.exists() and self._qmp_sock.exists()):
            self._check_alive()
            if time.monotonic() > deadline:
                raise QemuError("QEMU did not create its sockets within 10 s")
            time.sleep(0.02)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            log = (self.workdir / f"qemu-{self.boots}.log").read_text(errors="replace")
            raise QemuError(f"QEMU exited with {self.process.returncode}: {log[-800:]}")

    def console(self) -> str:
        """The serial console of the current (last) boot so far."""
        path = self.console_log()
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_console(self, pattern: str, timeout: float) -> re.Match[str]:
        """Wait for ``pattern`` (a regex) on this boot's console; return the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.console())
            if found:
                return found
            self._check_alive()
            if time.monotonic() > deadline:
                tail = self.console()[-1500:]
                raise QemuError(f"no {pattern!r} on the console within {timeout:.0f} s:\n{tail}")
            time.sleep(0.1)

    def probe(self, verb: str, timeout: float = 60.0) -> Any:
        """Ask the guest's probe ``verb``; retried until it answers or ``timeout`` passes.

        The probe starts with the guest's udev, so the first call also waits for the boot.
        """
        nonce = secrets.token_hex(8)
        request = json.dumps({"verb": verb, "id": nonce}).encode() + b"\n"
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                reply = self._ask(request, nonce, min(3.0, max(0.1, deadline - time.monotonic())))
            except (OSError, ValueError) as error:
                last = f"{type(error).__name__}: {error}"
                time.sleep(0.2)
                continue
            if not reply.get("ok"):
                raise QemuError(f"probe {verb}: {reply.get('error')}")
            return reply.get("result")
        raise QemuError(f"the probe did not answer {verb!r} within {timeout:.0f} s ({last})")

    def _ask(self, request: bytes, nonce: str, within: float) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(within)
            sock.connect(str(self._probe_sock))
            sock.sendall(request)
            buffer = b""
            end = time.monotonic() + within
            while time.monotonic() < end:
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    break
                if not data:
                    break
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    with contextlib.suppress(ValueError):
                        reply = json.loads(line)
                        if isinstance(reply, dict) and reply.get("id") == nonce:
                            return reply
            raise ValueError("no reply yet")

    def qmp(self, command: str, timeout: float = 5.0) -> dict[str, Any]:
        """Send one QMP command (e.g. ``system_powerdown``) and return its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self._qmp_sock))
            lines = sock.makefile("rwb")
            json.loads(lines.readline())  # the greeting
            for execute in ("qmp_capabilities", command):
                lines.write(json.dumps({"execute": execute}).encode() + b"\n")
                lines.flush()
                while True:
                    answer: dict[str, Any] = json.loads(lines.readline())
                    if "return" in answer or "error" in answer:
                        break  # events ("event": ...) are skipped
            return answer

    def power_cut(self) -> None:
        """Pull the plug: SIGKILL QEMU (the guest gets no chance to flush or unmount)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def shutdown(self, timeout: float = 60.0) -> None:
        """ACPI power button, wait for QEMU to exit; a power cut if the guest does not stop."""
        if not self.running:
            return
        try:  # the probe asks systemd; the ACPI button needs logind to be listening
            self.probe("poweroff", timeout=10)
        except QemuError:
            with contextlib.suppress(OSError, ValueError):
                self.qmp("system_powerdown")
        try:
            if self.process is not None:
                self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.power_cut()
            raise QemuError(f"the guest did not power off within {timeout:.0f} s") from None

    def written_extents(self) -> list[Extent]:
        """The ranges of the disk the guest wrote, across every boot (from the overlay alone)."""
        if self.running:
            raise QemuError("stop the machine before reading its overlay")
        mapping = json.loads(run_tool("qemu-img", "map", "--output=json", self.overlay))
        return [
            Extent(int(m["start"]), int(m["length"]))
            for m in mapping
            if m.get("depth") == 0 and m.get("data")
        ]

    def close(self) -> None:
        """Kill QEMU if it still runs and remove every file of the machine."""
        self.power_cut()
        self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)
