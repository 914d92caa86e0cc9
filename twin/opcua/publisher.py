"""Live values: the mirror published into the address space, only what changed.

:class:`Publisher` compares the mirror with what it last published and, for each channel whose
value or status changed, stores a fresh DataValue (value as the channel's variant type, the
mirror's status code, SourceTimestamp = orbit epoch + the mirror's source time) straight into the
variable's attribute and calls its data-change callbacks: the server's internal write path
without the per-value type check and ``dataclasses.replace`` of ``write_attribute_value``
(``fast=False`` uses that stock path; the benchmark compares both). A Bad value is published as
Null with its status, as asyncua's own write path does (Part 4, 7.7.1).

The twin calls :meth:`Publisher.frame_ready` from :meth:`~twin.runtime.Twin.on_frame`;
:meth:`Publisher.run` publishes each new mirror version on the event loop.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from asyncua import ua

from twin.opcua.addressspace import VARIANT, TwinNodes

if TYPE_CHECKING:
    from asyncua import Server

    from twin.runtime import Twin

ChangeListener = Callable[[np.ndarray], None]


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
        for i in idx.tolist():
            code = int(status[i])
            sc = self._status_cache.get(code)
            if sc is None:
                sc = self._status_cache[code] = ua.StatusCode(code)
            src = float(source_s[i])
            ts = times.get(src)
            if ts is None:
                ts = times[src] = self.source_time(src)
            v = float(values[i])
            if code & 0x80000000 or math.isnan(v):
                variant = ua.Variant(None, ua.VariantType.Null)
            else:
                variant = ua.Variant(self._conv[i](v), self._vtypes[i])
            dv = ua.DataValue(variant, sc, SourceTimestamp=ts, ServerTimestamp=now)
            if self.fast:
                attr = self._attrs[i]
                attr.value = dv
                attr.value_callback = None
                if attr.datachange_callbacks:
                    for handle, cb in list(attr.datachange_callbacks.items()):
                        await cb(handle, dv)
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
