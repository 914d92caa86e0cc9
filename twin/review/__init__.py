"""Review of a recorded run: summary, limit violations, comparisons, plots and exports.

    with RunStore.open("runs/pump") as run:
        print(format_summary(summarise_run(run), limit_violations(run)))
    compare_runs(RunStore.open("runs/pump"), RunStore.open("runs/pump-shed"))

Summary and violations: :mod:`.summary`; energy books' totals: :mod:`.energy`; two runs:
:mod:`.compare`; CSV and line protocol: :mod:`.export`; PNG plots and the incident sheet
(matplotlib, imported lazily): :mod:`.plots`; ``twin review``: :mod:`.cli`.
"""

from twin.review.compare import compare_runs, first_divergence, format_comparison, run_metrics
from twin.review.export import export_csv, export_lp, read_csv, select_channels
from twin.review.plots import incident_sheet, plot_channels
from twin.review.summary import Violation, format_summary, limit_violations, summarise_run

__all__ = ["Violation", "compare_runs", "export_csv", "export_lp", "first_divergence",
           "format_comparison", "format_summary", "incident_sheet", "limit_violations",
           "plot_channels", "read_csv", "run_metrics", "select_channels", "summarise_run"]
