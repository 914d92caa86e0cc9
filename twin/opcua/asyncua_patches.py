"""Three small changes to asyncua 2.1.0's server, in one place, for that version only.

Why (measured on this 2-core machine, see issue 3 and ``bench/opcua_publish.py``):

1. ``MonitoredItemValues.set_current_datavalue`` deep-copies every DataValue for every monitored
   item. Our values are fresh DataValues holding immutable scalars (float, int, bool, str), which
   nobody mutates after publishing, so the copy buys nothing and was most of the cost of a
   2,000-value update with a subscriber (~21 ms → ~145 ms). Patched: copy only values whose
   Variant holds something mutable (lists, structures), exactly as before for those.
2. ``MonitoredItemService.datachange_callback`` builds a ``MonitoredItemNotification`` before it
   knows whether it will send it, and goes through the generic change test. Patched: the same
   checks in the same order (disabled mode, filter with trigger and deadband, default
   status-or-value trigger), the notification built only when it is sent.
3. Security hole: the server's connection starts with ``SecurityPolicyNone`` so that clients can
   call GetEndpoints; asyncua lets CreateSession and ActivateSession through on that channel even
   when no None endpoint is configured, so the password travels in clear and, since that channel
   has no permission ruleset, no permission rule is applied. Patched: on a channel whose policy
   is None while no None endpoint was configured, only discovery requests (GetEndpoints,
   FindServers, FindServersOnNetwork) pass; anything else gets ``BadSecurityPolicyRejected``.

:func:`apply` refuses (logs an error, changes nothing, returns False) unless asyncua is exactly
:data:`ASYNCUA_VERSION` and each function to be replaced still has the source fingerprint it had
when the patch was written; ``tests/opcua/test_asyncua_patches.py`` fails on an upgrade that
changes any of them. The three changes are candidates for upstream.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import logging
from collections.abc import Callable
from typing import Any

import asyncua
from asyncua import ua
from asyncua.server import monitored_item_service as mis
from asyncua.server import uaprocessor

log = logging.getLogger(__name__)

ASYNCUA_VERSION = "2.1.0"

# sha256 of inspect.getsource() of each replaced function in asyncua 2.1.0.
PINNED: dict[str, str] = {
    "MonitoredItemValues.set_current_datavalue":
        "df9d5e87226514b2e2512f5a9f4e1a54f350b6f0e57b890b4dcfc1d5d2c731d5",
    "MonitoredItemService.datachange_callback":
        "d4468698f4d16058fe297b56f9900b9cd5883027bda8c94ce90b724c9045ea3b",
    "UaProcessor._process_message":
        "029ff357dd3bdd16a53eec2a830fdc0660d2c1736123715255f7e3dead8ae11b",
}

_IMMUTABLE = (int, float, bool, str, bytes, type(None), ua.StatusCode, ua.LocalizedText,
              ua.NodeId, ua.QualifiedName)
_DISCOVERY = frozenset(ua.NodeId(i) for i in (
    ua.ObjectIds.GetEndpointsRequest_Encoding_DefaultBinary,
    ua.ObjectIds.FindServersRequest_Encoding_DefaultBinary,
    ua.ObjectIds.FindServersOnNetworkRequest_Encoding_DefaultBinary,
))
_NONE_URI = "http://opcfoundation.org/UA/SecurityPolicy#None"
_applied = False
_ORIGINAL: dict[str, Callable[..., Any]] = {}


def _targets() -> dict[str, tuple[Any, str]]:
    return {
        "MonitoredItemValues.set_current_datavalue": (mis.MonitoredItemValues,
                                                      "set_current_datavalue"),
        "MonitoredItemService.datachange_callback": (mis.MonitoredItemService,
                                                     "datachange_callback"),
        "UaProcessor._process_message": (uaprocessor.UaProcessor, "_process_message"),
    }


def fingerprint(fn: Callable[..., Any]) -> str:
    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()


def originals() -> dict[str, Callable[..., Any]]:
    """The functions as asyncua ships them (also after :func:`apply`)."""
    return {k: _ORIGINAL.get(k) or getattr(owner, attr) for k, (owner, attr) in _targets().items()}


def check() -> list[str]:
    """Reasons not to patch; empty when the installed asyncua is the one these patches fit."""
    if asyncua.__version__ != ASYNCUA_VERSION:
        return [f"asyncua is {asyncua.__version__}, the patches are for {ASYNCUA_VERSION}"]
    return [f"asyncua {k} changed (source fingerprint {fingerprint(fn)[:12]})"
            for k, fn in originals().items() if fingerprint(fn) != PINNED[k]]


def apply() -> bool:
    """Install the patches once; False (with an error logged) if asyncua is not the pinned one."""
    global _applied
    if _applied:
        return True
    problems = check()
    if problems:
        log.error("not patching asyncua (%s); the OPC UA server runs on asyncua's own code paths: "
                  "slower with subscribers, and the unsecured GetEndpoints channel accepts "
                  "sessions", "; ".join(problems))
        return False
    for key, (owner, attr) in _targets().items():
        _ORIGINAL[key] = getattr(owner, attr)
    mis.MonitoredItemValues.set_current_datavalue = _set_current_datavalue  # type: ignore
    mis.MonitoredItemService.datachange_callback = _datachange_callback  # type: ignore
    uaprocessor.UaProcessor._process_message = _process_message  # type: ignore
    _applied = True
    log.info("asyncua %s patched: no deepcopy of immutable values, lean data-change "
             "notifications, sessions refused on the unsecured discovery channel", ASYNCUA_VERSION)
    return True


def applied() -> bool:
    return _applied


def revert() -> None:
    """Put asyncua's own functions back (the benchmark compares both paths in one run)."""
    global _applied
    for key, (owner, attr) in _targets().items():
        if key in _ORIGINAL:
            setattr(owner, attr, _ORIGINAL[key])
    _applied = False


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
    mid = self._monitored_datachange[handle]
    mdata = self._monitored_items[mid]
    if mdata.mode == ua.MonitoringMode.Disabled:
        return
    mvalue = mdata.mvalue
    old = mvalue.current_dvalue
    _set_current_datavalue(mvalue, value)
    flt = mdata.filter
    if flt:
        send = self._is_data_changed(mvalue, flt.Trigger) and self._is_deadband_exceeded(
            mvalue, flt)
    elif old is None:
        send = True
    else:
        send = old.StatusCode != value.StatusCode or old.Value != value.Value
    if send:
        event = ua.MonitoredItemNotification(ClientHandle=mdata.client_handle, Value=value)
        await self.isub.enqueue_datachange_event(mid, event, mdata.queue_size)


# --- 3. only discovery on the unsecured channel unless None is configured --------------------
async def _process_message(self: uaprocessor.UaProcessor, typeid: ua.NodeId, requesthdr: Any,
                           seqhdr: Any, body: Any) -> Any:
    conn = self._connection
    if (conn.security_policy.URI == _NONE_URI and typeid not in _DISCOVERY
            and not any(f.cls.URI == _NONE_URI for f in conn._policies)):
        log.warning("refused %s from %s on the unsecured discovery channel: this server has no "
                    "None endpoint", typeid.to_string(), self.name)
        raise uaprocessor.ServiceError(ua.StatusCodes.BadSecurityPolicyRejected)
    return await _ORIGINAL["UaProcessor._process_message"](self, typeid, requesthdr, seqhdr,
                                                           body)
