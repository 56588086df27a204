"""TURN credentials minted by the hub (coturn REST scheme); a real coturn accepts them in
tests/appliance/test_relay_call.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from hub.__main__ import main
from hub.turn import TurnConfigError, TurnSettings, credential_for, mint
from tests.support.hub import FakeClock, connect_adviser, connect_kiosk, http_session, running_hub

SECRET = "0123456789abcdef-shared"


def test_credential_is_coturn_rest_hmac() -> None:
    username = "1800003600:ab12"
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), username.encode(), hashlib.sha1).digest()
    ).decode()
    assert credential_for(SECRET, username) == expected
    assert credential_for(SECRET + "x", username) != expected


def test_mint_expires_after_ttl_and_is_unique() -> None:
    settings = TurnSettings(urls=("turn:127.0.0.1:3478",), secret=SECRET, ttl_s=600)
    first = mint(settings, now=1_800_000_000.4)
    second = mint(settings, now=1_800_000_000.4)
    assert first.username is not None and second.username is not None
    expiry, tag = first.username.split(":")
    assert int(expiry) == 1_800_000_600 and len(tag) == 12
    assert first.username != second.username
    assert first.credential == credential_for(SECRET, first.username)
    assert first.urls == ("turn:127.0.0.1:3478",)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"urls": ()}, "at least one"),
        ({"urls": ("stun:127.0.0.1:3478",)}, "not a turn"),
        ({"secret": "short"}, "at least 16 bytes"),
        ({"ttl_s": 10}, "ttl_s"),
        ({"ttl_s": 10**6}, "ttl_s"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    settings: dict[str, object] = {"urls": ("turn:127.0.0.1:3478",), "secret": SECRET}
    settings.update(kwargs)
    with pytest.raises(TurnConfigError, match=message):
        TurnSettings(**settings)  # type: ignore[arg-type]


def test_secret_never_in_repr(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    settings = TurnSettings.from_secret_file(("turn:127.0.0.1:3478",), path)
    assert settings.secret == SECRET
    assert SECRET not in repr(settings)
    with pytest.raises(TurnConfigError, match="cannot read"):
        TurnSettings.from_secret_file(("turn:127.0.0.1:3478",), tmp_path / "missing")


async def test_welcome_carries_fresh_credentials_and_policy(tmp_path: Path) -> None:
    settings = TurnSettings(urls=("turn:127.0.0.1:3478",), secret=SECRET, relay_only=True)
    clock = FakeClock()
    async with running_hub(tmp_path, clock=clock, turn=settings) as hub, http_session() as http:
        token = hub.add_device("kiosk-1")
        hub.add_adviser("ann", "correct horse battery")
        hub.set_turn(True)  # a third party: off until the tenant switches it on
        kiosk = await connect_kiosk(http, hub, token)
        adviser = await connect_adviser(http, hub, "ann", "correct horse battery")
        seen = []
        for peer in (kiosk, adviser):
            assert peer.welcome is not None
            assert peer.welcome.ice_transport_policy == "relay"
            (server,) = peer.welcome.ice_servers
            assert server.username is not None
            assert int(server.username.split(":")[0]) == int(clock.now) + settings.ttl_s
            assert server.credential == credential_for(SECRET, server.username)
            assert "kiosk-1" not in server.username and "ann" not in server.username
            seen.append(server.username)
            await peer.close()
        assert seen[0] != seen[1]


async def test_without_turn_policy_is_all(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub, http_session() as http:
        kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
        assert kiosk.welcome is not None
        assert kiosk.welcome.ice_transport_policy == "all" and kiosk.welcome.ice_servers == ()
        await kiosk.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--relay-only"], "--relay-only needs a TURN server"),
        (["--turn-url", "turn:127.0.0.1:3478"], "go together"),
        (["--turn-url", "stun:x", "--turn-secret-file", "SECRET"], "not a turn"),
    ],
)
def test_serve_refuses_bad_turn_options(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    argv = ["serve", "--db", str(tmp_path / "hub.sqlite3")]
    argv += [str(secret) if a == "SECRET" else a for a in args]
    assert main(argv) == 1
    assert message in capsys.readouterr().err
