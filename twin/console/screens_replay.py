"""Replay: the timeline of a recording served by ``twin replay RUN``, and what-if forks.

A replay server has, besides the time commands every twin has (Pause, Resume, SetSpeed, which
drive its play head), a ``Seek`` method (jump the play head to a simulated time), a ``Fork``
method (a what-if branch from the play head's instant, with other commands) and the run's span
as ``sim.replay.start_s`` / ``sim.replay.end_s``; the console knows a replay by its ``Seek``
method. A live twin has none of these, and the screen says so. A replay server without
``Fork`` (older than the command) gets the command line that forks instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.widgets import ProgressBar, Static

from twin.console import fmt
from twin.console.screens import TwinScreen
from twin.console.screens_plant import panel
from twin.console.widgets import Field, show_text

START, END = "sim.replay.start_s", "sim.replay.end_s"
SEEK_FRACTION = 0.01  # ←/→ move the play head by this share of the run


def clock(v: Any) -> str:
    return "T+" + fmt.sim_clock(float(v))


class ReplayScreen(TwinScreen):
    MODE = "replay"
    BINDINGS: ClassVar = [Binding("space", "toggle", "Play/pause"),
                          Binding("left", "seek(-1)", "Back", key_display="←"),
                          Binding("right", "seek(1)", "Fwd", key_display="→"),
                          Binding("j", "jump", "Jump"),
                          Binding("f", "fork", "Fork")]

    def body(self) -> ComposeResult:
        with Vertical(id="replay", classes="body"):
            yield Static("…", id="replay-note")
            with panel("panel-timeline", "Timeline"):
                yield ProgressBar(total=1.0, show_eta=False, id="timeline")
                with Grid(id="replay-fields", classes="fields"):
                    yield Field("Position", "sim.time_s", clock, id="f-replay-position")
                    yield Field("Start   ", START, clock, id="f-replay-start")
                    yield Field("State   ", "sim.mode", self.mode_name, id="f-replay-mode")
                    yield Field("End     ", END, clock, id="f-replay-end")
                    yield Field("Speed   ", "sim.speed_x", fmt.number(3, "×"),
                                id="f-replay-speed")

    def __init__(self) -> None:
        super().__init__()
        self._head: tuple[float, float] | None = None  # (last Seek target, the tick it shows)

    def mode_name(self, v: Any) -> str:
        k = int(v)
        name = self.modes[k] if 0 <= k < len(self.modes) else str(k)
        return {"realtime": "playing", "fast": "playing (as fast as possible)"}.get(name, name)

    @property
    def is_replay(self) -> bool:
        return "Seek" in self.console.methods

    def paths(self) -> Iterable[str]:
        return ["sim.mode", "sim.speed_x", START, END] if self.is_replay else []

    def _value(self, path: str) -> float | None:
        r = self.console.readings.get(path)
        return float(r.value) if r is not None and r.value is not None else None

    def refresh_view(self) -> None:
        super().refresh_view()
        app = self.console
        replay = self.is_replay
        self.set_class(not replay, "-not-replay")
        note = self.query_one("#replay-note", Static)
        if not app.link_connected or not app.methods:
            show_text(note, "…")
        elif not replay:
            show_text(note, "Not a replay: this twin runs live (its server has no Seek method). "
                        "`twin replay RUN` serves a recording; its timeline shows here.")
        else:
            show_text(note, "A recording: space play/pause, ←/→ seek, j jump to a time, "
                        "f fork a what-if from here, +/- speed")
        if not replay:
            return
        self.want_modes()
        stale = not app.link_connected
        for f in self.query(Field):
            f.show(app.readings.get(f.path), stale)
        start, end, pos = self._value(START), self._value(END), self._value("sim.time_s")
        bar = self.query_one("#timeline", ProgressBar)
        if start is not None and end is not None and pos is not None and end > start:
            bar.update(total=end - start, progress=min(max(pos - start, 0.0), end - start))
        else:
            bar.update(total=1.0, progress=0.0)  # not indeterminate: nothing animates

    async def action_toggle(self) -> None:
        mode = self.console.readings.get("sim.mode")
        playing = mode is not None and mode.value not in (None, 0)
        await self.console.run_command("Pause" if playing else "Resume")

    async def action_seek(self, direction: int) -> None:
        """Move the play head by 1 % of the run. The position shown is the recorded tick at
        or before the head, so a step shorter than the recording's interval shows the same
        tick: while that tick is still shown, the next step starts from the head, not from
        the tick (else ←/→ would never leave it)."""
        start, end, pos = self._value(START), self._value(END), self._value("sim.time_s")
        if start is None or end is None or pos is None:
            self.console.answer(False, "✗ Seek: the run's span is not known (not a replay?)")
            return
        step = max((end - start) * SEEK_FRACTION, 1.0)
        base = self._head[0] if self._head is not None and self._head[1] == pos else pos
        target = min(max(base + direction * step, start), end)
        self._head = None
        if (await self.console.run_command("Seek", (target,))).ok:
            shown = await self.console.read_value("sim.time_s")  # the tick the head shows
            if isinstance(shown, int | float):
                self._head = (target, float(shown))

    def action_jump(self) -> None:
        pos = self._value("sim.time_s")
        self.console.start_command_named("Seek", {"t_s": f"{pos:g}" if pos is not None
                                                  else ""})

    def action_fork(self) -> None:
        """The Fork form (the branch starts at the play head; the server names its directory
        unless one is given), or, from a server without Fork, how to fork instead."""
        if "Fork" in self.console.methods:
            self.console.start_command_named("Fork")
            return
        pos = self._value("sim.time_s")
        at = f"{pos:g}" if pos is not None else "T"
        self.console.answer(False, "✗ Fork: this replay server has no Fork command; fork from "
                            f"the command line: twin replay RUN --fork {at} --do 'Command "
                            "key=value …' --out DIR")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("toggle", "seek", "jump", "fork"):
            if not self.is_replay:
                return False  # hidden: a live twin has no play head
            return self.console.allowed({"toggle": "Resume", "fork": "Fork"}.get(action,
                                                                                  "Seek"))
        return True
