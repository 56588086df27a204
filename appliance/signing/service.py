"""The signature desk: one adviser request at a time, from the PDF to the signed PDF.

The adviser's :class:`~protocol.channel.SignatureRequest` names a PDF of this call (one the
adviser sent or one the kiosk sent, by transfer id) and its SHA-256. The desk checks it
(document, trustee, device identity, tablet), lets the customer read, captures the pen on
the signature screen, and on "confirm" produces the signed PDF in a worker thread
(:mod:`appliance.signing.produce`), stores it in the vault and sends it through the exchange
with purpose "signed". The adviser hears a :class:`~protocol.channel.SignatureStatus` at
every step. Samples, ink, the signer's name and the document live only in memory and the
vault; logs carry codes only. Everything here runs on the kiosk's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from appliance.custody.vault import Artifact, ArtifactKind, SessionVault
from appliance.signing.capture import Capture, TabletGone, TooLong
from appliance.signing.produce import (
    DocumentRefused,
    LibraryProducer,
    Placed,
    Producer,
    SigningJob,
)
from appliance.signing.state import (
    CustomerMessage,
    SignatureObserver,
    SignatureTask,
    Strokes,
    TaskState,
)
from appliance.signing.trust import SignatureUnavailable, TrusteeChoice
from drivers.tablet import SignatureTablet
from drivers.tablet.pointer import PointerTablet
from protocol.channel import (
    ChannelMessage,
    SignatureCancel,
    SignatureErrorCode,
    SignatureRequest,
    SignatureState,
    SignatureStatus,
)
from provisioning.identity import Identity

log = logging.getLogger(__name__)

# 120 s at 500 Hz: no signature takes longer; a pen left on the tablet must not fill memory.
MAX_SAMPLES = 60_000
REPLUG_RETRY_S = 1.0

SendFile = Callable[[Artifact, str], Awaitable[str]]  # (artifact, request id) -> transfer id


@dataclass
class _Open:
    """The open request and what belongs to it."""

    request: SignatureRequest
    task: SignatureTask
    document: bytes
    placed: Placed
    trustee: TrusteeChoice
    identity: Identity
    capture: Capture | None = None
    runner: asyncio.Task[None] | None = None


class SignatureDesk:
    """Routes the adviser's signature messages and the customer's decisions (one at a time).

    ``lookup`` finds a PDF of this call by transfer id; ``trustee`` and ``identity`` raise
    :class:`SignatureUnavailable` when the kiosk cannot seal or sign; ``send_file`` uploads a
    vault artifact with purpose "signed" for the request.
    """

    def __init__(
        self,
        *,
        vault: SessionVault,
        lookup: Callable[[str], Artifact | None],
        send: Callable[[ChannelMessage], None],
        send_file: SendFile,
        tablet: SignatureTablet | None,
        trustee: Callable[[], TrusteeChoice],
        identity: Callable[[], Identity],
        tsa_url: Callable[[], str | None] = lambda: None,
        observer: SignatureObserver | None = None,
        producer: Producer | None = None,
        max_samples: int = MAX_SAMPLES,
        replug_retry_s: float = REPLUG_RETRY_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._vault = vault
        self._lookup = lookup
        self._send_raw = send
        self._send_file = send_file
        self._tablet = tablet
        self._trustee = trustee
        self._identity = identity
        self._tsa_url = tsa_url
        self.observer = observer
        self._producer = producer or LibraryProducer()
        self._max_samples = max_samples
        self._replug_retry_s = replug_retry_s
        self._clock = clock
        self._open: _Open | None = None
        self._work: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- what the screen reads -----------------------------------------------------------

    @property
    def task(self) -> SignatureTask | None:
        """The open request's snapshot, or None."""
        return self._open.task if self._open is not None else None

    def ink(self) -> tuple[Strokes, int]:
        """The live ink (thread-safe); nothing without a capture."""
        current = self._open
        capture = current.capture if current is not None else None
        return capture.ink() if capture is not None else ((), 0)

    async def capture_ended(self, id: str) -> None:
        """Wait until the pen's pass of request ``id`` ended (a replayed recording is over)."""
        current = self._open
        runner = current.runner if current is not None and current.request.id == id else None
        if runner is not None:
            await asyncio.gather(runner, return_exceptions=True)

    # -- the adviser's messages ------------------------------------------------------------

    async def handle(self, message: SignatureRequest | SignatureCancel) -> None:
        """A signature request or cancel from the adviser."""
        if self._closed:
            return
        if isinstance(message, SignatureCancel):
            current = self._open
            if current is not None and current.request.id == message.id:
                await self._end("cancelled", None)
            return
        await self._requested(message)

    async def _requested(self, request: SignatureRequest) -> None:
        if self._open is not None:
            self._status(request.id, "failed", "busy")
            return
        try:
            self._open = await self._prepare(request)
        except (SignatureUnavailable, DocumentRefused) as exc:
            log.info("signature: refused a request: %s", exc.code)
            self._status(request.id, "failed", exc.code)
            return
        self._status(request.id, "reading")
        self._publish()

    async def _prepare(self, request: SignatureRequest) -> _Open:
        identity = self._identity()
        trustee = self._trustee()
        if self._tablet is None:
            raise _refused("no_tablet")
        artifact = self._lookup(request.document)
        if artifact is None:
            raise _refused("no_document")
        data = await asyncio.to_thread(self._vault.read_bytes, artifact)
        if hashlib.sha256(data).hexdigest() != request.sha256:
            raise _refused("document_changed")
        placed = self._producer.check(data, request)
        task = SignatureTask(
            id=request.id,
            document_ref=artifact.ref,
            title=artifact.name,
            trustee_name=trustee.name,
            state="reading",
            page=placed.page,
            box=placed.box,
        )
        return _Open(request, task, data, placed, trustee, identity)

    # -- the customer's decisions (SignatureDecisions) ---------------------------------------

    def read(self, id: str) -> None:
        """Done reading: on to the signature screen, the pen is live."""
        current = self._current(id, "reading")
        if current is None:
            return
        self._set(current, state="signing", message=None)
        self._status(id, "signing")
        self._start_capture(current)

    def clear(self, id: str) -> None:
        """Clear the ink and any notice; the customer signs again."""
        current = self._current(id, "signing")
        if current is None:
            return
        if current.capture is not None:
            current.capture.drop()
        if current.task.message in ("no_ink", "too_long"):
            self._set(current, message=None)
        if current.runner is None or current.runner.done():
            self._start_capture(current)

    def confirm(self, id: str) -> None:
        """The ink is the customer's signature: seal and sign (no ink: say so, go on)."""
        current = self._current(id, "signing")
        if current is None:
            return
        capture = current.capture
        if capture is None or capture.info is None or not capture.has_ink():
            self._set(current, message="no_ink")
            self._status(id, "signing", "no_ink")
            return
        self._stop_capture(current)
        self._set(current, state="sealing", message=None)
        self._status(id, "sealing")
        self._spawn(self._produce(current, capture))

    def decline(self, id: str) -> None:
        """The customer declines: nothing captured is kept."""
        if self._current(id, "reading", "signing") is not None:
            self._spawn(self._end("declined", None))

    def timed_out(self, id: str) -> None:
        """The screen's timeout: the request fails with "timeout"; nothing is kept."""
        if self._current(id, "reading", "signing") is not None:
            self._spawn(self._end("failed", "timeout"))

    def pointer(self, x: float, y: float, down: bool) -> None:
        """The UI's pointer feeds a ``PointerTablet`` (ignored with a real tablet)."""
        if isinstance(self._tablet, PointerTablet):
            self._tablet.push(x, y, down)

    def restate(self) -> None:
        """After a resume: say again where the open request stands (a reloaded console lost it)."""
        current = self._open
        if current is not None:
            state = current.task.state
            message = current.task.message
            self._status(current.request.id, state, message if state == "signing" else None)

    # -- the session ---------------------------------------------------------------------

    async def close(self) -> None:
        """The consultation ends: cancel the open request, drop what was captured."""
        if self._closed:
            return
        if self._open is not None:
            await self._end("cancelled", None)
        self._closed = True
        work, self._work = self._work, set()
        for task in work:
            task.cancel()
        await asyncio.gather(*work, return_exceptions=True)

    # -- capture -------------------------------------------------------------------------

    def _start_capture(self, current: _Open) -> None:
        if self._tablet is None:  # checked when the request came
            return
        current.capture = Capture(self._tablet, max_samples=self._max_samples, changed=lambda: None)
        current.runner = asyncio.get_running_loop().create_task(self._capture(current))

    async def _capture(self, current: _Open) -> None:
        """Take the pen; on a vanished tablet tell both sides and start over on re-plug."""
        tablet = self._tablet
        if tablet is None or current.capture is None:
            return

        def back() -> None:
            # Said only once the capture itself holds the tablet: a separate probe start
            # followed by the capture's own start re-opened the device and lost what the
            # customer wrote in between.
            if self._open is current and current.task.message == "tablet_gone":
                self._set(current, message=None)
                self._status(current.request.id, "signing")

        while self._open is current:
            try:
                await current.capture.run(back)
                return
            except TooLong:
                log.info("signature: the capture hit its sample cap")
                self._set(current, message="too_long")
                self._status(current.request.id, "signing", "too_long")
                await self._restart(tablet)
            except TabletGone:
                await self._restart(tablet)
                if current.task.message == "tablet_gone":
                    # Still unplugged; nothing announces a re-plug: try again in a moment.
                    await asyncio.sleep(self._replug_retry_s)
                    continue
                log.info("signature: the tablet is gone")
                current.capture.drop()
                self._set(current, message="tablet_gone")
                self._status(current.request.id, "signing", "tablet_gone")

    async def _restart(self, tablet: SignatureTablet) -> None:
        with contextlib.suppress(Exception):
            await tablet.stop()

    def _stop_capture(self, current: _Open) -> None:
        runner, current.runner = current.runner, None
        if runner is not None:
            runner.cancel()
        if self._tablet is not None:
            self._spawn(self._restart(self._tablet))

    # -- producing -----------------------------------------------------------------------

    async def _produce(self, current: _Open, capture: Capture) -> None:
        if capture.info is None:
            return
        strokes, _ = capture.ink()
        job = SigningJob(
            document=current.document,
            placed=current.placed,
            samples=capture.samples,
            tablet=capture.info,
            strokes=strokes,
            signer_name=current.request.signer,
            signed_at=self._clock(),
            trustee=current.trustee.certificate,
            identity=current.identity,
            tsa_url=self._tsa_url(),
        )
        capture.drop()
        try:
            signed = await asyncio.to_thread(self._producer.produce, job)
            del job
            artifact = self._vault.store(
                ArtifactKind.SIGNATURE, _signed_name(current.task.title), signed
            )
            if self._open is not current:
                return
            await self._send_file(artifact, current.request.id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the adviser must hear of any failure, and why in general
            log.info("signature: producing failed (%s)", type(exc).__name__)
            if self._open is current:
                await self._end("failed", "signing_failed")
            return
        if self._open is current:
            await self._end("done", None)

    # -- helpers -------------------------------------------------------------------------

    def _current(self, id: str, *states: TaskState) -> _Open | None:
        current = self._open
        if current is None or current.request.id != id or current.task.state not in states:
            return None
        return current

    def _set(
        self,
        current: _Open,
        *,
        state: TaskState | None = None,
        message: CustomerMessage | None | object = ...,
    ) -> None:
        task = current.task
        if state is not None:
            task = replace(task, state=state)
        if message is not ...:
            task = replace(task, message=message)  # type: ignore[arg-type]
        current.task = task
        self._publish()

    async def _end(self, state: SignatureState, code: SignatureErrorCode | None) -> None:
        current, self._open = self._open, None
        if current is None:
            return
        runner, current.runner = current.runner, None
        if runner is not None:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        if current.capture is not None:
            current.capture.drop()
        if self._tablet is not None:
            await self._restart(self._tablet)
        self._status(current.request.id, state, code)
        final = replace(
            current.task,
            state=state,
            message=code if code in ("tablet_gone", "too_long", "no_ink") else None,
        )
        if self.observer is not None:
            self.observer.signature_changed(final)
            self.observer.signature_changed(None)

    def _publish(self) -> None:
        if self.observer is not None:
            self.observer.signature_changed(self.task)

    def _status(
        self, id: str, state: SignatureState, code: SignatureErrorCode | None = None
    ) -> None:
        try:
            self._send_raw(SignatureStatus(id=id, state=state, code=code))
        except Exception as exc:  # a closed channel must not break the desk's bookkeeping
            log.info("signature: could not send a status (%s)", type(exc).__name__)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._work.add(task)
        task.add_done_callback(self._work.discard)


def _refused(code: SignatureErrorCode) -> DocumentRefused:
    """A refusal with ``code`` (the document or the kiosk's equipment)."""
    return DocumentRefused(code, f"signature refused: {code}")


def _signed_name(title: str) -> str:
    stem = title[:-4] if title.lower().endswith(".pdf") else title
    return f"{stem or 'document'}-signed.pdf"
