"""Small widgets. Attributes down: the app hands each widget what to show; widgets hold no
links to the server and post nothing but Textual's own messages.

Each widget compares what it is handed with what it shows and changes nothing when they are the
same: the app hands every widget of the screen the latest state up to four times a second, and
an update costs a re-render even when the text is unchanged (and, unless told otherwise, a
layout of the whole screen: the one-line widgets here, whose size never depends on their text,
update with ``layout=False``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.widgets import DataTable, Static

from twin.console.fmt import Format, show
from twin.console.records import Reading


class Field(Static):
    """``label  value`` for one channel path; classes ``-bad``/``-uncertain``/``-stale``."""

    def __init__(self, label: str, path: str, fmt: Format, *, id: str | None = None) -> None:
        super().__init__(f"{label}  …", id=id, classes="field")
        self.label = label
        self.path = path
        self.fmt = fmt
        self.text = "…"
        self._shown: tuple[Reading | None, bool] | None = None

    def forget(self) -> None:
        """Show the reading anew at the next :meth:`show` (its format's names arrived)."""
        self._shown = None

    def show(self, reading: Reading | None, stale: bool = False) -> None:
        if self._shown is not None and self._shown[0] is reading and self._shown[1] == stale:
            return  # the same reading (the app keeps each until a new one arrives)
        self._shown = (reading, stale)
        text = show(reading, self.fmt)
        self.set_class(reading is not None and reading.bad, "-bad")
        self.set_class(reading is not None and not reading.good and not reading.bad,
                       "-uncertain")
        self.set_class(stale and reading is not None, "-stale")  # "…" is not stale: unknown
        if text != self.text:
            self.text = text
            self.update(f"{self.label}  {text}", layout=False)  # one line, its width fixed


class StatusBar(Static):
    """Connection, user and role, simulated time and rate, in one line that fits the width
    (:func:`fit_status`)."""

    _shown: tuple[str, ...] = ()

    def show(self, connection: str, state: str, who: str, clock: str, rate: str,
             retry: str = "") -> None:
        parts = (connection, state, who, clock, rate, retry)
        if parts == self._shown:
            return
        self._shown = parts
        self.set_class(state == "connected", "-connected")
        self.set_class(state == "lost", "-lost")
        self._draw()

    def on_resize(self) -> None:
        if self._shown:
            self._draw()

    def _draw(self) -> None:
        connection, _, who, clock, rate, retry = self._shown
        width = self.content_size.width or max(self.app.size.width - 2, 20)
        self.update(fit_status(width, connection, who, clock, rate, retry), layout=False)


LOST = "✗ DISCONNECTED"


def fit_status(width: int, connection: str, who: str, clock: str, rate: str,
               retry: str = "") -> str:
    """``connection+retry │ who │ clock │ rate`` in at most ``width`` characters. Where it
    would not fit: the clock drops its " UTC"; a lost connection drops the (stale) clock, then
    shortens its detail (why it was lost) down to "✗ DISCONNECTED…" (the retry delay stays);
    then the user's name is shortened."""
    def line() -> str:
        return " │ ".join(p for p in (connection + retry, who, clock, rate) if p)

    if len(line()) > width:
        clock = clock.removesuffix(" UTC")
    lost = connection.startswith(LOST)
    if lost and len(line()) > width:
        clock = ""
    over = len(line()) - width
    floor = len(LOST) if lost else 12
    if over > 0 and len(connection) > floor:
        connection = connection[:max(len(connection) - over - 1, floor)] + "…"
    over = len(line()) - width
    if over > 0 and len(who) > 8:
        who = who[:max(len(who) - over - 1, 7)] + "…"
    return line()[:width]


class NavBar(Static):
    """The screens by name, each with its key letter marked, the current one highlighted;
    two spaces between them, or one where two would not fit the width."""

    def __init__(self, screens: Sequence[tuple[str, str, str]], *, id: str | None = None
                 ) -> None:
        super().__init__("", id=id)
        self.screens = screens  # (mode, title, key)

    _shown: tuple[str, int] | None = None

    def show(self, current: str) -> None:
        width = self.content_size.width or max(self.app.size.width - 2, 20)
        if (current, width) == self._shown:
            return
        self._shown = (current, width)
        wide = sum(len(t) for _, t, _ in self.screens) + 2 * (len(self.screens) - 1)
        gap = "  " if wide <= width else " "
        line = Text()
        for mode, title, key in self.screens:
            k = title.lower().find(key)
            style = "reverse bold" if mode == current else ""
            part = Text(title, style=style)
            if k >= 0:
                part.stylize("bold underline", k, k + 1)
            if line:
                line.append(gap)
            line.append_text(part)
        self.update(line, layout=False)

    def on_resize(self) -> None:
        if self._shown is not None:
            self.show(self._shown[0])


class Answer(Static):
    """The server's answer to the last command (good or refused, with the status), or a hint;
    up to three lines (wrapped)."""

    _shown: tuple[bool, str] | None = None

    def show(self, ok: bool, text: str) -> None:
        if (ok, text) == self._shown:
            return
        self._shown = (ok, text)
        self.set_class(ok, "-ok")
        self.set_class(not ok, "-refused")
        self.update(Text(text))  # its height follows the text: a layout


class MultiField(Static):
    """``label  text`` made from several channels by ``render`` (their values, in order):
    ``…`` until all are known, the first Bad one's ``— <Status>``; classes as a Field's."""

    def __init__(self, label: str, paths: Sequence[str],
                 render: Callable[[Sequence[Any]], str], *, id: str | None = None,
                 classes: str = "") -> None:
        super().__init__(f"{label}  …", id=id, classes=f"field {classes}".strip())
        self.label = label
        self.paths = tuple(paths)
        self.render_values = render
        self.text = "…"
        self._shown: tuple[tuple[Reading | None, ...], bool] | None = None

    def forget(self) -> None:
        """Show the readings anew at the next :meth:`show` (``render`` has changed)."""
        self._shown = None

    def show(self, readings: Mapping[str, Reading], stale: bool = False) -> None:
        got = tuple(readings.get(p) for p in self.paths)
        if self._shown is not None and self._shown[1] == stale and all(
                a is b for a, b in zip(got, self._shown[0], strict=True)):
            return
        self._shown = (got, stale)
        bad = next((r for r in got if r is not None and r.value is None), None)
        if bad is not None:
            text = show(bad, str)
        elif any(r is None for r in got):
            text = "…"
        else:
            try:
                text = self.render_values([r.value for r in got if r is not None])
            except (TypeError, ValueError, OverflowError, IndexError):
                text = "—"
            odd = next((r for r in got if r is not None and not r.good), None)
            if odd is not None:
                text += f" ({odd.status})"
        self.set_class(bad is not None and bad.bad, "-bad")
        self.set_class(any(r is not None and not r.good and not r.bad for r in got),
                       "-uncertain")
        self.set_class(stale and all(r is not None for r in got), "-stale")
        if text != self.text:
            self.text = text
            self.update(f"{self.label}  {text}", layout=False)


def show_text(widget: Static, content: str | Text) -> None:
    """``widget.update(content)``, unless it shows that already."""
    if widget.content != content:
        widget.update(content)


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a :class:`ChannelTable`: ``path`` is a template with ``{i}`` for the
    row's index (``power.battery.{i}.soc_pct``)."""

    title: str
    path: str
    fmt: Format


QUALITY_STYLE = {"bad": "bold red", "uncertain": "yellow", "stale": "dim"}


def styled(reading: Reading | None, fmt: Format, stale: bool = False,
           justify: str = "right") -> Text:
    """A reading as table cell text: Bad in red, Uncertain in yellow, stale dimmed."""
    text = Text(show(reading, fmt), justify=justify)  # type: ignore[arg-type]
    if stale:
        text.stylize(QUALITY_STYLE["stale"])
    elif reading is not None and reading.bad:
        text.stylize(QUALITY_STYLE["bad"])
    elif reading is not None and not reading.good:
        text.stylize(QUALITY_STYLE["uncertain"])
    return text


class ChannelTable(DataTable[Text]):
    """Rows of numbered parts (wings, strings, racks, ...) × columns of channels.

    :meth:`set_rows` gives the parts (label and index), :meth:`show` the latest readings
    (a cell changes only when its reading does: a DataTable redraws every cell after any
    change); :attr:`paths` are the channel paths the table shows (for the screen to watch).
    """

    def __init__(self, columns: Sequence[Column], *, id: str | None = None,
                 label: str = "#") -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True, cell_padding=1)
        self.columns_spec = tuple(columns)
        self.label = label
        self.indices: tuple[int, ...] = ()
        self._shown: dict[tuple[str, str], tuple[Reading | None, bool]] = {}
        self.add_column(label, key="#")
        for c in self.columns_spec:
            self.add_column(c.title, key=c.path)

    def set_rows(self, indices: Sequence[int], labels: Sequence[str] | None = None) -> None:
        if tuple(indices) == self.indices:
            return
        self.indices = tuple(indices)
        self._shown.clear()
        self.clear()
        for n, i in enumerate(self.indices):
            label = labels[n] if labels is not None else str(i)
            self.add_row(Text(label), *(Text("…", justify="right") for _ in self.columns_spec),
                         key=str(i))

    @property
    def paths(self) -> list[str]:
        return [c.path.format(i=i) for i in self.indices for c in self.columns_spec]

    def show(self, readings: Mapping[str, Reading], stale: bool = False) -> None:
        for i in self.indices:
            for c in self.columns_spec:
                reading = readings.get(c.path.format(i=i))
                self.show_cell(str(i), c.path, reading, stale,
                               lambda r=reading, f=c.fmt: styled(r, f, stale))

    def show_cell(self, row: str, column: str, reading: Reading | None, stale: bool,
                  render: Callable[[], Text]) -> None:
        """Update one cell with ``render()`` unless it shows this reading already."""
        key = (row, column)
        was = self._shown.get(key)
        if was is not None and was[0] is reading and was[1] == stale:
            return
        self._shown[key] = (reading, stale)
        self.update_cell(row, column, render(), update_width=True)
