"""Scenarios: the scenario files a live twin can run, the one loaded or running, its result.

The list comes from the server's ``ListScenarios`` (name, length, documented outcome,
description), read when the screen is first shown. While the screen is shown (only then) the
console asks ``ScenarioStatus`` once a second: the loaded scenario, its timeline entries done and
next, the triggers fired, and, once it has ended, the result (each expectation, PASS or FAIL,
what was measured). ``sim.scenario.state`` and ``sim.scenario.elapsed_s`` are subscribed, so the
state and the elapsed time are live between polls.

Keys (the engineer role; disabled with the reason for the others): enter loads the highlighted
scenario (``LoadScenario``), ``g`` starts the loaded one (``StartScenario``, hazardous: asks
first), ``h`` halts it (``StopScenario``). The server's answer, or its refusal, is shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from twin.console import fmt
from twin.console.screens import TwinScreen
from twin.console.screens_plant import panel
from twin.console.widgets import show_text

STATE, ELAPSED = "sim.scenario.state", "sim.scenario.elapsed_s"
POLL_S = 1.0
COMMANDS = {"load": "LoadScenario", "start": "StartScenario", "stop": "StopScenario"}


def span(seconds: Any) -> str:
    """Seconds as ``m:ss`` or ``h:mm:ss``; ``—`` when not a number."""
    try:
        s = int(float(seconds))
    except (TypeError, ValueError, OverflowError):
        return fmt.DASH
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def fired_text(fired: Any) -> str:
    """Triggers that fired, with when (simulated seconds into the run)."""
    if not isinstance(fired, dict):
        return fmt.DASH
    parts = [f"{name} at {', '.join(f'{t:g}' for t in times)} s"
             for name, times in fired.items() if isinstance(times, list) and times]
    return "; ".join(parts) or "none yet"


def timeline_text(status: dict[str, Any]) -> str:
    done, todo = status.get("timeline_done"), status.get("timeline_next")
    if not isinstance(done, list) or not isinstance(todo, list):
        return fmt.DASH
    nxt = f" · next {', '.join(map(str, todo[:2]))}" if todo else " · nothing left"
    return f"{len(done)} done{nxt}"


class ScenariosScreen(TwinScreen):
    MODE = "scenarios"
    BINDINGS: ClassVar = [Binding("enter", "load", "Load"),
                          Binding("g", "start", "Start"),
                          Binding("h", "stop", "Halt")]
    AUTO_FOCUS = "#scenario-list"

    def __init__(self) -> None:
        super().__init__()
        self.scenarios: list[dict[str, Any]] = []
        self.status: dict[str, Any] = {}
        self.states: list[str] = []  # sim.scenario.state's names
        self._listed = False
        self._poller: Any = None
        self._shown: tuple[object, ...] = ()

    def body(self) -> ComposeResult:
        with Vertical(id="scenarios", classes="body"):
            yield Static("…", id="scenarios-note")
            with Horizontal(id="scenario-top"):
                with panel("panel-scenario-list", "Scenarios"):
                    table: DataTable[Text] = DataTable(id="scenario-list", cursor_type="row",
                                                       zebra_stripes=True)
                    for key in ("name", "length", "outcome"):
                        table.add_column(key, key=key)
                    yield table
                with panel("panel-scenario-live", "Live"):
                    yield Static("", id="scenario-live")
                    yield Static("", id="scenario-about")
            with panel("panel-scenario-result", "Result"):
                result: DataTable[Text] = DataTable(id="scenario-result", cursor_type="none",
                                                    zebra_stripes=True)
                for key in ("verdict", "expectation", "measured"):
                    result.add_column(key, key=key)
                yield result

    def paths(self) -> Iterable[str]:
        return [STATE, ELAPSED]

    # --- while shown: the list once, the status once a second --------------------------------
    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self._poller is None:
            self._poller = self.set_interval(POLL_S, self.poll)
        else:
            self._poller.resume()
        self.poll()

    def on_screen_suspend(self) -> None:
        if self._poller is not None:
            self._poller.pause()

    _polling = False

    def poll(self) -> None:
        """Ask for the status now (unless a request is on its way)."""
        if self.console.link_connected and not self._polling:
            self._polling = True
            self.run_worker(self._poll(), group="scenario-status")

    async def _poll(self) -> None:
        try:
            await self._read_status()
        finally:
            self._polling = False
        self.refresh_view()

    async def _read_status(self) -> None:
        app = self.console
        if not self.states:
            self.states = await app.enum_strings(STATE)
        if not self._listed:
            out, data = await app.ask("ListScenarios")
            if out.ok and isinstance(data, list):
                self.scenarios = [d for d in data if isinstance(d, dict)]
                self._listed = True
            elif not out.ok:
                show_text(self.query_one("#scenarios-note", Static),
                          f"✗ ListScenarios: {out.status} — {out.message}")
        out, data = await app.ask("ScenarioStatus")
        if out.ok and isinstance(data, dict):
            self.status = data

    # --- what is shown -------------------------------------------------------------------
    def refresh_view(self) -> None:
        super().refresh_view()
        app = self.console
        reason = next((r for r in map(app.refusal_reason, COMMANDS.values()) if r), "")
        note = (f"Scenarios need the engineer role: {reason}" if reason else
                "enter load · g start (asks first) · h halt · the result shows when it ends")
        if not app.link_connected:
            note = "… (not connected)"
        show_text(self.query_one("#scenarios-note", Static), note)
        self.query_one("#scenarios-note").set_class(bool(reason), "-disabled")
        self._show_list()
        self._show_about()
        self._show_live()

    def _show_list(self) -> None:
        table = self.query_one("#scenario-list", DataTable)
        names = [str(s.get("name")) for s in self.scenarios]
        if [str(k.value) for k in table.rows] == names:
            return
        table.clear()
        for s in self.scenarios:
            outcome = str(s.get("outcome", ""))
            table.add_row(Text(str(s.get("name"))), Text(span(s.get("duration_s")),
                                                       justify="right"),
                          Text(outcome, style="" if outcome == "pass" else "yellow"),
                          key=str(s.get("name")))

    def highlighted(self) -> dict[str, Any] | None:
        table = self.query_one("#scenario-list", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((s for s in self.scenarios if str(s.get("name")) == key), None)

    def on_data_table_row_highlighted(self) -> None:
        self._show_about()

    def _show_about(self) -> None:
        s = self.highlighted()
        text = (f"{s.get('name')}: {s.get('description')}" if s is not None else
                "Reading the server's scenarios …" if not self._listed else
                "This twin has no scenario files.")
        show_text(self.query_one("#scenario-about", Static), text)

    def _state_name(self) -> str:
        r = self.console.readings.get(STATE)
        if r is not None and isinstance(r.value, int | float):
            k = int(r.value)
            if 0 <= k < len(self.states):
                return self.states[k]
        return str(self.status.get("state", "…"))

    def _show_live(self) -> None:
        st, app = self.status, self.console
        state = self._state_name()
        elapsed = app.readings.get(ELAPSED)
        run = (f" · {span(elapsed.value if elapsed is not None else st.get('elapsed_s'))}"
               f" of {span(st.get('duration_s'))}" if state != "none" else "")
        lines = [f"Loaded   {st.get('name') or 'none'}", f"State    {state}{run}"]
        if "timeline_done" in st:
            lines.append(f"Timeline {timeline_text(st)}")
        if "fired" in st or "result" in st:
            fired = st.get("fired", (st.get("result") or {}).get("fired"))
            lines.append(f"Fired    {fired_text(fired)}")
        if st.get("reason"):
            lines.append(f"Why      {st['reason']}")
        shown = ("\n".join(lines), state, str(st.get("result")))
        if shown == self._shown:
            return
        self._shown = shown
        live = self.query_one("#scenario-live", Static)
        live.update(Text(shown[0]))
        live.set_class(state in ("failed", "stopped"), "-failed")
        live.set_class(state == "passed", "-passed")
        self._show_result(st.get("result"), state)

    def _show_result(self, result: Any, state: str) -> None:
        box = self.query_one("#panel-scenario-result")
        table = self.query_one("#scenario-result", DataTable)
        table.clear()
        expectations = result.get("expectations") if isinstance(result, dict) else None
        box.display = isinstance(expectations, list)
        if not isinstance(expectations, list):
            return
        failed = sum(1 for e in expectations if not e.get("passed"))
        verdict = ("passed" if state == "passed" else f"{state}: {failed} of "
                   f"{len(expectations)} expectations failed" if failed else state)
        box.border_title = f"Result · {result.get('name')} {verdict}"
        for e in expectations:
            ok = bool(e.get("passed"))
            table.add_row(Text("PASS" if ok else "FAIL", style="green" if ok else "bold red"),
                          Text(str(e.get("name"))), Text(str(e.get("measured"))))

    # --- keys ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in COMMANDS:
            return self.console.allowed(COMMANDS[action])
        return True

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.run_worker(self.action_load())

    async def action_load(self) -> None:
        s = self.highlighted()
        if s is None:
            self.console.answer(False, "✗ LoadScenario: no scenario to load")
            return
        await self.console.run_command("LoadScenario", (str(s.get("name")),))
        self.poll()

    def action_start(self) -> None:
        """StartScenario, after the confirmation (it is hazardous)."""
        self.console.start_command_named("StartScenario")

    async def action_stop(self) -> None:
        await self.console.run_command("StopScenario")
        self.poll()
