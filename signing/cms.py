"""CMS building blocks for the sealed evidence (docs/signature-sealing.md).

asn1crypto knows AuthEnvelopedData (RFC 5083) but neither the GCM parameters (RFC 5084) nor the
ECDH schemes of RFC 5753; they are defined here as local ASN.1 types (never patched into
asn1crypto's shared OID maps, which pyHanko uses too). Also here: the errors, how a container
names its recipient, RSAES-OAEP key transport (RFC 3560 / RFC 8017 with RFC 4055's parameters)
and the RFC 5753 key agreement (ephemeral-static ECDH, X9.63 KDF over ECC-CMS-SharedInfo, AES
key wrap). signing.sealed assembles them into AuthEnvelopedData.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeAlias

from asn1crypto import algos, cms, core, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, keywrap
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

OID_DATA = "1.2.840.113549.1.7.1"
OID_AUTH_ENVELOPED_DATA = "1.2.840.113549.1.9.16.1.23"
OID_AES256_GCM = "2.16.840.1.101.3.4.1.46"
OID_AES256_WRAP = "2.16.840.1.101.3.4.1.45"
# dhSinglePass-stdDH-sha*kdf-scheme (SEC 1 / RFC 5753 §7.1.4): the KDF's hash by scheme.
OID_STDDH_SHA256KDF = "1.3.132.1.11.1"
KDF_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    OID_STDDH_SHA256KDF: hashes.SHA256,
    "1.3.132.1.11.2": hashes.SHA384,
    "1.3.132.1.11.3": hashes.SHA512,
}
CURVES: dict[str, type[ec.EllipticCurve]] = {"secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1}

KEY_BYTES = 32  # AES-256 content-encryption key
NONCE_BYTES = 12  # RFC 5084's recommended GCM nonce length
TAG_BYTES = 16  # GCM ICV: the longest, the only one we write or accept

OpenReason = Literal[
    "malformed",  # not DER, or not the structure the RFCs define
    "wrong_content_type",  # DER, but not ContentInfo(AuthEnvelopedData) of id-data
    "unsupported_algorithm",  # an algorithm or parameter outside docs/signature-sealing.md
    "unsupported_key",  # the private key is neither RSA nor EC P-256/P-384
    "no_recipient",  # no recipient for this kind of key
    "wrong_key",  # the key cannot unwrap the content-encryption key
    "tampered",  # the GCM tag does not match: ciphertext, tag or nonce changed
    "bad_evidence",  # decrypted, but not a valid Evidence structure
]


class SealError(Exception):
    """Sealing refused: ``reason`` is "unsupported_key" or "bad_evidence"."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class OpenError(Exception):
    """A sealed container could not be opened; ``reason`` is an :data:`OpenReason`."""

    def __init__(self, reason: OpenReason, message: str) -> None:
        super().__init__(message)
        self.reason: OpenReason = reason


class GcmParameters(core.Sequence):  # type: ignore[misc]
    """RFC 5084 GCMParameters: aes-nonce OCTET STRING, aes-ICVlen INTEGER DEFAULT 12."""

    _fields = [("aes_nonce", core.OctetString), ("aes_icvlen", core.Integer, {"default": 12})]


class EccCmsSharedInfo(core.Sequence):  # type: ignore[misc]
    """RFC 5753 §7.2 ECC-CMS-SharedInfo: the X9.63 KDF's SharedInfo."""

    _fields = [
        ("key_info", cms.KeyEncryptionAlgorithm),
        ("entity_u_info", core.OctetString, {"explicit": 0, "optional": True}),
        ("supp_pub_info", core.OctetString, {"explicit": 2}),
    ]


def _wrap_algorithm() -> cms.KeyEncryptionAlgorithm:
    # RFC 3565 §2.3.2: the AES key wrap identifiers carry no parameters.
    return cms.KeyEncryptionAlgorithm({"algorithm": "aes256_wrap"})


