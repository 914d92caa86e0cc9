"""The ``twin`` command: one entry point, one subcommand per process in DESIGN.md.

Errors the user can act on (:class:`~twin.errors.TwinError`) print one line and exit 2; no
traceback. Subcommands whose issue has not landed yet say so and exit 3.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from twin.errors import TwinError

PENDING: dict[str, str] = {}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNITS = {"ms": 1e-3, "s": 1.0, None: 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """'24h', '90m', '3600', '1.5d', '100ms' → seconds."""
    m = _DURATION.match(text)
    if not m:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration; expected a number with an optional unit "
            "(ms, s, m, h, d), e.g. 24h or 90m")
    return float(m[1]) * _UNITS[m[2]]


def add_log_arguments(p: argparse.ArgumentParser, default: object = None) -> None:
    """``--log-level`` and ``--log-file`` (see :mod:`twin.logs`)."""
    p.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"), type=str.upper,
                   default=default, help="log level (default: INFO for twin serve, up and "
                   "replay; WARNING otherwise)")
    p.add_argument("--log-file", metavar="FILE", default=default, help="also log to this file "
                   "(twin up with its console always logs to STATE_DIR/twin.log)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twin",
        description="orbital-twin: a digital twin of one orbital data-center satellite.")
    add_log_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sim = sub.add_parser("simulate", help="run the plant as fast as possible and record it",
                         description="Run the plant as fast as possible, record every channel "
                         "and print a summary.")
    sim.add_argument("scenario", nargs="?", help="scenario file (configs/scenarios/*.toml); "
                     "without one, a nominal run of the config")
    sim.add_argument("--config", default=None, help="satellite file (default: "
                     "configs/satellite.toml)")
    sim.add_argument("--duration", type=parse_duration, default=parse_duration("24h"),
                     help="simulated time, e.g. 24h, 90m, 3600s (default 24h)")
    sim.add_argument("--step", type=parse_duration, default=None,
                     help="plant step, 0.1 s to 10 s (default from the config, 1 s)")
    sim.add_argument("--seed", type=int, default=None, help="random seed (default: config)")
    sim.add_argument("--record-every", type=parse_duration, default=parse_duration("10s"),
                     help="record every channel at this interval (default 10 s)")
    sim.add_argument("--out", default=None, help="run directory (default runs/<time>-<name>)")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    sim.add_argument("--junit", default=None, help="with a scenario: write JUnit XML results")
    sim.add_argument("--influx", default=None, metavar="FILE", help="also send the recorded "
                     "frames, commands and events to InfluxDB ([influx] table of FILE, or "
                     "TWIN_INFLUX_* variables)")

    ch = sub.add_parser("channels", help="list the channel catalogue",
                        description="List the channel catalogue generated from the config.")
    ch.add_argument("patterns", nargs="*", help="globs (compute.rack.1.*) or words (soc)")
    ch.add_argument("--config", default=None, help="satellite file")
    ch.add_argument("--writable", action="store_true", help="only commandable channels")
    ch.add_argument("--count", action="store_true", help="print only the number of channels")

    cfg = sub.add_parser("config", help="check a satellite file and print its design margins",
                         description="Load and validate a satellite file; print warnings and "
                         "the design margins (eclipse, depth of discharge, array, radiators).")
    cfg.add_argument("file", nargs="?", default=None, help="satellite file")

    from twin.opcua.nodeset import add_nodeset_arguments
    from twin.opcua.server import add_serve_arguments

    up = sub.add_parser("up", help="the embedded twin: plant, stub boards, OPC UA, console",
                        description="The embedded default: the plant, its three sensor boards in "
                        "software on pseudo-terminals and loopback TCP, the pollers that sync "
                        "them into the twin, its OPC UA server on loopback, and the operator "
                        "console in the foreground (--headless: no console).")
    up.add_argument("--headless", action="store_true", help="no console (print the endpoint)")
    add_serve_arguments(up)
    from twin.console.cli import add_console_arguments, add_login_arguments

    add_login_arguments(up)
    add_console_arguments(sub.add_parser(
        "console", help="the operator console against a running twin",
        description="The operator console (Textual) as an OPC UA client of any twin."))
    serve = sub.add_parser("serve", help="the twin and its OPC UA server",
                           description="The twin and its OPC UA server until Ctrl-C: the plant "
                           "model alone, or with real sensor boards (--boards LAB.toml: "
                           "serial device paths and TCP addresses, see docs/benchkit.md).")
    add_serve_arguments(serve)
    add_nodeset_arguments(sub.add_parser(
        "nodeset", help="export the address space as NodeSet2 XML",
        description="Export the OPC UA address space (types and instances) as NodeSet2 XML."))

    from firmware_stubs.cli import add_stub_arguments
    from hil.boardfile import add_boards_arguments

    add_boards_arguments(sub.add_parser(
        "boards", help="the sensor boards' register maps (twin boards doc)",
        description="The sensor boards defined in configs/boards/*.toml."))
    add_stub_arguments(sub.add_parser(
        "stub", help="run one firmware stub board on a pty or TCP port",
        description="Run one sensor board in software, speaking its wire protocol, sensing a "
        "constant, a scripted profile or a recorded run."))

    from twin.opcua.users_cli import add_users_arguments
    from twin.replay.cli import add_replay_arguments
    from twin.review.cli import add_review_arguments

    add_replay_arguments(sub.add_parser(
        "replay", help="play a recording through the mirror and OPC UA; re-simulate or fork it",
        description="Serve a recorded run over OPC UA (play, pause, speed, seek, step), or "
        "re-simulate it (--resimulate OUT) or fork a what-if branch "
        "(--fork T --do ... --out DIR)."))
    add_review_arguments(sub.add_parser(
        "review", help="summary, limit violations, plots, exports, --vs",
        description="Summarise a recorded run: limit violations, alarms, expectations; plots, "
        "CSV/line-protocol export; compare two runs with --vs."))

    add_users_arguments(sub.add_parser(
        "users", help="manage OPC UA users and roles (add, remove, list)",
        description="Manage the OPC UA users file: salted scrypt hashes and a role each "
        "(viewer, operator, engineer)."))

    for p in sub.choices.values():  # before or after the subcommand: twin serve --log-level
        add_log_arguments(p, argparse.SUPPRESS)
    for name, what in PENDING.items():
        p = sub.add_parser(name, help=f"{what.split(' (')[0]} [not yet available]",
                           description=f"{what[0].upper() + what[1:]}. Not yet available.")
        p.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # twin up passes it on
    from twin import logs

    log_file = logs.setup(args.command, getattr(args, "headless", False),
                          getattr(args, "state_dir", None), args.log_level, args.log_file)
    try:
        if args.command == "simulate":
            from twin.simulate import simulate_command

            return simulate_command(args)
        if args.command == "channels":
            return channels_command(args)
        if args.command == "config":
            return config_command(args)
        if args.command == "console":
            from twin.console.cli import console_command

            return console_command(args)
        if args.command == "up" and not args.headless:
            from twin.console.cli import up_command

            try:
                return up_command(args)
            finally:
                print(f"the twin's log: {log_file}")
        if args.command in ("up", "serve"):
            from twin.opcua.server import serve_command

            return serve_command(args)
        if args.command == "boards":
            from hil.boardfile import boards_command

            return boards_command(args)
        if args.command == "stub":
            from firmware_stubs.cli import stub_command

            return stub_command(args)
        if args.command == "replay":
            from twin.replay.cli import replay_command

            return replay_command(args)
        if args.command == "review":
            from twin.review.cli import review_command

            return review_command(args)
        if args.command == "users":
            from twin.opcua.users_cli import users_command

            return users_command(args)
        if args.command == "nodeset":
            from twin.opcua.nodeset import nodeset_command

            return nodeset_command(args)
        print(f"twin {args.command}: not yet available: {PENDING[args.command]}",
              file=sys.stderr)
        return 3
    except TwinError as exc:
        print(f"twin {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"twin {args.command}: interrupted", file=sys.stderr)
        return 130


def load_config(path: str | None):  # type: ignore[no-untyped-def]
    from twin.config import DEFAULT_SATELLITE, load_satellite

    loaded = load_satellite(Path(path) if path else DEFAULT_SATELLITE)
    for w in loaded.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return loaded.config


def channels_command(args: argparse.Namespace) -> int:
    from twin.catalogue import build_catalogue, format_table

    cat = build_catalogue(load_config(args.config))
    chans = cat.select(args.patterns)
    if args.writable:
        chans = [c for c in chans if c.writable]
    if args.count:
        print(len(chans))
    else:
        print(format_table(chans))
    return 0 if chans else 1


def config_command(args: argparse.Namespace) -> int:
    from twin.model.sizing import design_margins

    cfg = load_config(args.file)
    m = design_margins(cfg)
    rows = [
        ("satellite", f"{cfg.satellite.name} ({cfg.source})"),
        ("orbit period", f"{m.period_s / 60:.1f} min"),
        ("lowest |beta| in a year", f"{m.min_abs_beta_deg:.1f} deg"),
        ("worst eclipse", f"{m.worst_eclipse_s / 60:.1f} min"),
        ("full load", f"{m.full_load_w / 1e3:.1f} kW"),
        ("battery energy", f"{m.battery_energy_j / 3.6e6:.1f} kWh"),
        ("eclipse depth of discharge", f"{m.eclipse_dod:.1%} "
         f"(limit {cfg.battery.max_depth_of_discharge:.0%})"),
        ("array power (hot, degraded, aphelion)", f"{m.array_power_w / 1e3:.1f} kW "
         f"at {m.array_temp_c:.0f} °C"),
        ("sunlit need (load + recharge)", f"{m.sunlit_need_w / 1e3:.1f} kW "
         f"(margin {m.array_margin:+.0%})"),
        ("radiator capacity at design temp", f"{m.radiator_capacity_w / 1e3:.1f} kW "
         f"for {m.compute_heat_w / 1e3:.1f} kW (margin {m.radiator_margin:+.0%})"),
        ("rack full-load current", f"{m.rack_max_current_a:.1f} A "
         f"(LCL trip {cfg.compute.rack_lcl_trip_a:g} A)"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k.ljust(width)}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
