"""Live values: the mirror published into the address space, only what changed.

:class:`Publisher` compares the mirror with what it last published and, for each channel whose
value or status changed, stores a fresh DataValue (value as the channel's variant type, the
mirror's status code, SourceTimestamp = orbit epoch + the mirror's source time, ServerTimestamp =
the wall clock when this publish began) straight into the variable's attribute and tells its
monitored items: the server's internal write path without the per-value type check and
``dataclasses.replace`` of ``write_attribute_value``, with the DataValues built and the
monitored items told by :mod:`twin.opcua.asyncua_patches` directly (no coroutine per item)
when its server patches are in (``fast=False`` uses the stock path; ``bench/opcua_publish.py``
compares both). A Bad value is published as Null with its status, as asyncua's own write path
does (Part 4, 7.7.1). Every :data:`YIELD_EVERY` values it returns to the event loop, so that a
large publish does not hold up the server's other requests; one publish runs at a time.

The twin calls :meth:`Publisher.frame_ready` from :meth:`~twin.runtime.Twin.on_frame`;
:meth:`Publisher.run` publishes each new mirror version on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from asyncua import ua

from twin.opcua import asyncua_patches
from twin.opcua.addressspace import VARIANT, TwinNodes

if TYPE_CHECKING:
    from asyncua import Server

    from twin.runtime import Twin

ChangeListener = Callable[[np.ndarray], None]
log = logging.getLogger(__name__)
YIELD_EVERY = 1000  # values published between returns to the event loop


class Publisher:
    def __init__(self, server: Server, twin: Twin, nodes: TwinNodes, fast: bool = True) -> None:
        self.server = server
        self.twin = twin
        self.nodes = nodes
        self.fast = fast
        aspace = server.iserver.aspace
        self._attrs = [aspace[nid].attributes[ua.AttributeIds.Value] for nid in nodes.channel_ids]
        chans = twin.catalogue.channels
        self._vtypes = [VARIANT[ch.dtype] for ch in chans]
        self._conv: list[Callable[[float], Any]] = [
            float if ch.dtype == "float" else bool if ch.dtype == "bool" else _to_int
            for ch in chans]
        n = len(chans)
        self._last_values = np.full(n, np.nan)
        self._last_status = np.full(n, 0xFFFFFFFF, dtype=np.uint32)  # forces the first publish
        self._version = -1
        epoch = twin.config.orbit.epoch
        self._epoch = epoch if epoch.tzinfo else epoch.replace(tzinfo=UTC)
        self._status_cache: dict[int, ua.StatusCode] = {}
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._listeners: list[ChangeListener] = []
        self.published = 0  # values written since start
        self.publishes = 0  # mirror versions published

    def on_change(self, fn: ChangeListener) -> None:
        """``fn(indices)`` after each publish, with the indices of the channels that changed."""
        self._listeners.append(fn)

    def frame_ready(self, _twin: Twin | None = None) -> None:
        """Twin frame listener: wake the publishing task."""
        self._wake.set()

    def source_time(self, sim_s: float) -> datetime:
        return self._epoch + timedelta(seconds=float(sim_s))

    async def run(self, stop: asyncio.Event) -> None:
        waiter = asyncio.ensure_future(stop.wait())
        wake: asyncio.Future[bool] | None = None
        try:
            while not stop.is_set():
                wake = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait((wake, waiter), return_when=asyncio.FIRST_COMPLETED)
                wake.cancel()
                self._wake.clear()
                if not stop.is_set():
                    await self.publish()
        finally:  # also when cancelled mid-wait: leave no pending task behind
            waiter.cancel()
            if wake is not None:
                wake.cancel()

    async def publish(self) -> int:
        """Publish the channels that changed since the last call; returns how many."""
        async with self._lock:
            return await self._publish()

    async def _publish(self) -> int:
        m = self.twin.mirror
        if m.version == self._version:
            return 0
        self._version = m.version
        values, status, source_s = m.values, m.status, m.source_s
        last = self._last_values
        changed = (status != self._last_status) | ((values != last) & ~(np.isnan(values)
                                                                           & np.isnan(last)))
        idx = np.flatnonzero(changed)
        if idx.size == 0:
            return 0
        now = datetime.now(UTC)
        times: dict[float, datetime] = {}
        aspace = self.server.iserver.aspace
        make = asyncua_patches.scalar_datavalue
        n = 0
        null = ua.VariantType.Null
        for i, v, code, src in zip(idx.tolist(), values[idx].tolist(), status[idx].tolist(),
                                   source_s[idx].tolist(), strict=True):
            sc = self._status_cache.get(code)
            if sc is None:
                sc = self._status_cache[code] = ua.StatusCode(code)
            ts = times.get(src)
            if ts is None:
                ts = times[src] = self.source_time(src)
            if code & 0x80000000 or math.isnan(v):
                dv = make(None, null, sc, ts, now)
            else:
                dv = make(self._conv[i](v), self._vtypes[i], sc, ts, now)
            if self.fast:
                attr = self._attrs[i]
                attr.value = dv
                attr.value_callback = None
                if attr.datachange_callbacks:
                    later = _tell(attr.datachange_callbacks, dv)
                    if later:
                        await _finish(later)
                n += 1
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # let the server answer requests mid-publish
            else:
                await aspace.write_attribute_value(self.nodes.channel_ids[i],
                                                   ua.AttributeIds.Value, dv)
        self._last_values = values.copy()
        self._last_status = status.copy()
        self.published += idx.size
        self.publishes += 1
        for fn in self._listeners:
            fn(idx)
        return int(idx.size)


def _to_int(v: float) -> int:
    return int(round(v))


def _tell(callbacks: dict[int, Any], dv: ua.DataValue) -> list[Any] | None:
    """Tell each monitored item of the value: our patched data-change path is called directly
    (no coroutine per item); returns what is left to await (asyncua's own callbacks)."""
    later = None
    for handle, cb in callbacks.items():  # nothing here changes them: coroutines run later
        try:
            if getattr(cb, "__func__", None) is asyncua_patches.patched_datachange_callback:
                pending = asyncua_patches.datachange_now(cb.__self__, handle, dv)
            else:
                pending = cb(handle, dv)
        except Exception:
            log.exception("data-change callback %s failed for handle %s", cb, handle)
            continue
        if pending is not None:
            later = [*later, pending] if later else [pending]
    return later


async def _finish(later: list[Any]) -> None:
    for pending in later:
        try:
            await pending
        except Exception:  # as asyncua's write_attribute_value: logged, the others still told
            log.exception("data-change callback failed")
