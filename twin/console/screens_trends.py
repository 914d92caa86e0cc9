"""Trends: any channel of the twin over time — its history from the server, then live.

Search the server's channels by path (``/`` focuses the search; words match parts of the path
in any order: ``loop 1 sup``), pick one with enter, and its raw history (OPC UA HistoryRead,
:meth:`~twin.console.link.Link.history`) is plotted as a sparkline, extended by the live values
the subscription brings.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, OptionList, Sparkline, Static
from textual.widgets.option_list import Option

from twin.console.records import Reading
from twin.console.screens import TwinScreen
from twin.console.screens_plant import panel
from twin.console.widgets import show_text

SHOWN_MATCHES = 300
KEPT_POINTS = 5000


def matches(channels: Iterable[str], query: str) -> list[str]:
    """Channels whose path holds every word of ``query`` (case-insensitive)."""
    words = query.lower().replace(".", " ").split()
    return [p for p in channels if all(w in p.lower() for w in words)]


def _t(ts: datetime | None) -> str:
    return ts.strftime("%m-%d %H:%M:%S") if ts is not None else "…"


class TrendsScreen(TwinScreen):
    MODE = "trends"
    NEEDS_CHANNELS = True
    AUTO_FOCUS = "#trend-list"
    BINDINGS: ClassVar = [Binding("slash", "search", "Search", key_display="/")]

    def __init__(self) -> None:
        super().__init__()
        self.path: str | None = None
        self.points: list[tuple[datetime, float]] = []
        self.from_history = 0
        self.loading = False
        self._listed: tuple[int, str] = (-1, "")
        self._plotted: tuple[object, ...] = ()  # what the plot shows: path, points, loading

    def body(self) -> ComposeResult:
        with Horizontal(id="trends", classes="body"):
            with Vertical(id="trend-pick"):
                yield Input(placeholder="/ search channels", id="trend-search")
                yield OptionList(id="trend-list")
            with panel("trend-plot", "Trend"):
                yield Static("Pick a channel on the left (enter).", id="trend-stats")
                yield Sparkline([], id="trend-spark")
                yield Static("", id="trend-axis")

    def paths(self) -> Iterable[str]:
        return [self.path] if self.path else []

    def action_search(self) -> None:
        self._searching = True
        self.query_one("#trend-search", Input).focus()

    _searching = False

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Only ``/`` (or a click) moves the focus to the search: a re-layout while plotting
        can blur the list, and Textual would then hand the focus to the search box, where the
        screen keys stop working."""
        if event.widget.id == "trend-search" and not self._searching:
            self.call_later(self.query_one("#trend-list", OptionList).focus)

    def on_click(self, event: events.Click) -> None:
        if event.widget is not None and event.widget.id == "trend-search":
            self._searching = True

    def on_input_changed(self, event: Input.Changed) -> None:
        self._list(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._searching = False
        options = self.query_one("#trend-list", OptionList)
        options.focus()
        if options.option_count:
            options.highlighted = 0

    def key_escape(self) -> None:
        self._searching = False
        self.query_one("#trend-list", OptionList).focus()

    def _list(self, query: str) -> None:
        app = self.console
        if self._listed == (app.channels_version, query):
            return
        self._listed = (app.channels_version, query)
        found = matches(app.channels, query)
        options = self.query_one("#trend-list", OptionList)
        options.clear_options()
        options.add_options([Option(p, id=p) for p in found[:SHOWN_MATCHES]])
        if len(found) > SHOWN_MATCHES:
            options.add_option(Option(f"… {len(found) - SHOWN_MATCHES} more: narrow the "
                                      "search", disabled=True))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.plot(event.option.id)

    def plot(self, path: str) -> None:
        """Show ``path``: its history from the server, then its live values."""
        self.path = path
        self.points = []
        self.from_history = 0
        self.loading = True
        self.query_one("#trend-plot").border_title = path
        self.console.watch_paths(self)
        self.run_worker(self._load(path), group="history", exclusive=True)
        self.refresh_view()

    async def _load(self, path: str) -> None:
        history = await self.console.history(path)
        if path != self.path:
            return
        live = self.points
        self.points = [p for r in history if (p := _point(r)) is not None]
        self.from_history = len(self.points)
        last = self.points[-1][0] if self.points else None
        self.points += [p for p in live if last is None or p[0] > last]
        self.loading = False
        self.refresh_view()

    def refresh_view(self) -> None:
        super().refresh_view()
        app = self.console
        self._list(self.query_one("#trend-search", Input).value)
        if self.path is None:
            return
        p = _point(app.readings.get(self.path))
        if p is not None and (not self.points or p[0] > self.points[-1][0]):
            self.points.append(p)
            del self.points[:-KEPT_POINTS]
        plotted = (self.path, len(self.points), self.points[-1] if self.points else None,
                   self.loading)
        if plotted == self._plotted:
            return  # nothing new to plot
        self._plotted = plotted
        values = [v for _, v in self.points]
        self.query_one("#trend-spark", Sparkline).data = values
        stats = self.query_one("#trend-stats", Static)
        if self.loading and not values:
            show_text(stats, "reading the history from the server …")
        elif not values:
            show_text(stats, "no values yet (no history on the server, nothing live)")
        else:
            live = len(values) - self.from_history
            show_text(stats, f"last {values[-1]:.4g}  min {min(values):.4g}  "
                      f"max {max(values):.4g}\n{self.from_history} from history + {live} live")
        axis = (f"{_t(self.points[0][0])} → {_t(self.points[-1][0])}" if self.points else "")
        show_text(self.query_one("#trend-axis", Static), axis)


def _point(r: Reading | None) -> tuple[datetime, float] | None:
    if r is None or r.value is None or r.source_time is None:
        return None
    try:
        return r.source_time, float(r.value)
    except (TypeError, ValueError):
        return None
