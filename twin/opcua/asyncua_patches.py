"""Small changes to asyncua 2.1.0, server and client, in one place, for that version only.

Why (measured on this 2-core machine, see issue 3 and ``bench/opcua_publish.py``):

Server, :func:`apply` (``TwinServer`` calls it unless ``fast_path=False``):

1. ``MonitoredItemValues.set_current_datavalue`` deep-copies every DataValue for every monitored
   item. Ours are fresh DataValues of immutable scalars that nobody mutates after publishing, so
   the copy buys nothing (2,000 values with a subscriber: ~21 ms → ~145 ms). Patched: copy only
   values whose Variant holds something mutable (lists, structures), exactly as before for those.
2. ``MonitoredItemService.datachange_callback`` builds a ``MonitoredItemNotification`` before it
   knows whether it will send it, and awaits three more coroutines to queue it, per value and
   subscriber. Patched: the same checks in the same order (disabled mode, filter with trigger
   and deadband, default status-or-value trigger), built only when sent, queued inline;
   :func:`datachange_now` is that without a coroutine, which the twin's publisher calls
   directly (with :func:`scalar_datavalue` to build its DataValues without the dataclass checks).
3. Security hole: the connection starts with ``SecurityPolicyNone`` so that clients can call
   GetEndpoints; asyncua lets CreateSession and ActivateSession through on that channel even when
   no None endpoint is configured, so the password travels in clear and no permission rule
   applies. Patched: on such a channel only discovery requests (GetEndpoints, FindServers,
   FindServersOnNetwork) pass; anything else gets ``BadSecurityPolicyRejected``.
4. ``UaProcessor.forward_publish_response`` encodes each PublishResponse, per subscriber, with
   the generic dataclass encoder: ~5.5 ms for 907 values (more on a busy machine). Patched:
   :func:`encode_publish_response` writes a scalar DataValue with one ``struct.pack`` (~0.7 ms),
   byte for byte what the stock encoder writes; anything else (arrays, structures,
   picoseconds, events) goes to asyncua's own.

Client, :func:`apply_client` (any asyncua client of ours calls it once; the console's link too):

5. ``UaSession.publish`` decodes each PublishResponse with the generic decoder, ~10 ms for 907
   values (20-35 ms on a busy machine). Patched: :func:`decode_publish_response` reads scalar
   DataValues straight from the bytes (~1.5 ms; the same objects and values as the stock
   decoder), and hands anything else (arrays, structures, picoseconds, events) to asyncua's.
   (asyncua reads a DataValue's ServerTimestamp before its SourcePicoseconds, Part 6 the other
   way round; DataValues with picoseconds take the stock path, so that stays as it was.)
6. ``Subscription.publish_callback`` starts one asyncio task per data change (9,000 tasks a
   second for 907 channels at 10 Hz) and builds a frozen ``DataChangeEvent`` for each. Patched,
   for a handler whose ``datachange_notification`` is a plain function: one task per
   notification batch calls it for each value, in order, with the same ``(node, value, data)``
   and the same exception logging; still after the next PublishRequest is sent. Async handlers,
   iterator subscriptions, events and status changes take the stock path, in the same order.

:func:`apply` and :func:`apply_client` refuse (log an error, change nothing, return False) unless
asyncua is exactly :data:`ASYNCUA_VERSION` and every function replaced or reproduced still has
the source fingerprint it had when the patch was written (:data:`PINNED`);
``tests/opcua/test_security_and_patches.py`` and ``tests/opcua/test_client_patches.py`` fail on
an upgrade that changes any of them. All six are candidates for upstream.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import inspect
import logging
import struct
import time
from collections.abc import Callable, Coroutine
from typing import Any

import asyncua
from asyncua import ua
from asyncua.client import ua_session
from asyncua.common import subscription as csub
from asyncua.common import utils as cutils
from asyncua.server import internal_subscription as isubm
from asyncua.server import monitored_item_service as mis
from asyncua.server import uaprocessor
from asyncua.ua import ua_binary as uab
from asyncua.ua import uatypes

log = logging.getLogger(__name__)

ASYNCUA_VERSION = "2.1.0"

# What the patches replace (R) or reproduce in a fast path (=), with the patch's number: module
# (a key of _MODULES) and qualified name → the first 16 hex digits of the sha256 of its source
# in asyncua 2.1.0 (inspect.getsource).
PINNED: dict[str, str] = {
    "mis:MonitoredItemValues.set_current_datavalue": "df9d5e87226514b2",  # R 1
    "mis:MonitoredItemService.datachange_callback": "d4468698f4d16058",  # R 2
    "isub:InternalSubscription.enqueue_datachange_event": "83acd6e086d9b1c9",  # = 2
    "isub:InternalSubscription._enqueue_event": "e69c7f033b26833b",  # = 2
    "isub:InternalSubscription._trigger_publish": "ef1353aab64eccc0",  # = 2
    "uatypes:ExtensionObject": "88f3edc4ae813d87",  # = 2 (its __bool__)
    "uaproc:UaProcessor._process_message": "029ff357dd3bdd16",  # R 3
    "uaproc:UaProcessor.forward_publish_response": "9e380500dd66b172",  # R 4
    "uaproc:UaProcessor.send_response": "1acbe876910ab131",  # = 4
    "ua_binary:create_dataclass_serializer": "76225d0ea8f294b2",  # = 4
    "ua_binary:variant_to_binary": "62b1add89490db8d",  # = 4
    "ua_binary:extensionobject_to_binary": "565ac74ef0efac40",  # = 4
    "uatypes:datetime_to_win_epoch": "030343f5af29e028",  # = 4
    "session:UaSession.publish": "4657de07b6ffd99d",  # R 5
    "ua_binary:_create_dataclass_deserializer": "df2090ec842f79de",  # = 5
    "ua_binary:variant_from_binary": "6f5e95888458c5e3",  # = 5
    "ua_binary:extensionobject_from_binary": "1fd0586b9b477539",  # = 5
    "uatypes:win_epoch_to_datetime": "a976b0440e9ee6a6",  # = 5
    "utils:Buffer": "f7e858390ac2d2fa",  # = 5 (its _data and _cur_pos)
    "uatypes:DataValue": "bf227d3a7e2eb5ef",  # = 4, 5 (fields, in order)
    "uatypes:Variant": "b4213109d2d062fc",  # = 4, 5
    "uatypes:StatusCode": "3fa7689a67cfcbdc",  # = 4, 5
    "ua:MonitoredItemNotification": "992c48085931cd6c",  # = 4, 5
    "subscription:Subscription.publish_callback": "f69986c09c1cba2b",  # R 6
    "subscription:Subscription._explode_datachange": "88c7e4dc6c5cf786",  # = 6
    "subscription:Subscription._dispatch_to_handler": "b81f57c5d8cad42d",  # = 6
    "subscription:Subscription._deliver": "1a45bd5c40c7f710",  # = 6
}
SERVER = ("mis:MonitoredItemValues.set_current_datavalue",
          "mis:MonitoredItemService.datachange_callback", "uaproc:UaProcessor._process_message",
          "uaproc:UaProcessor.forward_publish_response")
CLIENT = ("session:UaSession.publish", "subscription:Subscription.publish_callback")
_MODULES = {"mis": mis, "isub": isubm, "uaproc": uaprocessor, "session": ua_session,
            "subscription": csub, "ua_binary": uab, "uatypes": uatypes, "utils": cutils, "ua": ua}

_IMMUTABLE = (int, float, bool, str, bytes, type(None), ua.StatusCode, ua.LocalizedText,
              ua.NodeId, ua.QualifiedName)
_DISCOVERY = frozenset(ua.NodeId(i) for i in (
    ua.ObjectIds.GetEndpointsRequest_Encoding_DefaultBinary,
    ua.ObjectIds.FindServersRequest_Encoding_DefaultBinary,
    ua.ObjectIds.FindServersOnNetworkRequest_Encoding_DefaultBinary,
))
_NONE_URI = "http://opcfoundation.org/UA/SecurityPolicy#None"
_new = object.__new__  # objects of the pinned slot classes, fields set one by one
_SCALARS = frozenset((float, int, bool, str))
_DISABLED = ua.MonitoringMode.Disabled
_EXTOBJ, _VARIANT = ua.ExtensionObject, ua.Variant
_applied: set[str] = set()
_ORIGINAL: dict[str, Callable[..., Any]] = {}


def _resolve(name: str) -> Any:
    module, qualname = name.split(":")
    obj = _MODULES[module]
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _targets() -> dict[str, tuple[Any, str, Callable[..., Any]]]:
    """The replaced functions: name → (owner, attribute, replacement)."""
    new = {SERVER[0]: _set_current_datavalue, SERVER[1]: _datachange_callback,
           SERVER[2]: _process_message, SERVER[3]: _forward_publish_response,
           CLIENT[0]: _publish, CLIENT[1]: _publish_callback}
    return {k: (_resolve(k.rpartition(".")[0]), k.rpartition(".")[2], fn) for k, fn in new.items()}


def fingerprint(obj: Any) -> str:
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


def originals() -> dict[str, Any]:
    """The pinned objects as asyncua ships them (also after :func:`apply`)."""
    return {k: _ORIGINAL.get(k) or _resolve(k) for k in PINNED}


def check() -> list[str]:
    """Reasons not to patch; empty when the installed asyncua is the one these patches fit."""
    if asyncua.__version__ != ASYNCUA_VERSION:
        return [f"asyncua is {asyncua.__version__}, the patches are for {ASYNCUA_VERSION}"]
    return [f"asyncua {k} changed (source fingerprint {fingerprint(obj)})"
            for k, obj in originals().items() if fingerprint(obj) != PINNED[k]]


def _install(part: str, names: tuple[str, ...], what: str) -> bool:
    if part in _applied:
        return True
    problems = check()
    if problems:
        log.error("not patching asyncua's %s (%s); it runs on asyncua's own code paths: %s",
                  part, "; ".join(problems), what)
        return False
    targets = _targets()
    for key in names:
        owner, attr, new = targets[key]
        setattr(owner, attr, new)
    _applied.add(part)
    log.info("asyncua %s %s patched (twin.opcua.asyncua_patches)", ASYNCUA_VERSION, part)
    return True


def apply() -> bool:
    """Install the server patches once; False (with an error logged) if asyncua is not pinned."""
    return _install("server", SERVER, "slower with subscribers, and the unsecured GetEndpoints "
                    "channel accepts sessions")


def apply_client() -> bool:
    """Install the client patches once (any asyncua client in this process benefits)."""
    return _install("client", CLIENT, "slower to receive large subscriptions")


def applied() -> bool:
    return "server" in _applied


def client_applied() -> bool:
    return "client" in _applied


def revert() -> None:
    """Put asyncua's own functions back, server and client (the benchmark compares both)."""
    targets = _targets()
    for key, (owner, attr, _fn) in targets.items():
        if key in _ORIGINAL:
            setattr(owner, attr, _ORIGINAL[key])
    _applied.clear()


