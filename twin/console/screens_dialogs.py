"""The console's dialogs: a command's argument form, the confirmation of a hazardous command,
a command's JSON answer as a table, and the help screen.

All fit an 80×24 terminal: the form's inputs are one line each and the form scrolls when a
command has more arguments than fit; the confirmation wraps its question, one argument a line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Select, Static

from twin.console.records import ArgInfo, MethodInfo

if TYPE_CHECKING:
    from twin.console.app import ConsoleApp

Choices = Sequence[tuple[str, str]]  # (label shown, argument text sent)

HELP = """\
[b]orbital-twin console[/b] — an OPC UA client of the twin

  o Overview   w Power    t Thermal  c Compute  b Boards   e Events
  n Trends     i Scenarios  l Replay  a Alarms  ? this help  q quit
  p Pause      r Resume   s Step     + faster   - slower
  ctrl+p  command palette: every command the server has
  Alarms: k acknowledge, h shelve     Compute: v quantity, enter rack
  Events: f filter by kind            Trends: / search, enter plot
  Scenarios: enter load, g start, h halt (stop)   (engineer role)
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
        with VerticalScroll(id="help"):
            yield Static(HELP, id="help-text")
            yield Static("", id="help-role")

    def on_mount(self) -> None:
        app: ConsoleApp = self.app  # type: ignore[assignment]
        self.query_one("#help-role", Static).update(app.control_line())


def question(method: MethodInfo, args: Sequence[Any]) -> str:
    """The confirmation's question: the command, then one argument a line (all of them)."""
    lines = [f"Send {method.name}?"]
    for a, v in zip(method.args, args, strict=False):
        shown = "(default)" if _omitted(v) else repr(v)
        lines.append(f"  {a.name} = {shown}")
    return "\n".join(lines)


def _omitted(v: Any) -> bool:
    """NaN and "" stand for an optional argument left out (the server's default)."""
    return v == "" or (isinstance(v, float) and v != v)


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no for a hazardous command; the question wraps (every argument is shown)."""

    BINDINGS: ClassVar = [Binding("y", "answer(True)", "Yes"),
                          Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="confirm", classes="dialog"):
            yield Static(Text(self.question), id="question")
            yield Static("Hazardous: press y to send, n to cancel.", id="confirm-keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class CommandForm(ModalScreen[tuple[Any, ...] | None]):
    """One line per argument of a command: a choice list where the server names the values
    (or the console was handed ``choices``: the active faults for ClearFault), else a text
    input; values converted by kind, ranges left to the server (a value out of range comes
    back as BadOutOfRange with the server's reason). Enter in an input (or the Send button)
    sends; escape cancels."""

    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "Input, Select, Button"  # the first argument (not the scrolling form)

    def __init__(self, method: MethodInfo, values: dict[str, str] | None = None,
                 choices: dict[str, Choices] | None = None,
                 hints: dict[str, dict[str, str]] | None = None) -> None:
        super().__init__()
        self.method = method
        self.values = values or {}  # argument name → text to start with
        self.choices = {a.name: list(choices.get(a.name) or ()) if choices else []
                        for a in method.args}
        for a in method.args:
            if not self.choices[a.name] and a.choices:
                self.choices[a.name] = [(c, c) for c in a.choices]
        # argument name → {value of a choice → placeholder of the next input}: InjectFault's
        # kind → the target it takes
        self.hints = hints or {}

    def compose(self) -> ComposeResult:
        m = self.method
        with VerticalScroll(id="form", classes="dialog"):
            mark = "  [b]⚠ hazardous[/b]" if m.hazardous else ""
            yield Static(f"[b]{m.name}[/b]  {m.description}{mark}", id="form-title")
            for a in m.args:
                yield Static(Text(f"{a.name}: {a.description}"), classes="arg-label")
                options = self.choices[a.name]
                start = self.values.get(a.name, "")
                if options:
                    known = start in [v for _, v in options]
                    yield Select([(label, v) for label, v in options], prompt=f"pick {a.name}",
                                 value=start if known else Select.NULL, compact=True,
                                 allow_blank=a.optional or not known, id=f"arg-{a.name}")
                else:
                    yield Input(start, placeholder=placeholder(a), compact=True,
                                id=f"arg-{a.name}")
            yield Static("", id="form-error")
            yield Button("Send", id="send", variant="primary", compact=True)

    def on_select_changed(self, event: Select.Changed) -> None:
        """A choice that says what the next argument takes (a fault kind's target)."""
        name = (event.select.id or "").removeprefix("arg-")
        hint = self.hints.get(name, {}).get(str(event.value))
        names = [a.name for a in self.method.args]
        if hint is None or name not in names or names.index(name) + 1 >= len(names):
            return
        after = self.method.args[names.index(name) + 1]
        widget = self.query_one(f"#arg-{after.name}")
        if isinstance(widget, Input):
            widget.placeholder = hint

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self) -> None:
        self.send()

    def on_button_pressed(self) -> None:
        self.send()

    def send(self) -> None:
        values: list[Any] = []
        for a in self.method.args:
            widget = self.query_one(f"#arg-{a.name}")
            if isinstance(widget, Select):
                text = "" if widget.value is Select.NULL else str(widget.value)
                if not text and not a.optional:
                    self.query_one("#form-error", Static).update(f"{a.name}: pick one")
                    return
            else:
                text = widget.value.strip() if isinstance(widget, Input) else ""
            try:
                values.append(parse_arg(a.kind, text))
            except ValueError as exc:
                self.query_one("#form-error", Static).update(f"{a.name}: {exc}")
                return
        self.dismiss(tuple(values))


def placeholder(a: ArgInfo) -> str:
    return f"{a.kind}, optional" if a.optional else a.kind


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


def json_rows(data: Any) -> tuple[list[str], list[list[str]]]:
    """A command's JSON answer as (columns, rows): a list of objects one row each, an object
    one row per key; nested values as compact JSON."""
    def cell(v: Any) -> str:
        if v is None:
            return "—"
        if isinstance(v, float):
            return f"{v:g}"
        return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))

    if isinstance(data, list) and all(isinstance(d, dict) for d in data):
        columns = list(dict.fromkeys(k for d in data for k in d))
        return columns, [[cell(d.get(k)) for k in columns] for d in data]
    if isinstance(data, dict):
        return ["key", "value"], [[str(k), cell(v)] for k, v in data.items()]
    if isinstance(data, list):
        return ["value"], [[cell(v)] for v in data]
    return ["value"], [[cell(data)]]


class OutputScreen(ModalScreen[None]):
    """A command's JSON answer (ListFaults, ListScenarios, ScenarioStatus, ...) as a table."""

    BINDINGS: ClassVar = [Binding("escape,enter,q", "app.pop_screen", "Close")]

    def __init__(self, title: str, data: Any) -> None:
        super().__init__()
        self.title_text = title
        self.data = data

    def compose(self) -> ComposeResult:
        columns, rows = json_rows(self.data)
        with Vertical(id="output", classes="dialog"):
            yield Static(Text(self.title_text), id="output-title")
            table: DataTable[str] = DataTable(id="output-table", cursor_type="row",
                                              zebra_stripes=True)
            table.add_columns(*columns)
            for row in rows:
                table.add_row(*row)
            yield table
            yield Static(f"{len(rows)} rows · esc to close" if rows else "(empty) · esc to close",
                         id="output-keys")
