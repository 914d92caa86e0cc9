"""``twin replay RUN``: serve a recording over OPC UA, or re-simulate or fork it.

    twin replay runs/pump --speed 60 --at 1h          # OPC UA clients see the recording live
    twin replay runs/pump --resimulate runs/pump-again
    twin replay runs/pump --fork 600 --do "SetLoadShedLevel level=2" --out runs/pump-shed

A fork of a scenario run carries the scenario on and prints the branch's expectations beside the
parent's; like ``twin simulate SCENARIO`` it exits 1 when the branch fails one. ``--influx FILE``
(or the TWIN_INFLUX_* environment) also sends the new run, or the replayed frames
(``source=replay``), to InfluxDB.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from twin.errors import TwinError


def add_replay_arguments(p: argparse.ArgumentParser) -> None:
    from twin.cli import parse_duration
    from twin.opcua.server import DEFAULT_ENDPOINT

    p.add_argument("run", help="run directory (made by twin simulate, a scenario or a recorder)")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed, 0.1 to 1000 "
                   "(default 1)")
    p.add_argument("--at", type=parse_duration, default=None, help="start at this simulated "
                   "time, e.g. 2h (default: the start of the run)")
    p.add_argument("--paused", action="store_true", help="start paused (Resume over OPC UA)")
    p.add_argument("--endpoint", default=DEFAULT_ENDPOINT, help="OPC UA endpoint URL")
    p.add_argument("--state-dir", default="state", help="certificates and users (default ./state)")
    p.add_argument("--users", default=None, help="users file (default STATE_DIR/users.json)")
    p.add_argument("--allow-none", action="store_true", help="also offer the None security "
                   "policy (loopback only)")
    p.add_argument("--anonymous", action="store_true", help="accept anonymous viewers")
    p.add_argument("--publish-hz", type=float, default=10.0, help="publish rate (default 10)")
    p.add_argument("--resimulate", metavar="OUT", default=None, help="instead of serving: "
                   "re-simulate the run into OUT (simulated runs, bit for bit)")
    p.add_argument("--fork", metavar="T", type=parse_duration, default=None, help="instead of "
                   "serving: fork a what-if branch at simulated time T into --out")
    p.add_argument("--do", action="append", default=[], metavar="ACTION",
                   help="with --fork: '[@T] Command key=value ...' (repeatable), e.g. "
                   "'SetLoadShedLevel level=2' or '@900 ClearFault fault_id=1'")
    p.add_argument("--keep-future", action="store_true", help="with --fork: also re-apply the "
                   "parent's commands after the fork")
    p.add_argument("--until", type=parse_duration, default=None, help="with --fork: run the "
                   "branch to this time (default: the parent's end)")
    p.add_argument("--out", default=None, help="with --fork: the branch's run directory")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--influx", default=None, metavar="FILE", help="also send to InfluxDB "
                   "([influx] table of FILE, or TWIN_INFLUX_* variables): the new run of "
                   "--resimulate/--fork, or the replayed frames")


def replay_command(args: argparse.Namespace) -> int:
    from twin.replay.resim import fork, parse_action, resimulate_run

    influx = getattr(args, "influx", None)
    if args.resimulate:
        out, text = resimulate_run(args.run, args.resimulate, not args.quiet, influx)
        print(f"re-simulated {args.run} into {out}")
        if text:
            print(text)
        return 0
    if args.fork is not None:
        if not args.out:
            raise TwinError("--fork needs --out DIR for the branch")
        res = fork(args.run, args.fork, args.out, [parse_action(a) for a in args.do],
                   end_s=args.until, keep_future=args.keep_future, progress=not args.quiet,
                   influx=influx)
        print(f"forked {args.run} at {res.fork_t_s:g} s into {res.out_dir} "
              f"({res.frames} new frames to {res.end_s:g} s)")
        for c in res.commands:
            print(f"  {c['t_s']:g} s  {c['user']}: {c['command']} {c['args']} → {c['status']}")
        if res.matched_parent is False:
            print("warning: the re-simulated state at the fork differs from the recording")
        for w in res.warnings:
            print(f"warning: {w}")
        if res.estimated:
            print("estimated states (not measured): " + "; ".join(res.estimated))
        if res.influx:
            print(res.influx)
        if res.scenario is not None:
            from twin.scenario import format_branch

            print(format_branch(res.scenario, res.parent_scenario))
            return 0 if res.scenario.passed else 1
        return 0
    if args.do or args.out:
        raise TwinError("--do and --out go with --fork")
    return serve_replay(args)


def serve_replay(args: argparse.Namespace) -> int:
    from twin.influx import describe_sink, sink_for
    from twin.opcua.server import serve
    from twin.replay.player import ReplayTwin
    from twin.replay.resim import load_config
    from twin.store import RunStore

    store = RunStore.open(args.run)
    sink = None
    try:
        twin = ReplayTwin(load_config(store.meta), store, speed=args.speed, at_s=args.at,
                          playing=not args.paused, publish_hz=args.publish_hz)
        sink = sink_for(twin.config, twin.catalogue, getattr(args, "influx", None),
                        source="replay", run=store.meta, lossless=False)
        if sink is not None:
            sink.attach(twin)  # what the mirror shows, as the live twin does
        asyncio.run(serve(twin, args.endpoint, args.state_dir, allow_none=args.allow_none,
                          anonymous=True if args.anonymous else None,
                          users_file=Path(args.users) if args.users else None))
    finally:
        if sink is not None:  # as the live twin's: send or spool what is queued, no draining
            sink.close()
            print(describe_sink(sink), file=sys.stderr)
        store.close()
    return 0