# --- 1. no deepcopy of immutable values ------------------------------------------------------
def _set_current_datavalue(self: mis.MonitoredItemValues, cur_val: ua.DataValue) -> None:
    self.old_dvalue = self.current_dvalue
    v = cur_val.Value
    if v is None or isinstance(v.Value, _IMMUTABLE):
        self.current_dvalue = cur_val  # shared: published DataValues are never mutated
    else:
        self.current_dvalue = copy.deepcopy(cur_val)


# --- 2. lean data-change notification --------------------------------------------------------
async def _datachange_callback(self: mis.MonitoredItemService, handle: int, value: ua.DataValue,
                               error: ua.StatusCode | None = None) -> None:
    if error:
        await self.trigger_statuschange(error)
        return
    pending = datachange_now(self, handle, value)
    if pending is not None:
        await pending


def datachange_now(self: mis.MonitoredItemService, handle: int,
                   value: ua.DataValue) -> Coroutine[Any, Any, Any] | None:
    """Patch 2 without a coroutine per value (the publisher calls it directly).

    The same checks as stock, with ``set_current_datavalue`` (patch 1), ``Variant.__ne__`` and
    ``InternalSubscription.enqueue_datachange_event`` inlined; returns what is left to await
    (a subscription with publishing interval 0 publishes at once), usually None.
    """
    mid = self._monitored_datachange[handle]
    mdata = self._monitored_items[mid]
    if mdata.mode == _DISABLED:
        return None
    mvalue = mdata.mvalue
    old = mvalue.current_dvalue
    v = value.Value
    mvalue.old_dvalue = old
    if v is None or v.Value.__class__ in _SCALARS or isinstance(v.Value, _IMMUTABLE):
        mvalue.current_dvalue = value
    else:
        mvalue.current_dvalue = copy.deepcopy(value)
    flt = mdata.filter
    if flt is not None and (flt.__class__ is not _EXTOBJ or flt.Body is not None):
        send = self._is_data_changed(mvalue, flt.Trigger) and self._is_deadband_exceeded(
            mvalue, flt)
    elif old is None:
        send = True
    else:
        s0, s1, v0 = old.StatusCode, value.StatusCode, old.Value
        if s0 is not s1 and s0 != s1:
            send = True
        elif v0.__class__ is _VARIANT and v.__class__ is _VARIANT:  # Variant.__ne__
            send = not (v0.VariantType == v.VariantType and v0.Value == v.Value)
        else:
            send = v0 != v
    if not send:
        return None
    event = _new(ua.MonitoredItemNotification)
    event.ClientHandle, event.Value = mdata.client_handle, value
    isub = self.isub
    queue = isub._triggered_datachanges.get(mid)
    if queue is None:
        isub._triggered_datachanges[mid] = [event]
        if isub._task is None and isub.data.RevisedPublishingInterval <= 0.0:
            return isub.publish_results()  # = isub._trigger_publish()
        return None
    if mdata.queue_size != 0 and len(queue) >= mdata.queue_size:
        queue.pop(0)
    queue.append(event)
    return None


