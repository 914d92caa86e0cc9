"""Compute against a real, paused twin: the rack × GPU grid, its colours and legend, the
quantity key, and drilling into a rack."""

from __future__ import annotations

import pytest
from _console import PASSWORDS, cells, connected, inside, screen_text, shown, until

from twin.console.app import ConsoleApp
from twin.console.screens_compute import BANDS, QUANTITIES, GpuGrid, band
from twin.opcua.server import TwinServer

pytestmark = pytest.mark.asyncio(loop_scope="module")
HOT = "compute.rack.3.gpu.5"


def grid(pilot, rack: int) -> list[str]:  # type: ignore[no-untyped-def]
    """The texts of one rack's line of the grid: rack, its GPUs, kW, cap."""
    return [t.strip() for t, _ in pilot.app.screen.query_one("#gpu-grid", GpuGrid).cells(rack)]


def style(pilot, rack: int, gpu: int) -> str:  # type: ignore[no-untyped-def]
    """The style of one grid cell (its colour)."""
    return pilot.app.screen.query_one("#gpu-grid", GpuGrid).cells(rack)[gpu][1]


async def test_the_grid_shows_every_gpu_and_a_hot_one_in_another_colour(served: TwinServer):
    twin = served.twin
    v = twin.mirror.value
    app = ConsoleApp(served.url, "vera", PASSWORDS["vera"])
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await pilot.press("c")
        cool = f"{v('compute.rack.16.gpu.8.temp_c'):.1f}"
        await until(pilot, lambda: grid(pilot, 16)[8:9] == [cool], "GPU 16/8")
        assert len(grid(pilot, 1)) == 1 + 8 + 2  # rack, 8 GPUs, kW, cap
        assert grid(pilot, 1)[-1] == "none"  # no power cap
        assert "rack      1      2      3" in screen_text(app)
        assert shown(pilot, "#legend").startswith("temperature °C:")
        inside(pilot, "#gpu-grid")
        before = style(pilot, 3, 5)
        # a runaway GPU: more power than it can shed, so hotter than its neighbours
        fault = twin.commands.call("InjectFault", {"kind": "gpu_runaway", "target": HOT,
                                                   "params": {"extra_w": 1500.0}}).data
        edges = QUANTITIES["temp"][3]
        for _ in range(100):
            twin.commands.call("Step", {"n": 5})
            twin.tick(0.0)
            if band(v(f"{HOT}.temp_c"), edges) > band(v("compute.rack.3.gpu.4.temp_c"), edges):
                break
        hot = f"{v(f'{HOT}.temp_c'):.1f}"
        await until(pilot, lambda: grid(pilot, 3)[5] == hot, "the hot GPU")
        assert style(pilot, 3, 5) != style(pilot, 3, 4)
        assert style(pilot, 3, 5) != before
        assert BANDS[band(v(f"{HOT}.temp_c"), edges)].lower() in style(pilot, 3, 5).lower()
        await pilot.press("v")  # power
        watts = f"{v(f'{HOT}.power_w'):,.0f}"
        await until(pilot, lambda: grid(pilot, 3)[5] == watts, "power")
        assert shown(pilot, "#legend").startswith("power W:")
        await pilot.press("v")  # state
        await until(pilot, lambda: grid(pilot, 1)[1] == "nom", "states")
        assert "nominal" in shown(pilot, "#legend")
    twin.commands.call("ClearFault", {"fault_id": fault})


async def test_enter_opens_the_selected_rack_and_escape_returns(served: TwinServer):
    twin = served.twin
    v = twin.mirror.value
    assert twin.commands.call("SetRackPowerCap", {"rack": 2, "cap_w": 4000.0}).ok
    twin.tick(0.0)
    twin.refresh()
    app = ConsoleApp(served.url, "vera", PASSWORDS["vera"])
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await pilot.press("c")
        await until(pilot, lambda: grid(pilot, 2)[-1:] == ["4.0"], "the cap")
        await pilot.press("down", "enter")
        await until(pilot, lambda: bool(app.screen.query("#gpus")), "the rack screen")
        assert app.screen.query_one("#panel-rack").border_title == "Rack 2"
        g = "compute.rack.2.gpu.7"
        await until(pilot, lambda: cells(pilot, "#gpus", "7") == [
            "7", "nominal", f"{v(f'{g}.temp_c'):.1f}", f"{v(f'{g}.power_w'):,.0f}",
            f"{v(f'{g}.util_pct'):.0f}", f"{v(f'{g}.clock_mhz'):,.0f}"], "GPU 7 of rack 2")
        await until(pilot, lambda: shown(pilot, "#f-compute-rack-2-power_cap_w")
                    .endswith("4.0 kW"), "the rack's cap")
        assert shown(pilot, "#f-compute-rack-2-enabled").endswith("yes")
        assert shown(pilot, "#f-power-pcdu-rack-2-tripped").endswith("ok")
        inside(pilot)
        await pilot.press("escape")
        await until(pilot, lambda: bool(app.screen.query("#gpu-grid")), "the grid again")
    assert twin.commands.call("SetRackPowerCap", {"rack": 2, "cap_w": 0.0}).ok
