"""TURN as a tenant setting: the hub's TURN server is in a welcome only for a tenant whose
administrator switched it on (a third party, promise 7), with ``kiosk-hub tenant set --turn``."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from hub.__main__ import main
from hub.storage import Storage
from hub.turn import TurnSettings
from protocol.messages import Welcome
from tests.support.hub import (
    RunningHub,
    connect_adviser,
    connect_kiosk,
    http_session,
    running_hub,
)
from tests.support.hub_trustee import db, hub, with_storage

PASSWORD = "correct horse battery"
SECRET = "0123456789abcdef-shared"
TURN_URL = "turn:127.0.0.1:3478"

_DEVICES = itertools.count(1)
__all__ = ["db"]  # the shared fixture, re-exported by name so pytest finds it here


async def welcomes(hub_: RunningHub, tenant: str) -> list[Welcome]:
    """The welcomes of a new kiosk and a new console connection of ``tenant``."""
    out = []
    name = f"kiosk-{tenant}-{next(_DEVICES)}"
    async with http_session() as http:
        kiosk = await connect_kiosk(http, hub_, hub_.add_device(name, tenant=tenant))
        adviser = await connect_adviser(http, hub_, f"ann-{tenant}", PASSWORD)
        for peer in (kiosk, adviser):
            assert peer.welcome is not None
            out.append(peer.welcome)
            await peer.close()
    return out


def turn_urls(welcome: Welcome) -> set[str]:
    return {url for server in welcome.ice_servers for url in server.urls}


@pytest.mark.parametrize("relay_only", [False, True])
async def test_turn_servers_only_for_a_tenant_that_switched_turn_on(
    tmp_path: Path, relay_only: bool
) -> None:
    settings = TurnSettings(urls=(TURN_URL,), secret=SECRET, relay_only=relay_only)
    async with running_hub(tmp_path, turn=settings) as running:
        running.add_tenant("other")
        for tenant in ("default", "other"):
            running.add_adviser(f"ann-{tenant}", PASSWORD, tenant=tenant)
        # off by default: no TURN server, and so no relay-only policy either
        for welcome in await welcomes(running, "default"):
            assert turn_urls(welcome) == set() and welcome.ice_transport_policy == "all"
        running.set_turn(True)
        for welcome in await welcomes(running, "default"):
            assert turn_urls(welcome) == {TURN_URL}
            assert welcome.ice_transport_policy == ("relay" if relay_only else "all")
        # the other tenant did not switch it on
        for welcome in await welcomes(running, "other"):
            assert turn_urls(welcome) == set() and welcome.ice_transport_policy == "all"
        running.set_turn(False)
        for welcome in await welcomes(running, "default"):
            assert turn_urls(welcome) == set() and welcome.ice_transport_policy == "all"


async def test_a_tenant_switch_without_a_hub_turn_server_offers_nothing(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as running:
        running.add_adviser("ann-default", PASSWORD)
        running.set_turn(True)
        for welcome in await welcomes(running, "default"):
            assert welcome.ice_servers == () and welcome.ice_transport_policy == "all"


def turn_of(db_path: Path, tenant: str = "default") -> bool:
    async def read(storage: Storage) -> bool:
        found = await storage.tenant(tenant)
        return await storage.governance.turn_enabled(found.id)

    return with_storage(db_path, read)


def test_tenant_set_turn_switches_and_audits(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hub(db, "tenant", "list") == 0  # the database with its default tenant
    assert turn_of(db) is False
    assert hub(db, "tenant", "set", "default", "--turn", "on") == 0
    assert "TURN relaying on" in capsys.readouterr().err
    assert turn_of(db) is True
    assert hub(db, "tenant", "set", "default", "--turn", "off") == 0
    assert "TURN relaying off" in capsys.readouterr().err
    assert turn_of(db) is False

    async def audit(storage: Storage) -> list[tuple[str, str, str | None, str | None]]:
        found = await storage.tenant("default")
        entries = await storage.governance.audit(found.id)
        return [(e.actor, e.action, e.old_value, e.new_value) for e in entries]

    entries = [e for e in with_storage(db, audit) if e[1] == "third_party.turn"]
    assert len(entries) == 2 and all(actor.startswith("cli:") for actor, *_ in entries)
    # the other third party set by the same command is audited with the same actor
    assert hub(db, "tenant", "set", "default", "--tsa-url", "https://tsa.example.org") == 0
    (tsa,) = [e for e in with_storage(db, audit) if e[1] == "third_party.tsa"]
    assert tsa[0] == entries[0][0] and tsa[3] == "https://tsa.example.org"


def test_tenant_set_turn_for_an_unknown_tenant_changes_nothing(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(db, "tenant", "list") == 0
    capsys.readouterr()
    assert hub(db, "tenant", "set", "nobody", "--turn", "on") == 1
    assert "no tenant named 'nobody'" in capsys.readouterr().err
    assert turn_of(db) is False


@pytest.mark.parametrize("value", ["yes", "ON", ""])
def test_tenant_set_turn_takes_only_on_or_off(
    db: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        hub(db, "tenant", "set", "default", "--turn", value)
    assert exited.value.code == 2
    assert "--turn" in capsys.readouterr().err
    assert not db.exists()


def test_tenant_show_says_whether_turn_is_on(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "hub-secret"
    assert main(["secret", "create", str(secret)]) == 0
    assert hub(db, "tenant", "show", "default", "--secret-file", str(secret)) == 0
    assert "TURN relay:      off" in capsys.readouterr().out
    assert hub(db, "tenant", "set", "default", "--turn", "on") == 0
    assert hub(db, "tenant", "show", "default") == 0
    assert "TURN relay:      on" in capsys.readouterr().out