patched_datachange_callback = _datachange_callback  # for the publisher's direct calls


def scalar_datavalue(value: Any, vtype: ua.VariantType, status: ua.StatusCode, source: Any,
                     server: Any) -> ua.DataValue:
    """``DataValue(Variant(value, vtype), status, source, server)`` for a scalar of the right
    Python type; with the server patches in (the slots pinned), without the dataclass checks."""
    if "server" not in _applied:
        return ua.DataValue(ua.Variant(value, vtype), status, SourceTimestamp=source,
                            ServerTimestamp=server)
    var = _new(ua.Variant)
    var.Value, var.VariantType, var.Dimensions, var.is_array = value, vtype, None, False
    dv = _new(ua.DataValue)
    dv.Encoding, dv.Value, dv.StatusCode, dv.SourceTimestamp, dv.ServerTimestamp = (
        0, var, status, source, server)
    dv.SourcePicoseconds = dv.ServerPicoseconds = None
    return dv


# --- 3. only discovery on the unsecured channel unless None is configured --------------------
async def _process_message(self: uaprocessor.UaProcessor, typeid: ua.NodeId, requesthdr: Any,
                           seqhdr: Any, body: Any) -> Any:
    conn = self._connection
    if (conn.security_policy.URI == _NONE_URI and typeid not in _DISCOVERY
            and not any(f.cls.URI == _NONE_URI for f in conn._policies)):
        log.warning("refused %s from %s on the unsecured discovery channel: this server has no "
                    "None endpoint", typeid.to_string(), self.name)
        raise uaprocessor.ServiceError(ua.StatusCodes.BadSecurityPolicyRejected)
    return await _ORIGINAL[SERVER[2]](self, typeid, requesthdr, seqhdr, body)


