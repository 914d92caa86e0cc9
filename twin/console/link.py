"""The console's OPC UA side: one connection, one subscription, method calls, retry on loss.

:class:`Link` connects with a user and password (and optionally an asyncua security string such
as ``Basic256Sha256,SignAndEncrypt,cert.der,key.pem``), subscribes the channel paths it is given
(string NodeIds ``ns=<twin>;s=<path>``) and every event on ``Satellite`` (the twin's command,
fault, scenario and clock events, and the AlarmConditionType alarm events, with the alarm
fields selected) in one subscription, and reports through three callbacks:
``on_reading(path, Reading)``, ``on_state(LinkState)`` and ``on_event(dict)``. The set of
subscribed paths can change while connected (:meth:`Link.watch`): each screen watches what it
shows. When the connection is lost (server gone, transport closed, keep-alive failed) it says
so at once and retries with a growing delay; it never raises into the app.

Reading more than the subscription: :meth:`Link.channels` browses the address space for every
channel path the server has (the catalogue as served, ``hil.*`` board channels included) and
:meth:`Link.history` reads a channel's raw history (HistoryRead).

Method calls go through :meth:`Link.call`, which returns an :class:`Outcome` for every answer,
refusals included: the status name (``BadUserAccessDenied``, ``BadOutOfRange``, ...) and the
server's own message (the twin returns its reason as the first output argument, also on a Bad
status), or ``BadNotConnected`` when there is no session. Commands, their arguments, the role
each needs and whether it is hazardous are read from the server's method nodes
(:meth:`Link.methods`): the method's Description ends ``Role: <role>.`` and ``Hazardous.``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from asyncua import Client, ua
from asyncua.common.events import get_filter_from_event_type

log = logging.getLogger(__name__)

NAMESPACE_URI = "urn:orbital-twin"
RETRY_S = (0.5, 1.0, 2.0, 5.0)
ROLES = ("viewer", "operator", "engineer")
_LOGIN_REFUSED = frozenset({"BadUserAccessDenied", "BadIdentityTokenRejected",
                            "BadIdentityTokenInvalid"})
_ROLE = re.compile(r"Role: (viewer|operator|engineer)\.")
EVENT_FIELDS = ("SourceName", "ConditionName", "Severity", "Message", "Time", "ActiveState/Id",
                "AckedState/Id")
_NOT_CHANNEL = frozenset({"EURange", "EngineeringUnits", "EnumStrings", "LimitState",
                          "InputArguments", "OutputArguments"})
_PLAIN_OBJECTS = frozenset({ua.NodeId(ua.ObjectIds.BaseObjectType),
                            ua.NodeId(ua.ObjectIds.FolderType)})
_CHANNEL_TYPES = frozenset({ua.NodeId(ua.ObjectIds.AnalogItemType),
                            ua.NodeId(ua.ObjectIds.MultiStateDiscreteType),
                            ua.NodeId(ua.ObjectIds.BaseDataVariableType)})
_VTYPE = {ua.ObjectIds.Int32: ("int", ua.VariantType.Int32),
          ua.ObjectIds.Double: ("float", ua.VariantType.Double),
          ua.ObjectIds.Boolean: ("bool", ua.VariantType.Boolean),
          ua.ObjectIds.String: ("str", ua.VariantType.String)}


@dataclass(frozen=True, slots=True)
class Reading:
    """One channel value as the server sent it: ``value`` is None when Bad or empty."""

    value: Any
    status: str = "Good"
    source_time: datetime | None = None

    @property
    def good(self) -> bool:
        return self.status == "Good"

    @property
    def bad(self) -> bool:
        return self.status.startswith("Bad")

    @classmethod
    def from_datavalue(cls, dv: ua.DataValue) -> Reading:
        code = dv.StatusCode
        status = "Good" if code is None or code.is_good() else _status_name(code.value)
        value = dv.Value.Value if dv.Value is not None else None
        if status.startswith("Bad") or (isinstance(value, float) and math.isnan(value)):
            value = None
        return cls(value, status, dv.SourceTimestamp)


@dataclass(frozen=True, slots=True)
class LinkState:
    state: str  # "connecting", "connected", "lost"
    detail: str = ""
    retry_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """The server's answer to a method call."""

    ok: bool
    status: str
    message: str
    outputs: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class ArgInfo:
    name: str
    kind: str  # "int", "float", "bool", "str"
    description: str


