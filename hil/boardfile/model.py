"""The board model: a loaded board file, its fields, sentences and commands.

A :class:`Board` is what :mod:`hil.boardfile.loader` makes of a board file once every path is
resolved against the catalogue and every template expanded; the codecs
(:mod:`hil.boardfile.registers`, :mod:`hil.boardfile.sentences`) and the docs work on it.

Residual limits: a channel the board measures and the plant models (a read-only float channel,
source model or derived) gets a residual channel ``hil.residual.<path>`` = measured − model.
Its yellow limit is ``±residual_tolerance`` from the board file, or by default
``±(6 σ + 2 × resolution)``: six standard deviations of the sensor noise σ (``noise``; with
about a thousand noisy readings a second on the shipped boards, 4 σ would raise a false alarm
every quarter minute, 6 σ about once a week) plus two quantisation steps (the register LSB or
ADC step, and a rounding either way). The red limit is twice the yellow one.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from hil.boardfile.schema import TYPES, LinkSection
from twin.catalogue import BoardChannels
from twin.errors import TwinError

RESIDUAL_SIGMAS = 6.0  # default yellow residual limit: this many noise σ ...
RESIDUAL_STEPS = 2.0  # ... plus this many quantisation steps
RESIDUAL_RED_FACTOR = 2.0  # red residual limit = this × the yellow one


def default_residual(noise: float, resolution: float) -> float:
    """The default yellow residual limit of a field: 6 σ + 2 × resolution (see above), to three
    significant figures."""
    return float(f"{RESIDUAL_SIGMAS * noise + RESIDUAL_STEPS * resolution:.3g}")


class Flag(enum.StrEnum):
    OK = "ok"
    SATURATED = "saturated"
    OUT_OF_RANGE = "out_of_range"


@dataclass(frozen=True, slots=True)
class Decoded:
    value: float
    raw: int
    flag: Flag = Flag.OK


@dataclass(frozen=True, slots=True)
class Field:
    """One value on the wire: a register (pair), a bit, or a sentence field."""

    key: str  # catalogue path, "status.<name>" or "setting.<name>"
    table: str  # one of TABLES, "sentence" or "command"
    address: int  # first register/bit; -1 for sentence and command fields
    type: str
    scale: float
    offset: float
    word_order: str
    unit: str
    description: str
    entry: str  # where it came from in the file, e.g. "input_registers[3]"
    range: tuple[float, float] | None = None
    noise: float = 0.0
    adc_bits: int = 0
    enum: tuple[str, ...] = ()
    states: tuple[int, int] | None = None  # enum index written for bit 0 and bit 1
    default: float = 0.0
    writable: bool = False
    limits: tuple[float, float] = (-math.inf, math.inf)  # accepted command values
    integral: bool = False  # the channel takes whole numbers only (bool, int, enum)
    residual: float = 0.0  # ± yellow limit of hil.residual.<key>; 0: the channel has none

    @property
    def residual_limits(self) -> tuple[float, float]:
        """(yellow, red) limits of ``|measured − model|`` for this field's channel."""
        return self.residual, RESIDUAL_RED_FACTOR * self.residual

    @property
    def kind(self) -> str:
        """"status", "setting" or "channel"."""
        head = self.key.split(".", 1)[0]
        return head if head in ("status", "setting") else "channel"

    @property
    def switch(self) -> bool:
        """A bit standing for an enum channel of more than two labels (``states``): bit 0 is
        ``states[0]``, bit 1 any other label. It takes every label as a command (``states[0]``
        → 0, the others → 1), but a read only tells whether the channel is at ``states[0]``: it
        is a command encoding, not a measurement of the channel (:meth:`Board.paths` leaves it
        out, so the mirror never shows it)."""
        return self.states is not None and len(self.enum) > 2

    @property
    def width(self) -> int:
        return 2 if TYPES[self.type][0] == 32 else 1

    @property
    def raw_limits(self) -> tuple[int, int]:
        bits, signed = TYPES[self.type]
        return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)

    @property
    def resolution(self) -> float:
        """The quantisation step: the register LSB or the ADC step, whichever is coarser."""
        if self.adc_bits and self.range:
            return max(self.scale, (self.range[1] - self.range[0]) / ((1 << self.adc_bits) - 1))
        return self.scale

    @property
    def max_error(self) -> float:
        """The stated quantisation: a noiseless reading is within this of the truth."""
        if self.resolution > self.scale:  # the ADC grid, then the register grid
            return self.resolution / 2 + self.scale / 2
        return self.scale / 2

    @property
    def decimals(self) -> int:
        return max(0, -math.floor(math.log10(self.scale) + 1e-9))


