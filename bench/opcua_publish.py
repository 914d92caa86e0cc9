"""OPC UA publishing to full subscribers: stock asyncua vs ours, in the same run, with the ratio.

For each path the twin's server serves the default satellite (or a larger one, ``--channels``)
on loopback; the bench changes every channel every tick at ``--hz`` wall-clock (floats by a
little noise, integers and enums by ±1, booleans flip) and publishes it; ``--node`` node-opcua
subscribers (``interop/subscriber.mjs``) and ``--asyncua`` asyncua subscribers, each its own
process, subscribe to every channel (publishing interval ``--publish-ms``, queue ``--queue``).

Tick k is stamped SourceTimestamp = base + k s, so each subscriber knows which tick a value
belongs to, and counts per tick: lost = channels × ticks − values received, out of order.
Latency = the subscriber's wall clock when its handler is called (asyncua's
``datachange_notification``, node-opcua's ``changed``) − the value's ServerTimestamp, which the
publisher stamps with the wall clock once per publish, before it writes the first value: one
host, one clock, so no offset; it covers publishing, the subscription's publishing interval,
encoding, the socket, decoding and dispatch. Late = latency above ``--late-ms``.

Printed per path and subscriber: values/s received, lost, out of order, late, p50/p99/max
latency, the client's CPU (fraction of one core) and, for asyncua, how many errors it logged
(stock asyncua's own watchdog disconnects it when it falls behind). Per path: values/s
published, server CPU (the bench process, which is the server: CPU seconds while ticking / the
ticks' nominal duration, i.e. the fraction of one core it needs for this rate, also when a
loaded machine made it fall behind) and how far ticking fell behind the wall clock (when it
did, the figures are not the floor's). ``--profile DIR`` writes cProfile files (CPU time).

"stock" = asyncua's own server write path and client, no patches, no ``gc.freeze``;
"ours" = the publisher's direct path, :mod:`twin.opcua.asyncua_patches` on server and client
(``apply`` / ``apply_client``) and ``gc.freeze`` once set up (server and asyncua subscribers;
without it a full collection in the client stalls it 35-75 ms). node-opcua is the same in both.

    .venv/bin/python bench/opcua_publish.py                   # the floor: 907 ch, 1 + 1 subs
    .venv/bin/python bench/opcua_publish.py --channels 5000 --node 1 --asyncua 2 --late-ms 150
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import gc
import json
import logging
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import numpy as np

INTEROP = Path(__file__).resolve().parents[1] / "interop"
SOURCE0_S = 1_000_000.0  # simulated time of tick 0: far from the twin's own initial values
HIST = 10_000  # latency histogram: 1 ms bins, the last one holds everything above


def asyncua_subscriber(url: str, paths: list[str], base: float, args: dict[str, Any],
                       patched: bool, out: Any, stop: Any) -> None:
    """One asyncua client in its own process: ("ready", None), then ("done", result)."""
    from asyncua import Client, ua

    errors = ErrorCount()
    logging.getLogger("asyncua").addHandler(errors)
    logging.getLogger("asyncua").propagate = False  # counted, not printed: stock falls over
    if patched:
        from twin.opcua import asyncua_patches

        asyncua_patches.apply_client()
    hist = np.zeros(HIST, dtype=np.int64)
    per_tick: dict[int, int] = {}
    last: dict[int, int] = {}
    state = {"values": 0, "out_of_order": 0, "lat_max_ms": 0.0}

    class Handler:
        def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
            now = time.time()
            dv = data.monitored_item.Value
            tick = round(dv.SourceTimestamp.timestamp() - base)
            if tick < 1:
                return  # the initial values, from before the bench's first tick
            state["values"] += 1
            per_tick[tick] = per_tick.get(tick, 0) + 1
            handle = data.subscription_data.client_handle
            if tick <= last.get(handle, -1):
                state["out_of_order"] += 1
            last[handle] = tick
            lat = (now - dv.ServerTimestamp.timestamp()) * 1000.0
            state["lat_max_ms"] = max(state["lat_max_ms"], lat)
            hist[min(HIST - 1, max(0, int(lat)))] += 1

    async def main() -> dict[str, Any]:
        client = Client(url, timeout=30)
        prof = cProfile.Profile(time.process_time) if args["profile"] else None
        await client.connect()
        try:
            sub = await client.create_subscription(args["publish_ms"], Handler())
            nodes = [client.get_node(ua.NodeId(p, 2)) for p in paths]
            await sub.subscribe_data_change(nodes, queuesize=args["queue"])
            if patched:  # as the server does: keep the long-lived objects out of full collections
                gc.collect()
                gc.freeze()
            cpu0, t0 = time.process_time(), time.perf_counter()
            out.put(("ready", None))
            if prof:
                prof.enable()
            while not await asyncio.to_thread(stop.wait, 0.2):
                pass
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
            if prof:
                prof.disable()
                prof.dump_stats(f"{args['profile']}/asyncua-{'ours' if patched else 'stock'}"
                                f"-{os.getpid()}.prof")
        finally:
            with contextlib.suppress(Exception):  # stock may have been disconnected by now
                await asyncio.wait_for(client.disconnect(), 5)
        return {"client": "asyncua" + (" (ours)" if patched else ""), **state,
                "errors": errors.count, "first_error": errors.first, "per_tick": per_tick,
                "lat_hist_ms": hist.tolist(), "cpu_s": cpu, "wall_s": wall}

    try:
        out.put(("done", asyncio.run(main())))
    except Exception as exc:
        out.put(("failed", f"asyncua subscriber: {exc!r}"))


class ErrorCount(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if not self.first:
            self.first = f"{record.getMessage()} ({record.exc_info[1]!r})" if record.exc_info \
                else record.getMessage()


async def node_subscriber(url: str, ids_file: Path, base: float, pki: Path,
                          args: argparse.Namespace) -> asyncio.subprocess.Process:
    node = shutil.which("node")
    if node is None or not (INTEROP / "node_modules" / "node-opcua-client").is_dir():
        raise SystemExit("node or interop/node_modules missing: npm ci --prefix interop")
    return await asyncio.create_subprocess_exec(
        node, str(INTEROP / "subscriber.mjs"), url, str(ids_file), repr(base),
        str(args.publish_ms), str(args.queue), str(pki), cwd=INTEROP, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, limit=2**26)


async def node_ready(proc: asyncio.subprocess.Process) -> None:
    """Wait for the subscriber's ``{"ready": true}`` (node-opcua logs to stdout before it)."""
    while True:
        line = await proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise SystemExit("node subscriber failed (see its stderr above)")
        if line.strip() == b'{"ready":true}':
            return


