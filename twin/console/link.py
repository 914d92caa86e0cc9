"""The console's OPC UA side: one connection, one subscription, method calls, retry on loss.

:class:`Link` connects with a user and password (and optionally an asyncua security string such
as ``Basic256Sha256,SignAndEncrypt,cert.der,key.pem``), subscribes the channel paths it is given
(string NodeIds ``ns=<twin>;s=<path>``) and every event on ``Satellite`` (the twin's command,
fault, scenario and clock events, and the AlarmConditionType alarm events, with the alarm
fields selected) in one subscription, and reports through three callbacks:
``on_readings({path: Reading})``, ``on_state(LinkState)`` and ``on_event(dict)``. The set of
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
(:meth:`Link.methods`): the method's Description ends ``Role: <role>.`` and ``Hazardous.``,
an argument's names its values (``…, one of a, b, c``) and whether it is optional, and the
output arguments after the Message are named (``FaultId``, ``Faults``, ``Identity``, ...).

Start-up. asyncua takes ~0.7 s to import (its generated protocol module), so this module does
not import it: :meth:`Link.run` does, once, in a thread (:func:`load_asyncua`), while the app
draws its first screen; the twin's asyncua client patches follow once connected
(:func:`patch_asyncua`). On connecting, the paths named first (:meth:`Link.watch`'s ``first``:
what the screen shows) are subscribed before the link says it is connected, so their values
arrive at once (and the events, so that no alarm falls between the alarm list and them); the
other paths follow in chunks in the background.

One publish, one batch: asyncua hands each data change to the handler on its own (a task per
value unless :func:`twin.opcua.asyncua_patches.apply_client` is in place); the handler collects
them and calls ``on_readings`` once, after the last of them (``loop.call_soon``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from twin.console.records import (
    ROLES,
    ArgInfo,
    LinkState,
    MethodInfo,
    Outcome,
    Reading,
    arg_info,
    plain_description,
    role_allows,
)

if TYPE_CHECKING:
    from asyncua import Client, ua
else:  # imported by load_asyncua(), on the first connection
    Client = ua = None

log = logging.getLogger(__name__)

NAMESPACE_URI = "urn:orbital-twin"
RETRY_S = (0.5, 1.0, 2.0, 5.0)
_LOGIN_REFUSED = frozenset({"BadUserAccessDenied", "BadIdentityTokenRejected",
                            "BadIdentityTokenInvalid"})
_ROLE = re.compile(r"Role: (viewer|operator|engineer)\.")
EVENT_FIELDS = ("SourceName", "ConditionName", "Severity", "Message", "Time", "ActiveState/Id",
                "AckedState/Id")
_NOT_CHANNEL = frozenset({"EURange", "EngineeringUnits", "EnumStrings", "LimitState",
                          "InputArguments", "OutputArguments"})
_VTYPE = {"Int32": "int", "Double": "float", "Boolean": "bool", "String": "str"}
CHUNK = 200  # monitored items per CreateMonitoredItems after the first paths
REST_AFTER_S = 1.0  # the other paths wait this long at most for the first values (+ 1/4 of it)
PATCH_AFTER_S = 1.0  # then the client patches (~0.5 s of CPU) wait this long
_ua: dict[str, Any] = {}  # NodeIds of the standard types the browse looks for, once imported


def load_asyncua() -> None:
    """Import asyncua into this module (once; ~0.7 s, so :meth:`Link.run` calls it in a
    thread)."""
    global Client, ua
    if ua is not None:
        return
    from asyncua import Client as client_class
    from asyncua import ua as ua_module

    ids = ua_module.ObjectIds
    _ua["plain"] = frozenset({ua_module.NodeId(ids.BaseObjectType),
                              ua_module.NodeId(ids.FolderType)})
    _ua["channel"] = frozenset({ua_module.NodeId(ids.AnalogItemType),
                                ua_module.NodeId(ids.MultiStateDiscreteType),
                                ua_module.NodeId(ids.BaseDataVariableType)})
    _ua["vtype"] = {getattr(ids, name): kind for name, kind in _VTYPE.items()}
    Client, ua = client_class, ua_module


def patch_asyncua() -> None:
    """Install the twin's asyncua client patches (:mod:`twin.opcua.asyncua_patches`: a faster
    PublishResponse decoder, one dispatch per publish), once. Their source check takes ~0.5 s,
    so :meth:`Link.run` calls this in a thread after the first values are on screen: the
    decoder serves the next publish, the dispatch the next subscription (reconnects)."""
    try:
        from twin.opcua import asyncua_patches

        apply = getattr(asyncua_patches, "apply_client", None)
        if apply is not None:
            apply()
    except Exception:  # the console works without them, only slower
        log.exception("console: asyncua client patches not applied")


def reading_of(dv: ua.DataValue) -> Reading:
    """A DataValue as a :class:`Reading`: the value None when Bad or NaN."""
    code = dv.StatusCode
    status = "Good" if code is None or code.is_good() else _status_name(code.value)
    value = dv.Value.Value if dv.Value is not None else None
    if status.startswith("Bad") or (isinstance(value, float) and math.isnan(value)):
        value = None
    return Reading(value, status, dv.SourceTimestamp)


def _status_name(code: int) -> str:
    try:
        return ua.StatusCode(code).name
    except Exception:  # an unknown code still gets shown
        return f"0x{code:08X}"


class _Handler:
    """asyncua subscription handler: collects one publish's data changes into one batch for
    the link's ``on_readings``, and forwards events and status changes."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.batch: dict[str, Reading] = {}

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        try:
            reading = reading_of(data.monitored_item.Value)
        except Exception:  # a malformed value must not end the subscription
            log.exception("console: bad data change for %s", node)
            return
        if not self.batch:
            # after the rest of this publish: asyncua has queued its other values already
            asyncio.get_running_loop().call_soon(self.flush)
        self.batch[node.nodeid.Identifier] = reading

    def flush(self) -> None:
        batch, self.batch = self.batch, {}
        self.link._first_values.set()
        try:
            self.link.on_readings(batch)
        except Exception:
            log.exception("console: readings callback failed")

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
                 on_readings: Callable[[dict[str, Reading]], None] = lambda b: None,
                 on_state: Callable[[LinkState], None] = lambda s: None,
                 on_event: Callable[[dict[str, Any]], None] = lambda e: None,
                 publish_ms: float = 250.0, timeout_s: float = 5.0,
                 first: Iterable[str] | None = None) -> None:
        self.url = url
        self.user = user
        self.password = password
        self.security = security
        self.paths = list(dict.fromkeys(paths))
        # subscribed before the link says it is connected (default: all of them)
        self.first = list(dict.fromkeys(first)) if first is not None else list(self.paths)
        self.on_readings = on_readings
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
        self._rest: asyncio.Task[None] | None = None  # subscribes what is not first
        self._first_values = asyncio.Event()  # since connecting

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
        try:
            await asyncio.to_thread(load_asyncua)
        except Exception as exc:  # not installed or broken: say so, never raise
            self._set(LinkState("lost", f"cannot load asyncua: {_describe(exc)}"))
            return
        while not self._stop.is_set():
            self._lost.clear()
            self._set(LinkState("connecting", self.url))
            try:
                await self._connect()
                attempt = 0
                self._set(LinkState("connected", self.url))
                self._rest = asyncio.create_task(self._subscribe_rest())
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
        self._first_values.clear()
        self._sub = await client.create_subscription(self.publish_ms, _Handler(self))
        async with self._watch_lock:
            await self._subscribe([p for p in self.first if p in set(self.paths)])
        try:  # before "connected": no event (an alarm's) may fall between list and events
            await self._sub.subscribe_events(client.get_node(ua.NodeId("satellite", self.ns)),
                                             evfilter=event_filter())
        except Exception as exc:  # a twin without events: values still flow
            log.warning("console: no events from %s: %s", self.url, _describe(exc))

    async def _subscribe_rest(self) -> None:
        """After connecting and the first values (and a moment to draw them: hundreds of
        monitored items cost the client a few hundred ms to ask for and receive): the paths
        not subscribed first, in chunks (other requests get their turn between them); the
        client patches meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_values.wait(), REST_AFTER_S)
        await asyncio.sleep(REST_AFTER_S / 4)

        async def patch() -> None:
            await asyncio.sleep(PATCH_AFTER_S)
            await asyncio.to_thread(patch_asyncua)

        patching = asyncio.ensure_future(patch())
        try:
            try:
                while self.connected:
                    async with self._watch_lock:
                        todo = [p for p in self.paths if p not in self._handles][:CHUNK]
                        if not todo:
                            break
                        await self._subscribe(todo)
            except Exception as exc:  # the connection loop notices a lost server
                log.warning("console: could not complete the subscription: %s",
                            _describe(exc))
            await patching
        finally:  # closed meanwhile: the next connection patches
            patching.cancel()

    async def _subscribe(self, paths: Iterable[str]) -> None:
        """Add monitored items for ``paths``; an unknown path is reported as a Bad reading."""
        client, sub = self.client, self._sub
        todo = [p for p in paths if p not in self._handles]
        if client is None or sub is None or not todo:
            return
        nodes = [client.get_node(ua.NodeId(p, self.ns)) for p in todo]
        handles = await sub.subscribe_data_change(nodes)
        unknown: dict[str, Reading] = {}
        for path, h in zip(todo, handles, strict=True):
            if isinstance(h, int):
                self._handles[path] = h
            else:  # e.g. BadNodeIdUnknown: a channel this twin does not have
                unknown[path] = Reading(None, _status_name(h.value))
        if unknown:
            self.on_readings(unknown)

    async def watch(self, paths: Iterable[str], first: Iterable[str] = ()) -> None:
        """Subscribe exactly ``paths`` from now on (and after every reconnect); those also in
        ``first`` (what is on screen) before the others."""
        wanted = list(dict.fromkeys(paths))
        keep = set(wanted)
        async with self._watch_lock:
            self.paths = wanted
            self.first = [p for p in dict.fromkeys(first) if p in keep]
            if not self.connected or self._sub is None:
                return
            drop = [h for p, h in self._handles.items() if p not in keep]
            self._handles = {p: h for p, h in self._handles.items() if p in keep}
            try:
                if drop:
                    await self._sub.unsubscribe(drop)
                await self._subscribe(self.first)
                rest = [p for p in wanted if p not in self._handles]
                for k in range(0, len(rest), CHUNK):
                    await self._subscribe(rest[k:k + CHUNK])
            except Exception as exc:  # the connection loop notices a lost server
                log.warning("console: could not change the subscription: %s", _describe(exc))

    async def _close(self) -> None:
        rest, self._rest = self._rest, None
        if rest is not None and not rest.done():
            rest.cancel()
            await asyncio.gather(rest, return_exceptions=True)
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
        if client is None or not self.connected:  # (not while the session is set up)
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
                    if typedef.NamespaceIndex == self.ns or typedef in _ua["plain"]:
                        level.append(nid)
                elif (isinstance(nid.Identifier, str) and nid.NamespaceIndex == self.ns
                      and typedef in _ua["channel"]
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
        out = [reading_of(dv) for dv in values]
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
                args = [arg_info(a.Name, _ua["vtype"].get(a.DataType.Identifier, "str"),
                                 a.Description.Text or "")
                        for a in await _arguments(node, "0:InputArguments")]
                outputs = [a.Name for a in await _arguments(node, "0:OutputArguments")]
                out.append(MethodInfo(name, parent, m[1] if m else "viewer",
                                      "Hazardous." in desc, plain_description(desc),
                                      tuple(args), tuple(outputs[1:])))
        return out


async def _arguments(node: Any, prop: str) -> list[Any]:
    """A method's InputArguments or OutputArguments ([] if it has none)."""
    try:
        return list(await (await node.get_child(prop)).read_value() or [])
    except ua.UaStatusCodeError:
        return []


def event_filter() -> ua.EventFilter:
    """The event fields the console shows (:data:`EVENT_FIELDS`, standard browse names of
    BaseEventType and AlarmConditionType), no where clause: every event on ``Satellite``, the
    alarms with their state (other events leave the alarm fields empty). Built here rather
    than browsed from the type (``get_filter_from_event_type``: a dozen round trips, and ~40
    fields in every event notification)."""
    out = ua.EventFilter()
    for name in EVENT_FIELDS:
        op = ua.SimpleAttributeOperand()
        op.TypeDefinitionId = ua.NodeId(ua.ObjectIds.BaseEventType)
        op.BrowsePath = [ua.QualifiedName(part, 0) for part in name.split("/")]
        op.AttributeId = ua.AttributeIds.Value
        out.SelectClauses.append(op)
    return out


__all__ = ["EVENT_FIELDS", "ROLES", "ArgInfo", "Link", "LinkState", "MethodInfo", "Outcome",
           "Reading", "arg_info", "event_filter", "load_asyncua", "patch_asyncua",
           "plain_description", "reading_of", "role_allows", "variant_type"]


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
