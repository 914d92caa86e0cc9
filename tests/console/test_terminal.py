"""``twin up`` in a real terminal: tmux runs it at a fixed size, the overview is read off the
screen, ``q`` ends it, and it leaves no process and no listening port behind.

The twin is the embedded default (plant, stub boards on ptys and loopback TCP, OPC UA server,
recorder) on a free port, with its state and recording in the test's temporary directory. The
screen is polled with ``tmux capture-pane`` until the overview has its data, within a deadline.
The capture of each size is written next to the test's files (its path is printed).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from _console import free_port
from _procs import alive, descendants, listening_ports, still_listening

TMUX = shutil.which("tmux")
DEADLINE_S = 90.0  # start-up of plant, boards, server and console on a loaded 2-core machine
EXIT_S = 60.0
# remain-on-exit: the pane stays, dead, to be read; no status line: the pane is the whole W×H.
TMUX_CONF = "set-option -g remain-on-exit on\nset-option -g status off\n"
# The pane runs `sh` that runs twin and writes its exit status to a file: tmux 3.3a now and then
# misses a pane's SIGCHLD (the process stays a zombie, #{pane_dead_status} stays empty; seen
# here with a plain `python3 -c 'print(1)'` too), so the shell, which always reaps its child,
# reports the status.
WRAP = 'status=$1; shift; "$@"; echo $? > "$status"'

# What the overview must show once its data is in: (what, pattern).
OVERVIEW = [
    ("the link", r"● connected"),
    ("the first-start operator, its role from the server", r"operator \(operator\)"),
    ("the simulated clock", r"sim 20\d\d-\d\d-\d\d \d\d:\d\d:\d\d UTC"),
    ("time running", r"running ×\d"),
    ("sim time", r"Sim time\s+T\+0d \d\d:\d\d:\d\d"),
    ("orbit light", r"Light\s+(sunlit|ECLIPSE)"),
    ("beta", r"Beta\s+-?\d+\.\d °"),
    ("array power", r"Array\s+[\d,]+\.\d kW"),
    ("loads", r"Loads\s+[\d,]+\.\d kW"),
    ("battery charge", r"Charge\s+\d+\.\d %"),
    ("compute delivered", r"Delivered\s+[\d,]+\.\d\d PFLOP/s"),
    ("GPUs nominal", r"Nominal\s+\d+"),
    ("alarm counts", r"red \d+  yellow \d+  unacked \d+"),
    ("the footer", r"q Quit"),
]

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (make sysdeps)")


def twin_command() -> list[str]:
    exe = Path(sys.executable).with_name("twin")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "twin.cli"]


def clean_env() -> dict[str, str]:
    """This environment for the tmux server and so for the pane, without a terminal size.

    Passed explicitly: GNU readline, once imported (pytest's debugger does), puts LINES and
    COLUMNS of pytest's own terminal into the C environment, which children would inherit and
    Textual would believe over the pane's real size."""
    return {k: v for k, v in os.environ.items() if k not in ("LINES", "COLUMNS", "TMUX")}


class Tmux:
    """A tmux server of the test's own (its own socket), killed on the way out."""

    def __init__(self, directory: Path) -> None:
        self.socket = directory / "tmux.sock"
        self.conf = directory / "tmux.conf"
        self.conf.write_text(TMUX_CONF)

    def __call__(self, *args: str) -> str:
        done = subprocess.run([str(TMUX), "-S", str(self.socket), "-f", str(self.conf), *args],
                              capture_output=True, text=True, timeout=30, env=clean_env())
        if done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def pane(self, fmt: str) -> str:
        return self("display-message", "-p", "-t", "twin", fmt).strip()

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "twin")

    def kill(self) -> None:
        subprocess.run([str(TMUX), "-S", str(self.socket), "kill-server"],
                       capture_output=True, timeout=30)


@contextmanager
def tmux_session(directory: Path, size: tuple[int, int], argv: list[str]) -> Iterator[Tmux]:
    tmux = Tmux(directory)
    try:
        tmux("new-session", "-d", "-s", "twin", "-x", str(size[0]), "-y", str(size[1]),
             "-c", str(directory), *argv)
        yield tmux
    finally:
        tmux.kill()


def wait_for(check: Callable[[], bool], what: str, timeout: float,
             detail: Callable[[], str]) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}:\n{detail()}")
        time.sleep(0.2)


def missing(screen: str) -> list[str]:
    return [what for what, pattern in OVERVIEW if not re.search(pattern, screen)]


