"""The one command path: every command from the console, OPC UA, scenarios or a bench test.

A command is data (:class:`Command`: name, role needed, typed and ranged arguments, whether it is
hazardous) and a handler on the :class:`~twin.runtime.Twin`. :meth:`CommandPath.call` checks the
caller's role, converts and range-checks the arguments, runs the handler, and records who, when,
the arguments and the result, every time, refused calls included. It never raises: the caller
gets a :class:`Result` whose ``status`` is an OPC UA status name (``Good``,
``BadUserAccessDenied``, ``BadInvalidArgument``, ``BadOutOfRange``, ``BadInvalidState``, ...).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twin.errors import CommandError, TwinError
from twin.model.faults import KINDS

if TYPE_CHECKING:
    from twin.runtime import Twin

log = logging.getLogger(__name__)
ROLES = ("viewer", "operator", "engineer")
# a fault's target as a client types it (the others are patterns already: thermal.pump.N)
TARGET_FORMS = {"channel": "<channel path a board measures>", "board": "hil.<board>"}


@dataclass(frozen=True, slots=True)
class Arg:
    name: str
    kind: str  # "int", "float", "bool", "str", "json"
    description: str
    unit: str = ""
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    role: str
    description: str
    args: tuple[Arg, ...] = ()
    hazardous: bool = False
    query: bool = False  # reads only: recorded, but raises no command event when it succeeds


@dataclass(frozen=True, slots=True)
class Result:
    ok: bool
    status: str
    message: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class CommandRecord:
    sim_s: float
    wall_s: float
    user: str
    role: str
    command: str
    args: dict[str, Any]
    status: str
    message: str


@dataclass(frozen=True, slots=True)
class Said:
    """A handler's answer that is a message for the caller, not data."""

    message: str