def satellite(channels: int) -> Any:
    """The default satellite, with more GPUs per rack until it has at least ``channels``."""
    from twin.catalogue import build_catalogue
    from twin.config import load_satellite

    cfg = load_satellite().config
    gpus = cfg.compute.gpus_per_rack
    while len(build_catalogue(cfg)) < channels:
        gpus += 1
        cfg = dataclasses.replace(cfg, compute=dataclasses.replace(cfg.compute,
                                                                   gpus_per_rack=gpus))
    return cfg


async def run_path(fast: bool, args: argparse.Namespace) -> dict[str, Any]:
    from twin.opcua import asyncua_patches

    if not fast:
        asyncua_patches.revert()
    try:
        with tempfile.TemporaryDirectory(prefix="opcua-bench-") as tmp:
            return await serve_and_measure(fast, Path(tmp), args)
    finally:
        asyncua_patches.apply()


async def serve_and_measure(fast: bool, state: Path, args: argparse.Namespace) -> dict[str, Any]:
    from twin.opcua.server import ServerOptions, TwinServer
    from twin.runtime import Twin

    twin = Twin(satellite(args.channels), state_dir=state)
    url = f"opc.tcp://127.0.0.1:{args.port}/bench/"
    opts = ServerOptions(endpoint=url, state_dir=state, allow_none=True, anonymous=True,
                         trust_new=True, fast_path=fast, freeze_gc=fast)
    chans = twin.catalogue.channels
    paths = [ch.path for ch in chans]
    ids_file = state / "node-ids.txt"
    ids_file.write_text("".join(f"ns=2;s={p}\n" for p in paths))
    epoch = twin.config.orbit.epoch
    base = ((epoch if epoch.tzinfo else epoch.replace(tzinfo=UTC))
            + timedelta(seconds=SOURCE0_S)).timestamp()
    ctx = mp.get_context("spawn")
    q, stop = ctx.Queue(), ctx.Event()
    knobs = {"publish_ms": args.publish_ms, "queue": args.queue, "profile": args.profile}
    procs = [ctx.Process(target=asyncua_subscriber, args=(url, paths, base, knobs, fast, q, stop))
             for _ in range(args.asyncua)]
    nodes: list[asyncio.subprocess.Process] = []

    async def from_asyncua(expect: str, timeout: float) -> Any:
        kind, data = await asyncio.to_thread(q.get, True, timeout)
        if kind != expect:
            raise SystemExit(data)
        return data

    async with TwinServer(twin, opts) as srv:
        try:
            for p in procs:
                p.start()
            for i in range(args.node):
                nodes.append(await node_subscriber(url, ids_file, base, state / f"node-pki-{i}",
                                                   args))
            for n in nodes:
                await asyncio.wait_for(node_ready(n), 120)
            for _ in procs:
                await from_asyncua("ready", 120)
            ticks, results = await tick(srv, twin, base, args)
            stop.set()
            for n in nodes:
                n.stdin.write(b"stop\n")  # type: ignore[union-attr]
                await n.stdin.drain()  # type: ignore[union-attr]
            for n in nodes:
                text, _ = await asyncio.wait_for(n.communicate(), 60)
                results["subscribers"].append(json.loads(text.decode().strip().splitlines()[-1]))
            for _ in procs:
                results["subscribers"].append(await from_asyncua("done", 60))
        finally:  # leave no subscriber behind, also on failure
            stop.set()
            for n in nodes:
                if n.returncode is None:
                    n.kill()
                    await n.wait()
            for p in procs:
                p.join(10)
                if p.is_alive():
                    p.kill()
                    p.join()
    results["subscribers"] = [summarise(r, len(chans), ticks, results["window_s"], args)
                              for r in results["subscribers"]]
    return {**results, "channels": len(chans)}


