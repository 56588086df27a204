"""The parts of a PDF signature its own signature does not cover, held to what a kiosk writes.

A PAdES signature protects every byte of the file but /Contents, and inside /Contents only the
signed attributes and what they digest. pyHanko's validation ignores the rest when it does not
need it: the hex case and the zero padding of /Contents, a copy of the CA certificate in the CMS,
the SignedData version and digestAlgorithms set. So that one byte changed anywhere in the file
fails verification (docs/signature-verifier.md), those parts must be exactly what a kiosk (and
an RFC 3161 timestamp authority) writes: checked here.
"""

from __future__ import annotations

from collections.abc import Sequence

from asn1crypto import cms, core
from asn1crypto import parser as asn1_parser
from cryptography import x509
from cryptography.exceptions import InvalidSignature

TIMESTAMP_ATTRIBUTE = "signature_time_stamp_token"


class UnsignedPartError(Exception):
    """An unsigned part of the signature is not what a kiosk writes; ``step`` as in VerifyError."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


def check_contents_string(hexed: bytes, content: bytes) -> None:
    """/Contents (``hexed``: its hex digits, ``content``: decoded) is DER then zero padding.

    ``hexed`` must be exactly ``content`` in hex digits of one case: a PDF reader skips
    whitespace in a hex string and pads an odd digit count with "0", so a space put in place of
    a padding "0" decodes to the very same bytes; only the string itself shows the change.
    """
    if hexed not in (content.hex().encode(), content.hex().upper().encode()):
        if hexed.lower() == content.hex().encode():
            raise UnsignedPartError(
                "signature", "the /Contents hex string mixes upper and lower case"
            )
        raise UnsignedPartError(
            "signature", "the /Contents hex string holds characters other than hex digits"
        )
    try:
        _, _, _, header, body, _ = asn1_parser.parse(content)
    except ValueError:
        raise UnsignedPartError("signature", "/Contents does not hold a DER structure") from None
    der, padding = content[: len(header) + len(body)], content[len(header) + len(body) :]
    if padding.strip(b"\0"):
        raise UnsignedPartError("signature", "/Contents holds bytes after the CMS, not padding")
    try:
        canonical = cms.ContentInfo.load(der).dump(force=True) == der
    except Exception:  # hostile DER: asn1crypto raises ValueError, IndexError, TypeError...
        canonical = False
    if not canonical:
        raise UnsignedPartError("signature", "the CMS in /Contents is not in canonical DER")


def check_signed_data(
    signed_data: cms.SignedData,
    roots: Sequence[x509.Certificate],
    signer: x509.Certificate,
) -> None:
    """The PDF signature's SignedData and its timestamp token carry only what a signer writes.

    ``roots``: the CAs trusted for the signer and the timestamp authority; ``signer``: the
    signer's certificate (checked by pyHanko's validation).
    """
    accepted = [*roots, signer]
    _check_structure(signed_data, "data", "signature", accepted)
    unsigned = signed_data["signer_infos"][0]["unsigned_attrs"]
    if isinstance(unsigned, core.Void):
        return
    for attribute in unsigned:
        if attribute["type"].native != TIMESTAMP_ATTRIBUTE or len(attribute["values"]) != 1:
            raise UnsignedPartError("signature", "the signature carries an unexpected attribute")
        token = attribute["values"][0]
        if token["content_type"].native != "signed_data":
            raise UnsignedPartError("signature", "the timestamp token is not CMS SignedData")
        token_data = token["content"]
        _check_structure(token_data, "tst_info", "signature", accepted)
        if not isinstance(token_data["signer_infos"][0]["unsigned_attrs"], core.Void):
            raise UnsignedPartError("signature", "the timestamp token has unsigned attributes")


def _check_structure(
    signed_data: cms.SignedData, content_type: str, step: str, accepted: list[x509.Certificate]
) -> None:
    infos = signed_data["signer_infos"]
    if len(infos) != 1:
        raise UnsignedPartError(step, "a signature has exactly one signer")
    info = infos[0]
    by_key_id = info["sid"].name == "subject_key_identifier"
    if info["version"].native != ("v3" if by_key_id else "v1"):
        raise UnsignedPartError(step, "the SignerInfo version does not match its identifier")
    encapsulated = signed_data["encap_content_info"]
    if encapsulated["content_type"].native != content_type:
        raise UnsignedPartError(step, f"the signed content type is not {content_type}")
    # RFC 5652 §5.1: v3 when a SignerInfo is v3 or the content is not id-data, else v1
    expected = "v3" if by_key_id or content_type != "data" else "v1"
    if signed_data["version"].native != expected:
        raise UnsignedPartError(step, "the SignedData version is not the one RFC 5652 prescribes")
    declared = {algorithm.dump() for algorithm in signed_data["digest_algorithms"]}
    if declared != {info["digest_algorithm"].dump()}:
        raise UnsignedPartError(step, "the digestAlgorithms set does not match the signer's")
    if not isinstance(signed_data["crls"], core.Void):
        raise UnsignedPartError(step, "the CMS carries revocation data a kiosk never embeds")
    _check_certificates(signed_data, step, accepted)


def _check_certificates(
    signed_data: cms.SignedData, step: str, accepted: list[x509.Certificate]
) -> None:
    """Each embedded certificate is a trusted one or issued by one (iterated: TSA chains)."""
    pending: list[x509.Certificate] = []
    certificates = signed_data["certificates"]
    for choice in [] if isinstance(certificates, core.Void) else certificates:
        if choice.name != "certificate":
            raise UnsignedPartError(step, "the CMS carries a certificate of another kind")
        try:
            pending.append(x509.load_der_x509_certificate(choice.chosen.dump()))
        except Exception:  # ValueError, InvalidVersion...: cryptography's view of bad DER
            raise UnsignedPartError(step, "the CMS carries an unreadable certificate") from None
    while pending:
        ready = [cert for cert in pending if _issued_by_any(cert, accepted)]
        if not ready:
            raise UnsignedPartError(
                "trust", "the signature carries a certificate no given CA issued (changed?)"
            )
        accepted.extend(ready)
        pending = [cert for cert in pending if cert not in ready]


def _issued_by_any(cert: x509.Certificate, accepted: Sequence[x509.Certificate]) -> bool:
    for issuer in accepted:
        if cert == issuer:
            return True
        try:
            cert.verify_directly_issued_by(issuer)
            return True
        except (ValueError, TypeError, InvalidSignature):
            continue
    return False
