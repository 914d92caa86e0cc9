"""The console's screens: the base of every main screen, Overview and Alarms.

Each main screen composes a status bar, the screens' navigation line, its body, the answer line
and the footer, and has one method, :meth:`TwinScreen.refresh_view`, through which the app hands
it what to show; :meth:`TwinScreen.paths` names the channels it shows, which the app subscribes
while the screen is up. The other main screens live in ``screens_*.py``: Power and Thermal
(:mod:`~twin.console.screens_plant`), Compute, Boards, Events, Trends, Scenarios and Replay;
the dialogs (command form, confirmation, a command's JSON answer, help) in
:mod:`~twin.console.screens_dialogs`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from twin.console import fmt
from twin.console.records import Reading
from twin.console.widgets import Answer, Field, MultiField, NavBar, StatusBar, show_text

if TYPE_CHECKING:
    from twin.console.app import ConsoleApp


def battery_flow(v: Any) -> str:
    """``power.battery.power_w`` is positive when discharging (its OPC UA description)."""
    x = float(v)
    return f"{fmt.kw(abs(x))} {'discharging' if x > 0 else 'charging' if x < 0 else 'idle'}"


def eclipse_edge(values: Sequence[Any]) -> str:
    """``orbit.next_transition_s`` and ``orbit.sunlit``: sunlit, the next edge is the eclipse
    entry; in eclipse, its exit (the channel's OPC UA description)."""
    seconds, sunlit = values
    return f"{'entry' if bool(sunlit) else 'exit'} {fmt.countdown(seconds)}"


def loop_temps(values: Sequence[Any]) -> str:
    supply, ret = (float(v) for v in values)
    return f"{supply:,.1f} → {ret:,.1f} °C"


# (panel title, [(label, path, format)]) — the overview's content, top-left to bottom-right;
# the thermal panel's loops come from the server's channel list (OverviewScreen).
OVERVIEW: list[tuple[str, str, list[tuple[str, str, fmt.Format]]]] = [
    ("orbit", "Orbit · clock", [
        ("Sim time   ", "sim.time_s", lambda v: "T+" + fmt.sim_clock(float(v))),
        ("Light      ", "orbit.sunlit", fmt.flag("sunlit", "ECLIPSE")),
        ("Beta       ", "orbit.beta_deg", fmt.number(1, "°")),
        ("Illuminated", "orbit.illumination_pct", fmt.number(0, "%")),
    ]),
    ("thermal", "Thermal", [
        ("Hottest GPU", "compute.hottest_gpu_temp_c", fmt.number(1, "°C")),
        ("Radiators  ", "thermal.radiator.heat_w", fmt.kw),
    ]),
    ("power", "Power  array → bus → loads", [
        ("Array      ", "power.array.power_w", fmt.kw),
        ("Loads      ", "power.bus.load_w", fmt.kw),
        ("Battery    ", "power.battery.power_w", battery_flow),
        ("Charge     ", "power.battery.soc_pct", fmt.number(1, "%")),
        ("Shunt      ", "power.bus.shunt_w", fmt.kw),
    ]),
    ("compute", "Compute", [
        ("Delivered  ", "compute.pflops", fmt.number(2, "PFLOP/s")),
        ("Nominal    ", "compute.gpus_nominal", fmt.integer),
        ("Throttled  ", "compute.gpus_throttled", fmt.integer),
        ("Failed     ", "compute.gpus_failed", fmt.integer),
        ("Off        ", "compute.gpus_off", fmt.integer),
    ]),
]
ECLIPSE = ("orbit.next_transition_s", "orbit.sunlit")
CLOCK = ("sim.mode", "sim.speed_x")
LOOP = ("thermal.loop.{N}.supply_temp_c", "thermal.loop.{N}.return_temp_c")
# Always watched (every screen's status bar and the overview): the clock, the fields above.
PATHS = list(dict.fromkeys(["sim.time_s", *CLOCK, *ECLIPSE]
                           + [p for _, _, fields in OVERVIEW for _, p, _ in fields]))

# The main screens: (mode, title, key). The key is the title's first letter no other key uses.
SCREENS: tuple[tuple[str, str, str], ...] = (
    ("overview", "Overview", "o"), ("power", "Power", "w"), ("thermal", "Thermal", "t"),
    ("compute", "Compute", "c"), ("boards", "Boards", "b"), ("events", "Events", "e"),
    ("trends", "Trends", "n"), ("scenarios", "Scenarios", "i"), ("replay", "Replay", "l"),
    ("alarms", "Alarms", "a"))


class TwinScreen(Screen[None]):
    """A main screen: status bar, navigation, body, answer line, footer."""

    MODE: ClassVar[str] = ""  # the mode this screen is (for the navigation line)
    NEEDS_CHANNELS: ClassVar[bool] = False  # does it need the server's channel list?

    def compose(self) -> ComposeResult:
        yield StatusBar("○ connecting", id="status")
        yield NavBar(SCREENS, id="nav")
        yield from self.body()
        yield Answer("", id="answer")
        yield Footer()

    def body(self) -> ComposeResult:
        yield from ()

    def paths(self) -> Iterable[str]:
        """The channel paths this screen shows, besides the overview's (always watched)."""
        return ()

    @property
    def console(self) -> ConsoleApp:
        return self.app  # type: ignore[return-value]

    def on_screen_resume(self) -> None:
        self.console.screen_shown(self)
        self.refresh_view()

    def refresh_view(self) -> None:
        app = self.console
        self.query_one(StatusBar).show(*app.status_line())
        self.query_one(NavBar).show(self.MODE)
        if app.last_answer is not None:
            self.query_one(Answer).show(*app.last_answer)

    # --- sim.mode's state names, for screens that show the clock ---------------------------
    modes: Sequence[str] = ()  # (EnumStrings) empty until read; each screen reads its own
    _loading_modes = False

    def want_modes(self) -> None:
        """Read ``sim.mode``'s state names once connected; then redraw the fields with them."""
        if not self.modes and self.console.link_connected and not self._loading_modes:
            self._loading_modes = True
            self.run_worker(self._load_modes())

    async def _load_modes(self) -> None:
        try:
            self.modes = await self.console.enum_strings("sim.mode")
        finally:
            self._loading_modes = False
        if self.modes:
            for f in [*self.query(Field), *self.query(MultiField)]:
                f.forget()  # shown again, with the names
            self.refresh_view()


def numbered(paths: Iterable[str], pattern: str) -> list[int]:
    """The indices ``N`` of the paths matching ``pattern`` (``{N}`` marks the index), sorted:
    ``numbered(channels, "power.array.{N}.power_w")`` → ``[1, 2, 3, 4]``."""
    rx = re.compile(re.escape(pattern).replace(re.escape("{N}"), r"(\d+)") + "$")
    return sorted({int(m[1]) for p in paths if (m := rx.match(p))})


class OverviewScreen(TwinScreen):
    """The satellite at a glance. The clock line shows the commanded mode and speed
    (``sim.mode``, ``sim.speed_x``); the thermal panel has a line per coolant loop of the
    server's channel list."""

    MODE = "overview"
    NEEDS_CHANNELS = True  # for the loops

    def __init__(self) -> None:
        super().__init__()
        self.loops: list[int] = []
        self._loops_from = -1

    def paths(self) -> Iterable[str]:
        return PATHS + [p.replace("{N}", str(n)) for n in self.loops for p in LOOP]

    def body(self) -> ComposeResult:
        with Grid(id="overview"):
            for key, title, fields in OVERVIEW:
                with Vertical(id=f"panel-{key}", classes="panel") as panel:
                    panel.border_title = title
                    for label, path, f in fields:
                        if path == "thermal.radiator.heat_w":  # the loops above it
                            yield Static("Loops        …", id="loops-note", classes="field")
                        yield Field(label, path, f, id="f-" + path.replace(".", "-"))
                    if key == "orbit":
                        yield MultiField("Eclipse    ", ECLIPSE, eclipse_edge, id="f-eclipse")
                        yield MultiField("Clock      ", CLOCK, self.clock, id="f-clock")
            with Vertical(id="panel-alarms", classes="panel") as panel:
                panel.border_title = "Alarms"
                yield Static("…", id="alarm-counts")
            with Vertical(id="panel-control", classes="panel") as panel:
                panel.border_title = "Control"
                yield Static("…", id="control")

    def clock(self, values: Sequence[Any]) -> str:
        """``sim.mode`` and ``sim.speed_x``: ``running ×2``, ``paused (×2)``, ``fast``."""
        mode, speed = int(values[0]), float(values[1])
        name = self.modes[mode] if 0 <= mode < len(self.modes) else str(mode)
        if name == "paused":
            return f"paused (×{speed:g})"
        if name == "realtime":
            return f"running ×{speed:g}"
        return "as fast as possible" if name == "fast" else f"{name} ×{speed:g}"

    def _show_loops(self) -> None:
        """A line per coolant loop the server has, above the radiators."""
        app = self.console
        if app.channels_version == self._loops_from:
            return
        self._loops_from = app.channels_version
        loops = numbered(app.channels, LOOP[0])
        if loops == self.loops or not loops:
            return
        for old in self.query(".loop"):
            old.remove()
        self.loops = loops
        self.query_one("#panel-thermal").mount_all(
            [MultiField(f"Loop {n:<6}", [p.replace("{N}", str(n)) for p in LOOP], loop_temps,
                        id=f"f-loop-{n}", classes="loop") for n in loops], before="#loops-note")
        self.query_one("#loops-note").display = False
        app.watch_paths(self)

    def refresh_view(self) -> None:
        super().refresh_view()
        app = self.console
        self._show_loops()
        self.want_modes()
        stale = not app.link_connected
        for f in self.query(Field):
            f.show(app.readings.get(f.path), stale)
        for m in self.query(MultiField):
            m.show(app.readings, stale)
        red, yellow, unacked = app.alarm_counts()
        counts = self.query_one("#alarm-counts", Static)
        show_text(counts, f"red {red}  yellow {yellow}  unacked {unacked}")
        counts.set_class(red > 0, "-red")
        counts.set_class(red == 0 and yellow > 0, "-yellow")
        show_text(self.query_one("#control", Static), app.control_line())


class AlarmsScreen(TwinScreen):
    """Active and unacknowledged alarms, worst first: since when (simulated time, ``T+…``),
    the channel's value now (subscribed while the screen is shown), acknowledged, shelved."""

    MODE = "alarms"
    BINDINGS: ClassVar = [Binding("k", "acknowledge", "Ack"),
                          Binding("h", "shelve", "Shelve")]

    def body(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="alarms", cursor_type="row", zebra_stripes=True)
        table.add_columns("sev", "state", "channel", "value", "since", "ack", "shelved")
        yield table

    _shown: list[tuple[str, ...]] | None = None
    _watched: tuple[str, ...] = ()

    def paths(self) -> Iterable[str]:
        return [str(a.get("path")) for a in self.console.alarms]

    def refresh_view(self) -> None:
        super().refresh_view()
        app = self.console
        watched = tuple(self.paths())
        if watched != self._watched:  # an alarm came or went: watch its channel
            self._watched = watched
            app.watch_paths(self)
        rows = [(str(a.get("severity", "")), str(a.get("state", "")), str(a.get("path", "")),
                 _value(app.readings.get(str(a.get("path"))), a.get("value")),
                 _since(app, a), "yes" if a.get("acked") else "NO", _shelved(a))
                for a in app.alarms]
        if rows == self._shown:
            return
        self._shown = rows
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        for row in rows:
            table.add_row(*row, key=row[2])
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "acknowledge":
            return self.console.allowed("AcknowledgeAlarm")
        if action == "shelve":
            return self.console.allowed("ShelveAlarm")
        return True

    def selected(self, what: str) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            self.console.answer(False, f"no alarm to {what}")
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    async def action_acknowledge(self) -> None:
        path = self.selected("acknowledge")
        if path is not None:
            await self.console.run_command("AcknowledgeAlarm", (path, ""))

    def action_shelve(self) -> None:
        """The ShelveAlarm form for the selected alarm: the shelf time (0 unshelves)."""
        path = self.selected("shelve")
        if path is not None:
            self.console.start_command_named("ShelveAlarm", {"path": path,
                                                             "duration_s": "3600"})


def _since(app: ConsoleApp, a: dict[str, Any]) -> str:
    """When the alarm last changed, as simulated time ``T+…``: the server's ``since_s``, or
    the time of the event that told (a datetime: epoch + simulated seconds)."""
    t = a.get("time")
    if t is not None and hasattr(t, "timestamp"):
        s = app.sim_seconds(t)
        if s is not None:
            return "T+" + fmt.sim_clock(s)
    try:
        return "T+" + fmt.sim_clock(float(a["since_s"]))
    except (KeyError, TypeError, ValueError):
        return fmt.DASH


def _shelved(a: dict[str, Any]) -> str:
    """Until when an alarm is shelved (simulated time), '' if it is not."""
    until = a.get("shelved_until_s")
    try:
        return "to T+" + fmt.sim_clock(float(until)) if until is not None else ""
    except (TypeError, ValueError):
        return ""


def _value(reading: Reading | None, listed: Any = None) -> str:
    """The channel's value now (its reading), else the value the alarm list or event gave."""
    v = reading.value if reading is not None else listed
    if reading is not None and reading.value is None:
        return fmt.show(reading, str)
    if isinstance(v, bool):
        return "true" if v else "false"
    try:
        return f"{float(v):.4g}"
    except (TypeError, ValueError):
        return fmt.DASH


def parse_alarms(text: str) -> list[dict[str, Any]]:
    data = json.loads(text)
    return [a for a in data if isinstance(a, dict)] if isinstance(data, list) else []


__all__ = ["PATHS", "SCREENS", "AlarmsScreen", "OverviewScreen", "Reading", "TwinScreen",
           "numbered"]
