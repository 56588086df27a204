"""From the customer's confirmed ink to the signed PDF, with the ``signing`` library.

:class:`LibraryProducer` is the desk's default :class:`Producer`: ``check`` (on the loop,
before the customer reads) says whether the PDF can be signed where the adviser asked;
``produce`` (in a worker thread) builds the ISO/IEC 19794-7 record, seals it with the
document's hash to the trustee and signs the PDF with the device key (docs/signature.md).
The library is imported on first use, so the desk's state machine stands without it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from cryptography import x509

from appliance.signing.state import Strokes
from drivers.tablet import PenSample, TabletInfo
from protocol.channel import SignatureErrorCode, SignatureRequest
from provisioning.identity import Identity

DocumentCode = Literal[
    "encrypted_pdf",
    "malformed_pdf",
    "no_pages",
    "no_such_field",
    "field_signed",
    "box_outside_page",
]


class DocumentRefused(Exception):
    """The PDF cannot be signed as asked; ``code`` goes to the adviser."""

    def __init__(self, code: SignatureErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: SignatureErrorCode = code


@dataclass(frozen=True)
class Placed:
    """Where the signature goes: the library's placement, and for the screen the page and
    the box in 0..1 of that page (origin top-left)."""

    placement: object
    page: int
    box: tuple[float, float, float, float] | None


@dataclass(frozen=True)
class SigningJob:
    """Everything one signed PDF is made of (held in memory only, never logged)."""

    document: bytes = field(repr=False)
    placed: Placed
    samples: tuple[PenSample, ...] = field(repr=False)
    tablet: TabletInfo
    strokes: Strokes = field(repr=False)
    signer_name: str | None = field(repr=False)
    signed_at: datetime
    trustee: x509.Certificate = field(repr=False)
    identity: Identity = field(repr=False)
    tsa_url: str | None


class Producer(Protocol):
    """What the desk needs of the signing library."""

    def check(self, document: bytes, request: SignatureRequest) -> Placed:
        """Where ``request`` puts the signature in ``document``; ``DocumentRefused`` if nowhere."""
        ...

    def produce(self, job: SigningJob) -> bytes:
        """The signed PDF (runs in a worker thread)."""
        ...


class LibraryProducer:
    """The ``signing`` library's record, seal and PAdES signature."""

    def check(self, document: bytes, request: SignatureRequest) -> Placed:
        """Inspect the PDF and resolve the placement (``DocumentRefused`` with its code)."""
        from signing import pdf

        if request.field is not None:
            wanted: pdf.Placement = pdf.FieldPlacement(request.field)
        elif request.page is not None and request.box is not None:
            x0, y0, x1, y1 = request.box
            wanted = pdf.BoxPlacement(request.page, (x0, y0, x1, y1))
        else:
            wanted = None
        try:
            facts = pdf.inspect(document)
            resolved = pdf.resolve(facts, wanted)
        except pdf.DocumentError as exc:
            raise DocumentRefused(exc.code, "the document cannot be signed as asked") from None
        if isinstance(resolved, pdf.BoxPlacement):
            width, height = facts.sizes[resolved.page]
            bx0, by0, bx1, by1 = resolved.box
            box = (bx0 / width, 1 - by1 / height, bx1 / width, 1 - by0 / height)
            return Placed(resolved, resolved.page, box)
        return Placed(resolved, facts.pages - 1, None)

    def produce(self, job: SigningJob) -> bytes:
        """Record -> evidence -> sealed to the trustee -> PAdES-signed PDF."""
        import signing.iso19794 as iso19794
        import signing.pdf as pdf
        import signing.sealed as sealed

        points = tuple(
            iso19794.PenPoint(
                t_us=s.t_us,
                x_mm=s.x_mm,
                y_mm=s.y_mm,
                pressure=s.pressure,
                tip_down=s.tip_down,
                tilt=s.tilt,
            )
            for s in job.samples
        )
        capture = iso19794.Capture(
            points=points,
            width_mm=job.tablet.width_mm,
            height_mm=job.tablet.height_mm,
            pressure_levels=job.tablet.pressure_levels,
            rate_hz=job.tablet.report_rate_hz,
            constant_pressure=job.tablet.constant_pressure,
        )
        record = iso19794.encode(iso19794.record_from_capture(capture))
        device = job.identity.device_name
        evidence = sealed.Evidence(
            record=record,
            document_sha256=hashlib.sha256(job.document).digest(),
            device=device,
            signed_at=job.signed_at,
        )
        container = sealed.seal(evidence, job.trustee)
        signer = pdf.DeviceSigner(
            job.identity.key, job.identity.certificate, (job.identity.ca_certificate,)
        )
        placement = job.placed.placement
        if not isinstance(placement, (pdf.FieldPlacement, pdf.BoxPlacement)):
            raise TypeError("the placement was not resolved by signing.pdf")
        return pdf.sign(
            job.document,
            placement=placement,
            strokes=_box_strokes(job.strokes),
            signer_name=job.signer_name,
            signed_at=job.signed_at,
            device=device,
            sealed_evidence=container,
            signer=signer,
            tsa_url=job.tsa_url,
        )


def _box_strokes(strokes: Strokes) -> Sequence[Sequence[tuple[float, float]]]:
    """The ink (0..1 of the tablet, y down) as ``signing.pdf`` takes it (0..1 of the box)."""
    return [list(stroke) for stroke in strokes if stroke]
