"""hub/web/der.js, x509.js and device-proof.js in Chromium, against Python and openssl.

The console checks the kiosk's device proof with a DER reader of ours and WebCrypto
(docs/verification.md "Which device"). Certificates made by ``cryptography`` (the hub's
profile) and by ``openssl req -x509`` / ``openssl x509 -req`` (an independent maker) must read
exactly as ``cryptography`` reads them; proofs signed in Python and by ``openssl dgst`` must
verify; every bad input must be refused with its own code; and random mutations of a valid
certificate must end in the reader's typed DerError (or a certificate), never anything else.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import random
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning import challenge
from tests.support.blank_page import blank_page
from tests.support.device_certs import (
    NOW,
    Authority,
    Device,
    b64,
    device,
    openssl,
    openssl_pair,
    server_only_device,
    tenant_ca,
)
from tests.support.requirements import require_tool
from tests.support.sas_vector import FP_A, FP_K, VECTOR_COMMITMENT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

CID = "c0nsultation_0001"
NOW_MS = int(NOW.timestamp() * 1000)

# Each base64 DER taken apart; a DerError as {error: code}.
PARSE_JS = """
async (items) => {
  const x = await import('/static/x509.js');
  const der = await import('/static/der.js');
  const unb64 = (t) => Uint8Array.from(atob(t), (c) => c.charCodeAt(0));
  const b64 = (u8) => btoa(String.fromCharCode(...u8));
  return items.map((text) => {
    try {
      const c = x.parseCertificate(unb64(text));
      const e = c.extensions;
      return {
        version: c.version, serial: c.serial, signatureAlgorithm: c.signatureAlgorithm,
        subject: [c.subject.cn, c.subject.o], issuer: [c.issuer.cn, c.issuer.o],
        subjectDer: b64(c.subject.der), issuerDer: b64(c.issuer.der),
        notBefore: c.notBefore.getTime(), notAfter: c.notAfter.getTime(),
        keyAlgorithm: c.keyAlgorithm, keyCurve: c.keyCurve,
        tbs: b64(c.tbs), signature: b64(c.signature), spki: b64(c.spki),
        basicConstraints: e.basicConstraints,
        keyUsage: e.keyUsage === null ? null : [...e.keyUsage].sort(),
        extKeyUsage: e.extKeyUsage, critical: [...e.critical].sort(),
        unknownCritical: e.unknownCritical,
      };
    } catch (exc) {
      return exc instanceof der.DerError ? {error: exc.code} : {other: String(exc)};
    }
  });
}
"""

# Each case {ca, proof, cid, commitment, negotiated, now}: the device named, or the code.
VERIFY_JS = """
async (cases) => {
  const p = await import('/static/device-proof.js');
  const unb64 = (t) => Uint8Array.from(atob(t), (c) => c.charCodeAt(0));
  const out = [];
  for (const c of cases) {
    try {
      const anchor = await p.tenantAnchor(unb64(c.ca));
      const named = await p.verifyDeviceProof({proof: c.proof, anchor, consultationId: c.cid,
        commitment: c.commitment, negotiatedFingerprint: c.negotiated, now: new Date(c.now)});
      out.push({ok: [named.deviceName, named.tenant, anchor.fingerprint]});
    } catch (exc) {
      out.push(exc instanceof p.DeviceProofError ? {code: exc.code, proven: exc.proven}
        : {other: String(exc)});
    }
  }
  return out;
}
"""

PAYLOAD_JS = """
async (items) => {
  const p = await import('/static/device-proof.js');
  return items.map(([cid, fp, commitment]) => {
    try { return btoa(String.fromCharCode(...p.callPayload(cid, fp, commitment))); }
    catch (exc) { return exc instanceof p.DeviceProofError ? 'code:' + exc.code : 'other:' + exc; }
  });
}
"""

# Parse each item; 'cert' for a certificate, 'der:<code>' for the typed error, anything else
# is a bug. A parse that loops would time the test out (pytest-timeout), not pass.
MUTATE_JS = """
async (items) => {
  const x = await import('/static/x509.js');
  const der = await import('/static/der.js');
  const unb64 = (t) => Uint8Array.from(atob(t), (c) => c.charCodeAt(0));
  return items.map((text) => {
    try { x.parseCertificate(unb64(text)); return 'cert'; }
    catch (exc) { return exc instanceof der.DerError ? 'der:' + exc.code : 'other:' + exc; }
  });
}
"""


async def run_js(script: str, arg: Any) -> Any:
    async with blank_page() as page:
        return await page.evaluate(script, arg)


def der_of(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def expected_reading(cert: x509.Certificate) -> dict[str, Any]:
    """What parseCertificate must say, as cryptography reads the certificate."""
    serial = cert.serial_number
    ext = {e.oid: e for e in cert.extensions}
    constraints = ext.get(ExtensionOID.BASIC_CONSTRAINTS)
    usage = ext.get(ExtensionOID.KEY_USAGE)
    extended = ext.get(ExtensionOID.EXTENDED_KEY_USAGE)
    ku_names = None
    if usage is not None:
        u = usage.value
        flags = {
            "digitalSignature": u.digital_signature,
            "nonRepudiation": u.content_commitment,
            "keyEncipherment": u.key_encipherment,
            "dataEncipherment": u.data_encipherment,
            "keyAgreement": u.key_agreement,
            "keyCertSign": u.key_cert_sign,
            "cRLSign": u.crl_sign,
        }
        ku_names = sorted(name for name, on in flags.items() if on)

    def names(name: x509.Name) -> list[str | None]:
        cn = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        o = name.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
        return [str(cn[0].value) if cn else None, str(o[0].value) if o else None]

    return {
        "version": cert.version.value + 1,
        "serial": serial.to_bytes((serial.bit_length() + 8) // 8, "big").hex(),
        "signatureAlgorithm": cert.signature_algorithm_oid.dotted_string,
        "subject": names(cert.subject),
        "issuer": names(cert.issuer),
        "subjectDer": b64(cert.subject.public_bytes()),
        "issuerDer": b64(cert.issuer.public_bytes()),
        "notBefore": int(cert.not_valid_before_utc.timestamp() * 1000),
        "notAfter": int(cert.not_valid_after_utc.timestamp() * 1000),
        "keyAlgorithm": "1.2.840.10045.2.1",
        "keyCurve": "1.2.840.10045.3.1.7",
        "tbs": b64(cert.tbs_certificate_bytes),
        "signature": b64(cert.signature),
        "spki": b64(
            cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ),
        "basicConstraints": None
        if constraints is None
        else {"ca": constraints.value.ca, "pathLength": constraints.value.path_length},
        "keyUsage": ku_names,
        "extKeyUsage": None if extended is None else [oid.dotted_string for oid in extended.value],
        "critical": sorted(e.oid.dotted_string for e in cert.extensions if e.critical),
        "unknownCritical": [],
    }


@pytest.fixture(scope="module")
def made_by_openssl(tmp_path_factory: pytest.TempPathFactory) -> tuple[Authority, Device, Path]:
    require_tool("openssl", "openssl")
    work = tmp_path_factory.mktemp("openssl")
    ca, dev = openssl_pair(work)
    # openssl's own verdict first: the chain it made is a valid one.
    assert "dev.pem: OK" in openssl("verify", "-CAfile", "ca.pem", "dev.pem", cwd=work)
    return ca, dev, work


def test_certificates_read_as_cryptography_reads_them(
    made_by_openssl: tuple[Authority, Device, Path],
) -> None:
    ca = tenant_ca("Ünïcode Bank GmbH")
    openssl_ca, openssl_device, _ = made_by_openssl
    certs = [
        ca.certificate,
        device(ca, "kiosk-Zürich-01").certificate,
        # After 2049 a validity is a GeneralizedTime (RFC 5280 4.1.2.5).
        device(ca, days=365 * 40).certificate,
        server_only_device(ca).certificate,
        openssl_ca.certificate,
        openssl_device.certificate,
    ]
    readings = asyncio.run(run_js(PARSE_JS, [b64(der_of(c)) for c in certs]))
    for cert, reading in zip(certs, readings, strict=True):
        assert reading == expected_reading(cert), cert.subject


def test_the_signed_bytes_are_the_ones_python_signs() -> None:
    items = [
        (CID, FP_K, VECTOR_COMMITMENT),
        ("ü-consultation", FP_A, "ab" * 32),
        ("x", FP_K, "0" * 64),
    ]
    bad = [
        ("", FP_K, VECTOR_COMMITMENT),
        ("a\0b", FP_K, VECTOR_COMMITMENT),
        (CID, FP_K.lower(), VECTOR_COMMITMENT),
        (CID, FP_K, VECTOR_COMMITMENT.upper()),
        (CID, FP_K, VECTOR_COMMITMENT[:-2]),
    ]
    out = asyncio.run(run_js(PAYLOAD_JS, [list(i) for i in items + bad]))
    assert out[: len(items)] == [b64(challenge.call_payload(*i)) for i in items]
    assert out[len(items) :] == ["code:bad_proof"] * len(bad)


def case(
    ca: Authority,
    proof: dict[str, str],
    *,
    cid: str = CID,
    commitment: str = VECTOR_COMMITMENT,
    negotiated: str = FP_K,
    now: int = NOW_MS,
) -> dict[str, Any]:
    return {
        "ca": b64(ca.der),
        "proof": proof,
        "cid": cid,
        "commitment": commitment,
        "negotiated": negotiated,
        "now": now,
    }


def _a_minute_into(dev: Device) -> int:
    start = dev.certificate.not_valid_before_utc + dt.timedelta(minutes=1)
    return int(max(start, NOW).timestamp() * 1000)


def test_proofs_are_checked_against_the_pinned_ca_and_this_connection(
    made_by_openssl: tuple[Authority, Device, Path],
) -> None:
    ca = tenant_ca()
    dev = device(ca)
    good = dev.proof(CID, FP_K, VECTOR_COMMITMENT)
    openssl_ca, openssl_device, work = made_by_openssl
    # An independent signer: openssl dgst over the payload Python defines.
    (work / "payload").write_bytes(challenge.call_payload(CID, FP_K, VECTOR_COMMITMENT))
    openssl("dgst", "-sha256", "-sign", "dev.key", "-out", "sig", "payload", cwd=work)
    by_openssl = {
        "certificate": b64(openssl_device.der),
        "signature": b64((work / "sig").read_bytes()),
        "fingerprint": FP_K,
        "commitment": VECTOR_COMMITMENT,
    }
    impostor = tenant_ca()  # same tenant name, another key: not the CA we pinned
    other_tenant = tenant_ca("Other Bank")
    expired = device(ca, now=NOW - dt.timedelta(days=31))
    future = device(ca, now=NOW + dt.timedelta(days=2))
    over_other_fp = dev.proof(CID, FP_A, VECTOR_COMMITMENT)
    over_other_commitment = dev.proof(CID, FP_K, "cd" * 32)
    bad_sig = dict(good, signature=b64(bytes(reversed(base64.b64decode(good["signature"])))))
    ca_as_device = dict(good, certificate=b64(ca.der))
    truncated = dict(good, certificate=b64(dev.der[:-10]))
    cases = {
        "good": case(ca, good),
        # openssl 3.0 cannot backdate: its certificate starts when the fixture ran, which may be
        # after NOW (taken when the test modules were imported): check it a minute in.
        "openssl": case(openssl_ca, by_openssl, now=_a_minute_into(openssl_device)),
        "another CA, same tenant": case(impostor, good),
        "another tenant's CA": case(other_tenant, good),
        "expired": case(ca, expired.proof(CID, FP_K, VECTOR_COMMITMENT)),
        "not yet valid": case(ca, future.proof(CID, FP_K, VECTOR_COMMITMENT)),
        "serverAuth only": case(ca, server_only_device(ca).proof(CID, FP_K, VECTOR_COMMITMENT)),
        "the CA as a device": case(ca, ca_as_device),
        "truncated certificate": case(ca, truncated),
        "broken signature": case(ca, bad_sig),
        "another consultation": case(ca, good, cid="another_consultation"),
        "signed another fingerprint": case(ca, over_other_fp),
        "another fingerprint claimed as ours": case(ca, dict(over_other_fp, fingerprint=FP_K)),
        "signed another commitment": case(ca, over_other_commitment),
        "another commitment claimed as ours": case(
            ca, dict(over_other_commitment, commitment=VECTOR_COMMITMENT)
        ),
        "a device certificate as the anchor": {**case(ca, good), "ca": b64(dev.der)},
        "not base64": case(ca, dict(good, certificate="not base64!")),
    }
    out = dict(zip(cases, asyncio.run(run_js(VERIFY_JS, list(cases.values()))), strict=True))
    assert out.pop("good") == {"ok": ["kiosk-7", "Acme Bank", der_fingerprint(ca)]}
    assert out.pop("openssl") == {"ok": ["kiosk-9", "Acme Bank", der_fingerprint(openssl_ca)]}
    proven = {"signed another fingerprint": "fingerprint_mismatch"}
    proven["signed another commitment"] = "commitment_mismatch"
    for name, code in proven.items():
        assert out.pop(name) == {"code": code, "proven": True}, name
    refused = {
        "another CA, same tenant": "not_tenant_ca",
        "another tenant's CA": "not_tenant_ca",
        "expired": "expired",
        "not yet valid": "not_yet_valid",
        "serverAuth only": "bad_certificate",
        "the CA as a device": "bad_certificate",
        "truncated certificate": "bad_certificate",
        "broken signature": "bad_signature",
        "another consultation": "bad_signature",
        "another fingerprint claimed as ours": "bad_signature",
        "another commitment claimed as ours": "bad_signature",
        "a device certificate as the anchor": "bad_anchor",
        "not base64": "bad_proof",
    }
    assert out == {name: {"code": code, "proven": False} for name, code in refused.items()}


def der_fingerprint(ca: Authority) -> str:
    return hashlib.sha256(ca.der).hexdigest()


def test_every_signature_encoding_converts_for_webcrypto() -> None:
    # DER integers are 31 to 33 bytes (leading zeros dropped, a zero added before a high bit):
    # a hundred signatures meet every case, and each must verify.
    ca = tenant_ca()
    dev = device(ca)
    rng = random.Random(7)
    cases = []
    lengths = set()
    for i in range(100):
        commitment = rng.randbytes(32).hex()
        proof = dev.proof(f"c{i}", FP_K, commitment)
        lengths.add(len(base64.b64decode(proof["signature"])))
        cases.append(case(ca, proof, cid=f"c{i}", commitment=commitment))
    out = asyncio.run(run_js(VERIFY_JS, cases))
    assert all("ok" in o for o in out), [o for o in out if "ok" not in o][:3]
    assert len(lengths) >= 2, lengths


def test_truncated_and_wrongly_encoded_der_is_refused_with_its_code() -> None:
    der = device(tenant_ca()).der
    body = der[4:]  # the outer SEQUENCE's content (its length takes two bytes: 0x82 LL LL)
    assert der[1] == 0x82
    items = {
        "every prefix": [b64(der[:n]) for n in range(0, len(der), 7)],
        "one byte more": [b64(der + b"\0")],
        "indefinite length": [b64(bytes([0x30, 0x80]) + body + b"\0\0")],
        "long form for a short length": [b64(bytes([0x30, 0x81, 0x05]) + bytes(5))],
        "a length with a leading zero": [b64(bytes([0x30, 0x83, 0x00]) + der[2:4] + body)],
        "a five-byte length": [b64(bytes([0x30, 0x85, 0, 0, 0, 1, 0]))],
        "a high tag number": [b64(bytes([0x1F, 0x81, 0x01, 0x00]))],
        "a length past the end": [b64(bytes([0x30, 0x82, 0xFF, 0xFF]) + body)],
    }
    flat = [(name, text) for name, texts in items.items() for text in texts]
    out = asyncio.run(run_js(MUTATE_JS, [t for _, t in flat]))
    results = dict(zip(range(len(flat)), out, strict=True))
    by_name: dict[str, set[str]] = {}
    for i, (name, _) in enumerate(flat):
        by_name.setdefault(name, set()).add(results[i])
    assert by_name == {
        "every prefix": {"der:truncated"},
        "one byte more": {"der:trailing"},
        "indefinite length": {"der:length"},
        "long form for a short length": {"der:length"},
        "a length with a leading zero": {"der:length"},
        "a five-byte length": {"der:length"},
        "a high tag number": {"der:tag"},
        "a length past the end": {"der:truncated"},
    }


VALID = device(tenant_ca(), now=NOW).der


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid certificate with a few random edits: bytes set, cut, inserted or dropped."""
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1))
        match draw(st.sampled_from(["set", "flip", "insert", "delete", "cut", "length"])):
            case "set":
                data[at] = draw(st.integers(0, 255))
            case "flip":
                data[at] ^= 1 << draw(st.integers(0, 7))
            case "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=8))
            case "delete":
                del data[at : at + draw(st.integers(1, 16))]
            case "cut":
                del data[at:]
            case "length":  # a length byte made long form, huge or zero
                data[at] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0x81, 0x84, 0x85, 0xFF]))
        if not data:
            data = bytearray(b"\x30")
    return bytes(data)


