"""Compute: a rack × GPU grid coloured by temperature, power or state, and one rack's detail.

The grid has a row per rack and a cell per GPU; ``v`` cycles the quantity the cells show and
are coloured by, the legend under the grid says what each colour means, ``enter`` opens the
selected rack (:class:`RackScreen`: its GPUs' values, power cap, enable and load channel).
The colour bands are fixed display scales (like a plot's axes), the same for every satellite,
so that a colour always means the same temperature or power; alarms stay the server's.

The grid (:class:`GpuGrid`) draws itself line by line (Textual's line API) and redraws only the
racks whose cells' text or colour changed: at 4 refreshes a second of 128 GPUs, a DataTable,
which renders every cell again after any change, cost a third of a core.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from itertools import pairwise
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from twin.console import fmt
from twin.console.records import Reading
from twin.console.screens import TwinScreen, numbered
from twin.console.screens_plant import on_off, panel
from twin.console.widgets import QUALITY_STYLE, ChannelTable, Column, Field

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


Cell = tuple[str, str]  # (text, Rich style) of one grid cell


def plain_cell(reading: Reading | None, f: fmt.Format, stale: bool = False) -> Cell:
    """A reading as cell text: Bad in red, Uncertain in yellow, stale dimmed."""
    text = fmt.show(reading, f)
    if stale:
        return text, QUALITY_STYLE["stale"]
    if reading is not None and reading.bad:
        return text, QUALITY_STYLE["bad"]
    if reading is not None and not reading.good:
        return text, QUALITY_STYLE["uncertain"]
    return text, ""


def state_text(names: Sequence[str], v: Any) -> str:
    """A GPU state index as the grid's short name (``nom``, ``thrtl``, ...)."""
    k = int(v)
    name = names[k] if 0 <= k < len(names) else str(k)
    return STATES.get(name, (name[:5], 0))[0]


def gpu_cell(quantity: str, reading: Reading | None, names: Sequence[str],
             stale: bool = False) -> Cell:
    """One grid cell: the value, on the colour of its band (Bad/unknown uncoloured)."""
    _, _, _, edges, f = QUANTITIES[quantity]
    if quantity == "state":
        f = partial(state_text, names)
    if reading is None or reading.value is None or stale:
        return plain_cell(reading, f, stale)  # (a state by its name, stale or not)
    try:
        if quantity == "state":
            k = int(reading.value)
            name = names[k] if 0 <= k < len(names) else str(k)
            text, b = STATES.get(name, (name[:5], 0))
        else:
            x = float(reading.value)
            text, b = f(x), band(x, edges)
    except (TypeError, ValueError, OverflowError):
        return plain_cell(reading, f, stale)
    return text, f"{INK[b]} on {BANDS[b]}" + ("" if reading.good else " italic")


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


