"""Alarms over OPC UA: Alarms & Conditions (Part 9) projected from the core's
:class:`~twin.alarms.AlarmBook`, as far as asyncua 2.1.0 goes.

- Each channel with limits has a ``LimitState`` property (``ok``, ``yellow-low``,
  ``yellow-high``, ``red-low``, ``red-high``; NodeId ``<path>.LimitState``) for simple clients.
- A channel's alarm is a condition: ``ExclusiveLimitAlarmType`` for numbers (yellow = High/Low,
  red = HighHigh/LowLow), ``OffNormalAlarmType`` for booleans. Its instance, NodeId
  ``<path>.Alarm`` (the ConditionId), is made the first time the alarm is notified, not at
  start-up (an instance per limited channel would double the address space): an object under
  the channel's component, referenced from the channel by HasCondition, with EventId, SourceNode,
  ConditionName, Message, Severity, Retain, ActiveState and AckedState (each with Id) kept
  current, and the standard Acknowledge method (i=9111) as its component.
- Every notification of the core is a condition event on the Satellite object: EventId (the
  core's ``event_id``), ConditionId, SourceNode (the channel), ConditionName (the path),
  ActiveState/AckedState/EnabledState with Id, Retain (active or unacknowledged), Severity (the
  alarm's), Message, Comment and ClientUserId (who acknowledged), SuppressedOrShelved, and the
  limits and LimitState/CurrentState (or NormalState).
- Acknowledge(EventId, Comment) on a ConditionId (as the ObjectId, the way Part 9 requires
  servers to accept) goes through the one command path as ``AcknowledgeEvent`` with the
  session's user and role: a viewer gets BadUserAccessDenied, an unknown EventId
  BadEventIdUnknown, an acknowledged one BadConditionBranchAlreadyAcked; the core's
  acknowledgement then comes back as an event with AckedState true.
- ConditionRefresh (i=3875) is asyncua's: RefreshStart, the retained condition events,
  RefreshEnd. The server turns it on (``bind_condition_methods``) before ``init``.

asyncua 2.1.0 fails to send any event to a monitored item whose select clause has a null
BrowsePath, which is how node-opcua encodes the standard ConditionId clause; the twin's events
are of :func:`safe_event` classes, which read a null path as an empty one.

Not done, because asyncua does not: events do not propagate from the Satellite up to the
Server object (subscribe to the Satellite); its where-clause OfType matches the exact type only
(an ``OfType(AlarmConditionType)`` filter misses these subtypes; asyncua's own client uses
InList of the subtypes and is fine); no branches, Confirm, Enable/Disable or AddComment; no
ShelvingState machine (shelving is the ShelveAlarm command; SuppressedOrShelved shows it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from asyncua import ua
from asyncua.common import event_objects
from asyncua.common.events import Event

from twin.alarms import Alarm, alarm_data
from twin.opcua.methods import status_code
from twin.opcua.users import CURRENT_USER

if TYPE_CHECKING:
    from asyncua import Server

    from twin.opcua.addressspace import TwinNodes
    from twin.runtime import Twin

_I = ua.ObjectIds
_VT = ua.VariantType
# core state → (ExclusiveLimitStateMachineType state name, its NodeId)
LIMIT_STATES = {"red-high": ("HighHigh", _I.ExclusiveLimitStateMachineType_HighHigh),
                "yellow-high": ("High", _I.ExclusiveLimitStateMachineType_High),
                "yellow-low": ("Low", _I.ExclusiveLimitStateMachineType_Low),
                "red-low": ("LowLow", _I.ExclusiveLimitStateMachineType_LowLow)}
# Condition variables kept current on the instance: (event field, DataType, VariantType).
# "X/Id" is the Id property of the TwoStateVariable X.
CHILDREN = (("EventId", _I.ByteString, _VT.ByteString),
            ("SourceNode", _I.NodeId, _VT.NodeId),
            ("ConditionName", _I.String, _VT.String),
            ("Message", _I.LocalizedText, _VT.LocalizedText),
            ("Severity", _I.UInt16, _VT.UInt16),
            ("Retain", _I.Boolean, _VT.Boolean),
            ("ActiveState", _I.LocalizedText, _VT.LocalizedText),
            ("ActiveState/Id", _I.Boolean, _VT.Boolean),
            ("AckedState", _I.LocalizedText, _VT.LocalizedText),
            ("AckedState/Id", _I.Boolean, _VT.Boolean))


def safe_event(cls: type[Event]) -> type[Event]:
    """``cls`` whose event fields accept a select clause with a null BrowsePath (as empty)."""

    class Safe(cls):  # type: ignore[misc, valid-type]
        def to_event_fields(self, select_clauses: list[ua.SimpleAttributeOperand]
                            ) -> list[ua.Variant]:
            return super().to_event_fields([
                c if c.BrowsePath is not None else replace(c, BrowsePath=[])
                for c in select_clauses])

    Safe.__name__ = Safe.__qualname__ = cls.__name__
    return Safe


LimitAlarmEvent = safe_event(event_objects.ExclusiveLimitAlarm)
OffNormalEvent = safe_event(event_objects.OffNormalAlarm)
TwinEvent = safe_event(event_objects.BaseEvent)  # the twin's other events (commands, faults)


class AlarmProjection:
    """The AlarmBook as LimitState values, condition instances and condition events."""

    def __init__(self, server: Server, twin: Twin, nodes: TwinNodes,
                 source_time: Callable[[float], datetime]) -> None:
        self.server = server
        self.twin = twin
        self.nodes = nodes
        self.source_time = source_time
        aspace = server.iserver.aspace
        self._aspace = aspace
        self._attrs = {twin.catalogue.channels[i].path:
                       aspace[nid].attributes[ua.AttributeIds.Value]
                       for i, nid in nodes.limit_state_ids.items()}
        self.conditions: dict[str, ua.NodeId] = {}  # path → ConditionId, once notified
        self._paths: dict[ua.NodeId, str] = {}  # ConditionId → path
        self._children: dict[str, list[tuple[str, Any, _VT]]] = {}  # path → (field, attr, type)
        self._severity: dict[str, int] = {}  # path → Severity of its last event (LastSeverity)
        self._pending: set[asyncio.Future[None]] = set()
        twin.alarms.listeners.append(self.changed)
        server.iserver.isession.add_method_callback(
            ua.NodeId(_I.AcknowledgeableConditionType_Acknowledge), self.acknowledge)

    async def start(self) -> None:
        """Declare the event types the Satellite generates; retain the alarms already active
        or unacknowledged, so that a ConditionRefresh shows them."""
        refs = [ua.AddReferencesItem(SourceNodeId=self.nodes.satellite, IsForward=True,
                                     ReferenceTypeId=ua.NodeId(_I.GeneratesEvent),
                                     TargetNodeId=ua.NodeId(t),
                                     TargetNodeClass=ua.NodeClass.ObjectType)
                for t in (_I.ExclusiveLimitAlarmType, _I.OffNormalAlarmType)]
        for code in await self.server.iserver.isession.add_references(refs):
            code.check()
        self.changed(list(self.twin.alarms.alarms.values()))
        for alarm in self.twin.alarms.active():
            if alarm.event_id:
                await self.emit(alarm.since_s, alarm.message, alarm_data(alarm))

    # --- LimitState ----------------------------------------------------------------------
    def changed(self, alarms: list[Alarm]) -> None:
        for alarm in alarms:
            attr = self._attrs.get(alarm.path)
            if attr is not None:
                self._write(attr, ua.DataValue(ua.Variant(alarm.state, _VT.String)))

    def _write(self, attr: Any, dv: ua.DataValue) -> None:
        attr.value = dv
        for handle, cb in list(attr.datachange_callbacks.items()):
            fut = asyncio.ensure_future(cb(handle, dv))
            self._pending.add(fut)
            fut.add_done_callback(self._pending.discard)

    # --- condition events ----------------------------------------------------------------
    def handles(self, data: dict[str, Any]) -> bool:
        """Whether an alarm event's data is a channel's condition notification."""
        return data.get("path") in self.twin.catalogue.by_path and bool(data.get("event_id"))

    async def emit(self, sim_s: float, message: str, data: dict[str, Any]) -> None:
        """One notification: make the condition instance if new, update it, send the event."""
        path = data["path"]
        cond = self.conditions.get(path)
        if cond is None:
            cond = await self._make_condition(path)
            await asyncio.sleep(0)  # an alarm storm makes many: let the publisher run between
        event = self.event(cond, sim_s, message, data)
        for field, attr, vtype in self._children[path]:
            self._write(attr, ua.DataValue(ua.Variant(getattr(event, field), vtype),
                                           SourceTimestamp=event.Time,
                                           ServerTimestamp=event.ReceiveTime))
        await self.server.iserver.subscription_service.trigger_event(event)

    def event(self, cond: ua.NodeId, sim_s: float, message: str, data: dict[str, Any]) -> Any:
        """A fresh condition event (asyncua keeps retained ones by reference: never reuse)."""
        path = data["path"]
        ch = self.twin.catalogue[path]
        boolean = ch.dtype == "bool"
        ev = OffNormalEvent() if boolean else LimitAlarmEvent()
        ev.add_property("NodeId", cond, _VT.NodeId)  # the ConditionId (asyncua's field name)
        ev.emitting_node = self.nodes.satellite
        source = self.nodes.channel_ids[ch.index]
        active, acked = bool(data["active"]), bool(data["acked"])
        shelf = data.get("shelved_until_s")
        severity = int(data["alarm_severity"])
        ev.EventId = bytes.fromhex(data["event_id"])
        ev.SourceNode = ev.InputNode = source
        ev.SourceName = ev.ConditionName = path
        ev.Time = self.source_time(sim_s)
        ev.ReceiveTime = datetime.now(UTC)
        ev.Message = ua.LocalizedText(message)
        ev.Severity = severity
        ev.LastSeverity = self._severity.get(path, severity)
        self._severity[path] = severity
        ev.ConditionClassId = ua.NodeId(_I.ProcessConditionClassType)
        ev.ConditionClassName = ua.LocalizedText("Process")
        ev.BranchId = ua.NodeId()
        ev.Retain = active or not acked
        ev.EnabledState = ua.LocalizedText("Enabled")
        setattr(ev, "EnabledState/Id", True)
        ev.ActiveState = ua.LocalizedText("Active" if active else "Inactive")
        setattr(ev, "ActiveState/Id", active)
        ev.AckedState = ua.LocalizedText("Acknowledged" if acked else "Unacknowledged")
        setattr(ev, "AckedState/Id", acked)
        ev.SuppressedOrShelved = shelf is not None and sim_s < shelf
        ev.Comment = ua.LocalizedText(data.get("comment") or "")
        ev.ClientUserId = data.get("acked_by") or ""
        ev.Quality = ua.StatusCode()
        if boolean:
            ev.NormalState = ua.NodeId(f"{cond.Identifier}.NormalValue", cond.NamespaceIndex)
            return ev
        ev.HighHighLimit, ev.HighLimit = ch.red[1], ch.yellow[1]
        ev.LowLimit, ev.LowLowLimit = ch.yellow[0], ch.red[0]
        name, sid = LIMIT_STATES.get(data["state"], (None, None))
        ev.add_property("LimitState/CurrentState", ua.LocalizedText(name) if name else None,
                        _VT.LocalizedText)
        ev.add_property("LimitState/CurrentState/Id", ua.NodeId(sid) if sid else None,
                        _VT.NodeId)
        return ev

    async def _make_condition(self, path: str) -> ua.NodeId:
        """The condition instance of ``path``'s alarm, under the channel's component."""
        ns = self.nodes.ns
        ch = self.twin.catalogue[path]
        source = self.nodes.channel_ids[ch.index]
        cond = ua.NodeId(f"{path}.Alarm", ns)
        boolean = ch.dtype == "bool"
        typedef = _I.OffNormalAlarmType if boolean else _I.ExclusiveLimitAlarmType
        kind = "off-normal alarm" if boolean else "limit alarm"
        leaf = path.rsplit(".", 1)[1]
        items = [_item(self._parent(source), cond, ua.QualifiedName(f"{leaf}_alarm", ns),
                       ua.NodeClass.Object, _I.HasComponent, typedef, ua.ObjectAttributes(
                           DisplayName=ua.LocalizedText(f"{leaf} alarm"),
                           Description=ua.LocalizedText(f"The {kind} of {path}"),
                           EventNotifier=0))]
        children: list[tuple[str, ua.NodeId, _VT]] = []
        for field, dtype, vtype in CHILDREN:
            owner, _, name = field.rpartition("/")
            parent = ua.NodeId(f"{path}.Alarm.{owner}", ns) if owner else cond
            nid = ua.NodeId(f"{parent.Identifier}.{name}", ns)
            two_state = field in ("ActiveState", "AckedState")
            items.append(_variable(parent, nid, name, dtype, two_state))
            children.append((field, nid, vtype))
        if boolean:  # what NormalState points at: the channel's normal value
            normal = ch.red[0] is not None or ch.yellow[0] is not None  # alarm when low
            nid = ua.NodeId(f"{path}.Alarm.NormalValue", ns)
            items.append(_variable(cond, nid, "NormalValue", _I.Boolean, False,
                                   ua.Variant(normal, _VT.Boolean), ns))
        isession = self.server.iserver.isession
        for item, res in zip(items, await isession.add_nodes(items), strict=True):
            if not res.StatusCode.is_good():
                raise RuntimeError(f"adding OPC UA node {item.RequestedNewNodeId.to_string()}: "
                                   f"{res.StatusCode.name}")
        refs = [ua.AddReferencesItem(SourceNodeId=source, IsForward=True,
                                     ReferenceTypeId=ua.NodeId(_I.HasCondition),
                                     TargetNodeId=cond, TargetNodeClass=ua.NodeClass.Object),
                ua.AddReferencesItem(SourceNodeId=cond, IsForward=True,
                                     ReferenceTypeId=ua.NodeId(_I.HasComponent),
                                     TargetNodeId=ua.NodeId(
                                         _I.AcknowledgeableConditionType_Acknowledge),
                                     TargetNodeClass=ua.NodeClass.Method)]
        for code in await isession.add_references(refs):
            code.check()
        value = ua.AttributeIds.Value
        self._children[path] = [(field, self._aspace[nid].attributes[value], vtype)
                                for field, nid, vtype in children]
        self.conditions[path] = cond
        self._paths[cond] = path
        return cond

    def _parent(self, node: ua.NodeId) -> ua.NodeId:
        for ref in self._aspace[node].references:
            if not ref.IsForward and ref.ReferenceTypeId == ua.NodeId(_I.HasComponent):
                return ref.NodeId
        return self.nodes.satellite

    # --- the standard Acknowledge method -------------------------------------------------
    async def acknowledge(self, parent: ua.NodeId, *args: Any) -> ua.CallMethodResult:
        """Acknowledge(EventId, Comment) called on ConditionId ``parent``."""
        result = ua.CallMethodResult()
        path = self._paths.get(parent)
        if path is None:  # not a condition of ours (or the type node itself)
            result.StatusCode = ua.StatusCode(ua.StatusCodes.BadNodeIdInvalid)
            return result
        if len(args) != 2:
            result.StatusCode = ua.StatusCode(ua.StatusCodes.BadArgumentsMissing if len(args) < 2
                                              else ua.StatusCodes.BadTooManyArguments)
            return result
        event_id, comment = (a.Value if isinstance(a, ua.Variant) else a for a in args)
        if not isinstance(event_id, bytes | bytearray):
            result.StatusCode = ua.StatusCode(ua.StatusCodes.BadTypeMismatch)
            result.InputArgumentResults = [result.StatusCode, ua.StatusCode()]
            return result
        text = comment.Text if isinstance(comment, ua.LocalizedText) else str(comment or "")
        user = CURRENT_USER.get()
        name, role = (user.name or "?", user.twin_role) if user is not None else ("local",
                                                                                  "engineer")
        res = self.twin.commands.call("AcknowledgeEvent", {
            "path": path, "event_id": bytes(event_id).hex(), "comment": text or None},
            user=name, role=role)
        result.StatusCode = ua.StatusCode(status_code(res.status))
        result.InputArgumentResults = [ua.StatusCode(), ua.StatusCode()]
        return result


def _item(parent: ua.NodeId, nid: ua.NodeId, name: ua.QualifiedName, nclass: ua.NodeClass,
          ref: int, typedef: int, attrs: object) -> ua.AddNodesItem:
    item = ua.AddNodesItem()
    item.ParentNodeId = parent
    item.ReferenceTypeId = ua.NodeId(ref)
    item.RequestedNewNodeId = nid
    item.BrowseName = name
    item.NodeClass = nclass
    item.NodeAttributes = attrs
    item.TypeDefinition = ua.NodeId(typedef)
    return item


def _variable(parent: ua.NodeId, nid: ua.NodeId, name: str, dtype: int, two_state: bool,
              value: ua.Variant | None = None, ns: int = 0) -> ua.AddNodesItem:
    """A read-only condition variable: standard children have namespace-0 browse names."""
    access = ua.AccessLevel.CurrentRead.mask
    attrs = ua.VariableAttributes(
        DisplayName=ua.LocalizedText(name), Description=ua.LocalizedText(name),
        Value=value or ua.Variant(), DataType=ua.NodeId(dtype), ValueRank=ua.ValueRank.Scalar,
        AccessLevel=access, UserAccessLevel=access, WriteMask=0, UserWriteMask=0)
    if two_state:
        return _item(parent, nid, ua.QualifiedName(name, ns), ua.NodeClass.Variable,
                     _I.HasComponent, _I.TwoStateVariableType, attrs)
    return _item(parent, nid, ua.QualifiedName(name, ns), ua.NodeClass.Variable,
                 _I.HasProperty, _I.PropertyType, attrs)
