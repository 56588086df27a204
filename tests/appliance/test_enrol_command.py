"""``kiosk enrol`` and ``kiosk decommission`` as a technician runs them (real processes).

The hub side is a tiny EST server on loopback here (it plays hostile hubs too); the whole
path against the real hub is tests/e2e/test_enrolment.py.
"""

from __future__ import annotations

import asyncio
import os
import pty
import sys
from pathlib import Path

import pytest

from appliance.config.kiosk import ConfigError, load_config
from provisioning.codes import EnrolmentCode, enrolment_uri
from provisioning.identity import CA_FILE, CERT_FILE, HUB_FILE, KEY_FILE, IdentityStore
from tests.support.est_server import TinyEst, running_est
from tests.support.mounts import unmount

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "kiosk.service"


async def kiosk(
    *args: str, stdin: int | None = asyncio.subprocess.DEVNULL, answer: bytes | None = None
) -> tuple[int, str, str]:
    """Run ``kiosk ARGS``; with ``answer``, on a terminal that types it."""
    master = None
    if answer is not None:
        master, slave = pty.openpty()
        stdin = slave
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "appliance",
        *args,
        cwd=ROOT,
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    if master is not None and answer is not None:
        os.close(slave)
        os.write(master, answer)
    try:
        async with asyncio.timeout(60):
            out, err = await process.communicate()
    finally:
        if master is not None:
            os.close(master)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _enrol_args(url: str, code: EnrolmentCode, identity: Path, *extra: str) -> list[str]:
    return [
        "enrol",
        "--hub",
        url,
        "--code",
        code.format().lower(),
        "--identity-dir",
        str(identity),
        "--simulate",
        *extra,
    ]


async def test_enrol_prints_the_identity_and_the_selftest_summary(tmp_path: Path) -> None:
    server = TinyEst()
    code = server.add_code("branch-7")
    async with running_est(server) as url:
        status, out, err = await kiosk(
            *_enrol_args(url, code, tmp_path / "id", "--ca-fingerprint", server.fingerprint)
        )
    assert status == 0, err
    assert "enrolled as branch-7 (tenant Tenant A)" in out
    assert "device key fingerprint:" in out
    assert "self-test:" in out and "0 failed" in out
    assert code.secret not in out + err
    identity = IdentityStore(tmp_path / "id").load()
    assert identity is not None and identity.hub_url == url.replace("http://", "ws://")
    # The kiosk's configuration now needs neither a token nor a hub URL.
    config = load_config(None, {"identity_dir": str(tmp_path / "id")})
    assert config.token is None
    assert config.kiosk_ws_url == url.replace("http://", "ws://") + "/ws/kiosk"


async def test_enrol_from_the_qr_codes_text(tmp_path: Path) -> None:
    server = TinyEst()
    code = server.add_code("branch-7")
    async with running_est(server) as url:
        uri = enrolment_uri(url, code, server.fingerprint)
        status, out, err = await kiosk(
            "enrol", "--uri", uri, "--identity-dir", str(tmp_path / "id"), "--simulate"
        )
    assert status == 0, err
    assert "enrolled as branch-7" in out


async def test_a_hub_whose_ca_does_not_match_never_gets_the_code(tmp_path: Path) -> None:
    server = TinyEst()
    code = server.add_code("branch-7")
    async with running_est(server) as url:
        status, out, err = await kiosk(
            *_enrol_args(url, code, tmp_path / "id", "--ca-fingerprint", "ab" * 32)
        )
    assert status == 3
    assert "NOT sent" in err
    assert not server.saw(code.secret)
    assert not (tmp_path / "id" / CERT_FILE).exists()


async def test_without_fingerprint_or_terminal_nothing_is_sent(tmp_path: Path) -> None:
    server = TinyEst()
    code = server.add_code("branch-7")
    async with running_est(server) as url:
        status, _, err = await kiosk(*_enrol_args(url, code, tmp_path / "id"))
    assert status == 2
    assert "--ca-fingerprint" in err
    assert server.seen == []


async def test_on_a_terminal_the_technician_compares_the_fingerprint(tmp_path: Path) -> None:
    server = TinyEst()
    declined, accepted = server.add_code("branch-7"), server.add_code("branch-8")
    async with running_est(server) as url:
        status, out, err = await kiosk(*_enrol_args(url, declined, tmp_path / "a"), answer=b"n\n")
        assert status == 3 and "not confirmed" in err
        shown = " ".join(server.fingerprint[i : i + 4] for i in range(0, 64, 4))
        assert shown in out
        assert not server.saw(declined.secret)
        status, out, err = await kiosk(*_enrol_args(url, accepted, tmp_path / "b"), answer=b"y\n")
    assert status == 0, err
    assert "enrolled as branch-8" in out