# --- the binary layouts 4 and 5 share (OPC UA Part 6, 5.2) -----------------------------------
# A MonitoredItemNotification is ClientHandle (UInt32) + DataValue. A DataValue is a mask byte
# then, as asyncua orders them, Value (Variant), StatusCode (UInt32), SourceTimestamp and
# ServerTimestamp (Int64, 100 ns since 1601), then the picoseconds, which take the stock path.
# A scalar Variant is a type byte then the value: fixed-size numbers little-endian, a String as
# Int32 length (-1: null) + bytes, a DateTime as Int64.
_FIXED = {1: "?", 2: "b", 3: "B", 4: "h", 5: "H", 6: "i", 7: "I", 8: "q", 9: "Q", 10: "f",
          11: "d", 13: "q", 19: "I"}  # 13 DateTime and 19 StatusCode as their integers
_SCALAR = {t: struct.Struct("<" + f) for t, f in _FIXED.items()}
_FULL = {t: struct.Struct("<IBB" + f + "Iqq") for t, f in _FIXED.items()}  # handle..ServerTs
_DFULL = {t: struct.Struct("<B" + f + "Iqq") for t, f in _FIXED.items()}  # type..ServerTs
_HEAD, _I32, _U32, _I64 = (struct.Struct(f) for f in ("<IB", "<i", "<I", "<q"))
_VTYPES = tuple(ua.VariantType(i) for i in range(26))
_DCN_TYPEID = ua.FourByteNodeId(ua.ObjectIds.DataChangeNotification_Encoding_DefaultBinary)
_DCN_TYPEID_BIN = uab.nodeid_to_binary(_DCN_TYPEID)


