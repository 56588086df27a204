"""Run the kiosk's own HubClient until the hub's welcome: what a connection attempt yields."""

from __future__ import annotations

import asyncio
from typing import Any

from appliance.runner.hub_client import HubClient, HubEvent, HubUp


async def first_up(client: HubClient, *, within_s: float = 10.0) -> HubUp:
    """Run ``client`` until its first ``HubUp``, then close it.

    What ended the client before that (``HubRejected``, say) is raised here, at once.
    """
    got: asyncio.Future[HubUp] = asyncio.get_running_loop().create_future()

    def deliver(event: HubEvent) -> None:
        if isinstance(event, HubUp) and not got.done():
            got.set_result(event)

    task = asyncio.create_task(client.run(deliver))
    try:
        async with asyncio.timeout(within_s):
            waiters: set[asyncio.Future[Any]] = {got, task}
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # raises what ended it
        return got.result()
    finally:
        await client.close()
        await asyncio.gather(task, return_exceptions=True)
