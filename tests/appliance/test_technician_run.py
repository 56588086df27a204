"""`kiosk run` without a token and without a screen: what it says and how it exits.

With a screen the technician screen shows (tests/kiosk_ui/test_technician_screen.py); without
one, `--enrol-uri` enrols unattended, and anything a technician would have to correct ends the
process with the reason (the whole successful path: tests/e2e/test_technician_run.py).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from appliance.config.kiosk import ConfigError, MissingCredential, load_config
from appliance.ui.technician import unenrolled_config
from hub.pki.codes import CodeBook
from hub.pki.secret import HubSecret, create_secret_file
from provisioning import profile
from provisioning.codes import EnrolmentCode, enrolment_uri
from provisioning.enrolment import enrol
from provisioning.est_client import EstClient
from provisioning.identity import IdentityStore
from tests.support.hub import RunningHub, running_hub

ROOT = Path(__file__).resolve().parents[2]


async def _kiosk_run(tmp_path: Path, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "appliance",
        "run",
        "--simulate",
        "--no-ui",
        "--vault",
        str(tmp_path / "vault"),
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, (out + err).decode()


async def _code(hub: RunningHub, secret: Path) -> EnrolmentCode:
    code, _ = await CodeBook(HubSecret.load(secret)).new(
        hub.storage, "branch-7", tenant="default", now=time.time()
    )
    return code


async def test_unattended_enrolment_refuses_another_ca_and_keeps_the_code(tmp_path: Path) -> None:
    secret = tmp_path / "hub-secret"
    create_secret_file(secret)
    async with running_hub(tmp_path, secret_file=secret, allow_device_tokens=False) as hub:
        code = await _code(hub, secret)
        uri = enrolment_uri(hub.url, code, "ab" * 32)
        identity = tmp_path / "identity"
        status, said = await _kiosk_run(
            tmp_path, "--identity-dir", str(identity), "--enrol-uri", uri
        )
        assert status == 3, said
        assert "the code was NOT sent" in said
        assert code.secret not in said
        assert not IdentityStore(identity).enrolled
        async with EstClient(hub.url) as client:  # not spent: its owner can still use it
            ca = profile.fingerprint(await client.cacerts(code.id))
            await enrol(
                client, IdentityStore(tmp_path / "ok"), code, hub.ws_url, expected_fingerprint=ca
            )


async def test_without_a_screen_a_broken_identity_or_a_bad_uri_exits_2(tmp_path: Path) -> None:
    identity = tmp_path / "identity"
    identity.mkdir()
    os.chmod(identity, 0o755)  # noqa: S103 - the mistake under test: open to other users
    status, said = await _kiosk_run(
        tmp_path, "--identity-dir", str(identity), "--enrol-uri", "branch-kiosk-enrol:?x=1"
    )
    assert status == 2 and "--enrol-uri" in said
    os.chmod(identity, 0o700)
    (identity / "device.crt").write_text("not a certificate")
    status, said = await _kiosk_run(tmp_path, "--identity-dir", str(identity))
    assert status == 2 and "kiosk decommission" in said
    status, said = await _kiosk_run(tmp_path, "--identity-dir", str(tmp_path / "empty"))
    assert status == 2 and "--enrol-uri" in said and "'token'" in said


def test_only_a_missing_credential_opens_the_technician_screen(tmp_path: Path) -> None:
    overrides = {"identity_dir": str(tmp_path / "identity")}  # not enrolled
    path = tmp_path / "kiosk.toml"
    path.write_text("simulate = true\n", encoding="utf-8")
    with pytest.raises(MissingCredential) as missing:
        load_config(path, overrides)
    assert missing.value.key == "token"  # still a ConfigError naming the key, for other callers
    config = unenrolled_config(path, overrides, missing.value)
    assert config.token is None and config.simulate
    # a token that is there but wrong is the administrator's mistake, not a kiosk to enrol
    for text in ('token = ""\n', 'token = "t"\ntoken_file = "f"\n'):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as wrong:
            load_config(path, overrides)
        assert not isinstance(wrong.value, MissingCredential)
        with pytest.raises(ConfigError) as again:
            unenrolled_config(path, overrides, wrong.value)
        assert again.value is wrong.value
    # the type decides, not the wording
    worded = ConfigError("token", "missing: this is not the credential check")
    with pytest.raises(ConfigError):
        unenrolled_config(path, overrides, worded)
