"""Compute: a rack × GPU grid coloured by temperature, power or state, and one rack's detail.

The grid has a row per rack and a cell per GPU; ``v`` cycles the quantity the cells show and
are coloured by, the legend under the grid says what each colour means, ``enter`` opens the
selected rack (:class:`RackScreen`: its GPUs' values, power cap, enable and load channel).
The colour bands are fixed display scales (like a plot's axes), the same for every satellite,
so that a colour always means the same temperature or power; alarms stay the server's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.widgets import DataTable, Static

from twin.console import fmt
from twin.console.link import Reading
from twin.console.screens import TwinScreen, numbered
from twin.console.screens_plant import on_off, panel
from twin.console.widgets import ChannelTable, Column, Field, styled

# Background colours, coolest/lowest first, and the text colour on each.
BANDS = ("#1f4e79", "#2e7d6b", "#3f8f3f", "#b8860b", "#d2691e", "#c62828")
INK = ("white", "white", "white", "black", "black", "white")
# quantity → (title, channel suffix, unit, upper edges of the bands but the last, cell format)
QUANTITIES: dict[str, tuple[str, str, str, tuple[float, ...], fmt.Format]] = {
    "temp": ("temperature", "temp_c", "°C", (30.0, 50.0, 65.0, 78.0, 85.0), fmt.number(1)),
    "power": ("power", "power_w", "W", (150.0, 300.0, 450.0, 600.0, 700.0), fmt.number(0)),
    "state": ("state", "state", "", (), str),
}
# GPU state name (the server's EnumStrings) → (short text, band); unknown names use band 0.
STATES = {"off": ("off", 0), "nominal": ("nom", 2), "power_capped": ("cap", 1),
          "thermal_throttled": ("thrtl", 3), "thermal_shutdown": ("SHUT", 4),
          "failed": ("FAIL", 5)}
GPU_STATE = "compute.rack.{r}.gpu.{g}.state"


def band(value: float, edges: Sequence[float]) -> int:
    """The colour band of ``value``: 0 below the first edge, len(edges) at or above the last."""
    return sum(value >= e for e in edges)


def gpu_cell(quantity: str, reading: Reading | None, names: Sequence[str],
             stale: bool = False) -> Text:
    """One grid cell: the value, on the colour of its band (Bad/unknown uncoloured)."""
    _, _, _, edges, f = QUANTITIES[quantity]
    if reading is None or reading.value is None or stale:
        return styled(reading, f, stale)
    if quantity == "state":
        k = int(reading.value)
        name = names[k] if 0 <= k < len(names) else str(k)
        text, b = STATES.get(name, (name[:5], 0))
    else:
        x = float(reading.value)
        text, b = f(x), band(x, edges)
    cell = Text(f"{text:>5}", style=f"{INK[b]} on {BANDS[b]}")
    if not reading.good:
        cell.stylize("italic")
    return cell


def legend(quantity: str, names: Sequence[str] = ()) -> Text:
    title, _, unit, edges, _ = QUANTITIES[quantity]
    out = Text(f"{title}{(' ' + unit) if unit else ''}: ")
    if quantity == "state":
        items = [(STATES.get(n, (n[:5], 0))[0] + f" {n}", STATES.get(n, (n, 0))[1])
                 for n in names] or [("…", 0)]
    else:
        labels = [f"<{edges[0]:g}"] + [f"{a:g}–{b:g}" for a, b in pairwise(edges)]
        labels.append(f"≥{edges[-1]:g}")
        items = [(lab, k) for k, lab in enumerate(labels)]
    for text, b in items:
        out.append(f" {text} ", style=f"{INK[b]} on {BANDS[b]}")
        out.append(" ")
    return out


class GpuGrid(DataTable[Text]):
    """Racks (rows) × GPUs (cells), plus each rack's power and cap; the cursor picks a rack."""

    BINDINGS: ClassVar = [Binding("enter", "select_cursor", "Rack")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cell_padding=1)
        self.racks: tuple[int, ...] = ()
        self.gpus: tuple[int, ...] = ()

    def set_shape(self, racks: Sequence[int], gpus: Sequence[int]) -> None:
        if (tuple(racks), tuple(gpus)) == (self.racks, self.gpus):
            return
        self.racks, self.gpus = tuple(racks), tuple(gpus)
        self.clear(columns=True)
        self.add_column("rack", key="rack")
        for g in self.gpus:
            self.add_column(f"{g:>5}", key=f"g{g}")
        self.add_column("   kW", key="kW")
        self.add_column("  cap", key="cap")
        for r in self.racks:
            self.add_row(Text(f"{r:>4}"), *(Text("    …") for _ in self.gpus),
                         Text("    …"), Text("    …"), key=str(r))

    def show(self, quantity: str, readings: dict[str, Reading], names: Sequence[str],
             stale: bool) -> None:
        suffix = QUANTITIES[quantity][1]
        for r in self.racks:
            for g in self.gpus:
                path = f"compute.rack.{r}.gpu.{g}.{suffix}"
                self.update_cell(str(r), f"g{g}", gpu_cell(quantity, readings.get(path), names,
                                                             stale))
            self.update_cell(str(r), "kW", styled(readings.get(f"compute.rack.{r}.power_w"),
                                                  fmt.number(1, "", 1e-3), stale))
            self.update_cell(str(r), "cap", styled(readings.get(f"compute.rack.{r}.power_cap_w"),
                                                   cap_kw, stale))

    @property
    def selected_rack(self) -> int | None:
        if not self.row_count:
            return None
        return int(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value or 0)


