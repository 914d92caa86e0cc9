"""A board's firmware core, whatever its wire: sampling, register image, status block, commands.

:class:`BoardCore` samples its :class:`~firmware_stubs.sources.Source` (``sample()``), passes
each channel through the board's sensor faults, noise (seeded) and ADC quantisation, and encodes
it with :mod:`hil.boardfile` into the register image the transports serve. Reads and writes are
checked here and raise :class:`~firmware_stubs.modbus.ModbusError` with the code a board sends.
Commands are delivered to ``on_command(path, value)`` in catalogue units (enum: the index) before
they are stored; an exception from it refuses the command (Modbus 04, ASCII NAK FAILED).
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from firmware_stubs.faults import BoardFaults, StubFault
from firmware_stubs.modbus import (
    DEVICE_FAILURE,
    ILLEGAL_ADDRESS,
    ILLEGAL_FUNCTION,
    ILLEGAL_VALUE,
    ModbusError,
)
from firmware_stubs.sources import Source
from hil.boardfile import (
    Board,
    Field,
    check_command,
    decode_words,
    new_image,
    put,
    to_raw,
)

log = logging.getLogger(__name__)
CommandCallback = Callable[[str, float], Any]
COUNTERS = ("rx_frames", "frame_errors", "exceptions", "foreign_frames")


def adc(f: Field, value: float) -> float:
    """``value`` on the ADC grid of ``f`` (lo + k·step over the sensor range; not clipped)."""
    if not f.adc_bits or f.range is None or not math.isfinite(value):
        return value
    lo, hi = f.range
    step = (hi - lo) / ((1 << f.adc_bits) - 1)
    return lo + math.floor((value - lo) / step + 0.5) * step


class BoardCore:
    def __init__(self, board: Board, source: Source, *, on_command: CommandCallback | None = None,
                 seed: int | None = None, noise: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.board = board
        self.source = source
        self.on_command = on_command
        self.rng = np.random.default_rng(board.seed if seed is None else seed)
        self.noise = noise
        self.clock = clock
        self.on_change: Callable[[], None] | None = None  # called when a counter moves
        self.faults = BoardFaults(board.paths(), np.random.default_rng(self.rng.integers(2**63)))
        self.image = new_image(board)
        self.values: dict[str, float] = {}  # sensed (after faults and noise), by key
        self.failed: str | None = None  # why the last sample failed
        self._noise = {}
        for f in board.all_fields():
            if f.kind == "channel" and f.table != "command":
                self._noise[f.key] = max(self._noise.get(f.key, 0.0), f.noise)
        self._fields = [f for f in board.all_fields() if f.table != "command"]
        self.reset()

    # --- status --------------------------------------------------------------------------
    def reset(self) -> None:
        """A (re)start: uptime, sample count and error counters from zero; settings default."""
        self.started = self.clock()
        self.sample_count = 0
        self.sample_t = 0.0
        self.counters = dict.fromkeys(COUNTERS, 0)
        for f in self.board.fields:
            if f.kind == "setting":
                put(self.image, f, f.default)
                self.values[f.key] = f.default

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n
        if self.on_change is not None:
            self.on_change()

    def status(self) -> dict[str, float]:
        t = self.sample_t
        whole = math.floor(t)
        return {"status.fw_version": self.board.fw_code,
                "status.uptime_s": math.floor(self.clock() - self.started),
                "status.sample_count": self.sample_count, "status.sample_time_s": whole,
                "status.sample_time_ms": math.floor((t - whole) * 1000.0),
                **{f"status.{k}": v for k, v in self.counters.items()}}

    def refresh_status(self) -> None:
        st = self.status()
        for f in self.board.fields:
            if f.kind == "status":
                put(self.image, f, st[f.key])
        self.values.update(st)

    # --- sensing -------------------------------------------------------------------------
    def sample(self) -> None:
        """Take one sample of every channel from the source into the image."""
        try:
            reading = self.source.read()
        except Exception as exc:
            if self.failed is None:
                log.warning("board %s: sampling failed: %s", self.board.name, exc)
            self.failed = str(exc) or type(exc).__name__
            return
        self.failed = None
        t, truth = reading
        sensed: dict[str, float] = {}
        for path, sigma in self._noise.items():
            if path not in truth:
                continue
            v = self.faults.sense(path, float(truth[path]), t)
            if self.noise and sigma > 0:
                v += float(self.rng.normal(0.0, sigma))
            sensed[path] = v
        self.values.update(sensed)
        for f in self.board.fields:
            if f.key in sensed:
                put(self.image, f, adc(f, sensed[f.key]))
        self.sample_t = t
        self.sample_count += 1

    def field_value(self, f: Field) -> float:
        """The sensed value of ``f`` as the board reports it (ADC-quantised; NaN: none yet)."""
        v = self.values.get(f.key, math.nan)
        return adc(f, v) if f.kind == "channel" else v

    # --- faults --------------------------------------------------------------------------
    def inject_fault(self, kind: str, target: str = "", params: dict[str, Any] | None = None
                     ) -> int:
        if kind == "reset":
            self.reset()
            return 0
        f: StubFault = self.faults.add(kind, target, params)
        if kind == "sensor_stuck" and math.isnan(f.params["value"]) and target in self.values:
            f.held = self.values[target]
        return f.id

    def _position(self, f: Field) -> int | None:
        """A switch's position now, from the source's truth (a command another board carried
        out a moment ago counts), else the last sample; None when unknown."""
        try:
            value = float(self.source.read()[1].get(f.key, math.nan))
        except Exception:
            value = self.values.get(f.key, math.nan)
        return to_raw(f, value)[0] if math.isfinite(value) else None

    # --- Modbus tables -------------------------------------------------------------------
    def _check_table(self, table: str, start: int, count: int) -> None:
        extent = self.board.extent(table)
        if extent == 0:
            raise ModbusError(ILLEGAL_FUNCTION, f"no {table} on board {self.board.name}")
        if start + count > extent:
            raise ModbusError(ILLEGAL_ADDRESS, f"{table} {start}..{start + count - 1} "
                              f"beyond {extent - 1}")

    def read(self, table: str, start: int, count: int) -> list[int]:
        self._check_table(table, start, count)
        if self.failed is not None:
            raise ModbusError(DEVICE_FAILURE, f"sensing failed: {self.failed}")
        if table == "input_registers":
            self.refresh_status()
        return self.image[table][start:start + count]

    async def write(self, table: str, start: int, words: list[int]) -> None:
        """Check a whole write, deliver its commands, then store it (Modbus semantics)."""
        self._check_table(table, start, len(words))
        todo: list[tuple[Field, float]] = []
        a = start
        while a < start + len(words):
            f = self.board.field_at(table, a)
            if f is None or not f.writable or a + f.width > start + len(words):
                raise ModbusError(ILLEGAL_ADDRESS, f"{table} {a} is not a writable field")
            value = decode_words(f, words[a - start:a - start + f.width]).value
            why = check_command(f, value)
            if why:
                raise ModbusError(ILLEGAL_VALUE, f"{f.key}: {why}")
            todo.append((f, value))
            a += f.width
        for f, value in todo:
            await self.apply(f, value)

    async def apply(self, f: Field, value: float) -> None:
        """Deliver one checked command and store it; ModbusError(04) if it is refused.

        A switch (:attr:`~hil.boardfile.Field.switch`, e.g. the power board's heater feed,
        1 unless the mode is off) already in the position written delivers nothing: writing 1
        leaves a heater mode "on" as it is rather than turning it into the bit's "auto"; the
        bit reads back what was written."""
        if f.switch and self._position(f) == to_raw(f, value)[0]:
            put(self.image, f, value)
            return
        if f.kind == "channel":
            try:
                if self.on_command is not None:
                    result = self.on_command(f.key, value)
                    if inspect.isawaitable(result):
                        await result
                self.source.command(f.key, value)
            except Exception as exc:
                log.info("board %s: command %s = %g refused: %s", self.board.name, f.key,
                         value, exc)
                raise ModbusError(DEVICE_FAILURE, str(exc)) from exc
        self.values[f.key] = value
        if f.address >= 0:
            put(self.image, f, value)
        for g in self.board.fields:  # other registers of the same channel read it back too
            if g.key == f.key and g is not f:
                put(self.image, g, adc(g, value))