@settings(max_examples=2, deadline=None)
@given(st.lists(mutated(), min_size=300, max_size=300))
def test_random_mutations_end_in_the_typed_error(items: list[bytes]) -> None:
    out = asyncio.run(run_js(MUTATE_JS, [b64(i) for i in items]))
    odd = [r for r in out if r != "cert" and not r.startswith("der:")]
    assert odd == []


# The pinning on first use (tenant-anchor.js), with the hub's answers and the storage faked.
TRUST_JS = """
async ({a, b, device}) => {
  const {TenantTrust} = await import('/static/tenant-anchor.js');
  const store = new Map();
  const storage = {getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v)};
  const fetchCa = (answer) => async () => {
    if (answer === 'down') throw new Error('unreachable');
    return answer;
  };
  const trust = (answer) =>
    new TenantTrust({storage, origin: 'https://hub.example', fetchCa: fetchCa(answer)});
  const ca = (certificate, tenant = 'Acme Bank') => ({tenant, certificate, fingerprint: null});
  const step = async (answer) => {
    const t = trust(answer);
    const s = await t.load('Acme Bank');
    return [s.state, s.pinned, s.offered, t.current()?.fingerprint ?? null, t.whyNot(), t];
  };
  const out = {};
  out.none = (await step(ca(null))).slice(0, 5);
  out.deviceAsCa = (await step(ca(device))).slice(0, 5);
  out.otherTenant = (await step(ca(a, 'Other Bank'))).slice(0, 5);
  out.first = (await step(ca(a))).slice(0, 5);
  out.again = (await step(ca(a))).slice(0, 5);
  out.hubDown = (await step('down')).slice(0, 5);
  const changed = await step(ca(b));
  out.changed = changed.slice(0, 5);
  out.stillPinnedA = (await step(ca(a))).slice(0, 5);
  await changed[5].acceptOffered();
  out.accepted = [changed[5].status.state, changed[5].current()?.fingerprint ?? null];
  out.afterAccept = (await step(ca(b))).slice(0, 5);
  const key = 'branch-kiosk.tenant-ca:https://hub.example:Acme Bank';
  const record = JSON.parse(store.get(key));
  record.fingerprint = record.fingerprint.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  store.set(key, JSON.stringify(record));
  out.tampered = (await step(ca(b))).slice(0, 5);
  return out;
}
"""


