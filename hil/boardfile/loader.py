"""Loading board files: TOML → :class:`~hil.boardfile.model.Board`, checked against the catalogue.

Every path must be a catalogue channel (a near miss is suggested); templates expand to the
indices the catalogue has; addresses must not overlap; commands only go to writable channels;
sensor ranges must fit the raw type. Each error is one :class:`~twin.errors.ConfigError` naming
file, key, value and what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hil.boardfile.model import Board, Command, Field, Sentence, default_residual
from hil.boardfile.schema import (
    BIT_TABLES,
    BOARDS_DIR,
    STATUS_FIELDS,
    TABLES,
    TYPES,
    WRITABLE_TABLES,
    BoardFileSpec,
    FieldSpec,
    SentenceSpec,
)
from twin.configschema import build, parse_toml, read_text_file
from twin.errors import ConfigError

if TYPE_CHECKING:
    from twin.catalogue import Catalogue

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def board_file(name_or_path: str | Path) -> Path:
    """A board name (``power``) → ``configs/boards/power.toml``; a path stays a path."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.parent != Path("."):
        return p
    return BOARDS_DIR / f"{p}.toml"


def load_boards(catalogue: Catalogue, directory: str | Path = BOARDS_DIR) -> dict[str, Board]:
    """Every ``*.toml`` in ``directory``, by board name (in file-name order)."""
    out: dict[str, Board] = {}
    for p in sorted(Path(directory).glob("*.toml")):
        b = load_board(p, catalogue)
        if b.name in out:
            raise ConfigError(str(p), "board.name", b.name, "a name no other board file has "
                              f"({out[b.name].source} has it)")
        out[b.name] = b
    return out


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
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", b.name) or b.name == "residual":
            raise self.err("board.name", b.name, "a lower-case name (letters, digits, _; at "
                           "most 32) other than 'residual': it names the hil.<name>.* channels")
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
        if spec.residual_tolerance:
            raise self.err(f"{entry}.residual_tolerance", spec.residual_tolerance,
                           "no residual_tolerance on a status or setting field")
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
        # a residual (measured − model) for what the board measures and the plant models
        modelled = (ch.dtype == "float" and not ch.writable and ch.source in ("model", "derived")
                    and not writable)
        if spec.residual_tolerance and not modelled:
            raise self.err(f"{entry}.residual_tolerance", spec.residual_tolerance,
                           f"no residual_tolerance: {path} has no residual (only read-only "
                           "float channels of the model have one)")
        if modelled:
            tol = spec.residual_tolerance or default_residual(f.noise, f.resolution)
            f = dataclasses.replace(f, residual=tol)
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