def role_allows(role: str, needed: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def command_catalogue(twin: Twin) -> tuple[Command, ...]:
    """Every command, with argument ranges from this satellite's config."""
    p = twin.plant.params
    return (
        Command("Pause", "operator", "Pause simulated time."),
        Command("Resume", "operator", "Run simulated time at real time × speed."),
        Command("Step", "operator", "Advance a number of plant steps, then stay paused.",
                (Arg("n", "int", "number of steps", "", 1, 10_000_000),)),
        Command("SetSpeed", "operator", "Set the real-time factor.",
                (Arg("speed", "float", "real-time factor", "", 0.1, 1000.0),)),
        Command("RunUntil", "operator", "Run as fast as possible up to a simulated time, pause.",
                (Arg("t_s", "float", "simulated time since epoch", "s", 0.0, 1e10),)),
        Command("SetRackEnabled", "operator", "Switch a rack on or off (off resets its limiter).",
                (Arg("rack", "int", "rack number", "", 1, p.n_racks),
                 Arg("enabled", "bool", "true: on")), hazardous=True),
        Command("SetRackPowerCap", "operator", "Cap a rack's power (0: no cap).",
                (Arg("rack", "int", "rack number", "", 1, p.n_racks),
                 Arg("cap_w", "float", "power cap, 0 for none", "W", 0.0,
                     2.0 * (p.gpus_per_rack * p.gpu_tdp_w + p.rack_overhead_w)))),
        Command("SetPumpSpeed", "operator", "Set a coolant pump's speed.",
                (Arg("pump", "int", "pump (loop) number", "", 1, p.n_loops),
                 Arg("speed_pct", "float", "speed", "%", 0.0, 100.0)), hazardous=True),
        Command("SetRadiatorDeploy", "operator", "Deploy or stow a radiator panel.",
                (Arg("panel", "int", "panel number", "", 1, p.n_panels),
                 Arg("deployed", "bool", "true: deploy")), hazardous=True),
        Command("SetHeaterMode", "operator", "Battery heater control: auto, off or on.",
                (Arg("string", "int", "battery string", "", 1, p.n_strings),
                 Arg("mode", "str", "heater mode", choices=("auto", "off", "on")))),
        Command("SetLoadShedLevel", "operator", "Minimum load-shed level (racks off in steps).",
                (Arg("level", "int", "shed level", "", 0, p.max_shed_level),), hazardous=True),
        Command("InjectFault", "engineer", "Inject a fault from the catalogue.",
                (Arg("kind", "str", "fault kind", choices=tuple(KINDS)),
                 Arg("target", "str", "component (thermal.pump.2), channel (sensor faults) or "
                     "hil.<board> (board faults)"),
                 Arg("params", "json", "parameters as a JSON object", optional=True),
                 Arg("start_s", "float", "start (default now)", "s", 0.0, 1e10, optional=True),
                 Arg("duration_s", "float", "duration (default until cleared)", "s", 0.0, 1e10,
                     optional=True)), hazardous=True),
        Command("ClearFault", "engineer", "Clear an injected fault.",
                (Arg("fault_id", "int", "fault id", "", 1, 1e9),)),
        Command("ListFaults", "viewer", "List injected faults (JSON).", query=True),
        Command("ListFaultKinds", "viewer", "The fault catalogue (JSON): each kind, the target "
                "it takes, what it does and its parameters.", query=True),
        Command("AcknowledgeAlarm", "operator", "Acknowledge a limit alarm.",
                (Arg("path", "str", "channel path of the alarm"),
                 Arg("comment", "str", "operator's comment", optional=True))),
        Command("AcknowledgeEvent", "operator", "Acknowledge one alarm notification by its "
                "OPC UA EventId (what the standard Acknowledge method of a condition calls).",
                (Arg("path", "str", "channel path of the alarm (the condition)"),
                 Arg("event_id", "str", "EventId of the notification, as hex"),
                 Arg("comment", "str", "operator's comment", optional=True))),
        Command("ShelveAlarm", "operator", "Silence an alarm's events for a while (0: unshelve).",
                (Arg("path", "str", "channel path of the alarm"),
                 Arg("duration_s", "float", "shelf time", "s", 0.0, 7 * 86400.0))),
        Command("ListAlarms", "viewer", "Active and unacknowledged alarms (JSON).", query=True),
        Command("ListScenarios", "viewer", "Scenario files a live run can load (JSON).",
                query=True),
        Command("LoadScenario", "engineer", "Load and check a scenario file for a live run.",
                (Arg("name", "str", "scenario name from ListScenarios, e.g. "
                     "pump-failure-shed"),)),
        Command("StartScenario", "engineer", "Start the loaded scenario now: its timeline "
                "(faults, commands) runs from this instant.", hazardous=True),
        Command("StopScenario", "engineer", "Stop the running scenario and judge what was seen."),
        Command("ScenarioStatus", "viewer", "The live scenario: state, progress, result (JSON).",
                query=True),
        Command("WhoAmI", "viewer", "The caller's user name and role (JSON), e.g. for a "
                "console to show which controls it may use.", query=True),
        Command("SaveCheckpoint", "engineer", "Save the plant's state under a name.",
                (Arg("name", "str", "checkpoint name"),)),
        Command("RestoreCheckpoint", "engineer", "Restore a saved state (commands and faults too).",
                (Arg("name", "str", "checkpoint name"),), hazardous=True),
    )


class CommandPath:
    """Checks, runs and records commands against one twin."""

    def __init__(self, twin: Twin, record: Callable[[CommandRecord], None] | None = None) -> None:
        self.twin = twin
        self.commands = {c.name: c for c in command_catalogue(twin)}
        self.log: list[CommandRecord] = []
        self._record = record
        self._user = self._role = ""

    def call(self, name: str, args: dict[str, Any] | None = None, user: str = "local",
             role: str = "engineer") -> Result:
        args = dict(args or {})
        cmd = self.commands.get(name)
        if cmd is None:
            res = Result(False, "BadMethodInvalid",
                         f"unknown command {name!r}; known: {', '.join(self.commands)}")
        elif not role_allows(role, cmd.role):
            res = Result(False, "BadUserAccessDenied",
                         f"{name} needs the {cmd.role} role; {user} is {role}")
        else:
            try:
                values = convert_args(cmd, args)
                self._user, self._role = user, role
                data = getattr(self, "_" + name)(**values)
                if isinstance(data, Said):
                    res = Result(True, "Good", f"{name}: {data.message}")
                else:
                    res = Result(True, "Good", f"{name} done", data)
            except CommandError as exc:
                res = Result(False, exc.status, f"{name}: {exc}")
            except TwinError as exc:
                res = Result(False, "BadInvalidState", f"{name}: {exc}")
        rec = CommandRecord(self.twin.plant.t_s, time.time(), user, role, name, args, res.status,
                            res.message)
        quiet = cmd is not None and cmd.query and res.ok
        log.log(logging.DEBUG if quiet else logging.INFO if res.ok else logging.WARNING,
                "command %s %s by %s (%s) at %.1f s: %s", name, args, user, role, rec.sim_s,
                res.message if not res.ok else res.status)
        self.log.append(rec)
        if self._record is not None:
            self._record(rec)
        return res

    # --- handlers: one per command, named _<Command> --------------------------------------
    def _Pause(self) -> None:
        self.twin.clock.pause()

    def _Resume(self) -> None:
        self.twin.clock.resume()

    def _Step(self, n: int) -> None:
        self.twin.clock.step(n)

    def _SetSpeed(self, speed: float) -> None:
        self.twin.clock.set_speed(speed)

    def _RunUntil(self, t_s: float) -> None:
        self.twin.clock.run_until(t_s)

    def _SetRackEnabled(self, rack: int, enabled: bool) -> None:
        self.twin.plant.inputs.rack_enabled[rack - 1] = enabled

    def _SetRackPowerCap(self, rack: int, cap_w: float) -> None:
        floor = self.twin.plant.params.rack_overhead_w
        if 0.0 < cap_w < floor:
            raise CommandError(f"cap {cap_w:g} W is below the rack's fixed overhead {floor:g} W",
                               "BadOutOfRange")
        self.twin.plant.inputs.rack_cap_w[rack - 1] = cap_w if cap_w > 0.0 else math.inf

    def _SetPumpSpeed(self, pump: int, speed_pct: float) -> None:
        self.twin.plant.inputs.pump_speed[pump - 1] = speed_pct / 100.0

    def _SetRadiatorDeploy(self, panel: int, deployed: bool) -> None:
        self.twin.plant.inputs.panel_deploy[panel - 1] = deployed

    def _SetHeaterMode(self, string: int, mode: str) -> None:
        self.twin.plant.inputs.heater_mode[string - 1] = ("auto", "off", "on").index(mode)

    def _SetLoadShedLevel(self, level: int) -> None:
        self.twin.plant.inputs.shed_level_cmd = level

    def _InjectFault(self, kind: str, target: str, params: dict[str, Any] | None = None,
                     start_s: float | None = None, duration_s: float | None = None) -> int:
        if params is not None and not isinstance(params, dict):
            raise CommandError("params: expected a JSON object such as {\"health\": 0.5}")
        fk = KINDS.get(kind)
        note = self.twin.check_board_fault(kind, target) if fk and not fk.plant else ""
        fid = self.twin.plant.inject_fault(kind, target, params, start_s, duration_s)
        self.twin.event("fault", 600, f"fault {fid} {kind} on {target} injected{note}",
                        fault_id=fid)
        return fid

    def _ClearFault(self, fault_id: int) -> None:
        self.twin.plant.clear_fault(fault_id)
        self.twin.event("fault", 300, f"fault {fault_id} cleared", fault_id=fault_id)

    def _ListFaults(self) -> str:
        return json.dumps(self.twin.plant.list_faults())

    def _ListFaultKinds(self) -> str:
        def finite(x: float) -> float | None:  # JSON has no NaN (sensor_stuck's default)
            return x if math.isfinite(x) else None

        return json.dumps([
            {"kind": k.name, "target": TARGET_FORMS.get(k.target, k.target), "doc": k.doc,
             "plant": k.plant,
             "params": [{"name": p.name, "unit": p.unit, "default": finite(p.default),
                         "lo": p.lo, "hi": p.hi, "doc": p.doc} for p in k.params]}
            for k in KINDS.values()])

    def _AcknowledgeAlarm(self, path: str, comment: str = "") -> None:
        self.twin.alarms.acknowledge(path, self._user, comment)

    def _AcknowledgeEvent(self, path: str, event_id: str, comment: str = "") -> None:
        self.twin.alarms.acknowledge_event(event_id, self._user, comment, path=path)

    def _ShelveAlarm(self, path: str, duration_s: float) -> None:
        self.twin.alarms.shelve(path, duration_s, self._user)

    def _ListAlarms(self) -> str:
        return self.twin.alarms.to_json()

    def _ListScenarios(self) -> str:
        return self.twin.scenarios.list_json()

    def _LoadScenario(self, name: str) -> Said:
        return Said(self.twin.scenarios.load(name))

    def _StartScenario(self) -> Said:
        return Said(self.twin.scenarios.start())

    def _StopScenario(self) -> Said:
        return Said(self.twin.scenarios.stop())

    def _ScenarioStatus(self) -> str:
        return self.twin.scenarios.status_json()

    def _WhoAmI(self) -> str:
        return json.dumps({"user": self._user, "role": self._role})

    def _SaveCheckpoint(self, name: str) -> str:
        return str(self.twin.save_checkpoint(name))

    def _RestoreCheckpoint(self, name: str) -> None:
        self.twin.restore_checkpoint(name)


def convert_args(cmd: Command, args: dict[str, Any]) -> dict[str, Any]:
    """Typed, range-checked arguments, or a CommandError naming the argument."""
    known = {a.name for a in cmd.args}
    for name in args:
        if name not in known:
            raise CommandError(f"unknown argument {name!r}; expected "
                               + (", ".join(a.name for a in cmd.args) or "none"))
    out: dict[str, Any] = {}
    for a in cmd.args:
        if a.name not in args or args[a.name] is None:
            if a.optional:
                continue
            raise CommandError(f"missing argument {a.name!r} ({a.description})")
        out[a.name] = _convert(a, args[a.name])
    return out


def _convert(a: Arg, v: Any) -> Any:
    if a.kind == "bool":
        if isinstance(v, bool):
            return v
        raise CommandError(f"{a.name} = {v!r}: expected true or false")
    if a.kind == "str":
        if not isinstance(v, str):
            raise CommandError(f"{a.name} = {v!r}: expected a string")
        if a.choices and v not in a.choices:
            raise CommandError(f"{a.name} = {v!r}: expected one of {', '.join(a.choices)}")
        return v
    if a.kind == "json":
        if isinstance(v, dict):
            return v
        try:
            return json.loads(v) if isinstance(v, str) and v.strip() else None
        except json.JSONDecodeError as exc:
            raise CommandError(f"{a.name}: not valid JSON ({exc.msg})") from None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise CommandError(f"{a.name} = {v!r}: expected a number")
    if a.kind == "int":
        if isinstance(v, float) and not v.is_integer():
            raise CommandError(f"{a.name} = {v!r}: expected a whole number")
        v = int(v)
    else:
        v = float(v)
        if not math.isfinite(v):
            raise CommandError(f"{a.name} = {v!r}: expected a finite number", "BadOutOfRange")
    if (a.lo is not None and v < a.lo) or (a.hi is not None and v > a.hi):
        raise CommandError(f"{a.name} = {v:g}{(' ' + a.unit) if a.unit else ''}: expected "
                           f"{a.lo:g} to {a.hi:g}", "BadOutOfRange")
    return v


@dataclass(slots=True)
class Event:
    sim_s: float
    wall_s: float
    kind: str  # "command", "fault", "scenario", "alarm", "link", "clock"
    severity: int  # OPC UA 1..1000
    message: str
    data: dict[str, Any] = field(default_factory=dict)
