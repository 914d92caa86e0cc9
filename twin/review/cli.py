"""``twin review RUN``: summary, limit violations, alarms, expectations, plots, exports, --vs.

    twin review runs/pump                             # summary and limit violations
    twin review runs/pump --vs runs/pump-shed         # incident and what-if side by side
    twin review runs/pump --sheet                     # summary, violations, RUN/incident.png
    twin review runs/pump --plot 'thermal.loop.*.supply_temp_c'     # RUN/plot.png only
    twin review runs/pump --csv out.csv --channels soc_pct --from 300 --to 900

``--plot``, ``--csv`` and ``--lp`` write their file and stop (add ``--json`` for the summary
too); ``--sheet`` also prints the summary; ``--vs`` prints the comparison instead. Long work
(reading a run, plotting, exporting, comparing) shows a progress bar on a terminal.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_review_arguments(p: argparse.ArgumentParser) -> None:
    from twin.cli import parse_duration

    p.add_argument("run", help="run directory")
    p.add_argument("--vs", metavar="OTHER", default=None, help="compare with another run "
                   "(e.g. its what-if branch)")
    p.add_argument("--plot", nargs="+", metavar="CHANNEL", default=None, help="plot these "
                   "channels (globs or words; at most 40) to RUN/plot.png or --png")
    p.add_argument("--png", default=None, help="file for --plot (default RUN/plot.png)")
    p.add_argument("--sheet", action="store_true", help="write the incident sheet to "
                   "RUN/incident.png (and print the summary)")
    p.add_argument("--csv", default=None, metavar="FILE", help="export --channels to CSV")
    p.add_argument("--lp", default=None, metavar="FILE", help="export --channels as InfluxDB "
                   "line protocol")
    p.add_argument("--channels", nargs="+", default=[], help="channels to export (globs or "
                   "words; default all)")
    p.add_argument("--from", dest="t0", type=parse_duration, default=None, help="export from")
    p.add_argument("--to", dest="t1", type=parse_duration, default=None, help="export to")
    p.add_argument("--full", action="store_true", help="extremes of every channel group")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the summary and "
                   "violations as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def review_command(args: argparse.Namespace) -> int:
    from twin.review.compare import compare_runs, format_comparison
    from twin.review.export import export_csv, export_lp, select_channels
    from twin.review.plots import MAX_PLOT, incident_sheet, plot_channels
    from twin.review.summary import (
        format_summary,
        limit_violations,
        summarise_run,
        violations_as_dicts,
    )
    from twin.store import RunStore

    progress = not args.quiet
    with RunStore.open(args.run) as run:
        did = False
        if args.csv:
            n = export_csv(run, args.csv, args.channels, args.t0, args.t1, progress=progress)
            print(f"wrote {n} rows to {args.csv}")
            did = True
        if args.lp:
            n = export_lp(run, args.lp, args.channels, args.t0, args.t1, progress=progress)
            print(f"wrote {n} lines to {args.lp} (tagged run={run.meta.run_id})")
            did = True
        if args.plot:
            matched = len(select_channels(run, args.plot))
            if matched > MAX_PLOT:
                print(f"note: {matched} channels match {' '.join(args.plot)}; plotting the "
                      f"first {MAX_PLOT} (narrow the patterns to see the others)")
            out = plot_channels(run, args.plot, args.png or run.directory / "plot.png",
                                args.t0, args.t1, progress=progress)
            print(f"wrote {out}")
            did = True
        if args.sheet:
            out = incident_sheet(run, run.directory / "incident.png", progress=progress)
            print(f"wrote {out}")
        if args.vs:
            with RunStore.open(args.vs) as other:
                print(format_comparison(compare_runs(run, other, progress=progress)))
            return 0
        if did and not args.json and not args.sheet:
            return 0
        summary = summarise_run(run, progress=progress)
        violations = limit_violations(run, progress=progress)
        print(format_summary(summary, violations, full=args.full))
        if args.json:
            Path(args.json).write_text(json.dumps(
                {"summary": summary, "violations": violations_as_dicts(violations)},
                indent=1, default=str), encoding="utf-8")
    return 0


__all__ = ["add_review_arguments", "review_command"]
