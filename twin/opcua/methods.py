"""OPC UA methods: one per command in :mod:`twin.commands`, all through the one command path.

Time, scenario and checkpoint commands are methods of ``Objects/Simulation``; the others of
``Objects/Satellite``. Each method has named, typed and described InputArguments (from the
command's :class:`~twin.commands.Arg`: int → Int32, float → Double, bool → Boolean, str and
json → String) and OutputArguments (``Message``, plus ``FaultId``/``Faults``/``Path`` where the
command returns something). OPC UA methods take every argument, so an optional argument is
omitted by passing NaN (numbers) or an empty string.

The callback runs ``twin.commands.call(name, args, user, role)`` with the session's user and
role (:data:`twin.opcua.users.CURRENT_USER`). A refused call returns the OPC UA status of the
same name as ``Result.status`` (``BadOutOfRange``, ``BadUserAccessDenied``, ...) — clients see
``UaStatusCodeError`` with that code — and its message as the only output argument; the command
path records it and the twin raises a command event, which the server publishes as an OPC UA
event with the message.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from asyncua import ua

from twin.commands import Arg, Command
from twin.opcua.users import CURRENT_USER

if TYPE_CHECKING:
    from asyncua import Server

    from twin.opcua.addressspace import TwinNodes
    from twin.runtime import Twin

SIMULATION_COMMANDS = frozenset({"Pause", "Resume", "Step", "SetSpeed", "RunUntil",
                                 "SaveCheckpoint", "RestoreCheckpoint", "ListScenarios",
                                 "LoadScenario", "StartScenario", "StopScenario",
                                 "ScenarioStatus"})
_KIND = {"int": ua.ObjectIds.Int32, "float": ua.ObjectIds.Double,
         "bool": ua.ObjectIds.Boolean, "str": ua.ObjectIds.String, "json": ua.ObjectIds.String}
_OUTPUT = {"InjectFault": ("FaultId", ua.ObjectIds.Int32, ua.VariantType.Int32,
                           "id of the injected fault (for ClearFault)"),
           "ListFaults": ("Faults", ua.ObjectIds.String, ua.VariantType.String,
                          "injected faults as a JSON list"),
           "ListFaultKinds": ("FaultKinds", ua.ObjectIds.String, ua.VariantType.String,
                              "the fault catalogue as a JSON list (kind, target, doc, params)"),
           "ListAlarms": ("Alarms", ua.ObjectIds.String, ua.VariantType.String,
                          "active and unacknowledged alarms as a JSON list"),
           "ListScenarios": ("Scenarios", ua.ObjectIds.String, ua.VariantType.String,
                             "scenario files as a JSON list (name, description, duration_s)"),
           "ScenarioStatus": ("Status", ua.ObjectIds.String, ua.VariantType.String,
                              "the live scenario as JSON: state, progress, result"),
           "SaveCheckpoint": ("Path", ua.ObjectIds.String, ua.VariantType.String,
                              "file the checkpoint was written to"),
           "WhoAmI": ("Identity", ua.ObjectIds.String, ua.VariantType.String,
                      "the caller's user and role as JSON")}


def argument(name: str, datatype: int, description: str) -> ua.Argument:
    return ua.Argument(Name=name, DataType=ua.NodeId(datatype), ValueRank=ua.ValueRank.Scalar,
                       ArrayDimensions=[], Description=ua.LocalizedText(description))


def describe(a: Arg) -> str:
    text = a.description
    if a.unit:
        text += f" [{a.unit}]"
    if a.lo is not None and a.hi is not None:
        text += f", {a.lo:g} to {a.hi:g}"
    if a.choices:
        text += f", one of {', '.join(a.choices)}"
    if a.optional:
        text += " (optional: " + ("NaN" if a.kind in ("int", "float") else "empty") + \
            " for the default)"
    return text


def input_arguments(cmd: Command) -> list[ua.Argument]:
    return [argument(a.name, _KIND[a.kind], describe(a)) for a in cmd.args]


def output_arguments(cmd: Command) -> list[ua.Argument]:
    out = [argument("Message", ua.ObjectIds.String, "what the twin did, or why it refused")]
    if cmd.name in _OUTPUT:
        name, dtype, _, desc = _OUTPUT[cmd.name]
        out.append(argument(name, dtype, desc))
    return out


def to_args(cmd: Command, values: tuple[Any, ...]) -> dict[str, Any]:
    """Method input values → the command path's argument dict (NaN/"" omit optionals)."""
    out: dict[str, Any] = {}
    for a, v in zip(cmd.args, values, strict=False):
        if isinstance(v, ua.Variant):
            v = v.Value
        if a.optional and (v is None or v == "" or (isinstance(v, float) and math.isnan(v))):
            continue
        out[a.name] = v
    return out


def status_code(name: str) -> int:
    """The OPC UA status code named like ``Result.status``; BadInternalError if unknown."""
    return int(getattr(ua.StatusCodes, name, ua.StatusCodes.BadInternalError))


def make_callback(twin: Twin, cmd: Command) -> Any:
    async def call(parent: ua.NodeId, *values: Any) -> ua.CallMethodResult:
        user = CURRENT_USER.get()
        name, role = (user.name or "?", user.twin_role) if user is not None else ("local", "")
        if user is None:
            role = "engineer"  # an in-process (internal session) call: the server's own owner
        result = ua.CallMethodResult()
        if len(values) != len(cmd.args):
            result.StatusCode = ua.StatusCode(ua.StatusCodes.BadArgumentsMissing
                                              if len(values) < len(cmd.args)
                                              else ua.StatusCodes.BadTooManyArguments)
            return result
        res = twin.commands.call(cmd.name, to_args(cmd, values), user=name, role=role)
        outputs = [ua.Variant(res.message, ua.VariantType.String)]
        if res.ok and cmd.name in _OUTPUT:
            vtype = _OUTPUT[cmd.name][2]
            data = res.data if not isinstance(res.data, dict | list) else json.dumps(res.data)
            outputs.append(ua.Variant(data, vtype))
        result.StatusCode = ua.StatusCode(status_code(res.status))
        result.OutputArguments = outputs
        result.InputArgumentResults = [ua.StatusCode() for _ in values]
        return result

    return call


async def add_methods(server: Server, twin: Twin, nodes: TwinNodes) -> dict[str, ua.NodeId]:
    """One method per command; returns command name → method NodeId."""
    out: dict[str, ua.NodeId] = {}
    for cmd in twin.commands.commands.values():
        parent_id = nodes.simulation if cmd.name in SIMULATION_COMMANDS else nodes.satellite
        parent = server.get_node(parent_id)
        nid = ua.NodeId(f"{parent_id.Identifier}.{cmd.name}", nodes.ns)
        node = await parent.add_method(nid, ua.QualifiedName(cmd.name, nodes.ns),
                                       make_callback(twin, cmd), input_arguments(cmd),
                                       output_arguments(cmd))
        hazard = " Hazardous." if cmd.hazardous else ""
        await node.write_attribute(ua.AttributeIds.Description, ua.DataValue(ua.Variant(
            ua.LocalizedText(f"{cmd.description} Role: {cmd.role}.{hazard}"))))
        out[cmd.name] = nid
    return out
