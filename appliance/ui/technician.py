"""The technician screen's shell: enrol on the touchscreen, then serve customers in the same
window, without a restart (docs/ui.md, docs/enrolment.md).

``TechnicianFront`` runs the pure machine ``appliance.session.technician`` on the kiosk's loop
and carries out its effects: the identity directory (``provisioning.identity``), the hub's
EST endpoints (``provisioning.est_client``, ``provisioning.enrolment.enrol``) and the
self-test (``kiosk selftest``'s checks). Once enrolled it builds the kiosk and its journey
bridge (``assemble``) and hands them the screen: ``current_view``, ``report`` and the media
feed follow whichever has it. A hub that refuses the certificate later (it expired while the
kiosk was off, or it was revoked) hands the screen back, saying a fresh code is needed.

Why no restart: the window stays up (no black screen on kmsdrm), nothing depends on the
service manager (``kiosk run`` from a shell works the same), and the kiosk is built from the
configuration as it is after enrolment, exactly as a fresh start would build it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, Protocol

from appliance.commands.selftest import CheckResult, format_table, run_checks
from appliance.config import devices as ds
from appliance.config.kiosk import (
    ENROLMENT_PENDING,
    ConfigError,
    KioskConfig,
    MissingCredential,
    load_config,
)
from appliance.runner.device_reports import save_selftest
from appliance.runner.devices import build_devices
from appliance.runner.hub_client import HubRejected
from appliance.runner.service_manager import ServiceStatus, start_watchdog, stop_watchdog
from appliance.session import technician_events as te
from appliance.session.technician import Technician, notice_for
from appliance.ui.launch import FrontProcess, ScreenOwner, base_view, run_with_ui
from drivers.errors import DriverError
from kiosk_ui import viewmodels as v
from kiosk_ui.strings import text
from provisioning import profile
from provisioning.codes import BadEnrolmentUri, parse_enrolment_uri
from provisioning.enrolment import enrol, kiosk_hub_url
from provisioning.est_client import EstClient, EstError
from provisioning.identity import IdentityError, IdentityStore

log = logging.getLogger(__name__)

TICK_S = 0.25
EXIT_USAGE, EXIT_REFUSED = 2, 3
_MISSING_CREDENTIAL = (
    "configuration key 'token': missing: enrol this kiosk (`kiosk enrol --hub URL --code "
    "CODE`, `kiosk run --enrol-uri URI`, or on its touchscreen), or set token_file (from "
    "`kiosk-hub device add`)"
)


class Service(Protocol):
    """What ``assemble`` builds once enrolled: a kiosk process and, with a UI, its bridge."""

    async def run(self) -> None:
        """Serve until stopped; raises ``HubRejected`` when the hub refuses the kiosk."""

    def request_stop(self) -> None:
        """Stop politely."""


Assemble = Callable[[], tuple[Service, ScreenOwner | None]]
Selftest = Callable[[], Awaitable[list[CheckResult]]]


class EnrolmentFailed(Exception):
    """Unattended enrolment (no screen) failed; ``status`` is ``kiosk run``'s exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class TechnicianFront:
    """The screen's owner until enrolled, then the journey's (see the module docstring).

    UI side (any thread): ``current_view``, ``report`` and the ``MediaFeed`` methods. Loop side:
    ``run`` ticks (``run_with_ui``'s bridge task), ``serve`` is the process (``process``).
    Seams: ``est`` (an EST client for a hub URL), ``selftest``, ``clock``; ``service`` tells
    systemd READY and the screen's ``STATUS=`` (the kiosk it starts says its own).
    """

    def __init__(
        self,
        machine: Technician,
        store: IdentityStore,
        *,
        assemble: Assemble,
        selftest: Selftest,
        base: v.KioskView | None = None,
        say: Callable[[str], None] = print,
        est: Callable[[str], EstClient] = EstClient,
        clock: Callable[[], float] = time.monotonic,
        hand_back: bool = True,
        service: ServiceStatus | None = None,
    ) -> None:
        self.machine = machine
        self._service_status = service if service is not None else ServiceStatus()
        self.store = store
        self._assemble = assemble
        self._selftest = selftest
        self._base = base or v.KioskView()
        self._say = say
        self._est = est
        self._clock = clock
        self._hand_back = hand_back  # a refused certificate shows this screen (else: raised)
        self._view = machine.view(self._base)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._go = asyncio.Event()  # StartService, or a stop
        self._stopping = False
        self._service: Service | None = None
        self._bridge: ScreenOwner | None = None
        self.failure: EnrolmentFailed | None = None
        self.process = FrontProcess(self)

    # -- UI side (any thread) -------------------------------------------------------------

    def current_view(self) -> v.KioskView:
        """The latest view: the technician's, or the journey's once it has the screen."""
        bridge = self._bridge
        return self._view if bridge is None else bridge.current_view()

    def report(self, intent: v.Intent) -> None:
        """Post a tap to whichever has the screen (never blocks)."""
        bridge = self._bridge
        if bridge is not None:
            bridge.report(intent)
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is shutting down
                loop.call_soon_threadsafe(self.handle, intent)

    def remote_video(self) -> v.VideoFrame | None:
        """The adviser's picture (the journey's)."""
        return None if self._bridge is None else self._bridge.remote_video()

    def screen_video(self) -> v.VideoFrame | None:
        """The adviser's shared screen (the journey's)."""
        return None if self._bridge is None else self._bridge.screen_video()

    def self_view(self) -> v.VideoFrame | None:
        """The kiosk's camera (the journey's)."""
        return None if self._bridge is None else self._bridge.self_view()

    def ink(self) -> v.Ink:
        """The signature (the journey's)."""
        return v.Ink() if self._bridge is None else self._bridge.ink()

    def show_at(self, source: str, box: tuple[int, int]) -> None:
        """Where the UI shows a live picture (the journey's)."""
        if self._bridge is not None:
            self._bridge.show_at(source, box)

    # -- loop side --------------------------------------------------------------------------

    @property
    def serving(self) -> bool:
        """Whether the kiosk serves customers (the journey has the screen)."""
        return self._service is not None

    async def run(self) -> None:
        """Tick the technician machine while it has the screen, until cancelled."""
        self._loop = asyncio.get_running_loop()
        while True:
            if self._service is None:
                self.handle(te.Tick())
            await asyncio.sleep(TICK_S)

    async def serve(self) -> None:
        """Enrol (if needed), then serve; again after a refused certificate. Until stopped."""
        self._loop = asyncio.get_running_loop()
        self._carry_out(self.machine.start())
        self._tell_service()
        try:
            while True:
                await self._go.wait()
                self._go.clear()
                if self._stopping or not await self._serve_once():
                    break
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.failure is not None:
            raise self.failure

    def request_stop(self) -> None:
        """Stop politely (from the loop): the kiosk if it serves, else the screen."""
        self._stopping = True
        self._service_status.stopping()
        if self._service is not None:
            self._service.request_stop()
        self._go.set()

    def handle(self, event: te.Event) -> None:
        """Feed one event to the machine, carry out its effects, publish the view."""
        effects = self.machine.handle(event, self._clock())
        self._view = self.machine.view(self._base)
        self._carry_out(effects)
        if self.machine.unattended:
            self._check_unattended()
        self._tell_service()

    def _tell_service(self) -> None:
        """READY with what the technician screen shows (once the journey has the screen, the
        kiosk's own ``ServiceStatus`` speaks: it says READY after its start-up wipe)."""
        s = self.machine.state
        if s.step == "started" or self._loop is None or self._stopping:
            return
        if s.step == "blocked":
            detail = s.notice.detail if s.notice is not None and s.notice.detail else "unusable"
            line = f"out of service: identity directory: {detail}"
            if self._service_status.line != line:
                self._service_status.out_of_service(f"identity directory: {detail}")
        elif self._service_status.line is None or self._service_status.line.startswith("out"):
            self._service_status.not_enrolled()

    async def _serve_once(self) -> bool:
        """Build and run the kiosk; True if the screen came back (certificate refused)."""
        service, bridge = self._assemble()
        self._service = service
        ticker = None if bridge is None else asyncio.create_task(bridge.run(), name="ui-journey")
        self._bridge = bridge
        try:
            await service.run()
        except HubRejected:
            if not self._hand_back or self._stopping:
                raise
            log.warning("the hub refused the device certificate: showing the technician screen")
            self._say("the hub refused this kiosk's certificate: it needs a fresh enrolment code")
            self._bridge = None
            self._service = None
            self._service_status.line = None  # the kiosk spoke meanwhile: say READY again
            self.handle(te.CertificateRefused())
            return True
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
        return False

    def _carry_out(self, effects: list[te.Effect]) -> None:
        for effect in effects:
            match effect:
                case te.CheckIdentity(accept_enrolled=accept):
                    self.handle(self._check_identity(accept))  # small local files: at once
                case te.FetchCa():
                    self._spawn(self._fetch_ca(effect), _request_failed(effect.attempt))
                case te.Enrol():
                    self._spawn(self._enrol(effect), _request_failed(effect.attempt))
                case te.RunSelftest():
                    self._spawn(self._run_selftest(), _selftest_failed)
                case te.StartService():
                    self._say("starting the kiosk")
                    self._go.set()

    def _spawn(
        self, work: Coroutine[Any, Any, te.Event], on_error: Callable[[Exception], te.Event]
    ) -> None:
        async def deliver() -> None:
            try:
                event = await work
            except Exception as exc:  # a bug must not leave the screen waiting forever
                log.error("technician step failed unexpectedly (%s)", type(exc).__name__)
                event = on_error(exc)
            self.handle(event)

        task = asyncio.get_running_loop().create_task(deliver())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _check_identity(self, accept_enrolled: bool) -> te.Event:
        try:
            identity = self.store.load()
            if identity is not None and accept_enrolled:
                return te.AlreadyEnrolled(identity.device_name, identity.tenant)
            fingerprint = self.store.key_fingerprint()
        except IdentityError as exc:
            log.error("the identity directory cannot be used (%s)", type(exc).__name__)
            self._say(f"the identity directory cannot be used: {exc}")
            return te.IdentityBroken(str(exc))
        except OSError as exc:  # full (ENOSPC), read-only, gone: the device key cannot be made
            log.error("the identity directory cannot be written (%s)", type(exc).__name__)
            detail = f"cannot write {self.store.directory}: {exc.strerror or type(exc).__name__}"
            self._say(f"the identity directory cannot be used: {detail}")
            return te.IdentityBroken(detail)
        self._say(
            "technician screen: enrol this kiosk; device key fingerprint "
            + profile.display_fingerprint(fingerprint)
        )
        return te.KeyReady(fingerprint)

    async def _fetch_ca(self, effect: te.FetchCa) -> te.Event:
        self._say(f"asking {effect.hub_url} for its tenant CA (code {effect.code})")
        try:
            async with self._est(effect.hub_url) as client:
                ca = await client.cacerts(effect.code.id)
        except EstError as exc:
            return self._failed(effect.attempt, exc)
        found = profile.fingerprint(ca)
        self._say(f"the hub's tenant CA fingerprint: {profile.display_fingerprint(found)}")
        return te.CaFetched(effect.attempt, found)

    async def _enrol(self, effect: te.Enrol) -> te.Event:
        try:
            async with self._est(effect.hub_url) as client:
                identity = await enrol(
                    client,
                    self.store,
                    effect.code,
                    kiosk_hub_url(effect.hub_url),
                    expected_fingerprint=effect.ca_fingerprint,
                )
        except (EstError, IdentityError) as exc:
            return self._failed(effect.attempt, exc)
        self._say(f"enrolled as {identity.device_name} (tenant {identity.tenant})")
        return te.Enrolled(effect.attempt, identity.device_name, identity.tenant)

    async def _run_selftest(self) -> te.Event:
        self._say("self-test:")
        results = await self._selftest()
        self._say(format_table(results))
        lines = tuple(v.SelftestLine(r.device, r.ok, r.detail) for r in results)
        return te.SelftestDone(lines)

    def _failed(self, attempt: int, exc: Exception) -> te.Event:
        notice, identity = notice_for(exc)
        # The English text of the notice only: never the hub's own words, never the code.
        log.warning("enrolment step failed (%s)", type(exc).__name__)
        self._say("enrolment: " + text(notice.key, "en", **dict(notice.values)))
        return te.Failed(attempt, notice, identity)

    def _check_unattended(self) -> None:
        # Without a screen nobody can correct anything: a notice on the form ends the run.
        s = self.machine.state
        if s.step not in ("entry", "blocked") or s.notice is None or self.failure is not None:
            return
        message = text(s.notice.key, "en", **dict(s.notice.values))
        status = EXIT_USAGE if s.step == "blocked" or s.attempt == 0 else EXIT_REFUSED
        self.failure = EnrolmentFailed(message, status)
        self._stopping = True
        self._go.set()