@dataclass(frozen=True, slots=True)
class MethodInfo:
    name: str
    parent: str  # "satellite" or "sim"
    role: str
    hazardous: bool
    description: str
    args: tuple[ArgInfo, ...] = field(default_factory=tuple)


def _status_name(code: int) -> str:
    try:
        return ua.StatusCode(code).name
    except Exception:  # an unknown code still gets shown
        return f"0x{code:08X}"


def role_allows(role: str | None, needed: str) -> bool:
    """True if ``role`` may use a control needing ``needed``; an unknown role may try."""
    if role is None:
        return True
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


class _Handler:
    """asyncua subscription handler: forwards to the link's callbacks."""

    def __init__(self, link: Link) -> None:
        self.link = link

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        try:
            reading = Reading.from_datavalue(data.monitored_item.Value)
            self.link.on_reading(str(node.nodeid.Identifier), reading)
        except Exception:  # a malformed value must not end the subscription
            log.exception("console: bad data change for %s", node)

    def event_notification(self, event: Any) -> None:
        data = {k: getattr(event, k, None) for k in EVENT_FIELDS}
        if isinstance(data["Message"], ua.LocalizedText):
            data["Message"] = data["Message"].Text
        self.link.on_event(data)

    def status_change_notification(self, status: Any) -> None:
        self.link.lost("subscription: " + _status_name(getattr(status, "value", 0)))


