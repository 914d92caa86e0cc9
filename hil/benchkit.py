"""The bench kit: a pytest plugin for hardware-in-loop tests in a lab (docs/benchkit.md).

Load it with ``-p hil.benchkit`` (or the ``pytest11`` entry point of the same name). It gives

* the ``bench`` fixture (alias ``bench_twin``): a running :class:`~twin.runtime.Twin` in real
  time against the boards of the lab file named by ``TWIN_BENCH_BOARDS`` (see :mod:`hil.lab`),
  or, when that is unset, against the embedded firmware stubs on ptys and loopback TCP
  (:class:`~twin.embedded.EmbeddedBoards`); with helpers to command it, run simulated time and
  assert on channels over time (:class:`Bench`);
* the ``hardware`` marker: a test that needs real boards is skipped, with the reason, when
  ``TWIN_BENCH_BOARDS`` is unset; and the ``stubs`` marker, the other way round: a test that
  needs the embedded stubs (it injects a fault into the model, which real boards do not follow,
  or a board fault, which only a stub can act out) is skipped when it is set.

Other settings: ``TWIN_BENCH_CONFIG`` (a satellite file; default the shipped one),
``TWIN_BENCH_SEED`` (default 1), ``TWIN_BENCH_STARTUP_S`` (how long every board has to answer
before the fixture fails naming the silent ones; default 10), ``TWIN_BENCH_STATE_DIR`` (the
twin's state folder: a lab's own scenarios in its ``scenarios/``; default none).

Commands: :meth:`Bench.command` calls the twin's one command path. Against lab boards the twin
accepts a command first (an OPC UA client gets Good then) and forwards it to every board that
carries it out; each board confirms by read-back or ACK, or refuses later (a ``board`` event).
``bench.command`` waits for those confirmations and returns a :class:`CommandOutcome` whose
``failures`` are the boards' typed :class:`~hil.poller.CommandResult` (``reason``: refused,
timeout, garbage, exception with its code, link_down, nak with the board's reason, readback).
:meth:`Bench.scenario` runs a scenario file through the same path (LoadScenario, StartScenario)
until its verdict and returns the ``ScenarioStatus`` JSON. What the helpers return (a channel's
:class:`~hil.benchresults.Sample`, a command's outcome) is in :mod:`hil.benchresults`.

The twin runs on an event loop in a thread of its own, so bench tests are plain functions and
need no asyncio plugin. Every helper runs its work on that loop; a test reads the twin through
the helpers (or :meth:`Bench.call`) rather than touching ``bench.twin`` while it runs. Times
given to helpers (``within_s``, ``for_s``) are wall-clock seconds, since the boards run in real
time; :attr:`Bench.sim_s` is simulated time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import math
import os
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hil.benchresults import CommandOutcome, Sample
from hil.lab import close_pollers, lab_twin
from twin.catalogue import SCENARIO_STATES
from twin.runtime import Twin

ENV_BOARDS = "TWIN_BENCH_BOARDS"
ENV_CONFIG = "TWIN_BENCH_CONFIG"
ENV_SEED = "TWIN_BENCH_SEED"
ENV_STARTUP = "TWIN_BENCH_STARTUP_S"
ENV_STATE_DIR = "TWIN_BENCH_STATE_DIR"
SCENARIO_ENDS = ("passed", "failed", "stopped")
SKIP_REASON = (f"needs real boards: set {ENV_BOARDS} to a lab file (configs/lab-example.toml, "
               "docs/benchkit.md)")
STUBS_SKIP_REASON = (f"needs the embedded firmware stubs ({ENV_BOARDS} is set): real boards do "
                     "not follow faults injected into the model")
USER, ROLE = "bench", "engineer"
T = TypeVar("T")


class Bench:
    """A running twin against boards, driven from a test. ``with Bench.start(...) as bench:``."""

    def __init__(self, twin: Twin, lab_file: str | Path | None = None,
                 startup_s: float = 10.0) -> None:
        self.twin = twin
        self.lab_file = Path(lab_file) if lab_file else None
        self.startup_s = startup_s
        self.boards: Any = None  # LabBoards or EmbeddedBoards, once started
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()

    # --- life cycle ----------------------------------------------------------------------
    @property
    def where(self) -> str:
        return f"lab file {self.lab_file}" if self.lab_file else "the embedded firmware stubs"

    def start(self) -> Bench:
        self._thread = threading.Thread(target=self._main, name="twin bench", daemon=True)
        self._thread.start()
        try:
            self._ready.result()
        except BaseException:
            self._thread.join()
            raise
        return self

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with self._boards() as boards:
                self.boards = boards
                task = self._loop.create_task(self.twin.run(self._stop))
                try:
                    await self._until_boards_answer()
                except BaseException as exc:
                    self._stop.set()
                    await task
                    await close_pollers(boards.pollers.values())
                    self._ready.set_exception(exc)
                    return
                self._ready.set_result(None)
                try:
                    await task
                finally:
                    await close_pollers(boards.pollers.values())  # before the boards close
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            else:
                raise

    def _boards(self) -> contextlib.AbstractAsyncContextManager[Any]:
        if self.lab_file is None:
            from twin.embedded import EmbeddedBoards

            return EmbeddedBoards(self.twin)
        from hil.lab import LabBoards, load_lab

        return LabBoards(self.twin, load_lab(self.lab_file, self.twin.catalogue))

    async def _until_boards_answer(self) -> None:
        pollers = self.boards.pollers
        try:
            async with asyncio.timeout(self.startup_s):
                await asyncio.gather(*(p.wait_until(lambda p=p: p.link_state() == "good",
                                                    self.startup_s) for p in pollers.values()))
        except TimeoutError:
            silent = [f"{n} ({p.where}: {p.failing or 'no answer'})"
                      for n, p in pollers.items() if p.link_state() != "good"]
            raise AssertionError(f"bench on {self.where}: no answer within {self.startup_s:g} s "
                                 f"from board(s) {', '.join(silent)}") from None
        # a sync after every board answered: the mirror shows boards and estimates, not the
        # all-Good model frame the twin starts with
        sync, seen = self.boards.sync, self.boards.sync.applied
        while sync.applied <= seen:
            await self._changed()

    def close(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join()
        self._thread = None

    def __enter__(self) -> Bench:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- running things on the twin's loop -----------------------------------------------
    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the twin's loop; its result (or exception) here."""
        assert self._loop is not None, "the bench is not running"
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the twin's loop, between its steps."""

        async def once() -> T:
            return fn(*args)

        return self.run(once())

    # --- commands and time ---------------------------------------------------------------
    def command(self, name: str, /, *, check: bool = True, confirm: bool = True,
                user: str = USER, role: str = ROLE, **args: Any) -> CommandOutcome:
        """Call a twin command (``twin.commands.call``) as a bench engineer.

        The twin answers at once (Good, or why not); against lab boards the command then goes
        to every board that carries it out, and with ``confirm`` this returns once each has
        confirmed it (read back or ACK) or failed, its :class:`~hil.poller.CommandResult` in
        :attr:`CommandOutcome.boards`. ``check``: fail the test if the twin or a board refused
        it (else look at ``outcome.ok``, ``outcome.reason``, ``outcome.failures``)."""

        async def go() -> CommandOutcome:
            forwarded = getattr(self.boards, "forwarded", None)
            seen = len(forwarded) if forwarded is not None else 0
            res = self.twin.commands.call(name, args, user=user, role=role)
            if forwarded is None or not confirm:
                return CommandOutcome(res)
            await self.boards.settle()
            return CommandOutcome(res, tuple(forwarded[seen:]))

        out = self.run(go())
        if check:
            assert out.ok, f"{name} {args}: {out}"
        return out

    @property
    def sim_s(self) -> float:
        return self.call(lambda: self.twin.plant.t_s)

    def speed(self, factor: float) -> None:
        """Run simulated time at real time × ``factor`` (0.1 to 1000)."""
        self.command("SetSpeed", speed=factor)
        self.command("Resume")

    def pause(self) -> None:
        self.command("Pause")

    def step(self, n: int = 1, within_s: float = 10.0) -> float:
        """Pause, then run ``n`` plant steps; returns the simulated time reached."""
        self.pause()
        target = self.sim_s + n * self.twin.clock.step_s
        self.command("Step", n=n)
        return self._until_sim(target, within_s)

    def run_for(self, sim_s: float, within_s: float = 60.0) -> float:
        """Run ``sim_s`` of simulated time (as fast as possible when paused, else at the current
        pace), then pause; returns the simulated time reached."""
        target = self.sim_s + sim_s
        self.command("RunUntil", t_s=target)
        return self._until_sim(target, within_s)

    def _until_sim(self, target: float, within_s: float) -> float:
        eps = 1e-9 * max(1.0, abs(target))

        async def wait() -> float:
            await self._until(lambda: self.twin.plant.t_s >= target - eps, within_s,
                              lambda: f"simulated time {self.twin.plant.t_s:g} s, "
                                      f"waiting for {target:g} s")
            return self.twin.plant.t_s

        return self.run(wait())

    # --- scenarios -----------------------------------------------------------------------
    def scenario(self, name: str, *, speed: float | None = None, within_s: float = 600.0,
                 check: bool = False) -> dict[str, Any]:
        """Run the scenario ``name`` on the bench twin through the command path and return its
        ``ScenarioStatus`` (parsed JSON: ``state`` passed, failed or stopped, ``reason``, and
        the whole ``result`` with each expectation's verdict).

        ``LoadScenario`` (the shipped scenarios, then ``TWIN_BENCH_STATE_DIR/scenarios``),
        ``SetSpeed`` to ``speed`` when given, ``StartScenario``, ``Resume``; then it waits, at
        most ``within_s`` wall-clock seconds, until ``sim.scenario.state`` shows the end.
        ``check``: fail the test unless the scenario passed."""
        self.command("LoadScenario", name=name)
        if speed is not None:
            self.command("SetSpeed", speed=speed)
        self.command("StartScenario")
        self.command("Resume")
        state = self.twin.catalogue["sim.scenario.state"].index

        def shown() -> str:
            return SCENARIO_STATES[int(self.twin.mirror.values[state])]

        async def wait() -> None:
            await self._until(lambda: shown() in SCENARIO_ENDS, within_s,
                              lambda: f"scenario {name}: still {shown()} at "
                                      f"{self.twin.plant.t_s:g} s")

        try:
            self.run(wait())
        except AssertionError:
            self.command("StopScenario", check=False)
            raise
        status: dict[str, Any] = json.loads(self.command("ScenarioStatus").data)
        if check and status["state"] != "passed":
            failed = [e for e in status.get("result", {}).get("expectations", [])
                      if not e.get("passed")]
            raise AssertionError(
                f"scenario {name} {status['state']}" + (f" ({status['reason']})"
                                                       if status["reason"] else "")
                + "".join(f"\n  failed: {e['name']} ({e['rule']}; measured {e['measured']})"
                          for e in failed))
        return status

    # --- reading and asserting -----------------------------------------------------------
    def _sample(self, path: str) -> Sample:
        m = self.twin.mirror
        i = self.twin.catalogue[path].index
        return Sample(path, float(m.values[i]), int(m.status[i]), float(m.source_s[i]))

    def sample(self, path: str) -> Sample:
        """The channel as the mirror shows it now (value, status, source time)."""
        return self.call(self._sample, path)

    def value(self, path: str) -> float:
        return self.sample(path).value

    def status(self, path: str) -> int:
        return self.sample(path).status

    def links(self) -> dict[str, dict[str, Any]]:
        """Each board's link state (``good``, ``stale``, ``offline``) and statistics."""
        return self.call(lambda: {n: {"state": p.link_state(), **p.stats.as_dict()}
                                  for n, p in self.boards.pollers.items()})

    async def _changed(self) -> None:
        """Until the mirror may have moved: the sync's next apply (each frame, every
        publishing period between frames, and when a board's link state moves)."""
        sync = self.boards.sync
        sync.changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.1):
                await sync.changed.wait()

    async def _until(self, cond: Callable[[], bool], within_s: float,
                     describe: Callable[[], str]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while not cond():
            if loop.time() >= deadline:
                raise AssertionError(f"not within {within_s:g} s: {describe()}")
            await self._changed()

    def wait_for(self, path: str, predicate: Callable[[float], bool], within_s: float = 5.0,
                 good: bool = True) -> Sample:
        """The first sample of ``path`` for which ``predicate(value)`` holds (and, with
        ``good``, its status is Good) within ``within_s``; else the test fails showing the
        last samples."""
        if path not in self.twin.catalogue:
            raise KeyError(f"no channel {path!r} in the catalogue (twin channels lists them)")
        seen: list[Sample] = []

        def ok() -> bool:
            s = self._sample(path)
            if not seen or s != seen[-1]:
                seen.append(s)
            return (s.good or not good) and predicate(s.value)

        async def wait() -> Sample:
            await self._until(ok, within_s, lambda: f"{path}: no sample satisfied the "
                              f"condition{' with Good status' if good else ''}; last: "
                              + "; ".join(str(s) for s in seen[-5:]))
            return seen[-1]

        return self.run(wait())

    def assert_between(self, path: str, lo: float, hi: float, for_s: float = 1.0,
                       good: bool = True) -> list[Sample]:
        """``lo <= value <= hi`` (and Good, with ``good``) at every mirror update for ``for_s``;
        fails at the first sample outside. Returns the samples seen."""
        if path not in self.twin.catalogue:
            raise KeyError(f"no channel {path!r} in the catalogue (twin channels lists them)")

        async def watch() -> list[Sample]:
            loop = asyncio.get_running_loop()
            end = loop.time() + for_s
            seen: list[Sample] = []
            while True:
                s = self._sample(path)
                if not seen or s != seen[-1]:
                    seen.append(s)
                    t = for_s - (end - loop.time())
                    if not (lo <= s.value <= hi) or math.isnan(s.value):
                        raise AssertionError(f"{path} left [{lo:g}, {hi:g}] after {t:.2f} s: {s}")
                    if good and not s.good:
                        raise AssertionError(f"{path} not Good after {t:.2f} s: {s}")
                if loop.time() >= end:
                    return seen
                await self._changed()

        return self.run(watch())


# --- the plugin ------------------------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hardware: the test needs real boards (a lab file in "
                            f"{ENV_BOARDS}); skipped when none is attached")
    config.addinivalue_line("markers", "stubs: the test needs the embedded firmware stubs (it "
                            "injects model or board faults); skipped when "
                            f"{ENV_BOARDS} names a lab file")


