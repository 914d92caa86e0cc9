"""Small widgets. Attributes down: the app hands each widget what to show; widgets hold no
links to the server and post nothing but Textual's own messages."""

from __future__ import annotations

from textual.widgets import Static

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


class Answer(Static):
    """The server's answer to the last command (good or refused, with the status)."""

    def show(self, ok: bool, text: str) -> None:
        self.set_class(ok, "-ok")
        self.set_class(not ok, "-refused")
        self.update(text)
