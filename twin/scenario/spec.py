"""Scenario files (``configs/scenarios/*.toml``) → frozen, validated :class:`Scenario` objects.

The format is written up in ``docs/scenarios.md``. Everything that can be checked before the run
is checked at load time, against the scenario's own satellite: command names and arguments (with
:func:`twin.commands.convert_args` on the command's spec), fault kinds, targets and parameters
(:func:`twin.model.faults.resolve_target`, :func:`~twin.model.faults.check_params`), channel
paths (the catalogue), labels, and times inside the run. A bad file raises one
:class:`~twin.errors.ConfigError` naming ``file:line``, the dotted key (``action[2].args.level``:
the second ``[[action]]`` table, counting from 1), the value and what was expected.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from twin.catalogue import Catalogue, build_catalogue
from twin.commands import Command, command_catalogue, convert_args
from twin.config import CONFIG_DIR, DEFAULT_SATELLITE, SatelliteConfig, load_satellite
from twin.configschema import build, param, parse_toml, read_text_file
from twin.errors import CommandError, ConfigError
from twin.model import faults as flt
from twin.model.params import Params, build_params

OPS = ("<", "<=", ">", ">=", "==", "!=")
STATS = ("max", "min", "mean", "final", "reaches")
# Commands a batch run cannot honour: restoring a checkpoint moves simulated time backwards.
REFUSED = {"RestoreCheckpoint": "a batch scenario cannot move simulated time backwards"}


@dataclass(frozen=True, slots=True)
class ScenarioInfo:
    """The ``[scenario]`` table."""

    name: str = param(doc="scenario name, used in reports and JUnit")
    duration_s: float = param(gt=0.0, le=30 * 86400.0, doc="simulated time, s")
    description: str = param("", doc="what happens and what to look for")
    satellite: str = param("satellite.toml", doc="satellite file, relative to configs/")
    step_s: float = param(0.0, ge=0.0, le=10.0, doc="plant step, s (0: the satellite's)")
    record_every_s: float = param(10.0, gt=0.0, doc="record every channel at this interval, s")
    check_every_s: float = param(0.0, ge=0.0, doc="evaluate triggers and expectations, s "
                                 "(0: at the record interval)")
    seed: int = param(-1, ge=-1, doc="random seed (-1: the satellite's)")
    outcome: str = param("pass", choices=("pass", "fail"), doc="documented outcome")


@dataclass(frozen=True, slots=True)
class Action:
    """A command through the command path, at ``at_s`` (None for a trigger's actions)."""

    key: str  # where it came from, for messages: "action[3]", "trigger[1].actions[1]"
    command: str
    args: dict[str, Any]
    at_s: float | None = None
    label: str = ""  # an InjectFault's name, for ClearFault's fault_id


@dataclass(frozen=True, slots=True)
class Condition:
    channel: str
    op: str
    value: float

    def holds(self, x: float) -> bool:
        return compare(x, self.op, self.value)

    def __str__(self) -> str:
        return f"{self.channel} {self.op} {self.value:g}"


@dataclass(frozen=True, slots=True)
class Trigger:
    key: str
    name: str
    when: Condition
    for_s: float
    once: bool
    actions: tuple[Action, ...]


@dataclass(frozen=True, slots=True)
class Expectation:
    """One pass/fail check over ``[from_s, to_s]``: kind "channel", "fault" or "trigger"."""

    key: str
    name: str
    kind: str
    from_s: float
    to_s: float
    channel: str = ""
    stat: str = ""
    op: str = ""
    value: float = math.nan
    fault: str = ""
    target: str = ""
    trigger: str = ""
    present: bool = True  # fault: active at some instant; trigger: fired (False: never)
    note: str = ""

    def rule(self) -> str:
        window = f"from {self.from_s:g} s to {self.to_s:g} s"
        if self.kind == "channel":
            if self.stat == "reaches":
                return f"{self.channel} reaches {self.op} {self.value:g} {window}"
            return f"{self.stat}({self.channel}) {self.op} {self.value:g} {window}"
        if self.kind == "fault":
            what = f"a {self.fault} fault" + (f" on {self.target}" if self.target else "")
            return f"{what} {'is' if self.present else 'is never'} active {window}"
        return f"trigger {self.trigger!r} {'fires' if self.present else 'never fires'} {window}"


@dataclass(frozen=True, slots=True)
class Scenario:
    source: str
    text: str
    info: ScenarioInfo
    config: SatelliteConfig = field(repr=False)
    catalogue: Catalogue = field(repr=False)
    step_s: float
    check_every_s: float
    seed: int
    actions: tuple[Action, ...]
    triggers: tuple[Trigger, ...]
    expectations: tuple[Expectation, ...]

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def duration_s(self) -> float:
        return self.info.duration_s


def satellite_path(name: str) -> Path:
    """The file a ``[scenario] satellite`` names (relative to ``configs/``)."""
    if name == "satellite.toml":
        return DEFAULT_SATELLITE
    p = Path(name)
    return p if p.is_absolute() else CONFIG_DIR / p


def compare(x: float, op: str, v: float) -> bool:
    if op == "<":
        return x < v
    if op == "<=":
        return x <= v
    if op == ">":
        return x > v
    if op == ">=":
        return x >= v
    if op == "==":
        return x == v
    return x != v


# --- loading ---------------------------------------------------------------------------------
def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; one ConfigError (``file:line``) if anything is wrong."""
    return parse_scenario(read_text_file(path, "scenario file"), str(path))


def parse_scenario(text: str, file: str = "<string>",
                   satellite: SatelliteConfig | None = None,
                   catalogue: Catalogue | None = None) -> Scenario:
    """Validate scenario text. ``satellite``: check and run it against this satellite instead of
    the file ``[scenario] satellite`` names (a recorded run's own config, for forks; a live
    twin's). ``catalogue``: channel paths are checked against this one (a live twin's, with its
    boards' ``hil.*`` channels) instead of the satellite's own."""
    table = parse_toml(text, file)
    try:
        return _Parser(table, text, file, satellite, catalogue).scenario()
    except ConfigError as exc:
        if exc.file != file or not exc.key:
            raise
        line = line_of(text, exc.key)
        where = f"{file}:{line}" if line else file
        raise ConfigError(where, exc.key, exc.value, exc.expected) from None


_KEY_PART = re.compile(r"^([A-Za-z_]+)(?:\[(\d+)\])?$")


def line_of(text: str, key: str) -> int | None:
    """Best-effort line number of a dotted key such as ``action[2].args.level`` (1-based)."""
    parts = key.split(".")
    m = _KEY_PART.match(parts[0])
    if not m:
        return None
    table, index = m[1], int(m[2] or 1)
    lines = text.splitlines()
    header = re.compile(r"^\s*\[\[\s*" + table + r"\s*\]\]" if m[2] else
                        r"^\s*\[\s*" + table + r"\s*\]")
    starts = [i for i, ln in enumerate(lines) if header.match(ln)]
    if m[2] is None and not starts:  # a top-level key (e.g. a misplaced table name)
        for i, ln in enumerate(lines):
            if re.match(r"^\s*" + re.escape(table) + r"\s*=", ln) or re.match(
                    r"^\s*\[+\s*" + re.escape(table) + r"[\].]", ln):
                return i + 1
        return None
    if len(starts) < index:
        return None
    start = starts[index - 1]
    end = next((i for i in range(start + 1, len(lines))
                if re.match(r"^\s*\[", lines[i])), len(lines))
    if len(parts) > 1:
        sub = _KEY_PART.match(parts[1])
        name = sub[1] if sub else parts[1]
        for i in range(start + 1, end):
            if re.match(r"^\s*" + re.escape(name) + r"\s*=", lines[i]):
                return i + 1
    return start + 1


class _Parser:
    def __init__(self, table: dict[str, Any], text: str, file: str,
                 satellite: SatelliteConfig | None = None,
                 catalogue: Catalogue | None = None) -> None:
        self.table, self.text, self.file = table, text, file
        self.given = satellite
        self.given_catalogue = catalogue

    def err(self, key: str, value: object, expected: str) -> ConfigError:
        return ConfigError(self.file, key, value, expected)

    def scenario(self) -> Scenario:
        known = ("scenario", "action", "trigger", "expect")
        for k, v in self.table.items():
            if k not in known:
                raise self.err(k, v, "one of the tables [scenario], [[action]], [[trigger]], "
                               "[[expect]]")
        if "scenario" not in self.table:
            raise self.err("scenario", "<missing>", "a [scenario] table with name and duration_s")
        info = build(ScenarioInfo, self.table["scenario"], self.file, "scenario")
        self.info = info
        self.cfg = self._satellite(info)
        self.params: Params = build_params(self.cfg)
        self.catalogue = (self.given_catalogue if self.given_catalogue is not None
                          else build_catalogue(self.cfg))
        self.commands: dict[str, Command] = {
            c.name: c for c in command_catalogue(SimpleNamespace(plant=SimpleNamespace(
                params=self.params)))}  # type: ignore[arg-type]
        self.step_s = info.step_s or self.cfg.simulation.step_s
        self.check_every_s = info.check_every_s or info.record_every_s
        self._check_grid()
        self.labels: dict[str, float] = {}
        actions = tuple(sorted((self._action(t, f"action[{i}]", timed=True)
                                for i, t in enumerate(self._list("action"), 1)),
                               key=lambda a: a.at_s or 0.0))
        triggers = tuple(self._trigger(t, f"trigger[{i}]")
                         for i, t in enumerate(self._list("trigger"), 1))
        names = [t.name for t in triggers]
        for i, n in enumerate(names, 1):
            if names.index(n) != i - 1:
                raise self.err(f"trigger[{i}].name", n, "a name no other trigger has")
        self.trigger_names = set(names)
        expectations = tuple(self._expect(t, f"expect[{i}]")
                             for i, t in enumerate(self._list("expect"), 1))
        if not expectations:
            raise self.err("expect", "<missing>", "at least one [[expect]] table: a scenario "
                           "without expectations cannot pass or fail")
        seed = self.cfg.simulation.seed if info.seed < 0 else info.seed
        return Scenario(self.file, self.text, info, self.cfg, self.catalogue, self.step_s,
                        self.check_every_s, seed, actions, triggers, expectations)

    def _satellite(self, info: ScenarioInfo) -> SatelliteConfig:
        if self.given is not None:
            return self.given
        path = satellite_path(info.satellite)
        if not path.is_file():
            raise self.err("scenario.satellite", info.satellite,
                           f"a satellite file relative to {CONFIG_DIR} (not found)")
        return load_satellite(path).config

    def _check_grid(self) -> None:
        info, step = self.info, self.step_s

        def multiple(x: float, of: float) -> bool:
            return abs(x / of - round(x / of)) < 1e-9 and round(x / of) >= 1

        for key, v in (("duration_s", info.duration_s), ("record_every_s", info.record_every_s),
                       ("check_every_s", self.check_every_s)):
            if not multiple(v, step):
                raise self.err(f"scenario.{key}", v, f"a whole number of plant steps "
                               f"({step:g} s)")
        if not multiple(info.record_every_s, self.check_every_s):
            raise self.err("scenario.record_every_s", info.record_every_s,
                           f"a whole multiple of check_every_s ({self.check_every_s:g} s)")

    def _list(self, name: str) -> list[Any]:
        v = self.table.get(name, [])
        if not isinstance(v, list) or not all(isinstance(t, dict) for t in v):
            raise self.err(name, v, f"an array of tables, written [[{name}]]")
        return v

    def _keys(self, t: dict[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        for k, v in t.items():
            if k not in allowed:
                raise self.err(f"{key}.{k}", v, "one of the known keys: " + ", ".join(allowed))

    def _get(self, t: dict[str, Any], key: str, name: str, kind: type | tuple[type, ...],
             what: str, default: Any = ...) -> Any:
        if name not in t:
            if default is ...:
                raise self.err(f"{key}.{name}", "<missing>", f"this key to be present ({what})")
            return default
        v = t[name]
        if kind is float:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise self.err(f"{key}.{name}", v, f"a finite number ({what})")
            return float(v)
        if not isinstance(v, kind) or (kind is not bool and isinstance(v, bool)):
            raise self.err(f"{key}.{name}", v, what)
        return v

    def _time(self, t: dict[str, Any], key: str, name: str, default: float | None = None) -> float:
        v = self._get(t, key, name, float, "seconds from the start of the run",
                      ... if default is None else default)
        if not 0.0 <= v <= self.info.duration_s:
            raise self.err(f"{key}.{name}", v, f"a time within the run, 0 to "
                           f"{self.info.duration_s:g} s")
        return v

    def _channel(self, t: dict[str, Any], key: str, name: str = "channel") -> str:
        path = self._get(t, key, name, str, "a channel path such as compute.hottest_gpu_temp_c")
        if path not in self.catalogue:
            near = [c.path for c in self.catalogue.select([path.rsplit(".", 1)[-1]])][:4]
            hint = f" (similar: {', '.join(near)})" if near else ""
            raise self.err(f"{key}.{name}", path,
                           f"a channel of the catalogue (`twin channels` lists them){hint}")
        return path

    def _op(self, t: dict[str, Any], key: str) -> str:
        op = self._get(t, key, "op", str, "one of " + " ".join(OPS))
        if op not in OPS:
            raise self.err(f"{key}.op", op, "one of " + " ".join(OPS))
        return op

    # --- actions ---------------------------------------------------------------------------
    def _action(self, t: Any, key: str, timed: bool) -> Action:
        if not isinstance(t, dict):
            raise self.err(key, t, "a table such as {command = \"SetLoadShedLevel\", "
                           "args = {level = 2}}")
        allowed = ("at_s", "command", "args", "label") if timed else ("command", "args", "label")
        self._keys(t, key, allowed)
        at = self._time(t, key, "at_s") if timed else None
        name = self._get(t, key, "command", str, "a command name such as SetPumpSpeed")
        cmd = self.commands.get(name)
        if cmd is None:
            raise self.err(f"{key}.command", name, "one of the commands: "
                           + ", ".join(self.commands))
        if name in REFUSED:
            raise self.err(f"{key}.command", name, f"another command: {REFUSED[name]}")
        args = self._get(t, key, "args", dict, "a table of arguments", {})
        label = self._get(t, key, "label", str, "a name for this fault", "")
        if label and name != "InjectFault":
            raise self.err(f"{key}.label", label, "no label: only InjectFault actions name "
                           "the fault they inject")
        checked = dict(args)
        if name == "ClearFault" and isinstance(args.get("fault_id"), str):
            ref = args["fault_id"]
            if ref not in self.labels or (at is not None and self.labels[ref] > at):
                raise self.err(f"{key}.args.fault_id", ref, "a fault id, or the label of an "
                               "InjectFault action at or before this one")
            checked["fault_id"] = 1
        try:
            values = convert_args(cmd, checked)
        except CommandError as exc:
            arg = _arg_named(str(exc), cmd)
            k = f"{key}.args.{arg}" if arg else f"{key}.args"
            raise self.err(k, args.get(arg, args) if arg else args,
                           f"valid arguments for {name}: {exc}") from None
        if name == "InjectFault":
            self._fault(values, key, at)
            if label:
                if label in self.labels:
                    raise self.err(f"{key}.label", label, "a label no other action has")
                self.labels[label] = at if at is not None else math.inf
        return Action(key, name, dict(args), at, label)

    def _fault(self, v: dict[str, Any], key: str, at: float | None) -> None:
        fk = flt.KINDS.get(v["kind"])
        if fk is None:
            raise self.err(f"{key}.args.kind", v["kind"], "a fault kind: " + ", ".join(flt.KINDS))
        try:
            flt.resolve_target(self.params, fk, v["target"])
            flt.check_params(fk, v.get("params"))
        except CommandError as exc:
            k = "target" if "target" in str(exc) else "params"
            raise self.err(f"{key}.args.{k}", v.get(k), str(exc)) from None
        if fk.target == "channel" and v["target"] not in self.catalogue:
            raise self.err(f"{key}.args.target", v["target"], f"fault {fk.name}: a channel of "
                           "the catalogue (`twin channels` lists them)")
        start = v.get("start_s")
        if start is not None and not 0.0 <= start <= self.info.duration_s:
            raise self.err(f"{key}.args.start_s", start, f"a time within the run, 0 to "
                           f"{self.info.duration_s:g} s")
        if start is not None and at is not None and start < at:
            raise self.err(f"{key}.args.start_s", start, f"a start at or after the action's "
                           f"at_s ({at:g} s); the plant would start it at once")

    # --- triggers --------------------------------------------------------------------------
    def _trigger(self, t: dict[str, Any], key: str) -> Trigger:
        self._keys(t, key, ("name", "channel", "op", "value", "for_s", "once", "actions"))
        name = self._get(t, key, "name", str, "a name for reports")
        cond = Condition(self._channel(t, key), self._op(t, key),
                         self._get(t, key, "value", float, "the threshold, in channel units"))
        for_s = self._get(t, key, "for_s", float, "seconds the condition must hold", 0.0)
        if not 0.0 <= for_s <= self.info.duration_s:
            raise self.err(f"{key}.for_s", for_s, f"0 to {self.info.duration_s:g} s")
        once = self._get(t, key, "once", bool, "true or false", True)
        raw = self._get(t, key, "actions", list, "an array of {command = ..., args = {...}}")
        if not raw:
            raise self.err(f"{key}.actions", raw, "at least one action")
        actions = tuple(self._action(a, f"{key}.actions[{i}]", timed=False)
                        for i, a in enumerate(raw, 1))
        return Trigger(key, name, cond, for_s, once, actions)

    # --- expectations ----------------------------------------------------------------------
    def _expect(self, t: dict[str, Any], key: str) -> Expectation:
        common = ("name", "from_s", "to_s", "note")
        name = self._get(t, key, "name", str, "a name for reports and JUnit")
        note = self._get(t, key, "note", str, "free text", "")
        t0 = self._time(t, key, "from_s", 0.0)
        t1 = self._time(t, key, "to_s", self.info.duration_s)
        if t1 < t0:
            raise self.err(f"{key}.to_s", t1, f"a time at or after from_s ({t0:g} s)")
        kinds = [k for k in ("channel", "fault", "trigger") if k in t]
        if len(kinds) != 1:
            raise self.err(key, sorted(t), "exactly one of channel, fault or trigger")
        kind = kinds[0]
        if kind == "channel":
            self._keys(t, key, (*common, "channel", "stat", "op", "value"))
            stat = self._get(t, key, "stat", str, "one of " + ", ".join(STATS))
            if stat not in STATS:
                raise self.err(f"{key}.stat", stat, "one of " + ", ".join(STATS))
            return Expectation(key, name, kind, t0, t1, channel=self._channel(t, key),
                               stat=stat, op=self._op(t, key), note=note,
                               value=self._get(t, key, "value", float, "the limit"))
        if kind == "fault":
            self._keys(t, key, (*common, "fault", "target", "active"))
            fault = self._get(t, key, "fault", str, "a fault kind")
            if fault not in flt.KINDS:
                raise self.err(f"{key}.fault", fault, "a fault kind: " + ", ".join(flt.KINDS))
            target = self._get(t, key, "target", str, "the fault's target", "")
            if target:
                try:
                    flt.resolve_target(self.params, flt.KINDS[fault], target)
                except CommandError as exc:
                    raise self.err(f"{key}.target", target, str(exc)) from None
            present = self._get(t, key, "active", bool, "true or false", True)
            return Expectation(key, name, kind, t0, t1, fault=fault, target=target,
                               present=present, note=note)
        self._keys(t, key, (*common, "trigger", "fired"))
        trig = self._get(t, key, "trigger", str, "the name of a [[trigger]]")
        if trig not in self.trigger_names:
            raise self.err(f"{key}.trigger", trig, "the name of a [[trigger]]: "
                           + (", ".join(sorted(self.trigger_names)) or "none defined"))
        present = self._get(t, key, "fired", bool, "true or false", True)
        return Expectation(key, name, kind, t0, t1, trigger=trig, present=present, note=note)


def _arg_named(message: str, cmd: Command) -> str:
    """The argument a convert_args message is about (its first quoted or leading name)."""
    for a in cmd.args:
        if message.startswith(f"{a.name} ") or f"'{a.name}'" in message:
            return a.name
    m = re.search(r"unknown argument '([^']+)'", message)
    return m[1] if m else ""