@dataclass(frozen=True, slots=True)
class Sentence:
    id: str
    keys: tuple[str, ...]
    periodic: bool
    description: str
    templates: tuple[Field, ...]  # fields with unexpanded keys
    instances: tuple[tuple[tuple[int, ...], tuple[Field, ...]], ...]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    path: str  # template, e.g. compute.rack.{r}.enabled
    keys: tuple[str, ...]
    template: Field
    instances: tuple[tuple[tuple[int, ...], Field], ...]


@dataclass(frozen=True, slots=True)
class Board:
    name: str
    protocol: str
    description: str
    firmware_version: str
    device_id: int
    sample_rate_hz: float
    word_order: str
    talker: str
    seed: int
    link: LinkSection
    fields: tuple[Field, ...]  # Modbus fields, by table then address
    sentences: tuple[Sentence, ...] = ()
    commands: tuple[Command, ...] = ()
    source: str = "<memory>"
    _at: dict[tuple[str, int], Field] = field(default_factory=dict, repr=False, compare=False)
    _by_key: dict[str, Field] = field(default_factory=dict, repr=False, compare=False)

    @property
    def fw_code(self) -> int:
        major, minor = self.firmware_version.split(".")
        return int(major) * 256 + int(minor)

    def table(self, name: str) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.table == name)

    def extent(self, table: str) -> int:
        """One past the highest address of ``table``; addresses below it are readable."""
        return max((f.address + f.width for f in self.fields if f.table == table), default=0)

    def field_at(self, table: str, address: int) -> Field | None:
        """The field whose first register or bit is at ``address``."""
        return self._at.get((table, address))

    def all_fields(self) -> Iterable[Field]:
        yield from self.fields
        for s in self.sentences:
            for _, fs in s.instances:
                yield from fs
        for c in self.commands:
            for _, f in c.instances:
                yield f

    def measuring(self) -> Iterable[Field]:
        """The fields whose reads measure a catalogue channel (no commands, no switches)."""
        return (f for f in self.all_fields()
                if f.kind == "channel" and f.table != "command" and not f.switch)

    def paths(self) -> tuple[str, ...]:
        """Catalogue channels this board measures, in board order, without repeats."""
        return tuple(dict.fromkeys(f.key for f in self.measuring()))

    def quantisation(self, path: str) -> float:
        """± quantisation of the finest field measuring ``path`` (inf: none measures it)."""
        return min((f.max_error for f in self.measuring() if f.key == path), default=math.inf)

    def residual_limits(self) -> dict[str, tuple[float, float]]:
        """Measured channel → (yellow, red) limits of its residual, for the channels that have
        one (the loosest where several fields report a channel)."""
        out: dict[str, tuple[float, float]] = {}
        for f in self.all_fields():
            if f.residual > 0 and f.residual > out.get(f.key, (0.0, 0.0))[0]:
                out[f.key] = f.residual_limits
        return out

    def board_channels(self) -> BoardChannels:
        """What the catalogue needs to name this board's ``hil.*`` channels
        (:meth:`twin.catalogue.Catalogue.with_boards`)."""
        limits = self.residual_limits()
        return BoardChannels(self.name, self.description, self.link.timeout_s,
                             tuple((p, y, r) for p, (y, r) in limits.items()))

    def command_field(self, path: str) -> Field:
        """The field a command to ``path`` is written to (coil, holding register or command)."""
        f = self._by_key.get(path)
        if f is None or not f.writable:
            raise TwinError(f"board {self.name}: no command for {path!r}; it accepts "
                            + ", ".join(sorted(k for k, g in self._by_key.items() if g.writable)))
        return f
