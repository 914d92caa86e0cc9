"""The console's cost against a live twin: CPU, refresh rate, time to first data on screen.

The twin runs in a process of its own, live at ``--speed`` (10× by default): ``twin up
--headless`` (plant, stub boards on ptys and loopback TCP, OPC UA) or, with ``--no-boards``,
``twin serve`` (plant and OPC UA). The console runs in another process on a pseudo-terminal
of ``--size`` — Textual's real Linux driver, drawing real escape codes, which this script reads
and throws away — on the screen ``--screen``,
for each subscription in ``--paths``: ``all`` (every channel of the catalogue, on top of what
the screen subscribes itself) and ``screen`` (only what the console subscribes by itself; the
baseline). Its publishing interval is the console's own (250 ms, 4 Hz).

For ``--seconds`` after its first data the console process counts telemetry batches, screen
refreshes (``refresh_screen``: the current screen shown anew) and frames written to the
terminal, and reports its own CPU time (``resource.getrusage``); the twin's CPU comes from
/proc. Printed per run, with the ratio to each limit: refresh rate (4 Hz), console CPU (≤ 30 %
of one core), time from launch to the first data on screen (≤ 2 s; "sim 20…" in the status bar,
seen in the bytes written to the terminal), and the same figures of the baseline in the same
run; last, the three figures of the all-channels run, each with its limit beside it.
``--profile FILE`` writes the console's cProfile of the measured window (it slows it down).

    .venv/bin/python bench/console_bench.py [--seconds 20] [--screen compute] [--no-boards]
                                            [--speed 10]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import inspect
import json
import os
import pty
import re
import resource
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any, ClassVar

LIMIT_HZ = 4.0
LIMIT_CPU = 0.30  # of one core
LIMIT_FIRST_S = 2.0
USER, PASSWORD = "bench", "bench-operator-pw"
FIRST_DATA = re.compile(rb"sim 20\d\d-")  # the status bar's simulated clock, once it has data


# --- the console process (on the pty) ---------------------------------------------------------
def console_child(args: argparse.Namespace) -> None:
    launched = time.monotonic()
    from twin.console.app import ConsoleApp
    from twin.console.screens import TwinScreen

    imported = time.monotonic()

    if args.screen not in ConsoleApp.MODES:
        raise SystemExit(f"--screen {args.screen!r}: this console has "
                         f"{', '.join(ConsoleApp.MODES)}")
    kw: dict[str, Any] = {}
    if args.paths_file:
        kw["paths"] = json.loads(Path(args.paths_file).read_text())

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    css = ConsoleApp.CSS_PATH or []
    here = Path(inspect.getfile(ConsoleApp)).parent

    class Bench(ConsoleApp):
        # Textual resolves CSS_PATH beside the subclass's module: point it at the console's.
        CSS_PATH: ClassVar = [here / c for c in ([css] if isinstance(css, str | Path)
                                                 else css)]

        def __init__(self) -> None:
            super().__init__(args.url, USER, PASSWORD, role="operator", **kw)
            self.first: float | None = None
            self.counts = {"batches": 0, "refreshes": 0, "frames": 0}
            self.window: dict[str, Any] = {}
            self.marks = {"imported": imported}

        async def on_mount(self) -> None:
            self.marks["mounted"] = time.monotonic()
            await super().on_mount()
            write = self._driver.write  # count frames: Textual writes one string per frame

            def counted(data: str) -> None:
                self.counts["frames"] += 1
                write(data)

            self._driver.write = counted  # type: ignore[method-assign]
            if args.screen != self.DEFAULT_MODE:
                await self.switch_mode(args.screen)

        def on_telemetry(self, msg: Any) -> None:
            # Textual calls every class's on_telemetry in the MRO: ConsoleApp's runs after this.
            self.counts["batches"] += 1

        def refresh_screen(self) -> None:  # a screen refresh (refresh_view only asks for one)
            super().refresh_screen()
            if self.link_connected:
                self.marks.setdefault("connected", time.monotonic())
            screen = self.screen if self.screen_stack else None
            if not isinstance(screen, TwinScreen) or not screen.is_mounted:
                return
            self.counts["refreshes"] += 1
            if self.first is None and "sim.time_s" in self.readings:
                self.first = time.monotonic()
                self.window = {"counts": dict(self.counts), "cpu": _cpu(), "t": self.first}
                self.set_timer(args.seconds, self.finish)
                if profiler is not None:
                    profiler.enable()

        def finish(self) -> None:
            now, cpu = time.monotonic(), _cpu()
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
            w = self.window
            dt = now - w["t"]
            result = {
                "launched": launched, "first": self.first, "seconds": dt,
                "marks": {k: v - launched for k, v in self.marks.items()},
                "cpu": (cpu - w["cpu"]) / dt, "startup_cpu_s": w["cpu"],
                "channels": len(self.readings),
                **{f"{k}_hz": (v - w["counts"][k]) / dt for k, v in self.counts.items()},
            }
            Path(args.out).write_text(json.dumps(result))
            self.exit()

    Bench().run()


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# --- this process: the twin, the pty, the figures ---------------------------------------------
def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its reaped children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def clean_env() -> dict[str, str]:
    """Without LINES/COLUMNS: Textual would take them over the pty's size."""
    env = {k: v for k, v in os.environ.items() if k not in ("LINES", "COLUMNS")}
    env["TERM"] = "xterm-256color"
    return env


