"""Events: what the twin said happened, newest first — commands (who, when, the result),
faults, alarm transitions, scenario steps, clock and link events. The columns are time, kind,
severity, who, result and what (the result before the longest, so that it stays on screen).

The server sends each as an OPC UA event on ``Satellite``; the console keeps those it received
since it connected (the server does not serve event history). A command event's message is the
command path's record, ``otto (operator): Step {'n': 1} → Good``: it is split into who, what
and the result; other events show their message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from twin.console.screens import TwinScreen

_COMMAND = re.compile(r"^(?P<user>\S+) \((?P<role>\w*)\): (?P<what>.*) → (?P<result>\w+)$")
KINDS = ("all", "command", "fault", "alarm", "scenario", "clock", "link")


@dataclass(frozen=True, slots=True)
class EventRow:
    time: datetime | None  # simulated time of the event
    kind: str  # "command", "fault", "alarm", "scenario", "clock", "link", ...
    severity: int
    who: str
    what: str
    result: str


def parse_event(d: dict[str, Any]) -> EventRow:
    """An event's fields (as :class:`~twin.console.link.Link` reports them) as a table row."""
    source = str(d.get("SourceName") or "")
    message = str(d.get("Message") or "")
    if d.get("ConditionName"):
        kind = "alarm"
    elif source.startswith("twin."):
        kind = source[len("twin."):]
    else:
        kind = source or "event"
    t = d.get("Time")
    severity = int(d.get("Severity") or 0)
    m = _COMMAND.match(message) if kind == "command" else None
    if m:
        who = m["user"] + (f" ({m['role']})" if m["role"] else "")
        return EventRow(t if isinstance(t, datetime) else None, kind, severity, who,
                        m["what"], m["result"])
    return EventRow(t if isinstance(t, datetime) else None, kind, severity, "", message, "")


def _time(t: datetime | None) -> str:
    return t.strftime("%H:%M:%S") if t is not None else "…"


class EventsScreen(TwinScreen):
    MODE = "events"
    BINDINGS: ClassVar = [Binding("f", "filter", "Filter")]

    def __init__(self) -> None:
        super().__init__()
        self.kind = "all"
        self._shown: tuple[int, int, str] = (-1, -1, "")

    def body(self) -> ComposeResult:
        with Vertical(id="events", classes="body"):
            yield Static("", id="events-note")
            table: DataTable[Text] = DataTable(id="event-log", cursor_type="row",
                                               zebra_stripes=True)
            # the result before what happened: a long "what" runs off an 80-column screen
            for key in ("time", "kind", "sev", "who", "result", "what"):
                table.add_column(key, key=key)
            yield table

    def action_filter(self) -> None:
        self.kind = KINDS[(KINDS.index(self.kind) + 1) % len(KINDS)]
        self.refresh_view()

    def refresh_view(self) -> None:
        super().refresh_view()
        events = self.console.events
        last = id(events[-1]) if events else 0
        if self._shown == (len(events), last, self.kind):
            return
        self._shown = (len(events), last, self.kind)
        rows = [e for e in events if self.kind == "all" or e.kind == self.kind]
        self.query_one("#events-note", Static).update(
            f"{self.kind} events: {len(rows)} of {len(events)} since connected · f: filter")
        table = self.query_one("#event-log", DataTable)
        table.clear()
        for e in reversed(rows):
            result = Text(e.result, style="" if e.result in ("", "Good") else "bold red")
            sev = Text(str(e.severity), style="bold red" if e.severity >= 800 else
                       "yellow" if e.severity >= 500 else "")
            table.add_row(_time(e.time), e.kind, sev, e.who, result, e.what)
