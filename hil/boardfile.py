"""Sensor boards as data: the board-file schema, its loader, and the one register/sentence codec.

A board file (``configs/boards/*.toml``) maps a board's Modbus tables or ASCII sentences to
catalogue channels. The firmware stubs encode with this module and the twin's pollers decode with
it, so the two sides cannot disagree; ``twin boards doc`` renders the same objects as Markdown.

Register layout (Modbus is big-endian within a register; the word order of 32-bit values is per
field, default ``[board] word_order``)::

    type     registers  raw range                 wire bytes for raw 0x11223344 / 0x1122
    int16    1          -32768..32767             11 22
    uint16   1          0..65535                  11 22
    int32    2  big     -2^31..2^31-1             11 22 33 44   (high word first, "ABCD")
    uint32   2  little  0..2^32-1                 33 44 11 22   (low word first, "CDAB")
    bool     1 bit      0/1                       coils and discrete inputs only

Value ↔ raw: ``value = raw × scale + offset``; encoding rounds half up, ``raw = ⌊(value −
offset) / scale + ½⌋``, then saturates at the type's limits (NaN encodes as the type's maximum).
Status counters wrap instead (modulo 2^bits). Decoding flags a raw value at the type's limits
(the maximum; the minimum for signed types) as :attr:`Flag.SATURATED`, and a value outside the
field's declared sensor ``range`` as :attr:`Flag.OUT_OF_RANGE`.

Expansion: a ``path`` may hold placeholders such as ``thermal.radiator.{i}.temp_c``; ``count``
(an integer, or ``"all"`` for every index the catalogue has) or ``indices`` lists the instances,
placed at ``address + k × stride`` (``stride`` defaults to the register width). ASCII sentences
name their placeholders in ``keys``; their instances are every index tuple in the catalogue.

ASCII sentences are NMEA-like: ``$<ID>,<field>,...*<XOR checksum, 2 hex>\\r\\n``; a field's text
is its value with as many decimals as its scale (a power of ten) implies.
"""

from __future__ import annotations

import argparse
import difflib
import enum
import itertools
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from twin.configschema import build, param, parse_toml, read_text_file
from twin.errors import ConfigError, TwinError

if TYPE_CHECKING:
    from twin.catalogue import Catalogue

BOARDS_DIR = Path(__file__).resolve().parent.parent / "configs" / "boards"
TABLES = ("coils", "discrete_inputs", "holding_registers", "input_registers")
BIT_TABLES = ("coils", "discrete_inputs")
WRITABLE_TABLES = ("coils", "holding_registers")
READ_FUNCTION = {"coils": 1, "discrete_inputs": 2, "holding_registers": 3, "input_registers": 4}
TYPES = {"int16": (16, True), "uint16": (16, False), "int32": (32, True), "uint32": (32, False),
         "bool": (1, False)}