def _request_failed(attempt: int) -> Callable[[Exception], te.Event]:
    def failed(exc: Exception) -> te.Event:
        return te.Failed(attempt, v.Notice("tech.error.refused", detail=type(exc).__name__))

    return failed


def _selftest_failed(exc: Exception) -> te.Event:
    return te.SelftestDone((v.SelftestLine("self-test", False, type(exc).__name__),))


# -- kiosk run without a device token -------------------------------------------------------


def unenrolled_config(
    path: Path | None, overrides: Mapping[str, Any], error: ConfigError
) -> KioskConfig:
    """The configuration of a kiosk neither enrolled nor given a token (``token`` None), read
    for the technician screen; re-raises ``error`` when it is about anything else."""
    if not isinstance(error, MissingCredential):
        raise error
    config = load_config(path, {**overrides, "token": ENROLMENT_PENDING})
    return dataclasses.replace(config, token=None)


def device_selftest(config: KioskConfig) -> Selftest:
    """``kiosk selftest``'s checks on the devices ``config`` fits (the simulators with simulate)."""

    async def run() -> list[CheckResult]:
        fitted = ds.DevicesConfig.simulated() if config.simulate else config.devices
        try:
            devices = build_devices(fitted)
        except DriverError as exc:
            return [CheckResult("devices", "?", False, str(exc))]
        results = await run_checks(devices, {name: cfg.backend for name, cfg in fitted.fitted()})
        # Kept for the hub like `kiosk selftest`'s: reported at the kiosk's next connection.
        problem = save_selftest(config.identity_dir, results, now=time.time())
        if problem is not None:
            log.warning("the self-test's summary is not kept for the hub: %s", problem)
        return results

    return run