class GpuGrid(ScrollView, can_focus=True):
    """Racks (rows) × GPUs (cells), plus each rack's power and cap; the cursor picks a rack.

    :meth:`show` formats every cell and redraws a rack's line only when one of its cells
    changed; the header stays on top when the racks scroll. Up/down move the cursor, enter or
    a click posts :class:`GpuGrid.RackSelected`; :meth:`cells` is what a rack's line shows.
    """

    BINDINGS: ClassVar = [Binding("enter", "select", "Rack"),
                          Binding("up", "move(-1)", "Up", show=False),
                          Binding("down", "move(1)", "Down", show=False),
                          Binding("pageup", "move(-10)", "Page up", show=False),
                          Binding("pagedown", "move(10)", "Page down", show=False)]
    COMPONENT_CLASSES: ClassVar = {"gpu-grid--header", "gpu-grid--cursor"}
    DEFAULT_CSS = """
    GpuGrid {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .gpu-grid--header { background-tint: $foreground 5%; }
            & > .gpu-grid--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
        & > .gpu-grid--header { text-style: bold; background: $panel; color: $foreground; }
        & > .gpu-grid--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """
    PAD = 1  # blank columns each side of a cell

    class RackSelected(Message):
        def __init__(self, rack: int) -> None:
            super().__init__()
            self.rack = rack

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.racks: tuple[int, ...] = ()
        self.gpus: tuple[int, ...] = ()
        self.widths: tuple[int, ...] = ()  # of each column's text: rack, GPUs, kW, cap
        self.rows: list[tuple[Cell, ...]] = []  # what each rack's line shows
        self.cursor = 0  # index into racks
        self._strips: dict[tuple[int, bool], Strip] = {}  # (row, under the cursor) → line

    def set_shape(self, racks: Sequence[int], gpus: Sequence[int]) -> None:
        if (tuple(racks), tuple(gpus)) == (self.racks, self.gpus):
            return
        self.racks, self.gpus = tuple(racks), tuple(gpus)
        self.widths = (4, *(5 for _ in self.gpus), 5, 5)
        self.rows = [((f"{r}", ""), *(("…", "") for _ in self.widths[1:])) for r in racks]
        self.cursor = min(self.cursor, max(len(self.racks) - 1, 0))
        self._strips.clear()
        self.virtual_size = Size(sum(w + 2 * self.PAD for w in self.widths), len(racks) + 1)
        self.refresh()

    def header(self) -> tuple[str, ...]:
        return ("rack", *(f"{g}" for g in self.gpus), "kW", "cap")

    def cells(self, rack: int) -> list[Cell]:
        """The (text, style) of each cell of ``rack``'s line: rack, GPUs, kW, cap."""
        return list(self.rows[self.racks.index(rack)]) if rack in self.racks else []

    def show(self, quantity: str, readings: dict[str, Reading], names: Sequence[str],
             stale: bool) -> None:
        suffix = QUANTITIES[quantity][1]
        kw = fmt.number(1, "", 1e-3)
        for n, r in enumerate(self.racks):
            row = ((f"{r}", ""),
                   *(gpu_cell(quantity, readings.get(f"compute.rack.{r}.gpu.{g}.{suffix}"),
                              names, stale) for g in self.gpus),
                   plain_cell(readings.get(f"compute.rack.{r}.power_w"), kw, stale),
                   plain_cell(readings.get(f"compute.rack.{r}.power_cap_w"), cap_kw, stale))
            if row != self.rows[n]:
                self.rows[n] = row
                self._redraw(n)

    def _redraw(self, n: int) -> None:
        self._strips.pop((n, False), None)
        self._strips.pop((n, True), None)
        y = n + 1 - round(self.scroll_y)
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    # --- drawing ------------------------------------------------------------------------
    def _line(self, cells: Sequence[Cell], row_style: Style, over: Style | None = None
              ) -> Strip:
        """One line of cells on ``row_style``; ``over`` (the cursor's text colour and weight)
        goes over the cells' own (their background stays: the band)."""
        pad = " " * self.PAD
        segments = []
        for (text, style), w in zip(cells, self.widths, strict=True):
            segments.append(Segment(pad, row_style))
            cell = row_style + Style.parse(style) if style else row_style
            if over is not None:
                cell += over
            segments.append(Segment(text[:w].rjust(w), cell))
            segments.append(Segment(pad, row_style))
        return Strip(segments, self.virtual_size.width)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width, base = self.size.width, self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("gpu-grid--header")
            strip = self._strips.get((-1, False))
            if strip is None:
                strip = self._strips[(-1, False)] = self._line(
                    [(h, "") for h in self.header()], style)
            return strip.crop_extend(scroll_x, scroll_x + width, style)
        n = scroll_y + y - 1
        if not 0 <= n < len(self.rows):
            return Strip.blank(width, base)
        under = n == self.cursor
        cursor = self.get_component_rich_style("gpu-grid--cursor") if under else None
        style = base + cursor if cursor is not None else base
        strip = self._strips.get((n, under))
        if strip is None:
            over = (Style(color=cursor.color, bold=cursor.bold, italic=cursor.italic)
                    if cursor is not None else None)
            strip = self._strips[(n, under)] = self._line(self.rows[n], style, over)
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()  # theme, focus or size: the styles may have changed

    def _on_focus(self, event: events.Focus) -> None:
        super()._on_focus(event)
        self._strips.clear()
        self.refresh()

    def _on_blur(self, event: events.Blur) -> None:
        super()._on_blur(event)
        self._strips.clear()
        self.refresh()

    # --- the cursor ---------------------------------------------------------------------
    def action_move(self, by: int) -> None:
        if not self.racks:
            return
        old, self.cursor = self.cursor, min(max(self.cursor + by, 0), len(self.racks) - 1)
        self._redraw(old)
        self._redraw(self.cursor)
        top = round(self.scroll_y)  # rows top … top + height - 2 are visible under the header
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor > top + self.size.height - 2:
            self.scroll_to(y=self.cursor - self.size.height + 2, animate=False)

    def action_select(self) -> None:
        if self.racks:
            self.post_message(self.RackSelected(self.racks[self.cursor]))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y == 0:
            return
        n = offset.y - 1 + round(self.scroll_y)
        if 0 <= n < len(self.racks):
            self.action_move(n - self.cursor)
            self.action_select()

    @property
    def selected_rack(self) -> int | None:
        return self.racks[self.cursor] if self.racks else None


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
        self._legend: tuple[str, list[str]] | None = None  # what the legend shows

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
        if self._legend != (self.quantity, self.names):
            self._legend = (self.quantity, list(self.names))
            self.query_one("#legend", Static).update(legend(self.quantity, self.names))

    async def _load_names(self, path: str) -> None:
        self.names = await self.console.enum_strings(path)
        self.refresh_view()

    def action_cycle(self) -> None:
        self.quantity = self.ORDER[(self.ORDER.index(self.quantity) + 1) % len(self.ORDER)]
        self.console.watch_paths(self)
        self.refresh_view()

    def on_gpu_grid_rack_selected(self, event: GpuGrid.RackSelected) -> None:
        event.stop()
        self.app.push_screen(RackScreen(event.rack, self.query_one(GpuGrid).gpus, self.names))


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