STATUS_FIELDS = {  # name: (default type, meaning)
    "fw_version": ("uint16", "firmware version, major × 256 + minor"),
    "uptime_s": ("uint32", "seconds since the board (re)started"),
    "sample_count": ("uint32", "samples taken since start"),
    "sample_time_s": ("uint32", "time stamp of the last sample, whole seconds (simulated time)"),
    "sample_time_ms": ("uint16", "milliseconds part of the sample time stamp"),
    "rx_frames": ("uint16", "frames received for this board"),
    "frame_errors": ("uint16", "frames dropped for a bad CRC, checksum or header"),
    "exceptions": ("uint16", "exception or NAK answers sent"),
    "foreign_frames": ("uint16", "frames for other device ids, ignored"),
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


# --- the file schema (TOML → these, checked by twin.configschema) ----------------------------
@dataclass(frozen=True, slots=True)
class BoardSection:
    name: str = param(doc="board name: file stem, logs, link-statistics channels")
    protocol: str = param(choices=("modbus_rtu", "modbus_tcp", "ascii"), doc="wire protocol")
    firmware_version: str = param(doc="MAJOR.MINOR")
    description: str = param("", doc="free text")
    device_id: int = param(1, ge=1, le=247, doc="Modbus device (unit) id")
    sample_rate_hz: float = param(10.0, gt=0.0, le=1000.0, doc="how often the board samples")
    word_order: str = param("big", choices=("big", "little"), doc="default 32-bit word order")
    talker: str = param("RK", doc="ASCII: talker prefix of CMD/ACK/NAK/QRY sentences")
    seed: int = param(0, ge=0, doc="noise seed of the firmware stub")


@dataclass(frozen=True, slots=True)
class LinkSection:
    baud: int = param(115200, ge=300, le=4_000_000, doc="serial bit rate")
    bytesize: int = param(8, ge=7, le=8, doc="data bits")
    parity: str = param("N", choices=("N", "E", "O"), doc="parity")
    stopbits: int = param(1, ge=1, le=2, doc="stop bits")
    turnaround_ms: float = param(0.0, ge=0.0, le=1000.0, doc="RS-485 turnaround before answers")
    interframe_ms: float = param(0.0, ge=0.0, le=1000.0,
                                 doc="RTU frame gap; 0: 3.5 characters (1.75 ms above 19200 Bd)")
    device: str = param("", doc="serial device of a real board")
    host: str = param("127.0.0.1", doc="TCP host of a real board")
    port: int = param(502, ge=0, le=65535, doc="TCP port of a real board")
    timeout_s: float = param(0.5, gt=0.0, le=60.0, doc="poller answer timeout")
    telemetry_period_s: float = param(1.0, gt=0.0, le=3600.0, doc="ASCII telemetry period")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    path: str = param("", doc="catalogue channel path or template with {i}")
    status: str = param("", doc="status-block field: " + ", ".join(STATUS_FIELDS))
    setting: str = param("", doc="board-local setting name (holding registers)")
    name: str = param("", doc="ASCII command name")
    address: int = param(-1, ge=0, le=65535, doc="first register or bit (0-based PDU address)")
    type: str = param("", choices=tuple(TYPES), doc="raw type")
    scale: float = param(1.0, gt=0.0, doc="value = raw × scale + offset")
    offset: float = param(0.0, doc="value = raw × scale + offset")
    word_order: str = param("", choices=("big", "little"), doc="32-bit word order")
    count: int | str = param(0, ge=1, choices=("all",), doc="instances of a template, or 'all'")
    indices: tuple[int, ...] = param((), ge=1, doc="instances of a template")
    stride: int = param(0, ge=1, doc="address step between instances (default: width)")
    range: tuple[float, ...] = param((), doc="sensor range [lo, hi] in channel units")
    noise: float = param(0.0, ge=0.0, doc="stub sensor noise σ in channel units")
    adc_bits: int = param(0, ge=2, le=24, doc="stub ADC resolution over the sensor range")
    states: tuple[str, ...] = param((), doc="enum labels a coil writes for 0 and 1")
    default: float = param(0.0, doc="setting value at (re)start")
    unit: str = param("", doc="unit of a setting")
    description: str = param("", doc="free text")


@dataclass(frozen=True, slots=True)
class SentenceSpec:
    id: str = param(doc="sentence id, e.g. RKGPU")
    fields: tuple[FieldSpec, ...] = param(doc="fields after the keys")
    keys: tuple[str, ...] = param((), doc="placeholders of the path templates, sent first")
    periodic: bool = param(True, doc="sent every telemetry period")
    description: str = param("", doc="free text")


@dataclass(frozen=True, slots=True)
class BoardFileSpec:
    board: BoardSection = param(doc="identity")
    link: LinkSection = param(LinkSection(), doc="transport")
    coils: tuple[FieldSpec, ...] = param((), doc="function 01/05/15")
    discrete_inputs: tuple[FieldSpec, ...] = param((), doc="function 02")
    holding_registers: tuple[FieldSpec, ...] = param((), doc="function 03/06/16")
    input_registers: tuple[FieldSpec, ...] = param((), doc="function 04")
    sentences: tuple[SentenceSpec, ...] = param((), doc="ASCII telemetry")
    commands: tuple[FieldSpec, ...] = param((), doc="ASCII commands")


# --- the board model -----------------------------------------------------------------------
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

    @property
    def kind(self) -> str:
        """"status", "setting" or "channel"."""
        head = self.key.split(".", 1)[0]
        return head if head in ("status", "setting") else "channel"

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

    def paths(self) -> tuple[str, ...]:
        """Catalogue channels this board reports, in board order, without repeats."""
        return tuple(dict.fromkeys(f.key for f in self.all_fields()
                                   if f.kind == "channel" and f.table != "command"))

    def command_field(self, path: str) -> Field:
        """The field a command to ``path`` is written to (coil, holding register or command)."""
        f = self._by_key.get(path)
        if f is None or not f.writable:
            raise TwinError(f"board {self.name}: no command for {path!r}; it accepts "
                            + ", ".join(sorted(k for k, g in self._by_key.items() if g.writable)))
        return f


# --- loading ---------------------------------------------------------------------------------
def board_file(name_or_path: str | Path) -> Path:
    """A board name (``power``) → ``configs/boards/power.toml``; a path stays a path."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.parent != Path("."):
        return p
    return BOARDS_DIR / f"{p}.toml"


def load_boards(catalogue: Catalogue, directory: str | Path = BOARDS_DIR) -> dict[str, Board]:
    """Every ``*.toml`` in ``directory``, by board name."""
    boards = [load_board(p, catalogue) for p in sorted(Path(directory).glob("*.toml"))]
    return {b.name: b for b in boards}


def load_board(path: str | Path, catalogue: Catalogue) -> Board:
    """Read and check a board file against ``catalogue``; errors are one-line ConfigErrors."""
    path = board_file(path)
    return parse_board(read_text_file(path, "board file"), catalogue, str(path))


def parse_board(text: str, catalogue: Catalogue, file: str = "<string>") -> Board:
    spec = build(BoardFileSpec, parse_toml(text, file), file)
    return _Resolver(spec, catalogue, file).board()


class _Resolver:
    def __init__(self, spec: BoardFileSpec, cat: Catalogue, file: str) -> None:
        self.spec, self.cat, self.file = spec, cat, file
        self.b = spec.board

    def err(self, key: str, value: object, expected: str) -> ConfigError:
        return ConfigError(self.file, key, value, expected)

    def board(self) -> Board:
        b, modbus = self.b, self.b.protocol != "ascii"
        if not re.fullmatch(r"\d{1,3}\.\d{1,3}", b.firmware_version) or any(
                int(x) > 255 for x in b.firmware_version.split(".")):
            raise self.err("board.firmware_version", b.firmware_version,
                           "MAJOR.MINOR, each 0..255, e.g. '1.4'")
        wrong = ("sentences", "commands") if modbus else TABLES
        for name in wrong:
            if getattr(self.spec, name):
                raise self.err(name, f"<{len(getattr(self.spec, name))} entries>",
                               f"no [[{name}]] for protocol {b.protocol!r}")
        fields: list[Field] = []
        for tname in TABLES:
            for n, spec in enumerate(getattr(self.spec, tname)):
                fields.extend(self.expand(spec, tname, f"{tname}[{n}]"))
        fields.sort(key=lambda f: (TABLES.index(f.table), f.address))
        at: dict[tuple[str, int], Field] = {}
        for f in fields:
            for a in range(f.address, f.address + f.width):
                if a > 65535:
                    raise self.err(f"{f.entry}.address", f.address,
                                   f"room for {f.key} below 65536")
                if (f.table, a) in at:
                    o = at[(f.table, a)]
                    raise self.err(f"{f.entry}.address", f.address,
                                   f"no overlap: {f.key} at {a} collides with {o.key} "
                                   f"({o.entry}, {o.address}..{o.address + o.width - 1})")
                at[(f.table, a)] = f
        sentences = tuple(self.sentence(s, f"sentences[{n}]")
                          for n, s in enumerate(self.spec.sentences))
        commands = tuple(self.command(c, f"commands[{n}]")
                         for n, c in enumerate(self.spec.commands))
        by_key: dict[str, Field] = {}
        for f in itertools.chain(fields, (f for c in commands for _, f in c.instances)):
            if f.writable and f.key in by_key and by_key[f.key].writable:
                raise self.err(f"{f.entry}.path", f.key, f"one command encoding per channel "
                               f"(also in {by_key[f.key].entry})")
            if f.key not in by_key or f.writable:
                by_key[f.key] = f
        starts = {(f.table, f.address): f for f in fields}
        return Board(b.name, b.protocol, b.description, b.firmware_version, b.device_id,
                     b.sample_rate_hz, b.word_order, b.talker, b.seed, self.spec.link,
                     tuple(fields), sentences, commands, self.file, starts, by_key)

    # one entry → its fields
    def expand(self, spec: FieldSpec, table: str, entry: str, address: bool = True
               ) -> list[Field]:
        named = [k for k in ("path", "status", "setting") if getattr(spec, k)]
        if len(named) != 1:
            raise self.err(entry, "<" + (" and ".join(named) or "none") + ">",
                           "exactly one of path, status or setting")
        if address and spec.address < 0:
            raise self.err(f"{entry}.address", "<missing>", "this key to be present")
        if not address and spec.address >= 0:
            raise self.err(f"{entry}.address", spec.address, "no address in an ASCII field")
        bits = table in BIT_TABLES
        typ = spec.type or ("bool" if bits else "")
        if spec.status:
            typ = typ or STATUS_FIELDS.get(spec.status, ("uint16",))[0]
        if not typ:
            raise self.err(f"{entry}.type", "<missing>", "one of " + ", ".join(TYPES))
        if bits != (typ == "bool"):
            raise self.err(f"{entry}.type", typ, "bool (coils, discrete inputs)" if bits
                           else "an integer type (int16, uint16, int32, uint32)")
        rng = self.range(spec, entry)
        if spec.status or spec.setting:
            return [self.single(spec, table, entry, typ, rng)]
        keyed = self.instances(spec.path, spec, entry)
        stride = spec.stride or (2 if TYPES[typ][0] == 32 else 1)
        return [self.channel(spec, table, entry, typ, rng, path, spec.address + k * stride)
                for k, (path, _) in enumerate(keyed)]

    def range(self, spec: FieldSpec, entry: str) -> tuple[float, float] | None:
        if not spec.range:
            return None
        if len(spec.range) != 2 or not spec.range[0] < spec.range[1]:
            raise self.err(f"{entry}.range", list(spec.range), "[lo, hi] with lo < hi")
        return spec.range[0], spec.range[1]

    def single(self, spec: FieldSpec, table: str, entry: str, typ: str,
               rng: tuple[float, float] | None) -> Field:
        if spec.status:
            if spec.status not in STATUS_FIELDS:
                raise self.err(f"{entry}.status", spec.status,
                               "one of " + ", ".join(STATUS_FIELDS))
            if table in WRITABLE_TABLES:
                raise self.err(f"{entry}.status", spec.status,
                               "status fields in input registers or sentences only")
            return Field(f"status.{spec.status}", table, spec.address, typ, spec.scale,
                         spec.offset, spec.word_order or self.b.word_order, spec.unit,
                         spec.description or STATUS_FIELDS[spec.status][1], entry)
        if table != "holding_registers":
            raise self.err(f"{entry}.setting", spec.setting, "settings in holding registers only")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", spec.setting) or rng is None:
            raise self.err(f"{entry}.setting" if rng else f"{entry}.range",
                           spec.setting if rng else "<missing>",
                           "a lower-case name with a range [lo, hi]")
        f = Field(f"setting.{spec.setting}", table, spec.address, typ, spec.scale, spec.offset,
                  spec.word_order or self.b.word_order, spec.unit, spec.description, entry,
                  rng, default=spec.default, writable=True, limits=rng)
        self.check_representable(f, entry)
        return f

    def instances(self, template: str, spec: FieldSpec, entry: str,
                  names: Sequence[str] | None = None) -> list[tuple[str, tuple[int, ...]]]:
        """(path, index tuple) for every instance of ``template``."""
        holes = _PLACEHOLDER.findall(template)
        if names is not None and sorted(holes) != sorted(names):
            raise self.err(f"{entry}.path", template,
                           f"a template using exactly the keys {list(names)}")
        if not holes:
            if spec.count or spec.indices:
                raise self.err(f"{entry}.count", spec.count or list(spec.indices),
                               "no count or indices for a path without a placeholder {i}")
            self.check_path(template, f"{entry}.path")
            return [(template, ())]
        order = list(names) if names is not None else holes
        found = self.discover(template, order)
        if names is None and not (spec.count or spec.indices):
            raise self.err(f"{entry}.count", "<missing>",
                           "count (a number or 'all') or indices for a template")
        if spec.indices or (isinstance(spec.count, int) and spec.count):
            if len(holes) != 1:
                raise self.err(f"{entry}.count", spec.count, "'all' for several placeholders")
            wanted = list(spec.indices) or list(range(1, int(spec.count) + 1))
            out = []
            for i in wanted:
                path = template.replace("{" + holes[0] + "}", str(i))
                if (i,) not in found:
                    key = f"{entry}.indices" if spec.indices else f"{entry}.count"
                    have = f"{found[0][0]}..{found[-1][0]}" if found else "none"
                    raise self.err(key, list(spec.indices) or spec.count,
                                   f"indices the catalogue has ({template}: {have})")
                out.append((path, (i,)))
            return out
        if not found:
            raise self.err(f"{entry}.path", template, "a template matching catalogue channels")
        return [(_fill(template, order, ix), ix) for ix in found]

    def discover(self, template: str, order: Sequence[str]) -> list[tuple[int, ...]]:
        pattern = re.escape(template)
        for name in order:
            pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>\\d+)", 1)
        rx = re.compile(pattern)
        found = set()
        for ch in self.cat.channels:
            m = rx.fullmatch(ch.path)
            if m:
                found.add(tuple(int(m[n]) for n in order))
        return sorted(found)

    def check_path(self, path: str, key: str) -> None:
        if path not in self.cat:
            near = difflib.get_close_matches(path, [c.path for c in self.cat.channels], n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise self.err(key, path, "a channel path in the catalogue" + hint)

    def channel(self, spec: FieldSpec, table: str, entry: str, typ: str,
                rng: tuple[float, float] | None, path: str, addr: int) -> Field:
        ch = self.cat[path]
        writable = table in WRITABLE_TABLES or table == "command"
        if writable and not ch.writable:
            raise self.err(f"{entry}.path", path, "a writable (command) channel in "
                           f"{table}; read-only channels go in input registers or discrete inputs")
        states = None
        if spec.states:
            if table not in BIT_TABLES or ch.dtype != "enum" or len(spec.states) != 2 \
                    or any(s not in ch.enum for s in spec.states):
                raise self.err(f"{entry}.states", list(spec.states),
                               f"two labels of the enum channel ({', '.join(ch.enum)}) on a bit")
            states = (ch.enum.index(spec.states[0]), ch.enum.index(spec.states[1]))
        elif typ == "bool" and ch.dtype not in ("bool", "int"):
            raise self.err(f"{entry}.path", path, f"a bool channel on a bit ({path} is "
                           f"{ch.dtype}; map an enum with states = [label0, label1])")
        limits = (ch.lo, ch.hi) if rng is None else rng
        f = Field(path, table, addr, typ, spec.scale, spec.offset,
                  spec.word_order or self.b.word_order, ch.unit, spec.description or
                  ch.description, entry, rng, spec.noise, spec.adc_bits, ch.enum, states,
                  writable=writable, limits=limits, integral=ch.dtype in ("bool", "int", "enum"))
        if spec.adc_bits and rng is None:
            raise self.err(f"{entry}.adc_bits", spec.adc_bits, "a sensor range with adc_bits")
        self.check_representable(f, entry)
        return f

    def check_representable(self, f: Field, entry: str) -> None:
        if f.type == "bool" or f.range is None:
            return
        lo, hi = (r * f.scale + f.offset for r in f.raw_limits)
        if f.range[0] < lo or f.range[1] > hi:
            raise self.err(f"{entry}.range", list(f.range),
                           f"a range that {f.type} × {f.scale:g} + {f.offset:g} can hold "
                           f"({lo:g}..{hi:g})")

    def sentence(self, s: SentenceSpec, entry: str) -> Sentence:
        if not re.fullmatch(r"[A-Z]{5}", s.id):
            raise self.err(f"{entry}.id", s.id, "five capitals, e.g. RKGPU")
        templates: list[Field] = []
        for n, fs in enumerate(s.fields):
            key = f"{entry}.fields[{n}]"
            self.check_ascii(fs, key)
            if fs.path:
                self.instances(fs.path, fs, key, s.keys)
            rng = self.range(fs, key)
            typ = fs.type or STATUS_FIELDS.get(fs.status, ("int32",))[0]
            if fs.status or fs.setting:
                templates.append(self.single(fs, "sentence", key, typ, rng))
            else:
                templates.append(Field(fs.path, "sentence", -1, typ, fs.scale, fs.offset, "big",
                                       "", fs.description, key, rng, fs.noise, fs.adc_bits))
        insts: list[tuple[tuple[int, ...], tuple[Field, ...]]] = []
        chan = [t for t in templates if t.kind == "channel"]
        found = (self.discover(chan[0].key, s.keys) if chan else [()]) if s.keys else [()]
        for ix in found:
            fields = []
            for t, fs in zip(templates, s.fields, strict=True):
                if t.kind != "channel":
                    fields.append(t)
                    continue
                path = _fill(t.key, s.keys, ix)
                self.check_path(path, f"{t.entry}.path")
                fields.append(self.channel(fs, "sentence", t.entry, t.type, t.range, path, -1))
            insts.append((ix, tuple(fields)))
        return Sentence(s.id, s.keys, s.periodic, s.description, tuple(templates), tuple(insts))

    def command(self, c: FieldSpec, entry: str) -> Command:
        self.check_ascii(c, entry)
        if not re.fullmatch(r"[A-Z][A-Z0-9]{1,15}", c.name) or not c.path:
            raise self.err(f"{entry}.name" if c.path else f"{entry}.path",
                           c.name or "<missing>", "a command name in capitals and a path")
        keys = tuple(_PLACEHOLDER.findall(c.path))
        typ = c.type or "int32"
        rng = self.range(c, entry)
        insts = tuple((ix, self.channel(c, "command", entry, typ, rng, path, -1))
                      for path, ix in self.instances(c.path, c, entry, keys))
        return Command(c.name, c.path, keys, insts[0][1], insts)

    def check_ascii(self, fs: FieldSpec, key: str) -> None:
        d = -math.log10(fs.scale)
        if abs(d - round(d)) > 1e-9 or d < -0.5:
            raise self.err(f"{key}.scale", fs.scale, "a power of ten ≤ 1 (1, 0.1, 0.01, ...)")
        if fs.type == "bool" or fs.states:
            raise self.err(f"{key}.type", fs.type or list(fs.states),
                           "an integer type for an ASCII field")


def _fill(template: str, names: Sequence[str], ix: Sequence[int]) -> str:
    for name, i in zip(names, ix, strict=True):
        template = template.replace("{" + name + "}", str(i))
    return template


# --- the codec: values ↔ raw ↔ registers -----------------------------------------------------
Image = dict[str, list[int]]  # table → words (registers) or 0/1 (bits), from address 0


def to_raw(f: Field, value: float) -> tuple[int, bool]:
    """(raw, saturated): scale, round half up, saturate (status counters wrap)."""
    if f.type == "bool":
        if f.states is not None:
            return int(round(value) != f.states[0]), False
        return int(value >= 0.5), False
    lo, hi = f.raw_limits
    if math.isnan(value):
        return hi, True
    inv = 1.0 / f.scale
    # × 10, 100... where the scale is decimal; the 1e-9 keeps 20.0 − (−273.15) = 293.15 (stored
    # as 293.1499999...) rounding up to 2932 at scale 0.1, as a person would.
    x = (value - f.offset) * round(inv) if abs(inv - round(inv)) < 1e-9 else \
        (value - f.offset) / f.scale
    if f.kind == "status" and math.isfinite(x):
        span = hi - lo + 1
        return (math.floor(x + 0.5 + 1e-9) - lo) % span + lo, False
    r = hi + 1 if x > hi else lo - 1 if x < lo else math.floor(x + 0.5 + 1e-9)
    clipped = r > hi or r < lo
    r = min(max(r, lo), hi)
    return r, clipped or r == hi or (TYPES[f.type][1] and r == lo)


def from_raw(f: Field, raw: int) -> Decoded:
    """The value of a raw integer, flagged when saturated or out of the sensor range."""
    if f.type == "bool":
        if f.states is not None:
            return Decoded(float(f.states[1] if raw else f.states[0]), raw)
        return Decoded(float(bool(raw)), raw)
    inv = 1.0 / f.scale  # divide by 10, 100... where possible: 333 × 0.1 is not 33.3
    value = (raw / round(inv) if abs(inv - round(inv)) < 1e-9 else raw * f.scale) + f.offset
    lo, hi = f.raw_limits
    signed = TYPES[f.type][1]
    if f.kind != "status" and (raw >= hi or (signed and raw <= lo)):
        return Decoded(value, raw, Flag.SATURATED)
    if f.range is not None and not f.range[0] <= value <= f.range[1]:
        return Decoded(value, raw, Flag.OUT_OF_RANGE)
    return Decoded(value, raw)


def raw_to_words(f: Field, raw: int) -> list[int]:
    """Registers (16-bit words, in address order) holding ``raw``; bits give [0 or 1]."""
    if f.type == "bool":
        return [1 if raw else 0]
    if f.width == 1:
        return [raw & 0xFFFF]
    hi, lo = (raw >> 16) & 0xFFFF, raw & 0xFFFF
    return [hi, lo] if f.word_order == "big" else [lo, hi]


def words_to_raw(f: Field, words: Sequence[int]) -> int:
    if f.type == "bool":
        return 1 if words[0] else 0
    if f.width == 1:
        u = words[0] & 0xFFFF
    else:
        hi, lo = (words[0], words[1]) if f.word_order == "big" else (words[1], words[0])
        u = ((hi & 0xFFFF) << 16) | (lo & 0xFFFF)
    bits, signed = TYPES[f.type]
    return u - (1 << bits) if signed and u >= 1 << (bits - 1) else u


def encode_value(f: Field, value: float) -> tuple[list[int], bool]:
    raw, sat = to_raw(f, value)
    return raw_to_words(f, raw), sat


def decode_words(f: Field, words: Sequence[int]) -> Decoded:
    return from_raw(f, words_to_raw(f, words))


def new_image(board: Board) -> Image:
    """Zeroed tables as long as each table's extent (settings at their defaults)."""
    image = {t: [0] * board.extent(t) for t in TABLES}
    for f in board.fields:
        if f.kind == "setting":
            put(image, f, f.default)
    return image


def put(image: Image, f: Field, value: float) -> bool:
    """Encode ``value`` into ``image`` at ``f``; returns whether it saturated."""
    words, sat = encode_value(f, value)
    image[f.table][f.address:f.address + len(words)] = words
    return sat


def encode(board: Board, values: Mapping[str, float], image: Image | None = None) -> Image:
    """Registers and bits of ``board`` for ``values`` (path or status./setting. keys)."""
    image = new_image(board) if image is None else image
    for f in board.fields:
        if f.key in values:
            put(image, f, values[f.key])
    return image


def decode_block(board: Board, table: str, start: int, words: Sequence[int]
                 ) -> dict[str, Decoded]:
    """Every field of ``table`` lying wholly in ``words`` read from ``start``."""
    out = {}
    for f in board.fields:
        if f.table == table and start <= f.address and f.address + f.width <= start + len(words):
            out[f.key] = decode_words(f, words[f.address - start:f.address - start + f.width])
    return out


def decode(board: Board, image: Mapping[str, Sequence[int]]) -> dict[str, Decoded]:
    """Every field found in ``image`` (tables from address 0)."""
    out: dict[str, Decoded] = {}
    for table, words in image.items():
        out.update(decode_block(board, table, 0, words))
    return out


def check_command(f: Field, value: float) -> str | None:
    """Why ``value`` is not an acceptable command for ``f`` (None when it is)."""
    if math.isnan(value):
        return "not a number"
    if (f.integral or f.type == "bool") and value != round(value):
        return f"{value:g} is not a whole number"
    lo, hi = (0.0, len(f.enum) - 1.0) if f.enum and not f.states else f.limits
    if f.type == "bool":
        lo, hi = 0.0, 1.0
    if not lo <= value <= hi:
        return f"{value:g} is outside {lo:g}..{hi:g}"
    return None


@dataclass(frozen=True, slots=True)
class ModbusWrite:
    """A command as a Modbus request: write ``values`` at ``address``; read back the same."""

    table: str
    address: int
    values: tuple[int, ...]
    function: int  # 5, 6, 15 or 16

    @property
    def readback_function(self) -> int:
        return READ_FUNCTION[self.table]


def encode_write(board: Board, path: str, value: float) -> ModbusWrite:
    """The request that commands ``path`` to ``value`` (TwinError when not acceptable)."""
    f = board.command_field(path)
    if f.table not in WRITABLE_TABLES:
        raise TwinError(f"board {board.name}: {path} is an ASCII command; use encode_ascii_command")
    why = check_command(f, value)
    if why:
        raise TwinError(f"board {board.name}: {path} = {value:g}: {why}")
    words, _ = encode_value(f, value)
    fn = (5 if f.table == "coils" else 6) if len(words) == 1 else 16
    return ModbusWrite(f.table, f.address, tuple(words), fn)


# --- ASCII sentences -------------------------------------------------------------------------
class SentenceError(TwinError):
    def __init__(self, reason: str, line: bytes | str) -> None:
        self.reason = reason  # "format" or "checksum"
        super().__init__(f"bad sentence ({reason}): {line!r}")


def checksum(body: str) -> str:
    """NMEA checksum: XOR of every character between '$' and '*', two upper-case hex digits."""
    x = 0
    for b in body.encode("ascii"):
        x ^= b
    return f"{x:02X}"


def format_sentence(words: Sequence[str]) -> bytes:
    body = ",".join(words)
    return f"${body}*{checksum(body)}\r\n".encode("ascii")


def parse_sentence(line: bytes | str) -> list[str]:
    """The comma-separated words of one sentence; SentenceError for bad format or checksum."""
    text = line.decode("ascii", "replace") if isinstance(line, bytes) else line
    m = re.fullmatch(r"\$([\x20-\x7e]+)\*([0-9A-Fa-f]{2})\r?\n?", text)
    if not m or "$" in m[1] or "*" in m[1]:
        raise SentenceError("format", line)
    if checksum(m[1]) != m[2].upper():
        raise SentenceError("checksum", line)
    return m[1].split(",")


def format_value(f: Field, value: float) -> str:
    raw, _ = to_raw(f, value)
    d = f.decimals
    return f"{raw * f.scale + f.offset:.{d}f}"


def parse_value(f: Field, text: str) -> Decoded:
    try:
        v = float(text)
    except ValueError:
        raise SentenceError("format", text) from None
    if not math.isfinite(v):
        raise SentenceError("format", text)
    return from_raw(f, to_raw(f, v)[0])


def encode_sentence(sentence: Sentence, keys: tuple[int, ...], values: Mapping[str, float]
                    ) -> bytes:
    """One telemetry sentence for the instance ``keys`` (missing values are sent as NaN)."""
    fields = dict(sentence.instances)[keys]
    words = [sentence.id, *map(str, keys)]
    words += [format_value(f, values.get(f.key, math.nan)) for f in fields]
    return format_sentence(words)


def decode_sentence(board: Board, line: bytes | str) -> tuple[str, dict[str, Decoded]]:
    """(sentence id, decoded fields) of a telemetry line; unknown ids give ``(id, {})``."""
    words = parse_sentence(line)
    s = next((s for s in board.sentences if s.id == words[0]), None)
    if s is None:
        return words[0], {}
    try:
        keys = tuple(int(w) for w in words[1:1 + len(s.keys)])
        fields = dict(s.instances)[keys]
    except (ValueError, KeyError):
        raise SentenceError("format", line) from None
    texts = words[1 + len(s.keys):]
    if len(texts) != len(fields):
        raise SentenceError("format", line)
    return s.id, {f.key: parse_value(f, t) for f, t in zip(fields, texts, strict=True)}


def encode_ascii_command(board: Board, path: str, value: float) -> bytes:
    """``$<talker>CMD,<NAME>,<keys>,<value>*hh`` for a command to ``path``."""
    for c in board.commands:
        for ix, f in c.instances:
            if f.key == path:
                why = check_command(f, value)
                if why:
                    raise TwinError(f"board {board.name}: {path} = {value:g}: {why}")
                return format_sentence([board.talker + "CMD", c.name, *map(str, ix),
                                        format_value(f, value)])
    raise TwinError(f"board {board.name}: no command for {path!r}")


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer to a command: ``$<talker>ACK,<NAME>,<keys>,<value>`` or ``...NAK,...,<reason>``."""

    ok: bool
    name: str
    keys: tuple[int, ...]
    detail: str  # the value echoed (ACK) or the reason (NAK)


def parse_reply(board: Board, line: bytes | str) -> Reply | None:
    """The ACK/NAK in ``line``, or None for any other sentence."""
    words = parse_sentence(line)
    if words[0] not in (board.talker + "ACK", board.talker + "NAK") or len(words) < 3:
        return None
    try:
        keys = tuple(int(w) for w in words[2:-1])
    except ValueError:
        keys = ()
    return Reply(words[0].endswith("ACK"), words[1], keys, words[-1])


# --- documentation ---------------------------------------------------------------------------
def _num(x: float) -> str:
    return f"{x:g}"


def render_markdown(board: Board) -> str:
    """The board's register map or sentence set as Markdown, from the loaded board."""
    b, ln = board, board.link
    out = [f"## {b.name}: {b.description}".rstrip(": "), ""]
    proto = {"modbus_rtu": "Modbus RTU", "modbus_tcp": "Modbus TCP", "ascii": "ASCII sentences"}
    line = f"{proto[b.protocol]}, firmware {b.firmware_version} (status code {b.fw_code})"
    if b.protocol == "modbus_tcp":
        line += f", unit id {b.device_id}, port {ln.port}"
    else:
        line += (f", {ln.baud} Bd {ln.bytesize}{ln.parity}{ln.stopbits}, turnaround "
                 f"{_num(ln.turnaround_ms)} ms")
        if b.protocol == "modbus_rtu":
            line += f", device id {b.device_id}"
    out += [line + f"; samples at {_num(b.sample_rate_hz)} Hz. Source: `{_rel(b.source)}`.", ""]
    if b.protocol != "ascii":
        out += [f"32-bit values use two registers; word order per row (board default "
                f"**{b.word_order}**: {_order_text(b.word_order)}). Addresses are 0-based PDU "
                "addresses; gaps below a table's end read as 0 (reserved).", ""]
        names = {"coils": "Coils (01 read, 05/15 write)", "discrete_inputs":
                 "Discrete inputs (02)", "holding_registers": "Holding registers (03 read, "
                 "06/16 write)", "input_registers": "Input registers (04)"}
        for t in TABLES:
            rows = board.table(t)
            if rows:
                out += [f"### {names[t]}", "", *_table(rows, registers=t not in BIT_TABLES), ""]
        return "\n".join(out)
    tk = b.talker
    out += [f"Telemetry every {_num(ln.telemetry_period_s)} s. Commands "
            f"`${tk}CMD,<NAME>,<keys>,<value>*hh` are answered `${tk}ACK,<NAME>,<keys>,<value>`"
            f" or `${tk}NAK,<NAME>,[<keys>,]<reason>` (reasons: CHECKSUM, FORMAT, UNKNOWN, "
            f"INDEX, RANGE, FAILED); `${tk}QRY,<ID>[,<keys>]*hh` asks for sentences now. "
            "Checksum: XOR of the characters between `$` and `*`, two hex digits; lines end "
            "CR LF.", ""]
    for s in board.sentences:
        ranges = ", ".join(f"{k} = {_span([ix[n] for ix, _ in s.instances])}"
                           for n, k in enumerate(s.keys))
        out += [f"### `${s.id}` {s.description}", "",
                "`$" + ",".join([s.id, *(f"<{k}>" for k in s.keys),
                                 *(f"<{t.key.rsplit('.', 1)[-1]}>" for t in s.templates)]) + "*hh`"
                + (f" ({ranges}; {len(s.instances)} sentences)" if ranges else "")
                + ("" if s.periodic else " on request only"), ""]
        out += [*_table(s.instances[0][1], registers=True, templates=s.templates,
                        first=1 + len(s.keys)), ""]
    out += ["### Commands", "", "| name | keys | channel | type | resolution | accepted |",
            "| --- | --- | --- | --- | --- | --- |"]
    for c in board.commands:
        keys = ", ".join(f"{k} = {_span([ix[n] for ix, _ in c.instances])}"
                         for n, k in enumerate(c.keys))
        t = c.template
        res = f"{_num(t.resolution)} {t.unit}".rstrip()
        out.append(f"| `{c.name}` | {keys} | `{c.path}` | {t.type} | {res} | "
                   f"{_num(t.limits[0])}..{_num(t.limits[1])} |")
    return "\n".join(out) + "\n"


def _order_text(order: str) -> str:
    return "high word first, ABCD" if order == "big" else "low word first, CDAB"


def _span(xs: Sequence[int]) -> str:
    return f"{min(xs)}..{max(xs)}" if xs else "-"


def _rel(source: str) -> str:
    p = Path(source).resolve()
    try:
        return str(p.relative_to(BOARDS_DIR.parent.parent))
    except ValueError:
        return source


def _table(rows: Sequence[Field], registers: bool, templates: Sequence[Field] = (),
           first: int = 0) -> list[str]:
    head = ["address", "type", "channel", "unit", "scale", "offset", "resolution",
            "quantisation ±", "sensor range", "noise σ", "access", "description"]
    if templates:
        head[0] = "field"
    out = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for n, f in enumerate(rows):
        if templates:
            addr, key = str(first + n), templates[n].key
        else:
            addr = str(f.address) if f.width == 1 else f"{f.address}–{f.address + 1}"
            key = f.key
        typ = f.type + (f" {f.word_order}" if f.width == 2 and not templates else "")
        rng = f"{_num(f.range[0])}..{_num(f.range[1])}" if f.range else ""
        desc = f.description
        if f.enum:
            desc += " (" + (f"0 = {f.enum[f.states[0]]}, 1 = {f.enum[f.states[1]]}"
                            if f.states else ", ".join(f"{i} = {e}" for i, e in
                                                       enumerate(f.enum))) + ")"
        if f.kind == "setting":
            desc += f" (default {_num(f.default)})"
        cells = [addr, typ, f"`{key}`", f.unit, _num(f.scale) if registers else "",
                 _num(f.offset) if f.offset else "", _num(f.resolution) if registers else "",
                 f"{f.max_error:.4g}" if registers else "", rng,
                 _num(f.noise) if f.noise else "", "rw" if f.writable else "r",
                 desc.replace("|", "/")]
        out.append("| " + " | ".join(cells) + " |")
    return out


def render_all(boards: Iterable[Board]) -> str:
    head = ("# Sensor boards\n\n<!-- Generated from configs/boards/*.toml by `twin boards doc` "
            "(or `python -m hil.boardfile`); do not edit: regenerate with\n"
            "     python -m hil.boardfile > docs/boards.md -->\n\n"
            "Each board's map, as the firmware stubs serve it and the pollers decode it "
            "(`hil/boardfile.py`). `value = raw × scale + offset`; raw values saturate at the "
            "type's limits and decode flagged *saturated*; values outside a sensor range "
            "decode flagged *out_of_range*. Resolution is the quantisation step (register LSB, "
            "or the ADC step over the sensor range where coarser); a stub without noise reads "
            "within *quantisation ±* of the truth. Status counters wrap.\n")
    return head + "\n" + "\n".join(render_markdown(b).rstrip("\n") + "\n" for b in boards)


# --- command line (the lead wires these into `twin boards`) ----------------------------------
def add_boards_arguments(parser: argparse.ArgumentParser) -> None:
    """``twin boards doc [BOARD ...] [--config FILE] [--out FILE]``."""
    sub = parser.add_subparsers(dest="boards_command", metavar="ACTION", required=True)
    doc = sub.add_parser("doc", help="print the boards' register maps as Markdown",
                         description="Print each board's register map or sentence set as "
                         "Markdown, generated from configs/boards/*.toml.")
    doc.add_argument("boards", nargs="*", help="board names or files (default: all)")
    doc.add_argument("--config", default=None, help="satellite file (default: configs/"
                     "satellite.toml)")
    doc.add_argument("--out", default=None, help="write to this file instead of stdout")


def boards_command(args: argparse.Namespace) -> int:
    return boards_doc_command(args)


def boards_doc_command(args: argparse.Namespace) -> int:
    from twin.catalogue import build_catalogue
    from twin.config import DEFAULT_SATELLITE, load_satellite

    cat = build_catalogue(load_satellite(args.config or DEFAULT_SATELLITE).config)
    names = getattr(args, "boards", None)
    boards = ([load_board(n, cat) for n in names] if names
              else list(load_boards(cat).values()))
    text = render_all(boards)
    if getattr(args, "out", None):
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    _p = argparse.ArgumentParser(prog="python -m hil.boardfile")
    _p.add_argument("boards", nargs="*")
    _p.add_argument("--config", default=None)
    _p.add_argument("--out", default=None)
    try:
        sys.exit(boards_doc_command(_p.parse_args()))
    except TwinError as _exc:
        print(f"boards doc: {_exc}", file=sys.stderr)
        sys.exit(2)
