"""`kiosk run` as a process, without an identity and without a token: the technician's
enrolment (here from the QR code's text, `--enrol-uri`, on a kiosk without a screen) takes it
to enrolled, the self-test runs, and the same process goes on to queue at the hub.

The hub is `kiosk-hub serve` with a hub secret and device tokens off; the code comes from
`kiosk-hub device enrol`. An adviser's connection sees the enrolled kiosk in the queue.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from protocol import messages
from provisioning.codes import enrolment_uri, parse_code
from testbed.stack import BIN, Stack, wait_until
from tests.support.hub import connect_adviser, http_session

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path / "stack")
    s.workdir.mkdir(parents=True)
    secret = s.workdir / "hub-secret"
    _run("kiosk-hub", "secret", "create", str(secret))
    s.start_hub("--secret-file", str(secret))
    yield s
    s.stop()


def _run(name: str, *args: str) -> str:
    result = subprocess.run(
        [str(BIN / name), *args], capture_output=True, text=True, timeout=90, check=False
    )
    assert result.returncode == 0, f"{name} {args[:2]}: {result.stdout}{result.stderr}"
    return result.stdout


def _start_kiosk(stack: Stack, identity: Path, uri: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                str(BIN / "kiosk"),
                "run",
                "--simulate",
                "--no-ui",  # no screen: the QR code's text stands in for the technician
                "--identity-dir",
                str(identity),  # empty: no key, no certificate, and no token anywhere
                "--enrol-uri",
                uri,
                "--ice-host",
                "127.0.0.1",
                "--vault",
                str(stack.workdir / "vault"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_kiosk_run_without_identity_enrols_and_queues(stack: Stack, tmp_path: Path) -> None:
    printed = _run(
        "kiosk-hub",
        "device",
        "enrol",
        "branch-9",
        "--hub-url",
        stack.url,
        "--secret-file",
        str(stack.workdir / "hub-secret"),
        "--db",
        str(stack.db),
    )
    line = re.search(r"kiosk enrol --hub (\S+) --code (\S+) --ca-fingerprint (\S+)", printed)
    assert line is not None, printed
    hub_url, code_text, fingerprint = line.groups()
    code = parse_code(code_text)
    uri = enrolment_uri(hub_url, code, fingerprint)
    identity = tmp_path / "identity"
    log = tmp_path / "kiosk.log"
    kiosk = _start_kiosk(stack, identity, uri, log)
    stack.kiosk = kiosk  # stopped with the stack
    try:
        await wait_until(
            lambda: "connected to the hub as branch-9" in log.read_text(errors="replace"),
            60,
            "the enrolled kiosk's certificate hello",
        )
        text = log.read_text(errors="replace")
        for said in (
            "technician screen: enrol this kiosk; device key fingerprint",
            "the hub's tenant CA fingerprint",
            "enrolled as branch-9 (tenant default)",
            "5 passed, 0 failed",  # the self-test's summary
            "starting the kiosk",
        ):
            assert said in text, said
        assert code.secret not in text  # the code is named by its id only
        async with http_session() as http:
            hub = SimpleNamespace(url=stack.url, ws_url=f"ws://127.0.0.1:{stack.port}")
            adviser = await connect_adviser(http, hub, stack.adviser, stack.password)  # type: ignore[arg-type]
            async with asyncio.timeout(30):
                while True:
                    queue = await adviser.expect(messages.Queue, within=30)
                    if [entry.device for entry in queue.entries] == ["branch-9"]:
                        break
            await adviser.close()
        assert (identity / "device.crt").exists()
    finally:
        assert stack.stop_process(kiosk) == 0