def _field_codecs(cls: type, name: str) -> tuple[Callable[[Any], bytes], Callable[[Any], Any]]:
    """asyncua's own encoder and decoder for one field of ``cls``."""
    hint = uab.get_safe_type_hints(cls, {"ua": ua})[name]
    return (uab.field_serializer(*uab.resolve_uatype(hint), cls),
            uab._create_type_deserializer(hint, cls))


_AVAIL = _field_codecs(ua.PublishResult, "AvailableSequenceNumbers")
_RESULTS = _field_codecs(ua.PublishResult, "Results")
_DIAGS = _field_codecs(ua.PublishResult, "DiagnosticInfos")
_DCN_DIAGS = _field_codecs(ua.DataChangeNotification, "DiagnosticInfos")
_NDATA = _field_codecs(ua.NotificationMessage, "NotificationData")


# --- 4. fast PublishResponse encoding (server) ----------------------------------------------
async def _forward_publish_response(self: uaprocessor.UaProcessor, result: ua.PublishResult,
                                    requestdata: uaprocessor.PublishRequestData) -> None:
    response = ua.PublishResponse()
    response.Parameters = result
    result.Results = requestdata.results
    response.ResponseHeader.RequestHandle = requestdata.requesthdr.RequestHandle
    self._transport.write(self._connection.message_to_binary(
        encode_publish_response(response), message_type=ua.MessageType.SecureMessage,
        request_id=requestdata.seqhdr.RequestId))


def encode_publish_response(response: ua.PublishResponse) -> bytes:
    """``struct_to_binary(response)``, byte for byte, with DataChangeNotifications written fast."""
    p = response.Parameters
    msg = p.NotificationMessage
    out = [uab.nodeid_to_binary(response.TypeId), uab.struct_to_binary(response.ResponseHeader),
           _U32.pack(p.SubscriptionId), _AVAIL[0](p.AvailableSequenceNumbers),
           uab.Primitives.Boolean.pack(p.MoreNotifications), _U32.pack(msg.SequenceNumber),
           uab.Primitives.DateTime.pack(msg.PublishTime)]
    data = msg.NotificationData
    if data is None:
        out.append(_I32.pack(-1))
    else:
        out.append(_I32.pack(len(data)))
        for obj in data:
            if type(obj) is ua.DataChangeNotification:
                body = _encode_datachange(obj)
                out += (_DCN_TYPEID_BIN, b"\x01", _I32.pack(len(body)), body)
            else:
                out.append(uab.extensionobject_to_binary(obj))
    out += (_RESULTS[0](p.Results), _DIAGS[0](p.DiagnosticInfos))
    return b"".join(out)


