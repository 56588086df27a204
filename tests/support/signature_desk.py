"""The signature desk's test kit: a stand-in for the signing library, a tablet that can be
unplugged, and a desk on a real vault whose statuses and snapshots are recorded."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.custody.vault import Artifact, ArtifactKind, SessionVault
from appliance.signing.produce import DocumentRefused, Placed, SigningJob
from appliance.signing.service import SignatureDesk
from appliance.signing.state import SignatureTask
from appliance.signing.trust import SignatureUnavailable, TrusteeChoice
from drivers.errors import DeviceGone, DeviceNotFound
from drivers.tablet import PenSample, SignatureTablet, TabletInfo
from drivers.tablet.pointer import PointerTablet
from drivers.tablet.stream import SampleStream
from protocol.channel import ChannelMessage, SignatureErrorCode, SignatureRequest, SignatureStatus
from provisioning.identity import Identity

MIB = 1024 * 1024
RECORDING = Path(__file__).resolve().parents[1] / "fixtures" / "pen" / "signature_3s.jsonl"
DOCUMENT = b"%PDF-1.7\n% a contract the adviser sent\n"


class FakeProducer:
    """Stands in for the signing library: records the job, returns marked bytes."""

    def __init__(self) -> None:
        self.refuse: SignatureErrorCode | None = None
        self.fail = False
        self.jobs: list[SigningJob] = []

    def check(self, document: bytes, request: SignatureRequest) -> Placed:
        if self.refuse is not None:
            raise DocumentRefused(self.refuse, "refused")
        return Placed(None, 0, (0.5, 0.8, 0.9, 0.95))

    def produce(self, job: SigningJob) -> bytes:
        self.jobs.append(job)
        if self.fail:
            raise RuntimeError("pyHanko broke")
        return job.document + b"%signed\n"


class GoneTablet:
    """A tablet that can be unplugged (its stream fails) and re-plugged (start works again)."""

    def __init__(self) -> None:
        self.stream: SampleStream | None = None
        self.plugged = True
        self.started = asyncio.Event()
        self._info = TabletInfo("gone-tablet", 100.0, 50.0, 1024, 200.0)

    @property
    def info(self) -> TabletInfo:
        return self._info

    async def start(self) -> None:
        if not self.plugged:
            raise DeviceNotFound("not connected", device="gone-tablet")
        # As the evdev and ISDV4 drivers do: (re)opening drops what the old stream held.
        if self.stream is not None:
            self.stream.close()
        self.stream = SampleStream()
        self.started.set()

    async def samples(self) -> AsyncIterator[PenSample]:
        stream = self.stream
        if stream is None:
            raise DeviceGone("not started", device="gone-tablet")
        async for sample in stream:
            yield sample

    async def stop(self) -> None:
        stream, self.stream = self.stream, None
        self.started.clear()
        if stream is not None:
            stream.close()

    def unplug(self) -> None:
        self.plugged = False
        if self.stream is not None:
            self.stream.fail(DeviceGone("unplugged", device="gone-tablet"))
            self.stream = None
        self.started.clear()


@dataclass
class Desk:
    desk: SignatureDesk
    vault: SessionVault
    producer: FakeProducer
    sent: list[ChannelMessage] = field(default_factory=list)
    tasks: list[SignatureTask | None] = field(default_factory=list)
    files: list[tuple[Artifact, str]] = field(default_factory=list)
    document_id: str = "doc-00000001"
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # Called with each message as the desk sends it (the customer acting on what is shown).
    on_send: Callable[[ChannelMessage], None] | None = None

    def signature_changed(self, task: SignatureTask | None) -> None:
        self.tasks.append(task)
        self.changed.set()

    @property
    def statuses(self) -> list[tuple[str, str, str | None]]:
        return [(m.id, m.state, m.code) for m in self.sent if isinstance(m, SignatureStatus)]

    async def until(self, predicate: Callable[[], bool]) -> None:
        await eventually(predicate)

    async def request(self, id: str = "sig-00000001", **extra: object) -> None:
        sha = hashlib.sha256(DOCUMENT).hexdigest()
        fields: dict[str, object] = {"document": self.document_id, "sha256": sha}
        fields.update(extra)
        await self.desk.handle(SignatureRequest(id=id, **fields))  # type: ignore[arg-type]


def make_desk(
    tmp_path: Path,
    identity: Identity,
    trustee: TrusteeChoice,
    tablet: SignatureTablet | None,
    *,
    trustee_problem: SignatureUnavailable | None = None,
    enrolled: bool = True,
    max_samples: int = 10_000,
) -> Desk:
    vault = SessionVault(tmp_path, max_file_bytes=MIB, max_session_bytes=4 * MIB)
    artifact = vault.store(ArtifactKind.FILE_RECEIVED, "contract.pdf", DOCUMENT)
    producer = FakeProducer()
    holder: list[Desk] = []

    def lookup(transfer_id: str) -> Artifact | None:
        return artifact if transfer_id == holder[0].document_id else None

    async def send_file(signed: Artifact, request_id: str) -> str:
        holder[0].files.append((signed, request_id))
        return "t" * 22

    def get_trustee() -> TrusteeChoice:
        if trustee_problem is not None:
            raise trustee_problem
        return trustee

    def get_identity() -> Identity:
        if not enrolled:
            raise SignatureUnavailable("not_enrolled", "not enrolled")
        return identity

    def send(message: ChannelMessage) -> None:
        holder[0].sent.append(message)
        holder[0].changed.set()
        if holder[0].on_send is not None:
            holder[0].on_send(message)

    desk = SignatureDesk(
        vault=vault,
        lookup=lookup,
        send=send,
        send_file=send_file,
        tablet=tablet,
        trustee=get_trustee,
        identity=get_identity,
        producer=producer,
        max_samples=max_samples,
        replug_retry_s=0.005,
    )
    d = Desk(desk, vault, producer)
    holder.append(d)
    desk.observer = d
    return d


async def eventually(predicate: Callable[[], bool]) -> None:
    """Wait until ``predicate`` holds (a tablet starting announces nothing)."""
    for _ in range(2000):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the condition never held")


def scribble(tablet: PointerTablet, n: int = 20) -> None:
    for i in range(n):
        tablet.push(0.1 + 0.8 * i / n, 0.5 + 0.2 * (i % 3) / 3, True)
    tablet.push(0.9, 0.5, False)
