"""One-time enrolment codes and the enrolment URI of the QR code (pure: no I/O).

A code is an id (4 symbols, the EST label that finds the code at the hub) and a secret
(12 symbols, about 58.9 bits), shown as ``IDID-SSSS-SSSS-SSSS``. The alphabet has no
characters a person mixes up: no 0/O, 1/I/L, and no U (so no accidental words).
:func:`parse_code` is forgiving about case, spaces and dashes and strict about everything else.

The QR code carries ``branch-kiosk-enrol:?hub=<url>&code=<code>&ca=<sha256 hex>``
(:func:`enrolment_uri` / :func:`parse_enrolment_uri`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from provisioning.profile import BadFingerprint, parse_fingerprint

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_LENGTH = 4
SECRET_LENGTH = 12
CODE_LENGTH = ID_LENGTH + SECRET_LENGTH
GROUP = 4
URI_SCHEME = "branch-kiosk-enrol"
HUB_URL_MAX = 512
# Separators a person types or a copy-and-paste brings along; everything else is refused.
_SEPARATORS = frozenset(" \t\r\n-")
# Characters people type for the ones the alphabet leaves out: named in the error, since they
# are no secret (they are never part of a code); any other character is only counted.
_LOOKALIKES = {"0": "0 (zero)", "O": "O", "1": "1 (one)", "I": "I", "L": "L", "U": "U"}
_URL_SCHEMES = ("http", "https", "ws", "wss")


class BadCode(ValueError):
    """The text is not an enrolment code; the message says why without repeating the secret."""


class BadEnrolmentUri(ValueError):
    """The text is not an enrolment URI (the QR code's content)."""


@dataclass(frozen=True)
class EnrolmentCode:
    """An enrolment code: ``id`` finds it at the hub, ``secret`` proves it (never logged)."""

    id: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.id) != ID_LENGTH or not _in_alphabet(self.id):
            raise BadCode(f"a code id is {ID_LENGTH} characters of the code alphabet")
        if len(self.secret) != SECRET_LENGTH or not _in_alphabet(self.secret):
            raise BadCode(f"a code secret is {SECRET_LENGTH} characters of the code alphabet")

    @classmethod
    def new(cls) -> EnrolmentCode:
        """A fresh random code (from :mod:`secrets`)."""
        return cls(_random(ID_LENGTH), _random(SECRET_LENGTH))

    def format(self) -> str:
        """The code as a person reads it: ``K7QX-3M9P-HT4R-2WNC``."""
        text = self.id + self.secret
        return "-".join(text[i : i + GROUP] for i in range(0, len(text), GROUP))

    def __str__(self) -> str:
        # str() is what an f-string or a log call picks up: never the secret by accident.
        return f"{self.id}-****-****-****"


@dataclass(frozen=True)
class EnrolmentUri:
    """What the QR code carries: where to enrol, with which code, and which CA to expect."""

    hub_url: str
    code: EnrolmentCode
    ca_fingerprint: str


def parse_code(text: str) -> EnrolmentCode:
    """Read a typed code: any case, spaces and dashes anywhere; else :class:`BadCode`."""
    symbols: list[str] = []
    for position, char in enumerate(text, start=1):
        if char in _SEPARATORS:
            continue
        upper = char.upper() if char.isascii() else char
        if upper not in ALPHABET:
            raise BadCode(_bad_character(position, upper))
        symbols.append(upper)
    if len(symbols) != CODE_LENGTH:
        raise BadCode(
            f"a code has {CODE_LENGTH} characters ({ID_LENGTH} for the id, {SECRET_LENGTH} for "
            f"the secret; dashes and spaces do not count), this one has {len(symbols)}"
        )
    joined = "".join(symbols)
    return EnrolmentCode(joined[:ID_LENGTH], joined[ID_LENGTH:])


def is_code_id(text: str) -> bool:
    """True if ``text`` is shaped like a code id (the EST label); says nothing about the hub."""
    return len(text) == ID_LENGTH and _in_alphabet(text)


def enrolment_uri(hub_url: str, code: EnrolmentCode, ca_fingerprint: str) -> str:
    """The QR code's text: hub URL, code and the tenant CA's SHA-256 fingerprint."""
    _check_hub_url(hub_url)
    query = urlencode(
        {"hub": hub_url, "code": code.format(), "ca": parse_fingerprint(ca_fingerprint)},
        quote_via=quote,
        safe="",
    )
    return f"{URI_SCHEME}:?{query}"


def parse_enrolment_uri(text: str) -> EnrolmentUri:
    """Read a scanned QR code; anything but a complete enrolment URI raises BadEnrolmentUri."""
    prefix = f"{URI_SCHEME}:?"
    if not text.startswith(prefix):
        raise BadEnrolmentUri(f"an enrolment URI starts with {prefix}")
    try:
        fields = parse_qs(text[len(prefix) :], keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise BadEnrolmentUri("the enrolment URI's query is malformed") from None
    values: dict[str, str] = {}
    for name in ("hub", "code", "ca"):
        found = fields.pop(name, [])
        if len(found) != 1:
            raise BadEnrolmentUri(f"the enrolment URI needs exactly one {name}=")
        values[name] = found[0]
    if fields:
        raise BadEnrolmentUri("the enrolment URI has fields other than hub, code and ca")
    try:
        _check_hub_url(values["hub"])
        code = parse_code(values["code"])
        fingerprint = parse_fingerprint(values["ca"])
    except (BadCode, BadFingerprint) as exc:
        raise BadEnrolmentUri(f"the enrolment URI's {exc}") from None
    return EnrolmentUri(values["hub"], code, fingerprint)


def _check_hub_url(url: str) -> None:
    if len(url) > HUB_URL_MAX or not url.isprintable() or not url.isascii():
        raise BadEnrolmentUri(f"hub URL must be printable ASCII of at most {HUB_URL_MAX} chars")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError:
        raise BadEnrolmentUri("hub URL is not a valid URL") from None
    if parts.scheme not in _URL_SCHEMES or not host:
        raise BadEnrolmentUri("hub URL must be http(s):// or ws(s):// with a host name")


def _in_alphabet(text: str) -> bool:
    return all(char in ALPHABET for char in text)


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def _bad_character(position: int, char: str) -> str:
    lookalike = _LOOKALIKES.get(char)
    if lookalike is not None:
        return (
            f"character {position} is {lookalike}, which codes never use "
            f"(they have no 0/O, 1/I/L or U): check the code"
        )
    return f"character {position} is not a letter or digit that codes use: check the code"
