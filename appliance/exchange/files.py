"""The file side of the exchange: the adviser's offers downloaded, our files uploaded and offered.

Bytes go sealed through the hub's relay (``appliance.exchange.transfer``); what arrives is
written to the session vault and nowhere else. Every file on its way is a ``Transfer`` in the
exchange's snapshot, with progress at most every ``PROGRESS_INTERVAL_S``. Logs carry codes and
sizes only, never a file name or content.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Final

from appliance.custody.vault import Artifact, ArtifactKind, SessionVault, VaultClosed, VaultFull
from appliance.exchange.state import ReceivedDocument, Transfer, TransferPhase
from appliance.exchange.tasks import TaskSet
from appliance.exchange.transfer import (
    ExchangeLimits,
    Progress,
    Relay,
    RelayError,
    TransferError,
    receive_offer,
    upload_artifact,
)
from protocol.channel import (
    FILE_NAME_MAX,
    CancelReason,
    ChannelMessage,
    FileCancel,
    FileDone,
    FileError,
    FileErrorCode,
    FileOffer,
    FileProgress,
    FilePurpose,
)

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S: Final = 0.1  # file_progress and screen updates: at most ~10 per second
MAX_INCOMING: Final = 3  # downloads at once; more get "busy"
DELETE_TIMEOUT_S: Final = 2.0  # closing does not wait longer for the relay
_MIME_EXT: Final = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
_NAME_SAFE = re.compile(r"[\x00-\x1f\x7f]")


class TransferCancelled(Exception):
    """The upload was cancelled (by the adviser, the customer or the end of the session)."""


@dataclass
class _Upload:
    """One file we sent: its offer (re-sent after a resume) and whether it is still wanted."""

    offer: FileOffer | None = None
    task: asyncio.Task[FileOffer] | None = None


@dataclass(frozen=True)
class Stopping:
    """What closing must still wait for: uploads cancelled mid-way, blobs left to delete."""

    uploads: list[asyncio.Task[FileOffer]]
    blobs: list[str]


class FileTransfers:
    """Files both ways for one consultation; ``changed`` is called when the screen must update."""

    def __init__(
        self,
        *,
        vault: SessionVault,
        send: Callable[[ChannelMessage], None],
        relay: Relay,
        limits: ExchangeLimits,
        tasks: TaskSet,
        changed: Callable[[], None],
    ) -> None:
        self._vault = vault
        self._send = send
        self._relay = relay
        self._limits = limits
        self._tasks = tasks
        self._changed = changed
        self._transfers: dict[str, Transfer] = {}
        self._documents: list[ReceivedDocument] = []
        self._incoming: dict[str, asyncio.Task[None]] = {}
        self._received: dict[str, str] = {}  # transfer id -> sha256 of what we stored
        self._stored: dict[str, Artifact] = {}  # transfer id -> the file, either direction
        self._uploads: dict[str, _Upload] = {}
        self._deletes: set[asyncio.Task[None]] = set()
        self._last_progress: dict[str, float] = {}
        self._closed = False

    @property
    def transfers(self) -> tuple[Transfer, ...]:
        """Every file of this session, on its way or ended, oldest first."""
        return tuple(self._transfers.values())

    @property
    def documents(self) -> tuple[ReceivedDocument, ...]:
        """The documents the adviser pushed, in the vault, oldest first."""
        return tuple(self._documents)

    def stored(self, transfer_id: str) -> Artifact | None:
        """The vault's copy of a file of this call (received or sent), by transfer id."""
        return self._stored.get(transfer_id)

    # -- receiving ----------------------------------------------------------------------

    def offered(self, offer: FileOffer) -> None:
        """The adviser offers a file: download it in a task of its own (or say busy)."""
        if offer.id in self._received:
            # A resumed console offers again what we already have: say so again.
            self._send(FileDone(id=offer.id, sha256=self._received[offer.id]))
            return
        if offer.id in self._incoming or offer.id in self._uploads:
            return
        if len(self._incoming) >= MAX_INCOMING:
            self._send(FileError(id=offer.id, code="busy"))
            return
        purpose = offer.purpose if offer.purpose == "document" else "file"
        self._set_transfer(
            Transfer(offer.id, "in", purpose, offer.name, offer.size, 0, "downloading")
        )
        self._incoming[offer.id] = self._tasks.spawn(self._download(offer))

    async def _download(self, offer: FileOffer) -> None:
        try:
            artifact, digest = await receive_offer(
                self._relay,
                self._vault,
                offer,
                self._limits,
                kind=ArtifactKind.FILE_RECEIVED,
                progress=lambda done, _size: self._download_progress(offer.id, done),
            )
        except TransferError as exc:
            log.info("exchange: refused an incoming file of %d bytes: %s", offer.size, exc.code)
            self._finish_transfer(offer.id, "failed", exc.code)
            self._send(FileError(id=offer.id, code=exc.code))
            return
        except asyncio.CancelledError:
            self._finish_transfer(offer.id, "cancelled")
            raise
        except Exception as exc:  # a bug must not leave the adviser waiting
            log.error("exchange: download failed unexpectedly (%s)", type(exc).__name__)
            self._finish_transfer(offer.id, "failed", "download_failed")
            self._send(FileError(id=offer.id, code="download_failed"))
            return
        finally:
            self._incoming.pop(offer.id, None)
        self._received[offer.id] = digest
        self._stored[offer.id] = artifact
        if offer.purpose == "document":
            self._documents.append(ReceivedDocument(offer.id, offer.name, offer.mime, artifact.ref))
        self._finish_transfer(offer.id, "done")
        self._send(FileDone(id=offer.id, sha256=digest))

    def _download_progress(self, transfer_id: str, done: int) -> None:
        self._transfer_progress(transfer_id, done)

    async def cancelled(self, transfer_id: str) -> bool:
        """The adviser cancels a file; True when it was one of our uploads (now dropped)."""
        task = self._incoming.get(transfer_id)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return False
        upload = self._uploads.get(transfer_id)
        if upload is None:
            return False
        if upload.task is not None and not upload.task.done():
            upload.task.cancel()
        self._drop_upload(transfer_id)
        self._finish_transfer(transfer_id, "cancelled")
        return True

    # -- sending ------------------------------------------------------------------------

    async def send_file(
        self,
        kind: ArtifactKind,
        name: str,
        mime: str,
        data: bytes | Artifact,
        purpose: FilePurpose = "file",
        request_id: str | None = None,
        progress: Progress | None = None,
    ) -> str:
        """Store (unless already an artifact), seal, upload, then offer; returns the id.

        ``progress`` hears (bytes, size) whenever the adviser is sent ``file_progress``.
        Raises :class:`TransferError` (code) when it failed and :class:`TransferCancelled`
        when the adviser, the customer or the session's end stopped it.
        """
        transfer_id, task = self.begin_upload(kind, name, mime, data, purpose, request_id, progress)
        await self.finish_upload(transfer_id, task)
        return transfer_id

    def begin_upload(
        self,
        kind: ArtifactKind,
        name: str,
        mime: str,
        data: bytes | Artifact,
        purpose: FilePurpose,
        request_id: str | None,
        progress: Progress | None = None,
    ) -> tuple[str, asyncio.Task[FileOffer]]:
        """Store and start uploading; returns the transfer id and the upload's task.

        The id is known before the upload ends, so a request can be tied to its file.
        """
        if self._closed:
            raise TransferCancelled("the exchange is closed")
        transfer_id = secrets.token_urlsafe(16)
        name = _clean_name(name, mime)
        try:
            artifact = data if isinstance(data, Artifact) else self._vault.store(kind, name, data)
        except VaultFull as exc:
            raise TransferError("storage_full", f"vault {exc.limit} limit") from None
        except VaultClosed:
            raise TransferCancelled("the session vault closed") from None
        self._set_transfer(
            Transfer(transfer_id, "out", purpose, name, artifact.size, 0, "uploading")
        )
        task = asyncio.ensure_future(
            self._upload(transfer_id, artifact, name, mime, purpose, request_id, progress)
        )
        self._uploads[transfer_id] = _Upload(task=task)
        self._stored[transfer_id] = artifact
        return transfer_id, task

    async def finish_upload(self, transfer_id: str, task: asyncio.Task[FileOffer]) -> None:
        """Wait for the upload, then offer the file to the adviser."""
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            self.cancel_upload(transfer_id, "cancelled")
            raise
        upload = self._uploads.get(transfer_id)
        if task.cancelled() or upload is None:
            raise TransferCancelled("the upload was cancelled")
        exc = task.exception()
        if exc is not None:
            if isinstance(exc, TransferError):
                code: FileErrorCode = exc.code
            else:
                code = "upload_failed"
                log.error("exchange: upload failed unexpectedly (%s)", type(exc).__name__)
            log.info("exchange: an upload failed: %s", code)
            self._drop_upload(transfer_id)  # the hub may have stored it all the same
            self._finish_transfer(transfer_id, "failed", code)
            raise TransferError(code, "upload failed")
        upload.offer = task.result()
        self._send(upload.offer)

    async def _upload(
        self,
        transfer_id: str,
        artifact: Artifact,
        name: str,
        mime: str,
        purpose: FilePurpose,
        request_id: str | None,
        progress: Progress | None,
    ) -> FileOffer:
        if artifact.size > self._limits.max_file_bytes:
            raise TransferError("too_large", f"{artifact.size} bytes to send")

        def uploaded_so_far(done: int, size: int) -> None:
            if self._transfer_progress(transfer_id, done):
                self._send(FileProgress(id=transfer_id, bytes=done, size=size))
                if progress is not None:
                    progress(done, size)

        uploaded = await upload_artifact(
            self._relay,
            self._vault,
            artifact,
            transfer_id,
            progress=uploaded_so_far,
            pace_bytes_s=self._limits.upload_bytes_s,
        )
        return FileOffer(
            id=transfer_id,
            name=name,
            size=uploaded.size,
            mime=mime,
            sha256=uploaded.sha256,
            purpose=purpose,
            request_id=request_id,
            blob=uploaded.blob,
            key=uploaded.key.hex(),
        )

    def confirmed(self, message: FileDone) -> bool:
        """The adviser has our file; True when it was one we offered."""
        upload = self._uploads.get(message.id)
        if upload is None or upload.offer is None:
            return False
        if message.sha256 != upload.offer.sha256:
            log.warning("exchange: the adviser confirmed a file with another hash")
        self._finish_transfer(message.id, "done")
        return True

    def refused(self, message: FileError) -> bool:
        """The adviser refused our file; True when it was one of ours (now dropped)."""
        if message.id not in self._uploads:
            return False
        log.info("exchange: the adviser refused a file: %s", message.code)
        self._drop_upload(message.id)
        self._finish_transfer(message.id, "failed", message.code)
        return True

    def stop_upload(self, transfer_id: str) -> None:
        """We no longer want this file sent: stop its upload, tell the adviser, drop the blob."""
        upload = self._uploads.get(transfer_id)
        if upload is not None and upload.task is not None and not upload.task.done():
            upload.task.cancel()
        self.cancel_upload(transfer_id, "cancelled")

    def cancel_upload(self, transfer_id: str, reason: CancelReason) -> None:
        """We stop an upload: tell the adviser, delete the blob, show it cancelled."""
        if transfer_id not in self._uploads:
            return
        self._send(FileCancel(id=transfer_id, reason=reason))
        self._drop_upload(transfer_id)
        self._finish_transfer(transfer_id, "cancelled")

    def _drop_upload(self, transfer_id: str) -> None:
        upload = self._uploads.pop(transfer_id, None)
        if upload is None:
            return
        if upload.offer is not None:
            action = self._delete_blob(upload.offer.blob)
        else:
            # Stopped mid-upload: its last bytes may still reach the hub, and the blob id with
            # them is lost to us. Cancel it by its name.
            action = self._relay_quietly(lambda: self._relay.cancel(transfer_id))
        # Not in the task set: closing waits for deletes instead of cancelling them.
        task = asyncio.ensure_future(action)
        self._deletes.add(task)
        task.add_done_callback(self._deletes.discard)

    async def _delete_blob(self, blob: str) -> None:
        await self._relay_quietly(lambda: self._relay.delete(blob))

    async def _relay_quietly(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run a clean-up at the relay; a failure is logged (the hub drops it at the end)."""
        try:
            async with asyncio.timeout(DELETE_TIMEOUT_S):
                await action()
        except (RelayError, TimeoutError) as exc:
            log.info("exchange: could not clean up at the relay (%s)", type(exc).__name__)

    def resend_offers(self) -> None:
        """After a resume: offer again every file we uploaded this session (same blob, key).

        Files the adviser refused or cancelled are gone and not offered.
        """
        for upload in list(self._uploads.values()):
            if upload.offer is not None:
                self._send(upload.offer)

    # -- closing ------------------------------------------------------------------------

    def stop(self, reason: CancelReason) -> Stopping:
        """The session ends: tell the adviser, cancel downloads and uploads, take no more.

        Returns what :meth:`clean_up` and the caller must still wait for.
        """
        self._closed = True
        for transfer_id in list(self._incoming):
            self._send(FileCancel(id=transfer_id, reason=reason))
        uploading: list[asyncio.Task[FileOffer]] = []
        for transfer_id, upload in list(self._uploads.items()):
            if upload.task is not None and not upload.task.done():
                upload.task.cancel()
                uploading.append(upload.task)
                self._send(FileCancel(id=transfer_id, reason=reason))
        for task in list(self._incoming.values()):
            task.cancel()
        blobs = [u.offer.blob for u in self._uploads.values() if u.offer is not None]
        self._uploads.clear()
        return Stopping(uploading, blobs)

    async def clean_up(self, stopping: Stopping) -> None:
        """Delete our blobs at the relay (bounded wait) and mark what was on its way cancelled."""
        deletes = [*self._deletes, *(self._delete_blob(b) for b in stopping.blobs)]
        await asyncio.gather(*deletes, return_exceptions=True)
        for transfer in list(self._transfers.values()):
            if transfer.phase in ("sealing", "uploading", "downloading"):
                self._transfers[transfer.id] = replace(transfer, phase="cancelled")

    # -- the snapshot -------------------------------------------------------------------

    def _set_transfer(self, transfer: Transfer) -> None:
        self._transfers[transfer.id] = transfer
        self._changed()

    def _transfer_progress(self, transfer_id: str, done: int) -> bool:
        """Record progress; True (and the screen told) at most every PROGRESS_INTERVAL_S."""
        transfer = self._transfers.get(transfer_id)
        if transfer is None:
            return False
        now = asyncio.get_running_loop().time()
        last = self._last_progress.get(transfer_id)
        self._transfers[transfer_id] = replace(transfer, done_bytes=done)
        if last is not None and now - last < PROGRESS_INTERVAL_S and done < transfer.size:
            return False
        self._last_progress[transfer_id] = now
        self._changed()
        return True

    def _finish_transfer(
        self, transfer_id: str, phase: TransferPhase, code: FileErrorCode | None = None
    ) -> None:
        transfer = self._transfers.get(transfer_id)
        self._last_progress.pop(transfer_id, None)
        if transfer is None:
            return
        done = transfer.size if phase == "done" else transfer.done_bytes
        self._transfers[transfer_id] = replace(transfer, phase=phase, error=code, done_bytes=done)
        self._changed()


def _clean_name(name: str, mime: str) -> str:
    """A name the offer can carry: no control characters, 1..FILE_NAME_MAX characters."""
    cleaned = _NAME_SAFE.sub("", name).strip()[:FILE_NAME_MAX]
    return cleaned or f"file.{_MIME_EXT.get(mime, 'bin')}"