def _kek(shared_secret: bytes, kdf_hash: hashes.HashAlgorithm, ukm: bytes | None) -> bytes:
    info = EccCmsSharedInfo(
        {
            "key_info": _wrap_algorithm(),
            "entity_u_info": ukm,
            "supp_pub_info": (KEY_BYTES * 8).to_bytes(4, "big"),
        }
    )
    return X963KDF(algorithm=kdf_hash, length=KEY_BYTES, sharedinfo=info.dump()).derive(
        shared_secret
    )


def is_der(data: bytes) -> bool:
    """True when every TLV in ``data`` has DER's definite, minimal length (X.690 §10.1).

    asn1crypto also reads BER (indefinite or padded lengths); re-encoding to compare is slow in
    asn1crypto, so the lengths are walked here instead (the tags and values it checks itself).
    """
    stack = [(0, len(data))]
    while stack:
        position, end = stack.pop()
        while position < end:
            tag = data[position]
            position += 1
            if tag & 0x1F == 0x1F:  # high tag number: base-128 digits, last one < 0x80
                while position < end and data[position] & 0x80:
                    position += 1
                position += 1
            if position >= end:
                return False
            first = data[position]
            position += 1
            if first < 0x80:
                length = first
            else:
                count = first & 0x7F
                digits = data[position : position + count]
                position += count
                if count == 0 or len(digits) < count or digits[0] == 0:
                    return False  # indefinite, truncated, or padded with a zero
                length = int.from_bytes(digits, "big")
                if length < 0x80:
                    return False  # the short form was required
            if position + length > end:
                return False
            if tag & 0x20:  # constructed: its contents are TLVs too
                stack.append((position, position + length))
            position += length
    return True


# -- naming the recipient (RFC 5652 §6.2.1) --------------------------------

# A container names its recipient by key identifier (ours: RFC 5280 §4.2.1.2 method 1, which a
# private key alone can recompute, so a changed identifier is caught) or by issuer and serial.
RecipientRef: TypeAlias = bytes | cms.IssuerAndSerialNumber
# Whether a recipient identifier found in a container names the opening key.
RidMatch = Callable[[core.Choice], bool]


