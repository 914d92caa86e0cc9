"""How often the console redraws: at most once per publishing interval of its subscription
(250 ms), however many data changes and events arrive, and still with the latest values."""

from __future__ import annotations

import asyncio
import inspect
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from _console import PASSWORDS, connected, until

from twin.console.app import ConsoleApp
from twin.console.screens_compute import GpuGrid
from twin.opcua.server import TwinServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


class Counted(ConsoleApp):
    """The console, with the times of its screen refreshes."""

    CSS_PATH = str(Path(inspect.getfile(ConsoleApp)).with_name("console.tcss"))  # not beside us

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refreshed: list[float] = []

    def refresh_screen(self) -> None:
        super().refresh_screen()
        self.refreshed.append(asyncio.get_running_loop().time())


async def test_a_busy_twin_is_redrawn_at_most_once_per_publishing_interval(served: TwinServer):
    twin = served.twin
    app = Counted(served.url, "otto", PASSWORDS["otto"])
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await pilot.press("c")  # the grid: 128 GPUs and 16 racks, 160 channels
        grid = app.screen.query_one(GpuGrid)
        await until(pilot, lambda: grid.cells(16)[8:9] != [("…", "")], "the grid's values")
        loop = asyncio.get_running_loop()
        start, first = len(app.refreshed), loop.time()
        while loop.time() - first < 3.0:  # a step (new values, a command event) every 20 ms
            twin.commands.call("Step", {"n": 1})
            twin.tick(0.0)
            await pilot.pause(0.02)
        last_t = twin.plant.t_s
        await until(pilot, lambda: app.readings["sim.time_s"].value == last_t, "the last step")
        times = app.refreshed[start:]
        assert len(times) >= 8, times  # it did redraw meanwhile
        assert min(b - a for a, b in pairwise(times)) >= app.refresh_s * 0.95, times
        hot = f"{twin.mirror.value('compute.rack.16.gpu.8.temp_c'):.1f}"
        await until(pilot, lambda: grid.cells(16)[8][0].strip() == hot, "the latest values")