def pytest_report_header(config: pytest.Config) -> str:
    lab = os.environ.get(ENV_BOARDS)
    return f"twin bench: boards of lab file {lab}" if lab else (
        f"twin bench: embedded firmware stubs ({ENV_BOARDS} unset; hardware tests skip)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("hardware") is not None and not os.environ.get(ENV_BOARDS):
        pytest.skip(SKIP_REASON)
    if item.get_closest_marker("stubs") is not None and os.environ.get(ENV_BOARDS):
        pytest.skip(STUBS_SKIP_REASON)


def make_bench() -> Bench:
    """A bench as the environment says (not started)."""
    from twin.config import DEFAULT_SATELLITE, load_satellite
    from twin.embedded import embedded_twin
    from twin.errors import TwinError

    lab_file = os.environ.get(ENV_BOARDS) or None
    try:
        config = load_satellite(os.environ.get(ENV_CONFIG) or DEFAULT_SATELLITE).config
        seed = int(os.environ.get(ENV_SEED) or 1)
        startup_s = float(os.environ.get(ENV_STARTUP) or 10.0)
        state_dir = os.environ.get(ENV_STATE_DIR) or None
        # the twin is built with its boards: their hil.* channels are in its catalogue
        if lab_file is None:
            twin = embedded_twin(config, seed=seed, mode="realtime", state_dir=state_dir)
        else:
            twin, _ = lab_twin(config, lab_file, seed=seed, mode="realtime",
                               state_dir=state_dir)
    except (TwinError, ValueError) as exc:  # a bad lab file: one line naming file and key
        pytest.fail(f"twin bench: {exc}", pytrace=False)
    return Bench(twin, lab_file, startup_s=startup_s)


@pytest.fixture
def bench() -> Iterator[Bench]:
    """A running twin against the bench's boards (real ones from ``TWIN_BENCH_BOARDS``, or the
    embedded stubs), with helpers; stopped and closed after the test."""
    from twin.errors import TwinError

    b = make_bench()
    try:
        b.start()
    except TwinError as exc:  # a bad lab file: one line naming file, key and value
        pytest.fail(f"twin bench: {exc}", pytrace=False)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def bench_twin(bench: Bench) -> Bench:
    """The same as ``bench``: the running twin is ``bench_twin.twin``."""
    return bench