def key_id(public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> bytes:
    """RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits."""
    return x509.SubjectKeyIdentifier.from_public_key(public_key).digest


def recipient_ref(certificate: x509.Certificate) -> RecipientRef:
    """How a container names ``certificate``'s holder: its key identifier when the certificate
    carries the method-1 one (so ``openssl cms -recip`` finds it), else issuer and serial."""
    public = certificate.public_key()
    if not isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise TypeError("only RSA and EC certificates can be recipients")
    wanted = key_id(public)
    try:
        ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        ski = None
    if ski is not None and ski.value.digest == wanted:
        return wanted
    ref: RecipientRef = cms.IssuerAndSerialNumber(
        {
            "issuer": asn1_x509.Name.load(certificate.issuer.public_bytes()),
            "serial_number": certificate.serial_number,
        }
    )
    return ref


def rid_matcher(
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    certificate: x509.Certificate | None,
) -> RidMatch:
    """A test for recipient identifiers: a key identifier must be ``public_key``'s (method 1);
    issuer and serial must be ``certificate``'s, and are accepted unchecked without one."""
    wanted = key_id(public_key)

    def match(rid: core.Choice) -> bool:
        if rid.name == "subject_key_identifier":
            return bool(rid.chosen.native == wanted)
        if rid.name == "r_key_id":
            chosen = rid.chosen
            plain = chosen["date"].native is None and chosen["other"].native is None
            return plain and chosen["subject_key_identifier"].native == wanted
        if certificate is None:
            return True
        return bool(
            rid.chosen["issuer"].dump() == certificate.issuer.public_bytes()
            and rid.chosen["serial_number"].native == certificate.serial_number
        )

    return match


# -- RSAES-OAEP key transport ----------------------------------------------


def _sha256_identifier() -> algos.DigestAlgorithm:
    # RFC 4055's ASN.1 module: sha256Identifier carries NULL parameters.
    return algos.DigestAlgorithm({"algorithm": "sha256", "parameters": core.Null()})


def oaep_parameters() -> algos.RSAESOAEPParams:
    """RSAES-OAEP-params (RFC 4055 §4.1): SHA-256, MGF1 with SHA-256, empty label."""
    return algos.RSAESOAEPParams(
        {
            "hash_algorithm": _sha256_identifier(),
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": _sha256_identifier()},
        }
    )


def _oaep() -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def ktri(recipient: rsa.RSAPublicKey, ref: RecipientRef, cek: bytes) -> cms.RecipientInfo:
    """A KeyTransRecipientInfo carrying ``cek`` to ``recipient`` with RSAES-OAEP."""
    by_key_id = isinstance(ref, bytes)
    rid = (
        cms.RecipientIdentifier(name="subject_key_identifier", value=ref)
        if by_key_id
        else cms.RecipientIdentifier(name="issuer_and_serial_number", value=ref)
    )
    info = cms.KeyTransRecipientInfo(
        {
            # RFC 5652 §6.2.1: version 2 when the rid is a key identifier, else 0
            "version": "v2" if by_key_id else "v0",
            "rid": rid,
            "key_encryption_algorithm": {
                "algorithm": "rsaes_oaep",
                "parameters": oaep_parameters(),
            },
            "encrypted_key": recipient.encrypt(cek, _oaep()),
        }
    )
    return cms.RecipientInfo(name="ktri", value=info)


def _is_sha256(algorithm: algos.DigestAlgorithm) -> bool:
    # RFC 4055 §2.1: parameters NULL or absent, both accepted.
    return bool(
        algorithm["algorithm"].dotted == "2.16.840.1.101.3.4.2.1"
        and algorithm["parameters"].native is None
    )


def open_ktri(info: cms.KeyTransRecipientInfo, key: rsa.RSAPrivateKey, match: RidMatch) -> bytes:
    """The content-encryption key from a KeyTransRecipientInfo (OpenError otherwise)."""
    rid = info["rid"]
    expected_version = "v2" if rid.name == "subject_key_identifier" else "v0"
    if info["version"].native != expected_version:
        raise OpenError("malformed", "key transport: version does not fit the recipient id")
    if not match(rid):
        raise OpenError("no_recipient", "key transport: the container names another recipient")
    algorithm = info["key_encryption_algorithm"]
    if algorithm["algorithm"].dotted != "1.2.840.113549.1.1.7":
        raise OpenError("unsupported_algorithm", "key transport: not RSAES-OAEP")
    params = algorithm["parameters"]
    mgf = params["mask_gen_algorithm"]
    if not (
        _is_sha256(params["hash_algorithm"])
        and mgf["algorithm"].native == "mgf1"
        and _is_sha256(mgf["parameters"])
        and params["p_source_algorithm"]["algorithm"].native == "p_specified"
        and params["p_source_algorithm"]["parameters"].native == b""
    ):
        raise OpenError("unsupported_algorithm", "key transport: OAEP is not SHA-256/MGF1-SHA-256")
    try:
        cek = key.decrypt(info["encrypted_key"].native, _oaep())
    except ValueError:
        raise OpenError(
            "wrong_key", "key transport: this key does not decrypt the content key"
        ) from None
    if len(cek) != KEY_BYTES:
        raise OpenError("malformed", "key transport: the content key is not an AES-256 key")
    return cek


# -- ECDH key agreement (RFC 5753) -----------------------------------------


def kari(recipient: ec.EllipticCurvePublicKey, ref: RecipientRef, cek: bytes) -> cms.RecipientInfo:
    """A KeyAgreeRecipientInfo (RFC 5753 §3.1.1) carrying ``cek`` to ``recipient``."""
    ephemeral = ec.generate_private_key(recipient.curve)
    kek = _kek(ephemeral.exchange(ec.ECDH(), recipient), hashes.SHA256(), None)
    point = ephemeral.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    if isinstance(ref, bytes):
        # asn1crypto 1.5.1 has two RecipientKeyIdentifier classes; the kari's spells it snake-case
        rid = cms.KeyAgreementRecipientIdentifier(
            name="r_key_id", value={"subject_key_identifier": ref}
        )
    else:
        rid = cms.KeyAgreementRecipientIdentifier(name="issuer_and_serial_number", value=ref)
    info = cms.KeyAgreeRecipientInfo(
        {
            "version": "v3",
            # RFC 5753 §3.1.1: id-ecPublicKey, parameters absent (the recipient's curve)
            "originator": cms.OriginatorIdentifierOrKey(
                name="originator_key",
                value=keys.PublicKeyInfo({"algorithm": {"algorithm": "ec"}, "public_key": point}),
            ),
            "key_encryption_algorithm": {
                "algorithm": OID_STDDH_SHA256KDF,
                "parameters": _wrap_algorithm(),
            },
            "recipient_encrypted_keys": [
                {"rid": rid, "encrypted_key": keywrap.aes_key_wrap(kek, cek)}
            ],
        }
    )
    return cms.RecipientInfo(name="kari", value=info)


def open_kari(
    info: cms.KeyAgreeRecipientInfo, key: ec.EllipticCurvePrivateKey, match: RidMatch
) -> bytes:
    """The content-encryption key from a KeyAgreeRecipientInfo (OpenError otherwise)."""
    if info["version"].native != "v3":
        raise OpenError("malformed", "key agreement: version is not 3")
    ours = [e for e in info["recipient_encrypted_keys"] if match(e["rid"])]
    if not ours:
        raise OpenError("no_recipient", "key agreement: the container names another recipient")
    algorithm = info["key_encryption_algorithm"]
    kdf_hash = KDF_HASHES.get(algorithm["algorithm"].dotted)
    if kdf_hash is None:
        raise OpenError("unsupported_algorithm", "key agreement: unsupported ECDH scheme")
    wrap = algorithm["parameters"].parse(cms.KeyEncryptionAlgorithm)
    if wrap["algorithm"].dotted != OID_AES256_WRAP or wrap["parameters"].native is not None:
        raise OpenError("unsupported_algorithm", "key agreement: key wrap is not aes256-wrap")
    originator = info["originator"]
    if originator.name != "originator_key":
        raise OpenError("unsupported_algorithm", "key agreement: originator is not a public key")
    public_info = originator.chosen
    if public_info["algorithm"]["algorithm"].native != "ec":
        raise OpenError("unsupported_algorithm", "key agreement: originator key is not EC")
    # RFC 5753 §7.1.2: parameters absent, or the recipient's own named curve
    if public_info["algorithm"]["parameters"].native not in (None, key.curve.name):
        raise OpenError("unsupported_algorithm", "key agreement: originator key's curve differs")
    bits = public_info["public_key"].contents
    if not bits or bits[0] != 0:  # an EC point fills whole octets: no unused bits
        raise OpenError("malformed", "key agreement: originator key is not whole octets")
    try:
        ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, bits[1:])
    except ValueError as exc:
        raise OpenError("malformed", "key agreement: originator point not on the curve") from exc
    ukm = info["ukm"].native
    kek = _kek(key.exchange(ec.ECDH(), ephemeral), kdf_hash(), ukm)
    for encrypted in ours:
        try:
            cek = keywrap.aes_key_unwrap(kek, encrypted["encrypted_key"].native)
        except (keywrap.InvalidUnwrap, ValueError):
            continue
        if len(cek) == KEY_BYTES:
            return cek
    raise OpenError("wrong_key", "key agreement: this key does not unwrap the content key")
