"""The console's screens: the base of every main screen, Overview, Alarms, Help, and the modal
command form and confirmation.

Each main screen composes a status bar, the screens' navigation line, its body, the answer line
and the footer, and has one method, :meth:`TwinScreen.refresh_view`, through which the app hands
it what to show; :meth:`TwinScreen.paths` names the channels it shows, which the app subscribes
while the screen is up. The other main screens live in ``screens_*.py``: Power and Thermal
(:mod:`~twin.console.screens_plant`), Compute, Boards, Events, Trends and Replay.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, Static

from twin.console import fmt
from twin.console.records import MethodInfo, Reading
from twin.console.widgets import Answer, Field, NavBar, StatusBar, show_text

if TYPE_CHECKING:
    from twin.console.app import ConsoleApp


def battery_flow(v: Any) -> str:
    """``power.battery.power_w`` is positive when discharging (its OPC UA description)."""
    x = float(v)
    return f"{fmt.kw(abs(x))} {'discharging' if x > 0 else 'charging' if x < 0 else 'idle'}"


# (panel title, [(label, path, format)]) — the overview's content, top-left to bottom-right.
OVERVIEW: list[tuple[str, str, list[tuple[str, str, fmt.Format]]]] = [
    ("orbit", "Orbit", [
        ("Sim time   ", "sim.time_s", lambda v: "T+" + fmt.sim_clock(float(v))),
        ("Light      ", "orbit.sunlit", fmt.flag("sunlit", "ECLIPSE")),
        ("Beta       ", "orbit.beta_deg", fmt.number(1, "°")),
        ("Illuminated", "orbit.illumination_pct", fmt.number(0, "%")),
        ("Next edge  ", "orbit.next_transition_s", fmt.countdown),
    ]),
    ("thermal", "Thermal", [
        ("Hottest GPU", "compute.hottest_gpu_temp_c", fmt.number(1, "°C")),
        ("Loop 1 sup ", "thermal.loop.1.supply_temp_c", fmt.number(1, "°C")),
        ("Loop 1 ret ", "thermal.loop.1.return_temp_c", fmt.number(1, "°C")),
        ("Loop 2 sup ", "thermal.loop.2.supply_temp_c", fmt.number(1, "°C")),
        ("Loop 2 ret ", "thermal.loop.2.return_temp_c", fmt.number(1, "°C")),
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
PATHS = ["sim.time_s"] + [p for _, _, fields in OVERVIEW for _, p, _ in fields]

# The main screens: (mode, title, key). The key is the title's first letter no other key uses.
SCREENS: tuple[tuple[str, str, str], ...] = (
    ("overview", "Overview", "o"), ("power", "Power", "w"), ("thermal", "Thermal", "t"),
    ("compute", "Compute", "c"), ("boards", "Boards", "b"), ("events", "Events", "e"),
    ("trends", "Trends", "n"), ("replay", "Replay", "l"), ("alarms", "Alarms", "a"))


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


def numbered(paths: Iterable[str], pattern: str) -> list[int]:
    """The indices ``N`` of the paths matching ``pattern`` (``{N}`` marks the index), sorted:
    ``numbered(channels, "power.array.{N}.power_w")`` → ``[1, 2, 3, 4]``."""
    rx = re.compile(re.escape(pattern).replace(re.escape("{N}"), r"(\d+)") + "$")
    return sorted({int(m[1]) for p in paths if (m := rx.match(p))})


class OverviewScreen(TwinScreen):
    MODE = "overview"

    def paths(self) -> Iterable[str]:
        return PATHS

    def body(self) -> ComposeResult:
        with Grid(id="overview"):
            for key, title, fields in OVERVIEW:
                with Vertical(id=f"panel-{key}", classes="panel") as panel:
                    panel.border_title = title
                    for label, path, f in fields:
                        yield Field(label, path, f, id="f-" + path.replace(".", "-"))
            with Vertical(id="panel-alarms", classes="panel") as panel:
                panel.border_title = "Alarms"
                yield Static("…", id="alarm-counts")
            with Vertical(id="panel-control", classes="panel") as panel:
                panel.border_title = "Control"
                yield Static("…", id="control")

    def refresh_view(self) -> None:
        super().refresh_view()
        app = self.console
        stale = not app.link_connected
        for f in self.query(Field):
            f.show(app.readings.get(f.path), stale)
        red, yellow, unacked = app.alarm_counts()
        counts = self.query_one("#alarm-counts", Static)
        show_text(counts, f"red {red}  yellow {yellow}  unacked {unacked}")
        counts.set_class(red > 0, "-red")
        counts.set_class(red == 0 and yellow > 0, "-yellow")
        show_text(self.query_one("#control", Static), app.control_line())


class AlarmsScreen(TwinScreen):
    MODE = "alarms"
    BINDINGS: ClassVar = [Binding("k", "acknowledge", "Ack"),
                          Binding("h", "shelve", "Shelve")]

    def body(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="alarms", cursor_type="row", zebra_stripes=True)
        table.add_columns("sev", "state", "channel", "value", "since", "ack", "shelved")
        yield table

    _shown: list[tuple[str, ...]] | None = None

    def refresh_view(self) -> None:
        super().refresh_view()
        rows = [(str(a.get("severity", "")), str(a.get("state", "")), str(a.get("path", "")),
                 _value(a.get("value")), _since(a), "yes" if a.get("acked") else "NO",
                 _shelved(a)) for a in self.console.alarms]
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


def _since(a: dict[str, Any]) -> str:
    t = a.get("time")
    if t is not None and hasattr(t, "strftime"):
        return t.strftime("%H:%M:%S")
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


def _value(v: Any) -> str:
    try:
        return f"{float(v):.4g}"
    except (TypeError, ValueError):
        return fmt.DASH


HELP = """\
[b]orbital-twin console[/b] — an OPC UA client of the twin

  o Overview   w Power    t Thermal  c Compute  b Boards   e Events
  n Trends     l Replay   a Alarms   ? this help           q quit
  p Pause      r Resume   s Step     + faster   - slower
  ctrl+p  command palette: every command the server has
  Alarms: k acknowledge, h shelve     Compute: v quantity, enter rack
  Events: f filter by kind            Trends: / search, enter plot
  Replay: space play/pause, ←/→ seek, j jump, f fork a what-if