def test_the_tenant_ca_is_pinned_on_first_use_and_a_change_is_not_trusted() -> None:
    a, b = tenant_ca(), tenant_ca()  # the same tenant name, two different CAs
    fa, fb = der_fingerprint(a), der_fingerprint(b)
    arg = {"a": b64(a.der), "b": b64(b.der), "device": b64(device(a).der)}
    out = asyncio.run(run_js(TRUST_JS, arg))
    unavailable = ["unavailable", None, None, None, "no_anchor"]
    assert out["none"] == unavailable
    assert out["deviceAsCa"] == unavailable
    assert out["otherTenant"] == unavailable
    assert out["first"] == ["first_use", fa, None, fa, "no_anchor"]
    assert out["again"] == ["pinned", fa, None, fa, "no_anchor"]
    assert out["hubDown"] == ["pinned", fa, None, fa, "no_anchor"]  # the pin holds on its own
    assert out["changed"] == ["changed", fa, fb, None, "anchor_changed"]
    assert out["stillPinnedA"] == ["pinned", fa, None, fa, "no_anchor"]  # nothing changed yet
    assert out["accepted"] == ["pinned", fb]
    assert out["afterAccept"] == ["pinned", fb, None, fb, "no_anchor"]
    # A pinned record someone altered is trusted no more than a new CA.
    assert out["tampered"] == ["changed", None, fb, None, "anchor_changed"]
