"""The console's OPC UA side: one connection, one subscription, method calls, retry on loss.

:class:`Link` connects with a user and password (and optionally an asyncua security string such
as ``Basic256Sha256,SignAndEncrypt,cert.der,key.pem``), subscribes the channel paths it is given
(string NodeIds ``ns=<twin>;s=<path>``) and the alarm events on ``Satellite`` in one
subscription, and reports through three callbacks: ``on_reading(path, Reading)``,
``on_state(LinkState)`` and ``on_alarm_event(dict)``. When the connection is lost (server gone,
transport closed, keep-alive failed) it says so at once and retries with a growing delay; it
never raises into the app.

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
from datetime import datetime
from typing import Any

from asyncua import Client, ua

log = logging.getLogger(__name__)

NAMESPACE_URI = "urn:orbital-twin"
RETRY_S = (0.5, 1.0, 2.0, 5.0)
ROLES = ("viewer", "operator", "engineer")
_LOGIN_REFUSED = frozenset({"BadUserAccessDenied", "BadIdentityTokenRejected",
                            "BadIdentityTokenInvalid"})
_ROLE = re.compile(r"Role: (viewer|operator|engineer)\.")
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
        keys = ("ConditionName", "Severity", "Message", "Time", "ActiveState/Id",
                "AckedState/Id")
        data = {k: getattr(event, k, None) for k in keys}
        if isinstance(data["Message"], ua.LocalizedText):
            data["Message"] = data["Message"].Text
        self.link.on_alarm_event(data)

    def status_change_notification(self, status: Any) -> None:
        self.link.lost("subscription: " + _status_name(getattr(status, "value", 0)))


class Link:
    def __init__(self, url: str, user: str | None = None, password: str | None = None,
                 security: str | None = None, paths: Iterable[str] = (),
                 on_reading: Callable[[str, Reading], None] = lambda p, r: None,
                 on_state: Callable[[LinkState], None] = lambda s: None,
                 on_alarm_event: Callable[[dict[str, Any]], None] = lambda e: None,
                 publish_ms: float = 250.0, timeout_s: float = 5.0) -> None:
        self.url = url
        self.user = user
        self.password = password
        self.security = security
        self.paths = list(dict.fromkeys(paths))
        self.on_reading = on_reading
        self.on_state = on_state
        self.on_alarm_event = on_alarm_event
        self.publish_ms = publish_ms
        self.timeout_s = timeout_s
        self.client: Client | None = None
        self.ns = 2
        self.state = LinkState("connecting")
        self._lost = asyncio.Event()
        self._stop = asyncio.Event()

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
        sub = await client.create_subscription(self.publish_ms, _Handler(self))
        nodes = [client.get_node(ua.NodeId(p, self.ns)) for p in self.paths]
        if nodes:
            await sub.subscribe_data_change(nodes)
        try:
            await sub.subscribe_events(client.get_node(ua.NodeId("satellite", self.ns)),
                                       ua.ObjectIds.AlarmConditionType)
        except Exception as exc:  # a twin without alarms: values still flow
            log.warning("console: no alarm events from %s: %s", self.url, _describe(exc))

    async def _close(self) -> None:
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
