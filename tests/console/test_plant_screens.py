"""Power and Thermal against a real, paused twin: the values its mirror holds, at 80×24 and in
a larger terminal."""

from __future__ import annotations

import pytest
from _console import PASSWORDS, cells, connected, inside, shown, until

from twin.console.app import ConsoleApp
from twin.opcua.server import TwinServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


def console(served: TwinServer) -> ConsoleApp:
    return ConsoleApp(served.url, "vera", PASSWORDS["vera"])


def f1(x: float) -> str:
    return f"{x:,.1f}"


async def test_power_shows_wings_bus_strings_and_load_channels_at_80x24(served: TwinServer):
    v = served.twin.mirror.value
    app = console(served)
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await pilot.press("w")
        await until(pilot, lambda: cells(pilot, "#loads", "16")[1:] == [
            "on", "—", f1(v("power.pcdu.rack.16.current_a"))], "the load channels")
        for wing in (1, 4):
            p = f"power.array.{wing}"
            await until(pilot, lambda p=p, wing=wing: cells(pilot, "#arrays", str(wing)) == [
                str(wing), f1(v(f"{p}.power_w") / 1e3), f1(v(f"{p}.voltage_v")),
                f1(v(f"{p}.current_a")), f1(v(f"{p}.temp_c")), "ok",
                str(int(v(f"{p}.strings_ok")))], f"wing {wing}")
        b = "power.battery.2"
        assert cells(pilot, "#batteries", "2") == [
            "2", f1(v(f"{b}.soc_pct")), f1(v(f"{b}.voltage_v")), f1(v(f"{b}.current_a")),
            f1(v(f"{b}.temp_c")), "yes", "on" if v(f"{b}.heater_on") else "off"]
        assert shown(pilot, "#f-power-bus-voltage_v").endswith(
            f"{v('power.bus.voltage_v'):.1f} V")
        assert shown(pilot, "#f-power-bus-load_w").endswith(f"{v('power.bus.load_w') / 1e3:.1f} kW")
        assert shown(pilot, "#f-power-pcdu-shed_level").endswith("level 0")
        assert "Power" in shown(pilot, "#nav")
        inside(pilot)


async def test_thermal_shows_loops_pumps_panels_and_nodes_and_grows_with_the_terminal(
        served: TwinServer):
    v = served.twin.mirror.value
    app = console(served)
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await pilot.press("t")
        await until(pilot, lambda: len(cells(pilot, "#panels", "16")) == 5, "panel 16")
        loop = "thermal.loop.2"
        await until(pilot, lambda: cells(pilot, "#loops", "2") == [
            "2", f1(v(f"{loop}.supply_temp_c")), f1(v(f"{loop}.return_temp_c")),
            f"{v(f'{loop}.flow_kg_s'):.2f}", f1(v(f"{loop}.inventory_kg")),
            f1(v(f"{loop}.heat_w") / 1e3)], "loop 2")
        await until(pilot, lambda: cells(pilot, "#pumps", "1") == [
            "1", f"{v('thermal.pump.1.speed_pct'):.0f}", "running",
            f"{v('thermal.pump.1.power_w'):.0f}"], "pump 1")
        r = "thermal.radiator.16"
        await until(pilot, lambda: cells(pilot, "#panels", "16") == [
            "16", f1(v(f"{r}.temp_c")), f"{v(f'{r}.deployed_pct'):.0f}",
            f1(v(f"{r}.heat_w") / 1e3), "dep"], "panel 16's values")
        await until(pilot, lambda: cells(pilot, "#nodes", "3")[1:] == [
            f1(v("power.battery.3.temp_c"))], "battery node 3")
        assert shown(pilot, "#f-thermal-avionics-temp_c").endswith(
            f"{v('thermal.avionics.temp_c'):.1f} °C")
        inside(pilot)
        small = app.screen.query_one("#panel-panels").region
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.2)
        inside(pilot)
        big = app.screen.query_one("#panel-panels").region
        assert big.height > small.height and big.bottom <= 38
        assert app.screen.query_one("#panel-loops").region.width > 45
