"""Power and Thermal: the plant's parts in tables, one row per numbered part.

How many wings, strings, racks, loops and panels a twin has comes from its server's channel
list (:meth:`~twin.console.app.ConsoleApp.load_channels`), not from a config: the console
shows whatever satellite it is connected to.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical

from twin.console import fmt
from twin.console.screens import TwinScreen, numbered
from twin.console.widgets import ChannelTable, Column, Field


def on_off(v: Any) -> str:
    return "on" if bool(v) else "off"


def yes_no(v: Any) -> str:
    return "yes" if bool(v) else "NO"


def stuck(v: Any) -> str:
    return "STUCK" if bool(v) else "ok"


def tripped(v: Any) -> str:
    return "TRIP" if bool(v) else "—"


def kw(v: Any) -> str:
    return fmt.number(1, "", 1e-3)(v)


ARRAYS = [Column("kW", "power.array.{i}.power_w", kw),
          Column("V", "power.array.{i}.voltage_v", fmt.number(1)),
          Column("A", "power.array.{i}.current_a", fmt.number(1)),
          Column("°C", "power.array.{i}.temp_c", fmt.number(1)),
          Column("drive", "power.array.{i}.drive_stuck", stuck),
          Column("str", "power.array.{i}.strings_ok", fmt.integer)]
BATTERIES = [Column("SOC %", "power.battery.{i}.soc_pct", fmt.number(1)),
             Column("V", "power.battery.{i}.voltage_v", fmt.number(1)),
             Column("A", "power.battery.{i}.current_a", fmt.number(1)),
             Column("°C", "power.battery.{i}.temp_c", fmt.number(1)),
             Column("conn", "power.battery.{i}.online", yes_no),
             Column("heater", "power.battery.{i}.heater_on", on_off)]
LOADS = [Column("on", "power.pcdu.rack.{i}.on", on_off),
         Column("LCL", "power.pcdu.rack.{i}.tripped", tripped),
         Column("A", "power.pcdu.rack.{i}.current_a", fmt.number(1))]
BUS = [("Voltage ", "power.bus.voltage_v", fmt.number(1, "V")),
       ("Current ", "power.bus.current_a", fmt.number(0, "A")),
       ("Load    ", "power.bus.load_w", fmt.kw),
       ("Shunt   ", "power.bus.shunt_w", fmt.kw),
       ("Shedding", "power.pcdu.shed_level", lambda v: f"level {int(v)}"),
       ("Under-V ", "power.bus.undervoltage", fmt.flag("UNDERVOLTAGE", "no"))]

LOOPS = [Column("sup °C", "thermal.loop.{i}.supply_temp_c", fmt.number(1)),
         Column("ret °C", "thermal.loop.{i}.return_temp_c", fmt.number(1)),
         Column("kg/s", "thermal.loop.{i}.flow_kg_s", fmt.number(2)),
         Column("inv kg", "thermal.loop.{i}.inventory_kg", fmt.number(1)),
         Column("kW", "thermal.loop.{i}.heat_w", kw)]
PUMPS = [Column("speed %", "thermal.pump.{i}.speed_pct", fmt.number(0)),
         Column("state", "thermal.pump.{i}.running", fmt.flag("running", "STOPPED")),
         Column("W", "thermal.pump.{i}.power_w", fmt.number(0))]
PANELS = [Column("°C", "thermal.radiator.{i}.temp_c", fmt.number(1)),
          Column("dep %", "thermal.radiator.{i}.deployed_pct", fmt.number(0)),
          Column("kW", "thermal.radiator.{i}.heat_w", kw),
          Column("cmd", "thermal.radiator.{i}.deploy_cmd", fmt.flag("dep", "STOW"))]
NODES = [Column("°C", "power.battery.{i}.temp_c", fmt.number(1))]
AVIONICS = ("Avionics ", "thermal.avionics.temp_c", fmt.number(1, "°C"))


class TablesScreen(TwinScreen):
    """A screen of :class:`ChannelTable` panels (and Fields): rows from the channel list."""

    NEEDS_CHANNELS = True
    # table id → pattern whose {N} numbers the rows
    ROWS: ClassVar[dict[str, str]] = {}

    def paths(self) -> Iterable[str]:
        out = [f.path for f in self.query(Field)]
        for t in self.query(ChannelTable):
            out += t.paths
        return out

    _rows_from: int = -1  # the channel list version the rows were taken from

    def refresh_view(self) -> None:
        super().refresh_view()
        app = self.console
        if app.channels_version != self._rows_from:
            self._rows_from = app.channels_version
            for tid, pattern in self.ROWS.items():
                self.query_one(f"#{tid}", ChannelTable).set_rows(numbered(app.channels,
                                                                          pattern))
            app.watch_paths(self)
        stale = not app.link_connected
        for t in self.query(ChannelTable):
            t.show(app.readings, stale)
        for f in self.query(Field):
            f.show(app.readings.get(f.path), stale)


def panel(pid: str, title: str) -> Vertical:
    v = Vertical(id=pid, classes="panel")
    v.border_title = title
    return v


class PowerScreen(TablesScreen):
    """Array wings, the bus, battery strings and the load channels (LCL per rack)."""

    MODE = "power"
    ROWS: ClassVar = {"arrays": "power.array.{N}.power_w",
                      "batteries": "power.battery.{N}.soc_pct", "loads": "power.pcdu.rack.{N}.on"}

    def body(self) -> ComposeResult:
        with Horizontal(id="power", classes="body"):
            with Vertical(classes="column"):
                with panel("panel-arrays", "Solar array wings"):
                    yield ChannelTable(ARRAYS, id="arrays", label="#")
                with panel("panel-bus", "Bus"), Grid(id="bus", classes="fields"):
                    for label, path, f in BUS:
                        yield Field(label, path, f, id="f-" + path.replace(".", "-"))
                with panel("panel-batteries", "Battery strings"):
                    yield ChannelTable(BATTERIES, id="batteries", label="#")
            with panel("panel-loads", "Loads (LCL)"):
                yield ChannelTable(LOADS, id="loads", label="rack")


class ThermalScreen(TablesScreen):
    """Coolant loops and their pumps, radiator panels, the battery and avionics nodes."""

    MODE = "thermal"
    ROWS: ClassVar = {"loops": "thermal.loop.{N}.supply_temp_c",
                      "pumps": "thermal.pump.{N}.running", "nodes": "power.battery.{N}.temp_c",
                      "panels": "thermal.radiator.{N}.temp_c"}

    def body(self) -> ComposeResult:
        with Horizontal(id="thermal", classes="body"):
            with Vertical(classes="column"):
                with panel("panel-loops", "Coolant loops"):
                    yield ChannelTable(LOOPS, id="loops", label="#")
                with panel("panel-pumps", "Pumps"):
                    yield ChannelTable(PUMPS, id="pumps", label="#")
                with panel("panel-nodes", "Nodes"):
                    label, path, f = AVIONICS
                    yield Field(label, path, f, id="f-" + path.replace(".", "-"))
                    yield ChannelTable(NODES, id="nodes", label="battery")
            with panel("panel-panels", "Radiator panels"):
                yield ChannelTable(PANELS, id="panels", label="#")
