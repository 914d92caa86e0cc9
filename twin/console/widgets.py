"""Small widgets. Attributes down: the app hands each widget what to show; widgets hold no
links to the server and post nothing but Textual's own messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import DataTable, Static

from twin.console.fmt import Format, show
from twin.console.link import Reading


class Field(Static):
    """``label  value`` for one channel path; classes ``-bad``/``-uncertain``/``-stale``."""

    def __init__(self, label: str, path: str, fmt: Format, *, id: str | None = None) -> None:
        super().__init__(f"{label}  …", id=id, classes="field")
        self.label = label
        self.path = path
        self.fmt = fmt
        self.text = "…"

    def show(self, reading: Reading | None, stale: bool = False) -> None:
        self.text = show(reading, self.fmt)
        self.set_class(reading is not None and reading.bad, "-bad")
        self.set_class(reading is not None and not reading.good and not reading.bad,
                       "-uncertain")
        self.set_class(stale, "-stale")
        self.update(f"{self.label}  {self.text}")


class StatusBar(Static):
    """Connection, user and role, simulated time and rate, in one line."""

    def show(self, connection: str, state: str, who: str, clock: str, rate: str) -> None:
        self.set_class(state == "connected", "-connected")
        self.set_class(state == "lost", "-lost")
        self.update(f"{connection} │ {who} │ {clock} │ {rate}")


class NavBar(Static):
    """The screens by name, each with its key letter marked, the current one highlighted."""

    def __init__(self, screens: Sequence[tuple[str, str, str]], *, id: str | None = None
                 ) -> None:
        super().__init__("", id=id)
        self.screens = screens  # (mode, title, key)

    def show(self, current: str) -> None:
        line = Text()
        for mode, title, key in self.screens:
            k = title.lower().find(key)
            style = "reverse bold" if mode == current else ""
            part = Text(title, style=style)
            if k >= 0:
                part.stylize("bold underline", k, k + 1)
            if line:
                line.append("  ")
            line.append_text(part)
        self.update(line)


class Answer(Static):
    """The server's answer to the last command (good or refused, with the status)."""

    def show(self, ok: bool, text: str) -> None:
        self.set_class(ok, "-ok")
        self.set_class(not ok, "-refused")
        self.update(text)


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

    :meth:`set_rows` gives the parts (label and index), :meth:`show` the latest readings;
    :attr:`paths` are the channel paths the table shows (for the screen to watch).
    """

    def __init__(self, columns: Sequence[Column], *, id: str | None = None,
                 label: str = "#") -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True, cell_padding=1)
        self.columns_spec = tuple(columns)
        self.label = label
        self.indices: tuple[int, ...] = ()
        self.add_column(label, key="#")
        for c in self.columns_spec:
            self.add_column(c.title, key=c.path)

    def set_rows(self, indices: Sequence[int], labels: Sequence[str] | None = None) -> None:
        if tuple(indices) == self.indices:
            return
        self.indices = tuple(indices)
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
                path = c.path.format(i=i)
                self.update_cell(str(i), c.path, styled(readings.get(path), c.fmt, stale),
                                 update_width=True)