async def tick(srv: Any, twin: Any, base: float, args: argparse.Namespace
               ) -> tuple[int, dict[str, Any]]:
    """Change every channel every tick at ``--hz``, then wait ``--drain`` s for stragglers."""
    kinds = np.array([ch.dtype for ch in twin.catalogue.channels])
    is_float, is_bool = kinds == "float", kinds == "bool"
    start = np.nan_to_num(twin.mirror.values.copy())
    whole = np.round(start)
    good = np.zeros(len(kinds), dtype=np.uint32)
    rng = np.random.default_rng(1)
    n = len(kinds)
    ticks = int(round(args.seconds * args.hz))
    period = 1.0 / args.hz
    published0 = srv.publisher.published
    prof = cProfile.Profile(time.process_time) if args.profile else None
    if prof:
        prof.enable()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    behind = 0.0
    for k in range(1, ticks + 1):
        due = wall0 + (k - 1) * period
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        behind = max(behind, time.perf_counter() - due)
        flip = float(k & 1)  # integers: +1 on odd ticks; booleans: the opposite of the last
        twin.mirror.values = np.where(is_float, start + rng.normal(0.0, 0.01, n),
                                      np.where(is_bool, (whole + k) % 2, whole + flip))
        twin.mirror.status = good
        twin.mirror.source_s = np.full(n, SOURCE0_S + k)
        twin.mirror.version += 1
        await srv.publisher.publish()
    await asyncio.sleep(max(0.0, wall0 + ticks * period - time.perf_counter()))
    window = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    if prof:
        prof.disable()
        path = 'ours' if srv.options.fast_path else 'stock'
        prof.dump_stats(f"{args.profile}/server-{path}.prof")
    published = srv.publisher.published - published0
    await asyncio.sleep(args.drain)
    return ticks, {"published_per_s": published / window, "server_cpu": cpu / (ticks * period),
                   "server_cpu_got": cpu / window,
                   "behind_ms": behind * 1000.0, "window_s": window, "subscribers": []}