async def test_yes_accepts_the_ca_unseen_and_says_so(tmp_path: Path) -> None:
    server = TinyEst()
    code = server.add_code("branch-7")
    async with running_est(server) as url:
        status, out, err = await kiosk(*_enrol_args(url, code, tmp_path / "id", "--yes"))
    assert status == 0, err
    assert "accepted without comparing (--yes)" in out


@pytest.mark.parametrize(
    ("code", "says"),
    [("K7QX-3M9P-HT4R-2WN0", "character 19 is 0"), ("K7QX-3M9P", "has 8")],
)
async def test_a_mistyped_code_is_refused_before_the_network(
    tmp_path: Path, code: str, says: str
) -> None:
    status, _, err = await kiosk(
        "enrol",
        "--hub",
        "http://127.0.0.1:9",
        "--code",
        code,
        "--ca-fingerprint",
        "ab" * 32,
        "--identity-dir",
        str(tmp_path / "id"),
    )
    assert status == 2
    assert says in err


async def test_wrong_used_and_unknown_codes_are_the_hubs_refusals(tmp_path: Path) -> None:
    server = TinyEst()
    code = server.add_code("branch-7")
    wrong = EnrolmentCode(code.id, "2" * 12 if code.secret != "2" * 12 else "3" * 12)
    fingerprint = ("--ca-fingerprint", server.fingerprint)
    async with running_est(server) as url:
        status, _, err = await kiosk(*_enrol_args(url, wrong, tmp_path / "a", *fingerprint))
        assert (status, "typed right" in err) == (3, True)
        status, _, err = await kiosk(*_enrol_args(url, code, tmp_path / "b", *fingerprint))
        assert status == 0, err
        status, _, err = await kiosk(*_enrol_args(url, code, tmp_path / "c", *fingerprint))
        assert (status, "already used" in err) == (3, True)
    assert not (tmp_path / "a" / CERT_FILE).exists()


async def test_an_unreachable_hub_exits_4(tmp_path: Path) -> None:
    status, _, err = await kiosk(
        *_enrol_args("http://127.0.0.1:9", EnrolmentCode.new(), tmp_path / "id", "--yes")
    )
    assert status == 4
    assert "cannot reach the hub" in err


async def test_production_refuses_a_plain_http_hub(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    # No hub_url: a production kiosk about to be enrolled need not know it yet.
    config.write_text(f'production = true\nidentity_dir = "{tmp_path}/id"\n')
    status, _, err = await kiosk(
        "enrol",
        "--config",
        str(config),
        "--hub",
        "http://127.0.0.1:9",
        "--code",
        EnrolmentCode.new().format(),
        "--yes",
    )
    assert status == 2
    assert "'hub_url': must use wss:// (TLS) in production" in err


async def test_decommission_wipes_key_certificate_and_vault(tmp_path: Path) -> None:
    server = TinyEst()
    code = server.add_code("branch-7")
    identity, vault = tmp_path / "id", tmp_path / "vault"
    async with running_est(server) as url:
        status, _, err = await kiosk(*_enrol_args(url, code, identity, "--yes"))
        assert status == 0, err
    status, _, err = await kiosk(
        "decommission", "--identity-dir", str(identity), "--vault", str(vault)
    )
    assert status == 2 and "--yes" in err  # no terminal: nothing happens unconfirmed
    assert (identity / KEY_FILE).exists()
    try:
        status, out, err = await kiosk(
            "decommission", "--yes", "--identity-dir", str(identity), "--vault", str(vault)
        )
        assert status == 0, err
        assert "wiped" in out
        for name in (KEY_FILE, CERT_FILE, CA_FILE, HUB_FILE):
            assert name in out
            assert not (identity / name).exists()
        assert "needs a fresh enrolment code" in out
        assert "kiosk-hub device revoke branch-7" in out
        assert os.listdir(vault) == []
    finally:
        if os.geteuid() == 0:
            unmount(vault)
    with pytest.raises(ConfigError, match="kiosk enrol"):
        load_config(None, {"identity_dir": str(identity)})


async def test_kiosk_run_refuses_a_key_other_users_can_read(tmp_path: Path) -> None:
    server = TinyEst()
    code = server.add_code("branch-7")
    identity = tmp_path / "id"
    async with running_est(server) as url:
        status, _, err = await kiosk(*_enrol_args(url, code, identity, "--yes"))
        assert status == 0, err
    os.chmod(identity / KEY_FILE, 0o644)
    status, _, err = await kiosk(
        "run",
        "--simulate",
        "--no-ui",
        "--identity-dir",
        str(identity),
        "--vault",
        str(tmp_path / "vault"),
    )
    assert status == 2
    assert "readable by other users" in err and "decommission" in err


def test_the_unit_gives_the_kiosk_its_identity_directory() -> None:
    lines = UNIT.read_text().splitlines()
    assert "StateDirectory=branch-kiosk" in lines
    assert "StateDirectoryMode=0700" in lines
    from provisioning.identity import DEFAULT_IDENTITY_DIR

    assert Path("/var/lib/branch-kiosk") == DEFAULT_IDENTITY_DIR
