"""Scanners: real scans from SANE's test backend, an eSCL server on loopback, the simulator."""

from __future__ import annotations

import asyncio
import shutil
import stat
from pathlib import Path

import pytest
from aiohttp import web

from drivers.errors import (
    BackendUnavailable,
    DeviceGone,
    DeviceNotFound,
    NoDocuments,
    ScanCancelled,
    UnsupportedSetting,
)
from drivers.scanner import ScannedPage, ScanProgress, ScanSettings
from drivers.scanner.escl import NS, EsclScanner
from drivers.scanner.sane import SaneScanner
from drivers.scanner.simulated import SimulatedScanner
from tests.support.requirements import require_tool

SCANIMAGE = shutil.which("scanimage")
# SANE's tests need scanimage: missing fails under CI=true, skips with the reason elsewhere.
needs_sane = pytest.mark.usefixtures("scanimage")


@pytest.fixture
def scanimage() -> str:
    return require_tool("scanimage", "sane-utils")


def leftovers(directory: Path) -> list[Path]:
    return list(directory.iterdir())


class Pages:
    def __init__(self) -> None:
        self.pages: list[ScannedPage] = []
        self.progress: list[ScanProgress] = []

    async def sink(self, page: ScannedPage) -> None:
        self.pages.append(page)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(UnsupportedSetting):
        ScanSettings(dpi=5)
    with pytest.raises(UnsupportedSetting):
        ScanSettings(mode="sepia")  # type: ignore[arg-type]


@needs_sane
async def test_sane_flatbed_scan_is_a_real_pnm(tmp_path: Path) -> None:
    scanner = SaneScanner("test", work_dir=tmp_path)
    info = await scanner.describe()
    assert info.sources == ("flatbed", "feeder") and "colour" in info.modes
    got = Pages()
    n = await scanner.scan(ScanSettings(mode="colour", dpi=50), got.sink, got.progress.append)
    assert n == 1 and got.pages[0].data.startswith(b"P6\n")
    assert got.pages[0].dpi == 50 and "bytes" in repr(got.pages[0])
    assert got.progress[-1].percent == 100.0
    assert leftovers(tmp_path) == []  # the batch directory is gone


@needs_sane
async def test_sane_feeder_delivers_page_by_page_until_empty(tmp_path: Path) -> None:
    scanner = SaneScanner("test", work_dir=tmp_path)
    got = Pages()
    n = await scanner.scan(ScanSettings(mode="grey", dpi=25, source="feeder"), got.sink)
    # The test backend's feeder holds 10 sheets; running empty after them ends the batch.
    assert n == 10 and [p.number for p in got.pages] == list(range(1, 11))
    assert all(p.data.startswith(b"P5\n") for p in got.pages)
    got = Pages()
    assert await scanner.scan(ScanSettings(dpi=25, source="feeder", max_pages=2), got.sink) == 2
    assert leftovers(tmp_path) == []


@needs_sane
@pytest.mark.parametrize("how", ["cancel", "task"])
async def test_sane_cancel_mid_scan_leaves_nothing(tmp_path: Path, how: str) -> None:
    slow = [
        "--read-limit=yes",
        "--read-limit-size=1000",
        "--read-delay=yes",
        "--read-delay-duration=200000",
    ]
    scanner = SaneScanner("test", work_dir=tmp_path, extra_options=slow)
    got = Pages()
    started = asyncio.Event()

    def on_progress(p: ScanProgress) -> None:
        started.set()

    task = asyncio.create_task(scanner.scan(ScanSettings(dpi=100), got.sink, on_progress))
    await asyncio.wait_for(started.wait(), 10)
    if how == "cancel":
        scanner.cancel()
        with pytest.raises(ScanCancelled):
            await task
    else:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert got.pages == [] and leftovers(tmp_path) == []
    # The device is free again at once.
    assert await SaneScanner("test", work_dir=tmp_path).scan(ScanSettings(dpi=25), got.sink) == 1


@needs_sane
async def test_sane_missing_device_and_missing_tool(tmp_path: Path) -> None:
    with pytest.raises(DeviceNotFound, match="scanimage -L"):
        await SaneScanner("nosuch:scanner").describe()
    with pytest.raises(BackendUnavailable, match="sane-utils"):
        await SaneScanner("test", scanimage=str(tmp_path / "absent")).describe()