class _Epochs(dict[Any, int]):
    def __missing__(self, dt: Any) -> int:
        e = self[dt] = uatypes.datetime_to_win_epoch(dt)
        return e


def _encode_datachange(dcn: ua.DataChangeNotification) -> bytes:
    items = dcn.MonitoredItems
    out = [_I32.pack(len(items))]
    append = out.append
    epochs = _Epochs()  # datetime → Int64: the values of one tick share timestamps
    stock_dv = uab.create_dataclass_serializer(ua.DataValue)
    for item in items:
        dv = item.Value
        try:
            v, sc, src, srv = dv.Value, dv.StatusCode, dv.SourceTimestamp, dv.ServerTimestamp
            if (v.is_array or isinstance(v.Value, list | tuple) or dv.SourcePicoseconds is not None
                    or dv.ServerPicoseconds is not None):
                raise LookupError
            vt, x = v.VariantType, v.Value  # an IntEnum: its int's hash, and packs as one
            if vt == 13:
                x = epochs[x]
            elif vt == 19:
                x = x.value
            if sc is not None and src is not None and srv is not None and vt in _FULL:
                append(_FULL[vt].pack(item.ClientHandle, 15, vt, x, sc.value, epochs[src],
                                      epochs[srv]))
                continue
            if vt in _SCALAR:
                var = bytes((vt,)) + _SCALAR[vt].pack(x)
            elif vt == 0:
                var = b"\x00"
            elif vt == 12:
                var = b"\x0c" + uab.Primitives.String.pack(x)
            else:
                raise LookupError
            parts = [var, b"" if sc is None else _U32.pack(sc.value),
                     b"" if src is None else _I64.pack(epochs[src]),
                     b"" if srv is None else _I64.pack(epochs[srv])]
            mask = 1 | (sc is not None) << 1 | (src is not None) << 2 | (srv is not None) << 3
            append(_HEAD.pack(item.ClientHandle, mask) + b"".join(parts))
        except Exception:  # anything unusual, including what stock would refuse: stock
            append(_U32.pack(item.ClientHandle) + stock_dv(dv))
    append(_DCN_DIAGS[0](dcn.DiagnosticInfos))
    return b"".join(out)


# --- 5. fast PublishResponse decoding (client) ----------------------------------------------
async def _publish(self: ua_session.UaSession,
                   acks: list[ua.SubscriptionAcknowledgement]) -> ua.PublishResponse:
    self.logger.debug("publish %r", acks)
    request = ua.PublishRequest()
    request.Parameters.SubscriptionAcknowledgements = acks if acks else []
    data = await self._send_request(request, timeout=0)
    try:
        return decode_publish_response(data)
    except Exception as ex:
        self.logger.exception("Error parsing notification from server")
        raise ua_session.UaStructParsingError from ex


