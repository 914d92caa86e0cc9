"""OPC UA publishing: stock asyncua path vs ours, measured in the same run, with the ratio.

For each path the twin server serves the default satellite on loopback; every channel changes
every tick at ``--hz``; ``--subscribers`` asyncua clients (separate processes, so they do not
share the server's core) subscribe to every channel. Printed per path: values published per
second, values received per second per subscriber, server CPU (fraction of one core, the
server process only), and p50/p99 latency from publish (the DataValue's ServerTimestamp, set
when the mirror is published) to the client's data-change callback.

"stock" = asyncua's own ``write_attribute_value`` path, no patches, no ``gc.freeze``;
"ours" = the publisher's direct path with :mod:`twin.opcua.asyncua_patches` and ``gc.freeze``.

    .venv/bin/python bench/opcua_publish.py --seconds 10 --subscribers 2
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np


def subscriber(url: str, paths: list[str], seconds: float, out: Any) -> None:
    from asyncua import Client, ua

    lat: list[float] = []
    count = [0]

    class Handler:
        def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
            now = datetime.now(UTC)
            st = data.monitored_item.Value.ServerTimestamp
            count[0] += 1
            if st is not None:
                lat.append((now - st).total_seconds())

    async def main() -> None:
        client = Client(url, timeout=30)
        async with client:
            sub = await client.create_subscription(50, Handler())
            nodes = [client.get_node(ua.NodeId(p, 2)) for p in paths]
            await sub.subscribe_data_change(nodes, queuesize=1)
            out.put(("ready", 0))
            await asyncio.sleep(seconds + 3)
    asyncio.run(main())
    out.put(("done", (count[0], lat)))


async def run_server(fast: bool, args: argparse.Namespace) -> dict[str, float]:
    from twin.config import load_satellite
    from twin.opcua import asyncua_patches
    from twin.opcua.server import ServerOptions, TwinServer
    from twin.runtime import Twin

    if not fast:
        asyncua_patches.revert()
    state = Path(tempfile.mkdtemp(prefix="opcua-bench-"))
    twin = Twin(load_satellite().config, state_dir=state)
    url = f"opc.tcp://127.0.0.1:{args.port}/bench/"
    opts = ServerOptions(endpoint=url, state_dir=state, allow_none=True, anonymous=True,
                         fast_path=fast, freeze_gc=fast)
    paths = [ch.path for ch in twin.catalogue.channels]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    async with TwinServer(twin, opts) as srv:
        procs = [ctx.Process(target=subscriber, args=(url, paths, args.seconds, q))
                 for _ in range(args.subscribers)]
        for p in procs:
            p.start()
        ready = 0
        while ready < args.subscribers:
            kind, _ = await asyncio.to_thread(q.get)
            ready += kind == "ready"
        base = twin.mirror.values.copy()
        rng = np.random.default_rng(1)
        published0 = srv.publisher.published
        cpu0, wall0 = time.process_time(), time.perf_counter()
        period = 1.0 / args.hz
        next_t = wall0
        while time.perf_counter() - wall0 < args.seconds:
            twin.mirror.values = base + rng.normal(0.0, 0.01, base.shape)
            twin.mirror.version += 1
            await srv.publisher.publish()
            next_t += period
            await asyncio.sleep(max(0.0, next_t - time.perf_counter()))
        cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        published = srv.publisher.published - published0
        results = []
        while len(results) < args.subscribers:
            kind, data = await asyncio.to_thread(q.get)
            if kind == "done":
                results.append(data)
        for p in procs:
            p.join()
    asyncua_patches.apply()
    lat = np.concatenate([np.array(r[1]) for r in results]) * 1000.0
    return {"published_per_s": published / args.seconds,
            "received_per_s": float(np.mean([r[0] for r in results])) / args.seconds,
            "cpu": cpu, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), "channels": len(paths)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--subscribers", type=int, default=2)
    ap.add_argument("--hz", type=float, default=10.0)
    ap.add_argument("--port", type=int, default=48611)
    args = ap.parse_args()
    res = {name: asyncio.run(run_server(fast, args)) for name, fast in
           (("stock", False), ("ours", True))}
    print(f"{res['ours']['channels']} channels at {args.hz:g} Hz, {args.subscribers} "
          f"subscribers, {args.seconds:g} s each")
    print(f"{'path':6} {'published/s':>12} {'received/s/sub':>15} {'server CPU':>11} "
          f"{'p50 ms':>8} {'p99 ms':>8}")
    for name, r in res.items():
        print(f"{name:6} {r['published_per_s']:12.0f} {r['received_per_s']:15.0f} "
              f"{r['cpu']:10.0%} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f}")
    s, o = res["stock"], res["ours"]
    print(f"ratio stock/ours: CPU {s['cpu'] / o['cpu']:.2f}x, p99 {s['p99_ms'] / o['p99_ms']:.2f}x")


if __name__ == "__main__":
    main()
