"""The console app: one :class:`~twin.console.link.Link` to a twin, screens that show it.

Messages up, attributes down: the link's callbacks post :class:`Telemetry`, :class:`LinkChanged`
and :class:`TwinEvent` messages to the app; the app keeps the latest readings, alarms, events
and the server's answers and hands them to the current screen (:meth:`TwinScreen.refresh_view`)
at most once per publishing interval of the subscription (4 Hz), however many data changes,
events and ticks ask for it (:meth:`ConsoleApp.refresh_view`; keys refresh at once). Each main
screen is a mode with its key (:data:`~twin.console.screens.SCREENS`); the link subscribes the
overview's channels plus those of the screen shown (:meth:`ConsoleApp.screen_shown`), the
screen's first, and the server's channel list is browsed once per connection, when a screen
first needs it.

Start-up: the link starts connecting when the app loads, before the first screen is composed,
and loads asyncua in a thread meanwhile (:mod:`twin.console.link`); who the session is, the
server's alarms and its commands are read in a worker once connected, so values are shown while
they load. A refused connection that the user can fix (no None endpoint for a console without
``--security``, an untrusted certificate, a refused login) gets a hint on the answer line
(:func:`~twin.console.control.connection_hint`).

Roles. Once connected the console asks the server who it is (the twin's ``WhoAmI``: user and
role, recorded by the server but raising no event); a server without it leaves the role to
``--role`` (a hint; the server still decides) and to its own refusal messages (``… needs the
operator role; vera is viewer``). Until the role is known every control is enabled and a
refusal is shown with its status; once known, controls the role may not use are disabled in
the footer, the palette and the screens, with the reason shown. Commands, forms and answers
live in :mod:`twin.console.control`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding
from textual.message import Message

from twin.console import fmt
from twin.console.control import TIME_COMMANDS, Control, TwinCommands, connection_hint
from twin.console.link import Link, LinkState, Reading
from twin.console.records import ROLES, MethodInfo
from twin.console.screens import (
    PATHS,
    SCREENS,
    AlarmsScreen,
    OverviewScreen,
    TwinScreen,
    parse_alarms,
)
from twin.console.screens_boards import BoardsScreen
from twin.console.screens_compute import ComputeScreen
from twin.console.screens_dialogs import HelpScreen
from twin.console.screens_events import EventRow, EventsScreen, parse_event
from twin.console.screens_plant import PowerScreen, ThermalScreen
from twin.console.screens_replay import ReplayScreen
from twin.console.screens_scenarios import ScenariosScreen
from twin.console.screens_trends import TrendsScreen


class Telemetry(Message):
    """New readings are waiting in the app's buffer."""


class RefreshDue(Message):
    """A publishing interval has passed since the last screen refresh; one was asked for."""


class LinkChanged(Message):
    def __init__(self, state: LinkState) -> None:
        super().__init__()
        self.state = state


class TwinEvent(Message):
    """One OPC UA event from the twin (an alarm's, or a command's, fault's, scenario's...)."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__()
        self.data = data


class ChannelsLoaded(Message):
    """The server's channel list has been browsed."""


SCREEN_KEYS = Binding.Group("Screens", compact=True)
TIME_KEYS = Binding.Group("Time", compact=True)
EVENTS_KEPT = 2000
FIRST_DATA_WAIT_S = 1.0  # after connecting, what is not on screen is asked for anyway


