"""PNG plots of chosen channels and the standard incident sheet (matplotlib, Agg backend).

matplotlib is imported only here and only when a plot is asked for; without it the error says
how to install it. The incident sheet has three panels over the whole run — power (battery
state of charge, shed level), thermal (hottest GPU, loop supply temperatures) and compute
(delivered PFLOP/s) — with faults and commands marked as vertical lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twin.errors import TwinError
from twin.store import RunReader


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise TwinError("plots need matplotlib: pip install matplotlib (or the project's "
                        "'plots' extra)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _marks(ax: Any, run: RunReader, scale: float) -> None:
    for e in run.events(kind="fault"):
        ax.axvline(e.t_s / scale, color="tab:red", lw=0.8, ls="--")
    for c in run.commands():
        ax.axvline(c.t_s / scale, color="tab:gray", lw=0.6, ls=":")


def plot_channels(run: RunReader, patterns: Sequence[str], out: str | Path,
                  t0: float | None = None, t1: float | None = None) -> Path:
    """One PNG with the chosen channels over time (one panel per unit)."""
    from twin.review.export import select_channels

    plt = _pyplot()
    chans = select_channels(run, patterns)[:40]
    units = list(dict.fromkeys(c.unit for c in chans))
    times, values = run.read_channels([c.path for c in chans], t0, t1)
    fig, axes = plt.subplots(len(units), 1, figsize=(11, 2.6 * len(units) + 0.6), sharex=True,
                             squeeze=False)
    for ax, unit in zip(axes[:, 0], units, strict=True):
        for j, c in enumerate(chans):
            if c.unit == unit:
                ax.plot(times / 3600, values[:, j], lw=0.9, label=c.path)
        ax.set_ylabel(unit or "-")
        ax.legend(fontsize=6, loc="best")
        _marks(ax, run, 3600)
    axes[-1, 0].set_xlabel("simulated time (h)")
    fig.suptitle(f"{run.directory.name}")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return Path(out)


SHEET = (("power", ["power.battery.*.soc_pct", "power.battery.soc_pct"], "%"),
         ("power (load shedding)", ["power.pcdu.shed_level"], "level"),
         ("thermal", ["compute.hottest_gpu_temp_c", "thermal.loop.*.supply_temp_c"], "°C"),
         ("compute", ["compute.pflops"], "PFLOP/s"))


def incident_sheet(run: RunReader, out: str | Path) -> Path:
    """The standard incident sheet: power, thermal and compute over the run, events marked."""
    from twin.review.export import select_channels

    plt = _pyplot()
    fig, axes = plt.subplots(len(SHEET), 1, figsize=(11, 10), sharex=True)
    for ax, (title, pats, unit) in zip(axes, SHEET, strict=True):
        try:
            chans = select_channels(run, pats)
        except TwinError:
            continue
        times, values = run.read_channels([c.path for c in chans])
        for j, c in enumerate(chans):
            ax.plot(times / 3600, values[:, j], lw=0.9, label=c.path)
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_ylabel(unit)
        ax.legend(fontsize=6, loc="best")
        _marks(ax, run, 3600)
    axes[-1].set_xlabel("simulated time (h); red dashed: faults, grey dotted: commands")
    fig.suptitle(f"incident sheet: {run.directory.name}")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return Path(out)
