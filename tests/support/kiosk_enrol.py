"""A kiosk enrolled with a real hub's tenant CA, as `kiosk enrol` does it (docs/enrolment.md).

store = await enrolled_store(hub, secret, tmp_path / "identity")
kiosk = Kiosk(config, ..., identity=store)

or all of it at once, with the adviser "ann": ``async with enrolled_hub(tmp_path) as world``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NamedTuple

import aiohttp
from cryptography import x509

from hub.pki.secret import HubSecret
from provisioning import profile
from provisioning.enrolment import enrol
from provisioning.est_client import EstClient
from provisioning.identity import IdentityStore
from tests.support.call import PASSWORD
from tests.support.hub import RunningHub, http_session, running_hub
from tests.support.hub_enrol import hub_secret, new_code


async def enrolled_store(
    hub: RunningHub, secret: HubSecret, directory: Path, device: str = "kiosk-1"
) -> IdentityStore:
    """`kiosk enrol`'s steps: a one-time code, the CA compared, the certificate stored."""
    code = await new_code(hub.storage, secret, device, now=time.time())
    ca = await hub.storage.tenant_ca("default")
    assert ca is not None  # the hub made its tenant CA at start
    fingerprint = profile.fingerprint(x509.load_der_x509_certificate(ca.cert_der))
    store = IdentityStore(directory)
    async with EstClient(hub.url) as client:
        await enrol(client, store, code, hub.ws_url, expected_fingerprint=fingerprint)
    return store


class EnrolledHub(NamedTuple):
    """A production-like hub, a client session for its console, its secret and the store of a
    kiosk enrolled with it."""

    hub: RunningHub
    http: aiohttp.ClientSession
    secret: HubSecret
    store: IdentityStore


@asynccontextmanager
async def enrolled_hub(tmp_path: Path) -> AsyncIterator[EnrolledHub]:
    """The real hub as in production (a hub secret, device tokens off) with the adviser "ann"
    (``tests.support.call.PASSWORD``) and the kiosk "kiosk-1" enrolled in ``tmp_path``."""
    secret_file, secret = hub_secret(tmp_path)
    async with (
        running_hub(tmp_path, secret_file=secret_file, allow_device_tokens=False) as hub,
        http_session() as http,
    ):
        hub.add_adviser("ann", PASSWORD)
        store = await enrolled_store(hub, secret, tmp_path / "identity")
        yield EnrolledHub(hub, http, secret, store)