def cap_kw(v: Any) -> str:
    """A rack's power cap in kW; 0 is the server's "no cap"."""
    x = float(v)
    return "none" if x <= 0.0 else fmt.number(1, "", 1e-3)(x)


class ComputeScreen(TwinScreen):
    MODE = "compute"
    NEEDS_CHANNELS = True
    BINDINGS: ClassVar = [Binding("v", "cycle", "Quantity")]
    ORDER = ("temp", "power", "state")

    def __init__(self) -> None:
        super().__init__()
        self.quantity = "temp"
        self.names: list[str] = []
        self._shape_from = -1

    def body(self) -> ComposeResult:
        with Vertical(id="compute", classes="body"):
            yield GpuGrid(id="gpu-grid")
            yield Static("", id="legend")

    def paths(self) -> Iterable[str]:
        grid = self.query_one(GpuGrid)
        suffix = QUANTITIES[self.quantity][1]
        for r in grid.racks:
            yield f"compute.rack.{r}.power_w"
            yield f"compute.rack.{r}.power_cap_w"
            for g in grid.gpus:
                yield f"compute.rack.{r}.gpu.{g}.{suffix}"

    def refresh_view(self) -> None:
        super().refresh_view()
        app = self.console
        grid = self.query_one(GpuGrid)
        if app.channels_version != self._shape_from:
            self._shape_from = app.channels_version
            racks = numbered(app.channels, "compute.rack.{N}.power_w")
            gpus = numbered(app.channels, f"compute.rack.{racks[0]}.gpu.{{N}}.temp_c") \
                if racks else []
            grid.set_shape(racks, gpus)
            app.watch_paths(self)
            if racks and gpus:
                self.run_worker(self._load_names(GPU_STATE.format(r=racks[0], g=gpus[0])))
        grid.show(self.quantity, app.readings, self.names, not app.link_connected)
        self.query_one("#legend", Static).update(legend(self.quantity, self.names))

    async def _load_names(self, path: str) -> None:
        self.names = await self.console.enum_strings(path)
        self.refresh_view()

    def action_cycle(self) -> None:
        self.quantity = self.ORDER[(self.ORDER.index(self.quantity) + 1) % len(self.ORDER)]
        self.console.watch_paths(self)
        self.refresh_view()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_rack()

    def action_rack(self) -> None:
        rack = self.query_one(GpuGrid).selected_rack
        if rack is not None:
            self.app.push_screen(RackScreen(rack, self.query_one(GpuGrid).gpus, self.names))


class RackScreen(TwinScreen):
    """One rack: its GPUs' values, its power, cap and enable, and its load channel."""

    MODE = "compute"
    BINDINGS: ClassVar = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, rack: int, gpus: Sequence[int], names: Sequence[str]) -> None:
        super().__init__()
        self.rack = rack
        self.gpus = tuple(gpus)
        self.names = list(names)

    def state_name(self, v: Any) -> str:
        k = int(v)
        return self.names[k] if 0 <= k < len(self.names) else str(k)

    def body(self) -> ComposeResult:
        r = self.rack
        fields = [("Power    ", f"compute.rack.{r}.power_w", fmt.kw),
                  ("Power cap", f"compute.rack.{r}.power_cap_w",
                   lambda v: "none" if float(v) <= 0 else fmt.kw(v)),
                  ("Enabled  ", f"compute.rack.{r}.enabled", fmt.flag("yes", "NO (off)")),
                  ("Load ch. ", f"power.pcdu.rack.{r}.on", on_off),
                  ("Limiter  ", f"power.pcdu.rack.{r}.tripped",
                   lambda v: "TRIPPED" if bool(v) else "ok"),
                  ("Current  ", f"power.pcdu.rack.{r}.current_a", fmt.number(1, "A"))]
        columns = [Column("state", f"compute.rack.{r}.gpu.{{i}}.state", self.state_name),
                   Column("°C", f"compute.rack.{r}.gpu.{{i}}.temp_c", fmt.number(1)),
                   Column("W", f"compute.rack.{r}.gpu.{{i}}.power_w", fmt.number(0)),
                   Column("util %", f"compute.rack.{r}.gpu.{{i}}.util_pct", fmt.number(0)),
                   Column("MHz", f"compute.rack.{r}.gpu.{{i}}.clock_mhz", fmt.number(0))]
        with Vertical(id="rack", classes="body"):
            with panel("panel-rack", f"Rack {r}"), Grid(id="rack-fields", classes="fields"):
                for label, path, f in fields:
                    yield Field(label, path, f, id="f-" + path.replace(".", "-"))
            with panel("panel-gpus", f"GPUs of rack {r}"):
                yield ChannelTable(columns, id="gpus", label="gpu")

    def on_mount(self) -> None:
        self.query_one(ChannelTable).set_rows(self.gpus)
        self.console.screen_shown(self)  # the table has its rows now: watch them

    def paths(self) -> Iterable[str]:
        return [f.path for f in self.query(Field)] + self.query_one(ChannelTable).paths

    def refresh_view(self) -> None:
        super().refresh_view()
        app = self.console
        stale = not app.link_connected
        for f in self.query(Field):
            f.show(app.readings.get(f.path), stale)
        self.query_one(ChannelTable).show(app.readings, stale)


__all__ = ["ComputeScreen", "GpuGrid", "RackScreen", "band", "gpu_cell", "legend"]