def run_without_token(
    args: argparse.Namespace,
    config: KioskConfig,
    *,
    mode: str | None,
    size: tuple[int, int],
    assemble: Assemble,
    say: Callable[[str], None],
) -> int:
    """``kiosk run`` for a kiosk without a device token: its certificate, or the technician
    screen to get one. Returns the exit status; ``HubRejected`` and ``DriverError`` are raised
    for ``kiosk run`` to report."""
    store = IdentityStore(config.identity_dir)
    try:
        enrolled = store.load()
        broken = None
    except IdentityError as exc:
        enrolled, broken = None, str(exc)
    preset = None
    if args.enrol_uri is not None and enrolled is None:
        try:
            preset = parse_enrolment_uri(args.enrol_uri.strip())
        except BadEnrolmentUri as exc:
            print(f"kiosk: --enrol-uri: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if mode is None and enrolled is None and (preset is None or broken is not None):
        # No screen to show the technician anything: say what to do instead.
        print(f"kiosk: {broken or _MISSING_CREDENTIAL}", file=sys.stderr)
        return EXIT_USAGE
    if enrolled is not None:
        say(f"enrolled as {enrolled.device_name} (tenant {enrolled.tenant})")
    machine = Technician(
        default_language=config.ui.default_language,
        preset=preset,
        unattended=mode is None,
        production=config.production,
        enrolled=enrolled is not None,
    )
    front = TechnicianFront(
        machine,
        store,
        assemble=assemble,
        selftest=device_selftest(config),
        base=base_view(config.ui),
        say=say,
        hand_back=mode is not None,
    )
    try:
        if mode is None:
            asyncio.run(_headless(front))
        else:
            run_with_ui(front.process, front, mode=mode, size=size)
    except EnrolmentFailed as exc:
        print(f"kiosk: enrolment failed: {exc}", file=sys.stderr)
        return exc.status
    return 0


async def _headless(front: TechnicianFront) -> None:
    """``run_with_ui`` without the UI: the front's ticker and process, stopped by signals."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, front.request_stop)
    ticker = asyncio.create_task(front.run(), name="technician")
    watchdog = start_watchdog()
    try:
        await front.serve()
    finally:
        await stop_watchdog(watchdog)
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