class Link:
    def __init__(self, url: str, user: str | None = None, password: str | None = None,
                 security: str | None = None, paths: Iterable[str] = (),
                 on_reading: Callable[[str, Reading], None] = lambda p, r: None,
                 on_state: Callable[[LinkState], None] = lambda s: None,
                 on_event: Callable[[dict[str, Any]], None] = lambda e: None,
                 publish_ms: float = 250.0, timeout_s: float = 5.0) -> None:
        self.url = url
        self.user = user
        self.password = password
        self.security = security
        self.paths = list(dict.fromkeys(paths))
        self.on_reading = on_reading
        self.on_state = on_state
        self.on_event = on_event
        self.publish_ms = publish_ms
        self.timeout_s = timeout_s
        self.client: Client | None = None
        self.ns = 2
        self.state = LinkState("connecting")
        self._lost = asyncio.Event()
        self._stop = asyncio.Event()
        self._sub: Any = None
        self._handles: dict[str, int] = {}  # subscribed path → monitored item handle
        self._watch_lock = asyncio.Lock()

    # --- state --------------------------------------------------------------------------
    def _set(self, state: LinkState) -> None:
        self.state = state
        try:
            self.on_state(state)
        except Exception:
            log.exception("console: state callback failed")

    def lost(self, why: str) -> None:
        if self.state.state == "connected":
            self._set(LinkState("lost", why))
        self._lost.set()

    @property
    def connected(self) -> bool:
        return self.state.state == "connected" and self.client is not None

    # --- the connection loop --------------------------------------------------------------
    async def run(self) -> None:
        """Connect, serve until lost, retry; until :meth:`stop`. Never raises."""
        attempt = 0
        while not self._stop.is_set():
            self._lost.clear()
            self._set(LinkState("connecting", self.url))
            try:
                await self._connect()
                attempt = 0
                self._set(LinkState("connected", self.url))
                stop = asyncio.ensure_future(self._stop.wait())
                lost = asyncio.ensure_future(self._lost.wait())
                try:
                    await asyncio.wait((stop, lost), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stop.cancel()
                    lost.cancel()
                why = self.state.detail if self.state.state == "lost" else "connection lost"
            except asyncio.CancelledError:
                await self._close()
                raise
            except Exception as exc:
                why = _describe(exc)
                if why in _LOGIN_REFUSED:
                    why = f"login refused ({why})"
            await self._close()
            if self._stop.is_set():
                break
            delay = RETRY_S[min(attempt, len(RETRY_S) - 1)]
            attempt += 1
            self._set(LinkState("lost", why, delay))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def stop(self) -> None:
        self._stop.set()
        await self._close()

    async def _connect(self) -> None:
        client = Client(self.url, timeout=self.timeout_s, watchdog_intervall=1.0)
        client.name = client.description = "orbital-twin console"
        if self.user:
            client.set_user(self.user)
            client.set_password(self.password or "")
        if self.security:
            await client.set_security_string(self.security)

        async def on_lost(exc: Exception) -> None:
            self.lost(_describe(exc))

        client.connection_lost_callback = on_lost
        self.client = client
        await asyncio.wait_for(client.connect(), self.timeout_s * 2)
        self.ns = await client.get_namespace_index(NAMESPACE_URI)
        self._handles = {}
        self._sub = await client.create_subscription(self.publish_ms, _Handler(self))
        async with self._watch_lock:
            await self._subscribe(self.paths)
        try:
            # AlarmConditionType's fields, no where clause: every event on Satellite, the
            # alarms with their state (the other events leave the alarm fields empty)
            evfilter = await get_filter_from_event_type(
                [client.get_node(ua.ObjectIds.AlarmConditionType)], where_clause_generation=False)
            await self._sub.subscribe_events(client.get_node(ua.NodeId("satellite", self.ns)),
                                             evfilter=evfilter)
        except Exception as exc:  # a twin without events: values still flow
            log.warning("console: no events from %s: %s", self.url, _describe(exc))

    async def _subscribe(self, paths: Iterable[str]) -> None:
        """Add monitored items for ``paths``; an unknown path is reported as a Bad reading."""
        client, sub = self.client, self._sub
        todo = [p for p in paths if p not in self._handles]
        if client is None or sub is None or not todo:
            return
        nodes = [client.get_node(ua.NodeId(p, self.ns)) for p in todo]
        handles = await sub.subscribe_data_change(nodes)
        for path, h in zip(todo, handles, strict=True):
            if isinstance(h, int):
                self._handles[path] = h
            else:  # e.g. BadNodeIdUnknown: a channel this twin does not have
                self.on_reading(path, Reading(None, _status_name(h.value)))

    async def watch(self, paths: Iterable[str]) -> None:
        """Subscribe exactly ``paths`` from now on (and after every reconnect)."""
        wanted = list(dict.fromkeys(paths))
        async with self._watch_lock:
            self.paths = wanted
            if not self.connected or self._sub is None:
                return
            drop = [h for p, h in self._handles.items() if p not in set(wanted)]
            self._handles = {p: h for p, h in self._handles.items() if p in set(wanted)}
            try:
                if drop:
                    await self._sub.unsubscribe(drop)
                await self._subscribe(wanted)
            except Exception as exc:  # the connection loop notices a lost server
                log.warning("console: could not change the subscription: %s", _describe(exc))

    async def _close(self) -> None:
        self._sub = None
        self._handles = {}
        client, self.client = self.client, None
        if client is None:
            return
        with contextlib.suppress(Exception):  # the server may be gone already
            await asyncio.wait_for(client.disconnect(), 2.0)

    # --- methods --------------------------------------------------------------------------
    async def call(self, parent: str, method: str, *args: Any,
                   types: Iterable[ua.VariantType] | None = None) -> Outcome:
        """Call ``ns=<twin>;s=<parent>.<method>``; every answer (or no answer) is an Outcome."""
        client = self.client
        if client is None or not self.connected:
            return Outcome(False, "BadNotConnected", f"{method}: not connected to {self.url}")
        vtypes = list(types) if types is not None else [_guess_vtype(a) for a in args]
        req = ua.CallMethodRequest(
            ObjectId=ua.NodeId(parent, self.ns),
            MethodId=ua.NodeId(f"{parent}.{method}", self.ns),
            InputArguments=[ua.Variant(a, t) for a, t in zip(args, vtypes, strict=True)])
        try:
            (res,) = await client.uaclient.call([req])
        except Exception as exc:
            return Outcome(False, _exc_status(exc), f"{method}: {_describe(exc)}")
        outputs = tuple(v.Value if isinstance(v, ua.Variant) else v
                        for v in (res.OutputArguments or []))
        status = "Good" if res.StatusCode.is_good() else _status_name(res.StatusCode.value)
        message = str(outputs[0]) if outputs else (f"{method} done" if status == "Good"
                                                   else f"{method}: refused")
        return Outcome(status == "Good", status, message, outputs[1:])

    async def read(self, path: str) -> Any:
        """One value by path, or None (not connected, Bad, or no such node)."""
        client = self.client
        if client is None:
            return None
        try:
            return await client.get_node(ua.NodeId(path, self.ns)).read_value()
        except Exception:
            return None

    async def channels(self) -> list[str]:
        """Every channel path the server has, by browsing ``Satellite`` and ``Simulation``
        (batched, one Browse per level); empty if not connected."""
        client = self.client
        if client is None:
            return []
        found: list[str] = []
        seen: set[ua.NodeId] = set()
        level = [ua.NodeId("satellite", self.ns), ua.NodeId("sim", self.ns)]
        while level:
            refs = await self._browse(client, level)
            level = []
            for ref in refs:
                nid, typedef = ref.NodeId, ref.TypeDefinition
                if nid in seen or ref.ReferenceTypeId == ua.NodeId(ua.ObjectIds.HasProperty):
                    continue
                seen.add(nid)
                if ref.NodeClass == ua.NodeClass.Object:
                    # the twin's parts and folders, not the condition objects under them
                    if typedef.NamespaceIndex == self.ns or typedef in _PLAIN_OBJECTS:
                        level.append(nid)
                elif (isinstance(nid.Identifier, str) and nid.NamespaceIndex == self.ns
                      and typedef in _CHANNEL_TYPES
                      and ref.BrowseName.Name not in _NOT_CHANNEL):
                    found.append(nid.Identifier)
        return found

    @staticmethod
    async def _browse(client: Client, nodes: list[ua.NodeId]) -> list[ua.ReferenceDescription]:
        out: list[ua.ReferenceDescription] = []
        for k in range(0, len(nodes), 500):
            params = ua.BrowseParameters()
            params.View = ua.ViewDescription()
            params.RequestedMaxReferencesPerNode = 0
            for nid in nodes[k:k + 500]:
                d = ua.BrowseDescription()
                d.NodeId = nid
                d.BrowseDirection = ua.BrowseDirection.Forward
                d.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HierarchicalReferences)
                d.IncludeSubtypes = True
                d.NodeClassMask = ua.NodeClass.Object | ua.NodeClass.Variable
                d.ResultMask = ua.BrowseResultMask.All
                params.NodesToBrowse.append(d)
            for res in await client.uaclient.browse(params):
                out.extend(res.References)
                cont = res.ContinuationPoint
                while cont:
                    (more,) = await client.uaclient.browse_next(
                        ua.BrowseNextParameters(ContinuationPoints=[cont]))
                    out.extend(more.References)
                    cont = more.ContinuationPoint
        return out

    async def history(self, path: str, limit: int = 2000) -> list[Reading]:
        """The latest ``limit`` values of a channel's raw history, oldest first (HistoryRead;
        OPC UA's "no start time, an end time" reads newest first). Empty if there is none."""
        client = self.client
        if client is None:
            return []
        node = client.get_node(ua.NodeId(path, self.ns))
        end = datetime(9999, 1, 1, tzinfo=UTC)
        try:
            values = await node.read_raw_history(None, end, numvalues=limit,
                                                  return_bounds=False)
        except Exception as exc:
            log.info("console: no history for %s: %s", path, _describe(exc))
            return []
        out = [Reading.from_datavalue(dv) for dv in values]
        out.sort(key=lambda r: r.source_time or datetime.min.replace(tzinfo=UTC))
        return out

    async def methods(self) -> list[MethodInfo]:
        """The twin's commands as the server describes them (empty if not connected)."""
        client = self.client
        if client is None:
            return []
        out: list[MethodInfo] = []
        for parent in ("sim", "satellite"):
            obj = client.get_node(ua.NodeId(parent, self.ns))
            for node in await obj.get_methods():
                name = node.nodeid.Identifier.rsplit(".", 1)[-1]
                desc = (await node.read_description()).Text or ""
                m = _ROLE.search(desc)
                args: list[ArgInfo] = []
                try:
                    prop = await node.get_child("0:InputArguments")
                    for a in await prop.read_value():
                        kind = _VTYPE.get(a.DataType.Identifier, ("str", None))[0]
                        args.append(ArgInfo(a.Name, kind, a.Description.Text or ""))
                except ua.UaStatusCodeError:
                    pass  # no arguments
                out.append(MethodInfo(name, parent, m[1] if m else "viewer",
                                      "Hazardous." in desc, desc, tuple(args)))
        return out


def variant_type(kind: str) -> ua.VariantType:
    return {"int": ua.VariantType.Int32, "float": ua.VariantType.Double,
            "bool": ua.VariantType.Boolean}.get(kind, ua.VariantType.String)


def _guess_vtype(v: Any) -> ua.VariantType:
    if isinstance(v, bool):
        return ua.VariantType.Boolean
    if isinstance(v, int):
        return ua.VariantType.Int32
    if isinstance(v, float):
        return ua.VariantType.Double
    return ua.VariantType.String


def _exc_status(exc: Exception) -> str:
    if isinstance(exc, ua.UaStatusCodeError):
        return _status_name(exc.code)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "BadTimeout"
    return "BadCommunicationError"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ua.UaStatusCodeError):
        return _status_name(exc.code)
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:120]