Commands come from the server: each says the role it needs (viewer <
operator < engineer) and whether it is hazardous (those ask first). A
control your role may not use is disabled, with the reason; the server's
answer to every command (good, or the refusal and its status) is shown
at the bottom. Bad values show as — with their OPC UA status; a lost
connection is shown at once and retried.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Static(HELP, id="help-text")
            yield Static("", id="help-role")

    def on_mount(self) -> None:
        app: ConsoleApp = self.app  # type: ignore[assignment]
        self.query_one("#help-role", Static).update(app.control_line())


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no for a hazardous command."""

    BINDINGS: ClassVar = [Binding("y", "answer(True)", "Yes"),
                          Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm", classes="dialog"):
            yield Label(self.question, id="question")
            yield Label("Hazardous: press y to send, n to cancel.")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class CommandForm(ModalScreen[tuple[Any, ...] | None]):
    """One input per argument of a command; values converted by kind, ranges left to the
    server (a value out of range comes back as BadOutOfRange with the server's reason)."""

    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, method: MethodInfo, values: dict[str, str] | None = None) -> None:
        super().__init__()
        self.method = method
        self.values = values or {}  # argument name → text to start with

    def compose(self) -> ComposeResult:
        with Vertical(id="form", classes="dialog"):
            yield Label(f"[b]{self.method.name}[/b]  {self.method.description}")
            for a in self.method.args:
                yield Label(f"{a.name}: {a.description}")
                yield Input(self.values.get(a.name, ""), placeholder=a.kind,
                            id=f"arg-{a.name}")
            yield Label("", id="form-error")
            yield Button("Send", id="send", variant="primary")

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self) -> None:
        self.send()

    def on_button_pressed(self) -> None:
        self.send()

    def send(self) -> None:
        values: list[Any] = []
        for a in self.method.args:
            text = self.query_one(f"#arg-{a.name}", Input).value.strip()
            try:
                values.append(parse_arg(a.kind, text))
            except ValueError as exc:
                self.query_one("#form-error", Label).update(f"{a.name}: {exc}")
                return
        self.dismiss(tuple(values))


def parse_arg(kind: str, text: str) -> Any:
    """Text → the method argument's type; empty numbers are NaN (the server's "default")."""
    if kind == "int":
        return int(text) if text else 0
    if kind == "float":
        return float(text) if text else float("nan")
    if kind == "bool":
        if text.lower() in ("true", "yes", "on", "1"):
            return True
        if text.lower() in ("false", "no", "off", "0"):
            return False
        raise ValueError("expected true or false")
    return text


def parse_alarms(text: str) -> list[dict[str, Any]]:
    data = json.loads(text)
    return [a for a in data if isinstance(a, dict)] if isinstance(data, list) else []


__all__ = ["PATHS", "SCREENS", "AlarmsScreen", "CommandForm", "ConfirmScreen", "HelpScreen",
           "OverviewScreen", "Reading", "TwinScreen", "numbered"]