def decode_publish_response(buf: cutils.Buffer) -> ua.PublishResponse:
    """``struct_from_binary(ua.PublishResponse, buf)``, the same objects and values, faster."""
    typeid = uab.nodeid_from_binary(buf)
    header = uab.struct_from_binary(ua.ResponseHeader, buf)
    sub_id = uab.Primitives.UInt32.unpack(buf)
    avail = _AVAIL[1](buf)
    more = uab.Primitives.Boolean.unpack(buf)
    seq = uab.Primitives.UInt32.unpack(buf)
    publish_time = uab.Primitives.DateTime.unpack(buf)
    b, p = buf._data, buf._cur_pos
    n = _I32.unpack_from(b, p)[0] if isinstance(b, bytes) and len(b) == p + len(buf) else -1
    if n < 0:  # null, or a Buffer that is a window on its bytes: the stock path
        data = _NDATA[1](buf)
    else:
        data = []
        buf.skip(4)
        for _ in range(n):
            start = buf._cur_pos
            if b.startswith(_DCN_TYPEID_BIN + b"\x01", start):
                (size,) = _I32.unpack_from(b, start + 5)
                if size >= 1:
                    buf.skip(9)
                    body = cutils.Buffer(b, buf._cur_pos, min(size, len(buf)))
                    buf.skip(size)  # too short: NotEnoughData, as stock
                    data.append(_decode_datachange(body))
                    continue
            data.append(uab.extensionobject_from_binary(buf))
    msg = ua.NotificationMessage(SequenceNumber=seq, PublishTime=publish_time,
                                 NotificationData=data)
    result = ua.PublishResult(SubscriptionId=sub_id, AvailableSequenceNumbers=avail,
                              MoreNotifications=more, NotificationMessage=msg,
                              Results=_RESULTS[1](buf), DiagnosticInfos=_DIAGS[1](buf))
    return ua.PublishResponse(TypeId=typeid, ResponseHeader=header, Parameters=result)


def _decode_datachange(buf: cutils.Buffer) -> ua.DataChangeNotification:
    """A DataChangeNotification body (bounded ``buf``); scalar DataValues read in place."""
    b, p, end = buf._data, buf._cur_pos, buf._cur_pos + len(buf)
    (n,) = _I32.unpack_from(b, p)
    p += 4
    items = []
    append = items.append
    times: dict[int, Any] = {}
    to_dt = uatypes.win_epoch_to_datetime
    enc = uab.get_string_encoding()
    V, DV, SC, MIN = ua.Variant, ua.DataValue, ua.StatusCode, ua.MonitoredItemNotification
    for _ in range(n):  # n < 0: none, as stock
        if p + 5 > end:
            raise cutils.NotEnoughData("DataChangeNotification ends inside an item")
        handle, mask = _HEAD.unpack_from(b, p)
        p += 5
        vt = b[p] if mask & 1 and p < end else -1
        full = _DFULL.get(vt) if mask == 15 else None
        if full is not None and p + full.size <= end:  # the usual: all four fields, one unpack
            _, x, code, rs, rv = full.unpack_from(b, p)
            p += full.size
            src = times.get(rs) or times.setdefault(rs, to_dt(rs))  # a datetime is never false
            srv = times.get(rv) or times.setdefault(rv, to_dt(rv))
        elif mask & 0xF0 or not (vt in _SCALAR or vt == 0 or vt == 12 or mask & 1 == 0):
            sub = cutils.Buffer(b, p - 1, end - p + 1)  # unusual: asyncua's own decoder
            item = _new(MIN)
            item.ClientHandle, item.Value = handle, uab.struct_from_binary(ua.DataValue, sub)
            append(item)
            p = sub._cur_pos
            continue
        else:
            x, code, src, srv = None, 0, None, None
            if mask & 1:
                p += 1
                if vt == 12:
                    (size,) = _I32.unpack_from(b, p)
                    p += 4
                    if size < -1 or p + size > end:
                        raise cutils.NotEnoughData("string runs past its notification")
                    x = None if size == -1 else str(b[p:p + size], enc, "surrogateescape")
                    p += max(size, 0)
                elif vt != 0:
                    st = _SCALAR[vt]
                    if p + st.size > end:
                        raise cutils.NotEnoughData("value runs past its notification")
                    (x,) = st.unpack_from(b, p)
                    p += st.size
            else:
                vt = 0
            if p + (4 if mask & 2 else 0) + (8 if mask & 4 else 0) + (8 if mask & 8 else 0) > end:
                raise cutils.NotEnoughData("DataValue runs past its notification")
            if mask & 2:
                (code,) = _U32.unpack_from(b, p)
                p += 4
            if mask & 4:
                (rs,) = _I64.unpack_from(b, p)
                p += 8
                src = times.get(rs) or times.setdefault(rs, to_dt(rs))
            if mask & 8:
                (rv,) = _I64.unpack_from(b, p)
                p += 8
                srv = times.get(rv) or times.setdefault(rv, to_dt(rv))
        if vt == 13:
            x = times.get(x) or times.setdefault(x, to_dt(x))
        elif vt == 19:
            status, x = x, _new(SC)
            x.value = status
        var = _new(V)
        var.Value, var.VariantType, var.Dimensions, var.is_array = x, _VTYPES[vt], None, False
        sc = _new(SC)
        sc.value = code
        dv = _new(DV)
        dv.Encoding, dv.Value, dv.StatusCode, dv.SourceTimestamp, dv.ServerTimestamp = (
            0, var, sc, src, srv)
        dv.SourcePicoseconds = dv.ServerPicoseconds = None
        item = _new(MIN)
        item.ClientHandle, item.Value = handle, dv
        append(item)
    rest = cutils.Buffer(b, p, end - p)
    return ua.DataChangeNotification(MonitoredItems=items, DiagnosticInfos=_DCN_DIAGS[1](rest))