def run_twin_up(directory: Path, size: tuple[int, int], state: Path, run: Path,
                keys: str = "") -> tuple[str, str]:
    """``twin up`` in a tmux pane of ``size`` until the overview has its data, then q: the
    overview's text and everything the pane showed by the end. Checks on the way that the
    server listened, that q ends it with status 0, and that no process or port is left."""
    width, height = size
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [*twin_command(), "up", "--endpoint", f"opc.tcp://127.0.0.1:{port}/orbital-twin/",
            "--state-dir", str(state), "--record", str(run)]
    status = directory / "exit-status"
    with tmux_session(directory, size, ["sh", "-c", WRAP, "sh", str(status), *argv]) as tmux:
        assert tmux.pane("#{pane_width}x#{pane_height}") == f"{width}x{height}"
        shell = int(tmux.pane("#{pane_pid}"))
        screen = [""]

        def overview() -> bool:
            screen[0] = tmux.screen()
            return not missing(screen[0]) or tmux.pane("#{pane_dead}") == "1"

        wait_for(overview, "the overview's data", DEADLINE_S,
                 lambda: f"missing {missing(screen[0])}; screen:\n{screen[0]}")
        assert tmux.pane("#{pane_dead}") == "0", f"twin up ended early:\n{screen[0]}"
        text = screen[0]
        procs = descendants(shell)  # twin up and anything it started
        assert procs, "no twin process under the pane's shell"
        ports = listening_ports(procs)
        assert port in ports, f"the OPC UA server is not listening on {port}: {ports}"
        if keys:  # screens to visit, then the overview again
            tmux("send-keys", "-t", "twin", *keys, "o")
            wait_for(lambda: "Sim time" in tmux.screen(), "the overview again", DEADLINE_S,
                     tmux.screen)

        tmux("send-keys", "-t", "twin", "q")
        wait_for(lambda: status.exists() and status.read_text().strip() != "",
                 "twin up to exit after q", EXIT_S, tmux.screen)
        wait_for(lambda: tmux.pane("#{pane_dead}") == "1", "the pane to close", EXIT_S,
                 tmux.screen)
        after = tmux("capture-pane", "-p", "-J", "-t", "twin", "-S", "-")
        assert status.read_text().strip() == "0", after
        left = [p for p in procs if alive(p)]
        assert not left, f"processes left behind: {left}"
        assert not still_listening(ports), f"ports still listening: {still_listening(ports)}"
    assert "Traceback" not in after
    return text, after


@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_twin_up_shows_the_overview_in_a_terminal_and_q_leaves_nothing_behind(
        tmp_path: Path, size: tuple[int, int]):
    width, height = size
    text, after = run_twin_up(tmp_path, size, tmp_path / "state", tmp_path / "run")
    capture = tmp_path / f"overview-{width}x{height}.txt"
    capture.write_text(text)
    print(f"\noverview at {width}×{height} ({capture}):\n{text}")
    lines = text.removesuffix("\n").split("\n")
    assert len(lines) == height and max(len(line) for line in lines) <= width
    assert "q Quit" in lines[-1], "the footer is on the last line"
    for title in ("Orbit", "Thermal", "Power", "Compute", "Alarms", "Control"):
        assert title in text, f"the {title} panel"
    assert "Traceback" not in text and "WARNING" not in text
    assert "created OPC UA user 'operator'" in after
    assert "console-credentials.json, mode 0600" in after
    assert f"recorded to {tmp_path / 'run'}" in after


def test_drawing_every_screen_never_holds_up_the_twins_boards(tmp_path: Path):
    """The twin runs in a process of its own: a console drawing screen after screen (each
    holds Python's GIL for a good part of a second) raises no board link alarm in the twin."""
    from twin.store import RunStore

    run = tmp_path / "run"
    run_twin_up(tmp_path, (80, 24), tmp_path / "state", run, keys="cwtbnilaecwtb")
    with RunStore.open(run) as store:
        links = [a for a in store.alarms() if a.source.startswith("hil.")]
        assert store.tick_count() > 0
    assert links == [], [(a.t_s, a.source, a.state) for a in links]


def test_a_second_twin_up_on_the_same_state_dir_logs_the_console_in_again(tmp_path: Path):
    """The first start creates the users and keeps their passwords in the state dir; the
    second creates none and its console logs in with the kept operator password."""
    state = tmp_path / "state"
    _, first = run_twin_up(tmp_path / "first", (80, 24), state, tmp_path / "run1")
    assert "created OPC UA user 'operator'" in first
    text, second = run_twin_up(tmp_path / "second", (80, 24), state, tmp_path / "run2")
    assert "operator (operator)" in text and "● connected" in text  # (all of OVERVIEW)
    assert "created OPC UA user" not in second and "no login" not in second