class ConsoleApp(Control, App[None]):
    CSS_PATH = "console.tcss"
    TITLE = "orbital-twin console"
    COMMANDS: ClassVar = App.COMMANDS | {TwinCommands}
    MODES: ClassVar = {"overview": OverviewScreen, "power": PowerScreen,
                       "thermal": ThermalScreen, "compute": ComputeScreen,
                       "boards": BoardsScreen, "events": EventsScreen, "trends": TrendsScreen,
                       "scenarios": ScenariosScreen, "replay": ReplayScreen,
                       "alarms": AlarmsScreen}
    DEFAULT_MODE = "overview"
    BINDINGS: ClassVar = [
        *(Binding(key, f"switch_mode('{mode}')", title, group=SCREEN_KEYS)
          for mode, title, key in SCREENS),
        Binding("p", "time('pause')", "Pause", group=TIME_KEYS),
        Binding("r", "time('resume')", "Resume", group=TIME_KEYS),
        Binding("s", "time('step')", "Step", group=TIME_KEYS),
        Binding("plus,equals_sign", "time('faster')", "Faster", key_display="+", show=False),
        Binding("minus", "time('slower')", "Slower", key_display="-", show=False),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, url: str, user: str | None = None, password: str | None = None,
                 security: str | None = None, role: str | None = None,
                 paths: Iterable[str] = PATHS, notice: str | None = None) -> None:
        """``notice``: shown on the answer line from the start (``twin up``: why the console
        cannot log in, and how to fix it)."""
        super().__init__()
        if role is not None and role not in ROLES:
            raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
        self.url = url
        self.user = user
        self.security = security
        self.role = role
        self.role_source = "--role" if role else ""
        self.readings: dict[str, Reading] = {}
        self.alarm_book: dict[str, dict[str, Any]] = {}  # path → what the server said
        self.events: deque[EventRow] = deque(maxlen=EVENTS_KEPT)  # newest last
        self.channels: list[str] = []  # every channel path the server has (once browsed)
        self.channels_state = "not loaded"  # "loading", "loaded", or why not
        self.channels_version = 0  # counts the times the channel list was loaded
        self._enums: dict[str, list[str]] = {}
        self.methods: dict[str, MethodInfo] = {}
        self.last_answer: tuple[bool, str] | None = (False, notice) if notice else None
        self._hint = ""  # the connection hint shown on the answer line, if any
        self.link_state = LinkState("connecting", url)
        self.speed_set: float | None = None  # set by this console, sim.speed_x not yet new
        self._pending: dict[str, Reading] = {}
        self._flush_posted = False
        self._last_sim: tuple[float, float] | None = None  # (wall, sim) of the last change
        self._rate: float | None = None
        self.base_paths = list(paths)
        self.link = Link(url, user, password, security, paths,
                         on_readings=self._on_readings, on_state=self._on_state,
                         on_event=lambda d: self.post_message(TwinEvent(d)), first=PATHS)
        self.refresh_s = self.link.publish_ms / 1000.0  # at most one refresh per interval
        self._refreshed_at = -math.inf  # monotonic time of the last screen refresh
        self._refresh_due: asyncio.TimerHandle | None = None
        self._controls = self._controls_state()  # as the footer was composed
        self._awaiting_data = True  # no values yet since (re)connecting
        self._learning = False  # alarms and commands asked for since connecting
        self._link_task: asyncio.Task[None] | None = None

    # --- life ---------------------------------------------------------------------------
    def on_load(self) -> None:
        """Connect while the first screen is composed and drawn."""
        self._link_task = asyncio.create_task(self.link.run())

    async def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    async def on_unmount(self) -> None:
        if self._refresh_due is not None:
            self._refresh_due.cancel()
        await self.link.stop()
        if self._link_task is not None:
            done, _ = await asyncio.wait((self._link_task,), timeout=3.0)
            if not done:
                self._link_task.cancel()
            await asyncio.gather(self._link_task, return_exceptions=True)

    # --- from the link (messages up) ---------------------------------------------------------
    def _on_readings(self, batch: dict[str, Reading]) -> None:
        self._pending.update(batch)
        if not self._flush_posted:
            self._flush_posted = True
            self.post_message(Telemetry())

    def _on_state(self, state: LinkState) -> None:
        self.post_message(LinkChanged(state))

    def on_telemetry(self, _msg: Telemetry) -> None:
        self._flush_posted = False
        pending, self._pending = self._pending, {}
        sim = pending.get("sim.time_s")
        if sim is not None and isinstance(sim.value, float):
            now = time.monotonic()
            if self._last_sim is not None and sim.value != self._last_sim[1]:
                dt = now - self._last_sim[0]
                self._rate = (sim.value - self._last_sim[1]) / dt if dt < 2.0 else None
            self._last_sim = (now, sim.value)
        self.readings.update(pending)
        if "sim.speed_x" in pending:
            self.speed_set = None  # the server's commanded speed is the news
        if self._awaiting_data:  # the first values since connecting: on screen at once
            self._awaiting_data = False
            self.refresh_screen()
            if self.link_connected:
                self.call_after_refresh(self._after_first_data)
        else:
            self.refresh_view()

    def on_link_changed(self, msg: LinkChanged) -> None:
        self.link_state = msg.state
        hint = connection_hint(msg.state.detail, self.security) \
            if msg.state.state == "lost" else ""
        if hint and (self.last_answer is None or self.last_answer[1] == self._hint):
            self._hint = hint  # (a notice or a command's answer stays)
            self.last_answer = (False, hint)
        self.refresh_view(bindings=True)
        if msg.state.state != "connected":
            self._awaiting_data, self._learning = True, False
            if self.channels_state != "loaded":
                self.channels_state = "not loaded"  # browse again once connected
        elif not self._awaiting_data:  # the first values came before the news
            self._after_first_data()
        else:  # (a twin that sends no values: learn anyway)
            self.set_timer(FIRST_DATA_WAIT_S, self._after_first_data)

    def _after_first_data(self) -> None:
        """Once per connection, after the first values are drawn (the requests and browsing
        would delay them): the channel list if the screen needs it, the server's alarms and
        commands."""
        if self._learning or not self.link_connected:
            return
        self._learning = True
        shown = self.twin_screen
        if shown is not None and shown.NEEDS_CHANNELS:
            self.load_channels()
        self.run_worker(self._learn_server(), group="server", exclusive=True)

    async def _learn_server(self) -> None:
        """Once connected: who the server says this session is (the role decides what the
        footer, the palette and the screens enable), the server's alarm list, then its
        commands."""
        await self.learn_role()
        self.refresh_view(bindings=True)
        await self.refresh_alarms()
        try:
            self.methods = {m.name: m for m in await self.link.methods()}
        except Exception as exc:
            if self.link.connected:
                self.answer(False, f"could not read the server's commands: {exc}")
        self.watch_paths()  # a screen's channels may depend on the server's commands
        self.refresh_view(bindings=True)

    def watch_app_focus(self, focus: bool) -> None:
        """Textual's Footer skips binding changes while the app is blurred (a browser page
        starts blurred; a terminal may report focus out), and a key press refocuses the app
        without asking it again: so the time keys stayed dimmed after connecting. Ask now."""
        if focus:
            self.refresh_bindings()

    async def on_twin_event(self, msg: TwinEvent) -> None:
        """Keep every event for the Events screen; merge alarm events into the alarm book."""
        d = msg.data
        self.events.append(parse_event(d))
        path = d.get("ConditionName")
        if not path:
            self.refresh_view()
            return
        entry = self.alarm_book.setdefault(str(path), {"path": str(path), "severity": 0})
        active, acked = bool(d.get("ActiveState/Id")), bool(d.get("AckedState/Id"))
        message = str(d.get("Message") or "")
        if "(was " in message:  # a transition carries the alarm's severity
            entry["severity"] = int(d.get("Severity") or 0) if active else 200
            entry["time"] = d.get("Time")
        entry.update(active=active, acked=acked, message=message)
        entry["state"] = await self.link.read(f"{path}.LimitState")
        self.refresh_view()  # (its value: the Alarms screen watches the channel)

    # --- what screens ask for ----------------------------------------------------------------
    def screen_shown(self, screen: TwinScreen) -> None:
        """Subscribe the overview's channels and ``screen``'s; browse the channel list if it
        needs it and it is not there yet."""
        self.watch_paths(screen)
        if screen.NEEDS_CHANNELS:
            self.load_channels()

    @property
    def twin_screen(self) -> TwinScreen | None:
        """The main screen shown (None while starting or closing, or under a dialog)."""
        if not self.screen_stack or not self.is_running:
            return None
        return self.screen if isinstance(self.screen, TwinScreen) else None

    def watch_paths(self, screen: TwinScreen | None = None) -> None:
        """Subscribe the overview's channels and those of ``screen`` (default: the one shown;
        under a dialog, the subscription stays as it is)."""
        screen = screen or self.twin_screen
        if screen is None or not self.is_running:
            return
        shown = list(screen.paths())
        self.run_worker(self.link.watch(self.base_paths + shown, first=["sim.time_s", *shown]),
                        group="watch")

    def load_channels(self) -> None:
        if self.channels_state in ("loading", "loaded") or not self.link_connected:
            return
        self.channels_state = "loading"

        async def load() -> None:
            try:
                self.channels = await self.link.channels()
                self.channels_state = "loaded"
                self.channels_version += 1
            except Exception as exc:
                self.channels_state = f"could not browse the channels: {exc}"
            self.post_message(ChannelsLoaded())

        self.run_worker(load(), group="channels")

    def on_channels_loaded(self, _msg: ChannelsLoaded) -> None:
        self.refresh_view()
        self.watch_paths()  # the screen's paths may depend on the channel list

    async def history(self, path: str, limit: int = 2000) -> list[Reading]:
        return await self.link.history(path, limit)

    async def read_value(self, path: str) -> Any:
        """One value read from the server now (None when not connected or Bad)."""
        return await self.link.read(path)

    async def enum_strings(self, path: str) -> list[str]:
        """A multi-state channel's state names (its EnumStrings), read once."""
        if path not in self._enums:
            if not self.link_connected:
                return []  # (asked again once connected)
            value = await self.link.read(f"{path}.EnumStrings")
            if not value:
                return []
            self._enums[path] = [getattr(v, "Text", str(v)) for v in value]
        return self._enums[path]

    def _tick(self) -> None:
        if self._last_sim is not None and time.monotonic() - self._last_sim[0] > 2.0:
            self._rate = None  # no change for 2 s: held
        self.refresh_view()

    # --- what the screens show (attributes down) ------------------------------------------
    @property
    def link_connected(self) -> bool:
        return self.link_state.state == "connected"

    def refresh_view(self, bindings: bool = False) -> None:
        """Ask for the current screen to show the latest state (and re-check the footer's
        bindings, at once, if what they depend on changed): now if the last refresh is a
        publishing interval old, else once when it is, however many times this is called in
        between."""
        if bindings:
            state = self._controls_state()
            if state != self._controls:  # the footer recomposes on each refresh_bindings
                self._controls = state
                self.refresh_bindings()
        if self._refresh_due is not None:
            return
        wait = self._refreshed_at + self.refresh_s - time.monotonic()
        if wait <= 0.0:
            self.refresh_screen()
        else:
            self._refresh_due = asyncio.get_running_loop().call_later(wait, self._due)

    def _due(self) -> None:
        self._refresh_due = None
        self.post_message(RefreshDue())

    def on_refresh_due(self, _msg: RefreshDue) -> None:
        if time.monotonic() - self._refreshed_at >= self.refresh_s / 2:
            self.refresh_screen()  # (unless a refresh was done at once since)

    def refresh_screen(self) -> None:
        """Hand the current screen what to show, now."""
        self._refreshed_at = time.monotonic()
        if not self.screen_stack or not self.is_running:
            return  # starting or closing
        screen = self.screen
        if isinstance(screen, TwinScreen) and screen.is_mounted:
            screen.refresh_view()

    def status_line(self) -> tuple[str, str, str, str, str, str]:
        """(connection, state, who, clock, rate, retry) for the status bar, which fits them to
        its width."""
        s = self.link_state
        retry = ""
        if s.state == "connected":
            conn = "● connected"
        elif s.state == "lost":
            conn = f"✗ DISCONNECTED: {s.detail}"
            retry = f" · retry {s.retry_s:g}s" if s.retry_s else ""
        else:
            conn = "○ connecting"
        who = f"{self.user or 'anonymous'} ({self.role or 'role ?'})"
        sim = self.readings.get("sim.time_s")
        clock = ("sim " + fmt.utc(sim.source_time) if sim is not None and sim.source_time
                 else "sim …")
        if s.state == "lost":
            rate = ""  # (what it was is stale)
        elif self._rate is not None:
            rate = f"running ×{self._rate:.0f}" if self._rate >= 10 else \
                f"running ×{self._rate:.2g}"
        elif self._last_sim is not None:
            speed = self.readings.get("sim.speed_x")
            shown = self.speed_set or (speed.value if speed is not None else None)
            rate = f"paused (×{shown:g})" if isinstance(shown, int | float) else "paused"
        else:
            rate = "…"
        return conn, s.state, who, clock, rate, retry

    def sim_seconds(self, t: datetime) -> float | None:
        """A server timestamp (epoch + simulated seconds) as simulated seconds, from the
        clock's latest reading; None before there is one."""
        sim = self.readings.get("sim.time_s")
        if sim is None or sim.source_time is None or not isinstance(sim.value, float):
            return None
        return sim.value + (t - sim.source_time).total_seconds()

    def alarm_counts(self) -> tuple[int, int, int]:
        active = [a for a in self.alarms if a.get("active")]
        red = sum(1 for a in active if int(a.get("severity", 0)) >= 800)
        yellow = sum(1 for a in active if 500 <= int(a.get("severity", 0)) < 800)
        unacked = sum(1 for a in self.alarms if not a.get("acked"))
        return red, yellow, unacked

    def control_line(self) -> str:
        reason = self.refusal_reason("Step")
        if reason:
            return f"Time control disabled: {reason}"
        return "p pause r run s step +/- speed"

    def answer(self, ok: bool, text: str) -> None:
        self.last_answer = (ok, text)
        self.refresh_view()

    # --- roles and controls ------------------------------------------------------------------
    def _controls_state(self) -> tuple[object, ...]:
        """What :meth:`check_action` decides by: connection, role, the commands' roles."""
        return (self.link_connected, self.role,
                tuple(sorted((m.name, m.role) for m in self.methods.values())))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "time" and parameters:
            return self.allowed(TIME_COMMANDS.get(str(parameters[0]), "Step"))
        return True

    # --- alarms and help ---------------------------------------------------------------------
    async def refresh_alarms(self) -> None:
        if not self.link_connected:
            return
        out = await self.link.call("satellite", "ListAlarms")
        # The JSON list, once the server returns it as an output argument; until then the
        # alarms come from the events this console has seen since it connected.
        text = str(out.outputs[0]) if out.outputs else out.message
        if out.ok and text.lstrip().startswith("["):
            with contextlib.suppress(ValueError):
                self.alarm_book = {str(a.get("path")): a for a in parse_alarms(text)}
        self.refresh_view()

    @property
    def alarms(self) -> list[dict[str, Any]]:
        """Active or unacknowledged alarms, worst first."""
        out = [a for a in self.alarm_book.values() if a.get("active") or not a.get("acked")]
        return sorted(out, key=lambda a: (-int(a.get("severity") or 0), str(a.get("path"))))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())