@needs_sane
async def test_sane_scanner_vanishing_mid_scan_then_returning(tmp_path: Path) -> None:
    # A stand-in for scanimage that behaves like an unplugged scanner while the flag exists.
    assert SCANIMAGE is not None
    flag = tmp_path / "unplugged"
    fake = tmp_path / "scanimage"
    fake.write_text(
        "#!/bin/sh\n"
        f'if [ -e {flag} ]; then echo "Scanning page 1" >&2; '
        'echo "scanimage: sane_read: Error during device I/O" >&2; exit 1; fi\n'
        f'exec {SCANIMAGE} "$@"\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    work = tmp_path / "work"
    work.mkdir()
    scanner = SaneScanner("test", scanimage=str(fake), work_dir=work)
    flag.touch()
    with pytest.raises(DeviceGone, match="stopped answering"):
        await scanner.scan(ScanSettings(dpi=25), Pages().sink)
    flag.unlink()
    assert await scanner.scan(ScanSettings(dpi=25), Pages().sink) == 1
    assert leftovers(work) == []


CAPABILITIES = f"""<?xml version="1.0" encoding="UTF-8"?>
<scan:ScannerCapabilities xmlns:scan="{NS["scan"]}" xmlns:pwg="{NS["pwg"]}">
  <pwg:Version>2.63</pwg:Version><pwg:MakeAndModel>Loopback eSCL</pwg:MakeAndModel>
  <scan:Platen><scan:PlatenInputCaps><scan:SettingProfiles><scan:SettingProfile>
    <scan:ColorModes><scan:ColorMode>RGB24</scan:ColorMode>
    <scan:ColorMode>Grayscale8</scan:ColorMode></scan:ColorModes>
    <scan:SupportedResolutions><scan:DiscreteResolutions>
      <scan:DiscreteResolution><scan:XResolution>300</scan:XResolution>
      <scan:YResolution>300</scan:YResolution></scan:DiscreteResolution>
      <scan:DiscreteResolution><scan:XResolution>75</scan:XResolution>
      <scan:YResolution>75</scan:YResolution></scan:DiscreteResolution>
    </scan:DiscreteResolutions></scan:SupportedResolutions>
  </scan:SettingProfile></scan:SettingProfiles></scan:PlatenInputCaps></scan:Platen>
  <scan:Adf><scan:AdfSimplexInputCaps/></scan:Adf>
</scan:ScannerCapabilities>"""


class EsclServer:
    """A small eSCL scanner: capabilities, jobs, pages (busy once per page), delete."""

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.jobs: dict[str, list[bytes]] = {}
        self.deleted: list[str] = []
        self.settings: list[bytes] = []
        self.busy_once: set[str] = set()
        app = web.Application()
        app.router.add_get("/eSCL/ScannerCapabilities", self.caps)
        app.router.add_post("/eSCL/ScanJobs", self.create)
        app.router.add_get("/eSCL/ScanJobs/{job}/NextDocument", self.next_document)
        app.router.add_delete("/eSCL/ScanJobs/{job}", self.delete)
        self.app = app

    async def caps(self, request: web.Request) -> web.Response:
        return web.Response(body=CAPABILITIES.encode(), content_type="text/xml")

    async def create(self, request: web.Request) -> web.Response:
        self.settings.append(await request.read())
        if self.pages == 0:
            return web.Response(status=409)
        job = f"job{len(self.jobs) + 1}"
        self.jobs[job] = [b"\xff\xd8page %d\xff\xd9" % i for i in range(1, self.pages + 1)]
        return web.Response(status=201, headers={"Location": f"/eSCL/ScanJobs/{job}"})

    async def next_document(self, request: web.Request) -> web.Response:
        job = request.match_info["job"]
        pages = self.jobs.get(job)
        if pages is None or not pages:
            return web.Response(status=404)
        key = f"{job}:{len(pages)}"
        if key not in self.busy_once:
            self.busy_once.add(key)
            return web.Response(status=503)
        return web.Response(body=pages.pop(0), content_type="image/jpeg")

    async def delete(self, request: web.Request) -> web.Response:
        self.deleted.append(request.match_info["job"])
        return web.Response(status=200)


async def serve(server: EsclServer) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(server.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/eSCL"


async def test_escl_capabilities_and_a_feeder_job() -> None:
    server = EsclServer(pages=3)
    runner, url = await serve(server)
    try:
        scanner = EsclScanner(url, poll_interval_s=0.01)
        info = await scanner.describe()
        assert info.sources == ("flatbed", "feeder") and info.resolutions == (75, 300)
        got = Pages()
        n = await scanner.scan(
            ScanSettings(mode="grey", dpi=300, source="feeder"), got.sink, got.progress.append
        )
        assert n == 3 and [p.data for p in got.pages][1] == b"\xff\xd8page 2\xff\xd9"
        assert got.pages[0].media_type == "image/jpeg"
        assert b"<pwg:InputSource>Feeder</pwg:InputSource>" in server.settings[0]
        assert b"Grayscale8" in server.settings[0]
        assert server.deleted == []
    finally:
        await runner.cleanup()


async def test_escl_cancel_deletes_the_job_and_empty_feeder() -> None:
    server = EsclServer(pages=5)
    runner, url = await serve(server)
    try:
        scanner = EsclScanner(url, poll_interval_s=0.01)
        got = Pages()

        async def cancel_after_first(page: ScannedPage) -> None:
            got.pages.append(page)
            scanner.cancel()

        with pytest.raises(ScanCancelled):
            await scanner.scan(ScanSettings(source="feeder"), cancel_after_first)
        assert len(got.pages) == 1 and server.deleted == ["job1"]
        server.pages = 0
        with pytest.raises(NoDocuments):
            await scanner.scan(ScanSettings(source="feeder"), got.sink)
    finally:
        await runner.cleanup()
    with pytest.raises(DeviceNotFound, match="cannot reach"):
        await EsclScanner(url).describe()  # the scanner is gone


async def test_escl_bad_answers_are_typed_errors() -> None:
    app = web.Application()

    async def junk(request: web.Request) -> web.Response:
        return web.Response(body=b"<not xml", content_type="text/xml")

    app.router.add_get("/eSCL/ScannerCapabilities", junk)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/eSCL"
        from drivers.errors import DeviceProtocolError

        with pytest.raises(DeviceProtocolError, match="malformed"):
            await EsclScanner(url).describe()
    finally:
        await runner.cleanup()
    with pytest.raises(UnsupportedSetting):
        EsclScanner("ftp://scanner/eSCL")


async def test_simulated_scanner_pages_and_cancel() -> None:
    scanner = SimulatedScanner(feeder_pages=3, page_seconds=0.02)
    got = Pages()
    assert await scanner.scan(ScanSettings(dpi=25, source="feeder"), got.sink) == 3
    task = asyncio.create_task(scanner.scan(ScanSettings(dpi=25, source="feeder"), got.sink))
    await asyncio.sleep(0.01)
    scanner.cancel()
    with pytest.raises(ScanCancelled):
        await task
    with pytest.raises(NoDocuments):
        await SimulatedScanner(feeder_pages=0).scan(ScanSettings(source="feeder"), got.sink)