# --- 6. one dispatch task per batch for a plain datachange_notification (client) -------------
async def _publish_callback(self: csub.Subscription, publish_result: ua.PublishResult) -> None:
    method = getattr(self._handler, "datachange_notification", None)
    if (self._event_queue is not None or method is None
            or inspect.iscoroutinefunction(method)):
        await _ORIGINAL[CLIENT[1]](self, publish_result)
        return
    message = publish_result.NotificationMessage
    self.logger.debug("publish callback: subscription %s, sequence %s",
                      self.subscription_id, message.SequenceNumber)
    self.last_publish_at = time.monotonic()
    if message.NotificationData is None:
        return
    self.last_sequence_number = int(message.SequenceNumber)
    produced = 0
    batch: list[tuple[Any, Any, csub.DataChangeNotif]] = []
    items = self._monitored_items
    for notif in message.NotificationData:
        if isinstance(notif, ua.DataChangeNotification):
            for item in notif.MonitoredItems:
                data = items.get(item.ClientHandle)
                if data is None or data.node is None:
                    self.logger.warning("Received a notification for unknown handle: %s",
                                        item.ClientHandle)
                    continue
                dv = item.Value
                value = dv.Value.Value if dv is not None and dv.Value is not None else None
                batch.append((data.node, value, csub.DataChangeNotif(data, item)))
            continue
        if batch:  # keep the stock order: data changes so far, then this notification
            produced += len(batch)
            _dispatch(self, method, batch)
            batch = []
        for event in self._explode_notifications([notif]):
            self._deliver(event)
            produced += 1
    if batch:
        produced += len(batch)
        _dispatch(self, method, batch)
    self._observe(lambda: self.server.observer.on_notification(self.subscription_id, produced))


def _dispatch(sub: csub.Subscription, method: Callable[..., Any],
              batch: list[tuple[Any, Any, csub.DataChangeNotif]]) -> None:
    task = asyncio.create_task(_call_each(sub, method, batch))
    sub._dispatch_tasks.add(task)
    task.add_done_callback(sub._dispatch_tasks.discard)


async def _call_each(sub: csub.Subscription, method: Callable[..., Any],
                     batch: list[tuple[Any, Any, csub.DataChangeNotif]]) -> None:
    for node, value, data in batch:
        try:
            method(node, value, data)
        except Exception:
            sub.logger.exception("Exception calling subscription handler")


# asyncua's own functions, before any patch (also what revert() puts back)
_ORIGINAL.update((k, getattr(owner, attr)) for k, (owner, attr, _fn) in _targets().items())