def summarise(r: dict[str, Any], channels: int, ticks: int, window: float,
              args: argparse.Namespace) -> dict[str, Any]:
    hist = np.asarray(r["lat_hist_ms"], dtype=np.int64)
    cum = np.cumsum(hist)
    total = int(cum[-1]) if cum.size else 0

    def pct(q: float) -> float:
        return float(np.searchsorted(cum, q * total)) + 0.5 if total else float("nan")

    received = sum(c for k, c in r["per_tick"].items() if 1 <= int(k) <= ticks)
    return {"client": r["client"], "received_per_s": received / window,
            "lost": channels * ticks - received, "out_of_order": r["out_of_order"],
            "late": int(hist[int(args.late_ms):].sum()), "p50_ms": pct(0.50),
            "p99_ms": pct(0.99), "max_ms": r["lat_max_ms"], "cpu": r["cpu_s"] / r["wall_s"],
            "errors": r.get("errors", 0), "first_error": r.get("first_error", "")}


def report(res: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    any_path = next(iter(res.values()))
    print(f"{any_path['channels']} channels, every one changing every tick at {args.hz:g} Hz for "
          f"{args.seconds:g} s; {args.node} node-opcua + {args.asyncua} asyncua subscribers; "
          f"publishing interval {args.publish_ms:g} ms, queue {args.queue}; late > "
          f"{args.late_ms:g} ms")
    print(f"{'path':6} {'published/s':>11} {'server CPU':>10} {'behind ms':>9}   {'subscriber':16}"
          f" {'recv/s':>7} {'lost':>6} {'order':>5} {'late':>6} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'CPU':>5} {'errors':>6}")
    for name, r in res.items():
        head = (f"{name:6} {r['published_per_s']:11.0f} {r['server_cpu']:10.0%} "
                f"{r['behind_ms']:9.0f}")
        for s in r["subscribers"]:
            print(f"{head}   {s['client']:16} {s['received_per_s']:7.0f} {s['lost']:6d} "
                  f"{s['out_of_order']:5d} {s['late']:6d} {s['p50_ms']:7.1f} {s['p99_ms']:7.1f} "
                  f"{s['max_ms']:7.0f} {s['cpu']:5.0%} {s['errors']:6d}")
            head = " " * len(head)
            if s["first_error"]:
                print(f"{'':42}first error: {s['first_error'][:140]}")
    if {"stock", "ours"} <= res.keys():
        s, o = res["stock"], res["ours"]
        worst = {k: max(x["p99_ms"] for x in r["subscribers"]) for k, r in res.items()}
        print(f"ratio stock/ours: server CPU {s['server_cpu'] / o['server_cpu']:.2f}x, worst "
              f"subscriber p99 {worst['stock'] / worst['ours']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="ticking time per path")
    ap.add_argument("--hz", type=float, default=10.0)
    ap.add_argument("--channels", type=int, default=0, help="at least this many channels "
                    "(more GPUs per rack); default: the default satellite")
    ap.add_argument("--node", type=int, default=1, help="node-opcua subscribers")
    ap.add_argument("--asyncua", type=int, default=1, help="asyncua subscribers")
    ap.add_argument("--publish-ms", type=float, default=50.0, help="publishing interval")
    ap.add_argument("--queue", type=int, default=10, help="monitored item queue size")
    ap.add_argument("--late-ms", type=float, default=300.0)
    ap.add_argument("--drain", type=float, default=2.0, help="s to wait after the last tick")
    ap.add_argument("--paths", default="stock,ours")
    ap.add_argument("--json", action="store_true", help="also print the results as JSON")
    ap.add_argument("--profile", default="", metavar="DIR", help="cProfile the server's "
                    "ticking and each asyncua subscriber into DIR/*.prof (slows them down)")
    ap.add_argument("--port", type=int, default=48611)
    args = ap.parse_args()
    logging.getLogger("twin.opcua.trust").setLevel(logging.ERROR)  # node-opcua's new certificate
    res = {name: asyncio.run(run_path(name == "ours", args)) for name in args.paths.split(",")}
    report(res, args)
    if args.json:
        json.dump(res, sys.stdout)
        print()


if __name__ == "__main__":
    main()
