"""Alarms over OPC UA: a projection of the core's :class:`~twin.alarms.AlarmBook`.

Each channel with limits has a ``LimitState`` property (``ok``, ``yellow-low``, ``yellow-high``,
``red-low``, ``red-high``; NodeId ``<path>.LimitState``) kept current for simple clients. Alarm
events are AlarmConditionType events on the Satellite object, as far as asyncua goes: SourceNode
is the channel's variable, ConditionName its path, ActiveState/AckedState (with their Id),
Retain while active or unacknowledged, Severity and Message. Operators acknowledge and shelve
through the AcknowledgeAlarm and ShelveAlarm methods (the one command path); asyncua has no
condition instances to call the standard Acknowledge method on.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from asyncua import ua

from twin.alarms import Alarm

if TYPE_CHECKING:
    from asyncua import Server

    from twin.opcua.addressspace import TwinNodes
    from twin.runtime import Twin


class AlarmProjection:
    def __init__(self, server: Server, twin: Twin, nodes: TwinNodes) -> None:
        self.twin = twin
        self.nodes = nodes
        aspace = server.iserver.aspace
        self._attrs = {twin.catalogue.channels[i].path:
                       aspace[nid].attributes[ua.AttributeIds.Value]
                       for i, nid in nodes.limit_state_ids.items()}
        self._pending: set[asyncio.Future[None]] = set()
        twin.alarms.listeners.append(self.changed)

    def changed(self, alarms: list[Alarm]) -> None:
        for alarm in alarms:
            attr = self._attrs.get(alarm.path)
            if attr is None:
                continue
            dv = ua.DataValue(ua.Variant(alarm.state, ua.VariantType.String))
            attr.value = dv
            for handle, cb in list(attr.datachange_callbacks.items()):
                fut = asyncio.ensure_future(cb(handle, dv))
                self._pending.add(fut)
                fut.add_done_callback(self._pending.discard)

    def fill_event(self, event: Any, data: dict[str, Any]) -> None:
        """Set the AlarmConditionType fields of ``event`` from an alarm event's data."""
        path = data["path"]
        ch = self.twin.catalogue[path]
        event.SourceNode = self.nodes.channel_ids[ch.index]
        event.SourceName = path
        event.ConditionName = path
        active, acked = bool(data["active"]), bool(data["acked"])
        event.ActiveState = ua.LocalizedText("Active" if active else "Inactive")
        setattr(event, "ActiveState/Id", active)
        event.AckedState = ua.LocalizedText("Acknowledged" if acked else "Unacknowledged")
        setattr(event, "AckedState/Id", acked)
        setattr(event, "EnabledState/Id", True)
        event.EnabledState = ua.LocalizedText("Enabled")
        event.Retain = active or not acked