def start_twin(args: argparse.Namespace, work: Path, port: int) -> subprocess.Popen[str]:
    from twin.opcua.users import UserStore

    store = UserStore()
    store.add(USER, PASSWORD, "operator")
    users = store.save(work / "users.json")
    twin = Path(sys.executable).with_name("twin")
    cmd = [str(twin)] if twin.exists() else [sys.executable, "-m", "twin.cli"]
    cmd += (["serve"] if args.no_boards else ["up", "--headless"])
    cmd += ["--endpoint", f"opc.tcp://127.0.0.1:{port}/bench/", "--state-dir",
            str(work / "state"), "--users", str(users), "--allow-none", "--no-record",
            "--speed", f"{args.speed:g}"]
    log = work / "twin.log"
    with log.open("w") as out:  # a file, not a pipe nobody reads once the twin is up
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env=clean_env())
    end = time.monotonic() + 120
    while time.monotonic() < end and proc.poll() is None:
        if "listening on" in log.read_text(errors="replace"):
            return proc
        time.sleep(0.2)
    stop(proc)
    raise SystemExit(f"the twin did not start: {' '.join(cmd)}\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[Any]) -> None:
    """Ctrl-C, then SIGTERM (SIGINT stays ignored in a job a non-interactive shell started),
    then SIGKILL."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)


def run_console(args: argparse.Namespace, url: str, paths_file: str | None, twin_pid: int,
                work: Path) -> dict[str, Any]:
    """One console on a pty for ``args.seconds`` after its first data; its figures."""
    cols, rows = args.size
    out = work / "console.json"
    out.unlink(missing_ok=True)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    cmd = [sys.executable, __file__, "--child", "--url", url, "--screen", args.screen,
           "--seconds", str(args.seconds), "--out", str(out)]
    if paths_file:
        cmd += ["--paths-file", paths_file]
    if args.profile:
        cmd += ["--profile", f"{args.profile}.{'all' if paths_file else 'screen'}"]
    launched = time.monotonic()
    child = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                             start_new_session=True, env=clean_env())
    os.close(slave)
    seen_first: float | None = None
    tail = last = b""
    drawn = 0
    twin_cpu0 = twin_t0 = 0.0
    deadline = launched + args.seconds + 120
    try:
        while child.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(master, 1 << 16)
            except OSError:  # the child closed the terminal
                break
            drawn += len(data)
            last = (last + data)[-8192:]
            if seen_first is None:
                tail = (tail + data)[-4096:]
                if FIRST_DATA.search(tail):
                    seen_first = time.monotonic()
                    twin_cpu0, twin_t0, drawn = proc_cpu(twin_pid), seen_first, 0
        twin_cpu = (proc_cpu(twin_pid) - twin_cpu0) / max(time.monotonic() - twin_t0, 1e-9)
    finally:
        if child.poll() is None:
            child.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(20)
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(master)
    if not out.exists():
        screen = last.decode(errors="replace")[-3000:]
        raise SystemExit(f"the console ended without figures (exit {child.returncode}); "
                         f"its terminal's last output:\n{screen}")
    r: dict[str, Any] = json.loads(out.read_text())
    r["first_on_screen_s"] = (seen_first - launched) if seen_first else float("nan")
    r["first_in_app_s"] = r["first"] - launched
    r["drawn_kb_s"] = drawn / 1024 / r["seconds"]
    r["twin_cpu"] = twin_cpu
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="measured time per run")
    ap.add_argument("--screen", default="overview", help="console screen (mode) to measure")
    ap.add_argument("--paths", default="all,screen", help="runs: all (every channel) and/or "
                    "screen (the console's own subscription, the baseline)")
    ap.add_argument("--no-boards", action="store_true", help="twin serve: no stub boards")
    ap.add_argument("--speed", type=float, default=10.0, help="the twin's real-time factor "
                    "(default 10: the plant steps ten times a second, so the data changes "
                    "more often than the console's 4 Hz refresh; at 1× it steps once a second "
                    "and the console has less to redraw)")
    ap.add_argument("--size", default="100x30", help="terminal COLSxROWS")
    ap.add_argument("--port", type=int, default=0, help="OPC UA port (default: a free one)")
    ap.add_argument("--profile", metavar="FILE", help="cProfile the console over the "
                    "measured window into FILE.all / FILE.screen (pstats; slows it down)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--paths-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        console_child(args)
        return
    args.size = tuple(int(x) for x in args.size.lower().split("x"))
    runs = [p.strip() for p in args.paths.split(",") if p.strip()]
    if not set(runs) <= {"all", "screen"}:
        ap.error("--paths: all and/or screen")
    port = args.port or _free_port()
    with tempfile.TemporaryDirectory(prefix="console-bench-") as tmp:
        work = Path(tmp)
        from twin.catalogue import build_catalogue
        from twin.config import load_satellite

        paths = [ch.path for ch in build_catalogue(load_satellite().config).channels]
        (work / "all.json").write_text(json.dumps(paths))
        twin = start_twin(args, work, port)
        try:
            url = f"opc.tcp://127.0.0.1:{port}/bench/"
            results = {run: run_console(args, url, str(work / "all.json") if run == "all"
                                        else None, twin.pid, work) for run in runs}
        finally:
            stop(twin)
    report(args, len(paths), results)


def report(args: argparse.Namespace, n_channels: int, results: dict[str, dict[str, Any]]) -> None:
    twin = "twin serve (no boards)" if args.no_boards else "twin up --headless (stub boards)"
    print(f"console on screen {args.screen!r}, {args.size[0]}×{args.size[1]} pty, "
          f"{args.seconds:g} s after first data; {twin}, live at {args.speed:g}×; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end")
    print(f"{'subscription':24} {'batches/s':>9} {'refresh/s':>9} {'frames/s':>8} "
          f"{'console CPU':>11} {'first data':>10} {'drawn':>9} {'twin CPU':>8}")
    for run, r in results.items():
        label = f"all {n_channels} channels" if run == "all" else "screen's own (baseline)"
        print(f"{label:24} {r['batches_hz']:9.2f} {r['refreshes_hz']:9.2f} "
              f"{r['frames_hz']:8.1f} {r['cpu']:10.1%} {r['first_on_screen_s']:9.2f}s "
              f"{r['drawn_kb_s']:6.1f}KB/s {r['twin_cpu']:7.0%}")
    for run, r in results.items():
        print(f"{run}: refresh {r['refreshes_hz'] / LIMIT_HZ:.2f}× of {LIMIT_HZ:g} Hz "
              f"(telemetry batches {r['batches_hz'] / LIMIT_HZ:.2f}×), CPU "
              f"{r['cpu'] / LIMIT_CPU:.2f}× of the {LIMIT_CPU:.0%} limit, first data "
              f"{r['first_on_screen_s'] / LIMIT_FIRST_S:.2f}× of {LIMIT_FIRST_S:g} s "
              f"(in the app {r['first_in_app_s']:.2f} s; start-up CPU "
              f"{r['startup_cpu_s']:.2f} s); {r['channels']} channels shown or held")
        marks = ", ".join(f"{k} {v:.2f} s" for k, v in r["marks"].items())
        print(f"{run}: from launch: {marks}, first data {r['first_in_app_s']:.2f} s")
    if {"all", "screen"} <= results.keys():
        a, s = results["all"], results["screen"]
        print(f"all/screen: CPU {a['cpu'] / max(s['cpu'], 1e-9):.2f}×, first data "
              f"{a['first_on_screen_s'] / s['first_on_screen_s']:.2f}×")
    figures(n_channels, results.get("all") or next(iter(results.values())), args)


def figures(n_channels: int, r: dict[str, Any], args: argparse.Namespace) -> None:
    """The issue's three figures, each with its floor or limit beside it."""
    def verdict(ok: bool) -> str:
        return "ok" if ok else "NOT MET"

    print(f"figures (all {n_channels} channels subscribed, {LIMIT_HZ:g} Hz publishing "
          f"interval, twin at {args.speed:g}×):")
    hz, cpu, first = r["refreshes_hz"], r["cpu"], r["first_on_screen_s"]
    print(f"  refresh rate achieved  {hz:6.2f} Hz              (target {LIMIT_HZ:g} Hz: "
          f"{verdict(hz >= 0.9 * LIMIT_HZ)})")
    print(f"  console CPU            {cpu:6.1%} of one core     (limit ≤ {LIMIT_CPU:.0%}: "
          f"{verdict(cpu <= LIMIT_CPU)})")
    print(f"  time to first data     {first:6.2f} s               (limit ≤ {LIMIT_FIRST_S:g} s: "
          f"{verdict(first <= LIMIT_FIRST_S)})")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    main()
