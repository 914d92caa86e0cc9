"""Boards: the health of each sensor board's link, and the largest residuals.

The boards are found in the server's channel list: every ``hil.<board>.online`` channel is one
board, with its counters ``hil.<board>.polls``, ``.timeouts``, ``.errors``, ``.exceptions`` and
``.latency_ms``; ``hil.residual.<channel path>`` channels are measured − model for channels a
board measures. A twin without boards has no ``hil.*`` channels, and the screen says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from twin.console import fmt
from twin.console.records import Reading
from twin.console.screens import TwinScreen
from twin.console.screens_plant import panel
from twin.console.widgets import ChannelTable, Column, show_text, styled

RESIDUAL = "hil.residual."
SHOWN_RESIDUALS = 10


def boards_of(channels: Iterable[str]) -> list[str]:
    """Board names, from the ``hil.<board>.online`` channels present."""
    out = set()
    for p in channels:
        parts = p.split(".")
        if len(parts) == 3 and parts[0] == "hil" and parts[2] == "online" \
                and parts[1] != "residual":
            out.add(parts[1])
    return sorted(out)


def online(v: Any) -> str:
    return "online" if bool(v) else "OFFLINE"


def good_share(readings: dict[str, Reading], board: str) -> str:
    """Share of polls that got a good answer, from the board's counters (— before any)."""
    def num(q: str) -> float:
        r = readings.get(f"hil.{board}.{q}")
        return float(r.value) if r is not None and r.value is not None else math.nan

    polls = num("polls")
    failed = num("timeouts") + num("errors") + num("exceptions")
    down = num("link_down")
    failed += down if math.isfinite(down) else 0.0  # a twin whose boards count it
    if not (polls > 0 and math.isfinite(failed)):
        return fmt.DASH
    return f"{100.0 * (polls - failed) / polls:.1f}"


class BoardTable(ChannelTable):
    """One row per board (rows are board names, not numbers)."""

    def __init__(self, columns: list[Column], *, id: str | None = None, label: str = "#"
                 ) -> None:
        super().__init__(columns, id=id, label=label)
        self.names: list[str] = []
        self.good: dict[str, str] = {}  # board → its good % as shown

    def set_boards(self, boards: list[str]) -> None:
        if tuple(boards) == tuple(self.names):
            return
        self.names = list(boards)
        self._shown.clear()
        self.good.clear()
        self.clear()
        for b in boards:
            self.add_row(Text(b), *(Text("…", justify="right") for _ in self.columns_spec),
                         Text("…", justify="right"), key=b)

    @property
    def paths(self) -> list[str]:
        return [c.path.format(i=b) for b in self.names for c in self.columns_spec]

    def show(self, readings: dict[str, Reading], stale: bool = False) -> None:  # type: ignore[override]
        for b in self.names:
            for c in self.columns_spec:
                reading = readings.get(c.path.format(i=b))
                self.show_cell(b, c.path, reading, stale,
                               lambda r=reading, f=c.fmt: styled(r, f, stale))
            good = good_share(readings, b)
            if self.good.get(b) != good:
                self.good[b] = good
                self.update_cell(b, "good", Text(good, justify="right"), update_width=True)


BOARD_COLUMNS = [Column("link", "hil.{i}.online", online),
                 Column("polls", "hil.{i}.polls", fmt.integer),
                 Column("timeouts", "hil.{i}.timeouts", fmt.integer),
                 Column("errors", "hil.{i}.errors", fmt.integer),
                 Column("exc", "hil.{i}.exceptions", fmt.integer),
                 Column("ms", "hil.{i}.latency_ms", fmt.number(1))]


class BoardsScreen(TwinScreen):
    MODE = "boards"
    NEEDS_CHANNELS = True

    def __init__(self) -> None:
        super().__init__()
        self.residuals: list[str] = []
        self._residuals_shown: list[tuple[str, Text]] = []
        self._from = -1

    def body(self) -> ComposeResult:
        with Vertical(id="boards", classes="body"):
            yield Static("Browsing the server's channels …", id="boards-note")
            with panel("panel-links", "Board links"):
                table = BoardTable(BOARD_COLUMNS, id="board-links", label="board")
                table.add_column("good %", key="good")
                yield table
            with panel("panel-residuals", "Largest residuals (measured − model)"):
                res: DataTable[Text] = DataTable(id="residuals", cursor_type="none",
                                                 zebra_stripes=True)
                res.add_column("channel", key="path")
                res.add_column("residual", key="value")
                yield res

    def paths(self) -> Iterable[str]:
        return self.query_one(BoardTable).paths + self.residuals

    def refresh_view(self) -> None:
        super().refresh_view()
        app = self.console
        table = self.query_one(BoardTable)
        if app.channels_version != self._from:
            self._from = app.channels_version
            table.set_boards(boards_of(app.channels))
            self.residuals = [p for p in app.channels if p.startswith(RESIDUAL)]
            app.watch_paths(self)
        note = self.query_one("#boards-note", Static)
        if app.channels_state != "loaded":
            show_text(note, "Browsing the server's channels …" if app.channels_state in
                        ("loading", "not loaded") else app.channels_state)
        elif not table.names:
            show_text(note, "No sensor boards: this twin's server has no hil.* channels (a twin "
                        "without boards, such as a simulation or a replay).")
        else:
            show_text(note, f"{len(table.names)} boards · {len(self.residuals)} residual channels")
        self.set_class(app.channels_state == "loaded" and not table.names, "-no-boards")
        stale = not app.link_connected
        table.show(app.readings, stale)
        self._show_residuals(stale)

    def _show_residuals(self, stale: bool) -> None:
        app = self.console
        values = []
        for p in self.residuals:
            r = app.readings.get(p)
            if r is not None and isinstance(r.value, int | float) and math.isfinite(r.value):
                values.append((abs(float(r.value)), p, r))
        values.sort(key=lambda x: (-x[0], x[1]))
        rows = [(p, styled(r, lambda v: f"{float(v):+.4g}", stale))
                for _, p, r in values[:SHOWN_RESIDUALS]]
        if rows == self._residuals_shown:
            return
        self._residuals_shown = rows
        table = self.query_one("#residuals", DataTable)
        table.clear()
        for p, text in rows:
            table.add_row(Text(p[len(RESIDUAL):]), text, key=p)
