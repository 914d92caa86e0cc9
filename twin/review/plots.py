"""PNG plots of chosen channels and the standard incident sheet (matplotlib, Agg backend).

matplotlib is imported only here and only when a plot is asked for; without it the error says
how to install it. Every plot shades the eclipses (``orbit.sunlit`` = 0) and marks the faults
(red dashed lines, labelled at the top) and the commands (grey dotted lines); the time axis is in
minutes for runs up to 3 h, in hours beyond.

The incident sheet has five panels over the whole run: power (array and bus load, kW), battery
and bus (state of charge, %; bus voltage, V, right axis), load shedding (level), thermal
(hottest GPU, loop supply temperatures) and compute (delivered PFLOP/s; GPUs failed or shut
down, right axis). Each alarm raised (a transition to a worse state, from the run's alarms
table) is a triangle at the top of the panel of its subsystem: orange for yellow, red for red.

:func:`plot_channels` plots at most :data:`MAX_PLOT` channels, one panel per unit; the
caller can tell how many matched with :func:`twin.review.export.select_channels` (``twin
review --plot`` says so when it cuts); its alarm marks are those of the plotted channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from twin.errors import TwinError
from twin.store import RunReader

MAX_PLOT = 40
GROUP = 4  # numbered channels drawn as one grey group beside their total on the sheet
DPI = 110
RANK = {"ok": 0, "yellow": 1, "red": 2}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise TwinError("plots need matplotlib: pip install matplotlib (or the project's "
                        "'plots' extra)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


class _Axis:
    """The time axis of one run: scale (s per unit) and label."""

    def __init__(self, run: RunReader) -> None:
        span = run.time_range() or (0.0, 0.0)
        self.scale, self.unit = (60.0, "min") if span[1] - span[0] <= 3 * 3600 else (3600.0, "h")
        self.label = f"simulated time ({self.unit})"


class _Marks:
    """Eclipses, faults, commands and alarm onsets of one run, read once, drawn on any panel."""

    def __init__(self, run: RunReader, axis: _Axis) -> None:
        self.axis = axis
        self.eclipses: list[tuple[float, float]] = []
        paths = {c.path for c in run.channels()}
        if "orbit.sunlit" in paths:
            t, sun = run.read_channel("orbit.sunlit")
            dark = sun < 0.5
            edges = np.flatnonzero(np.diff(dark.astype(np.int8)))
            starts = [0, *(edges + 1)]
            for i, s in enumerate(starts):
                end = starts[i + 1] if i + 1 < len(starts) else t.size
                if dark[s]:
                    self.eclipses.append((float(t[s]), float(t[min(end, t.size - 1)])))
        self.faults = [(e.t_s, _short_fault(e.message)) for e in run.events(kind="fault")]
        self.commands = [c.t_s for c in run.commands() if c.user != "fork"]
        self.alarms: list[tuple[float, str, str]] = []  # time, channel, level
        for a in run.alarms():
            new, old = a.state.split("-")[0], a.previous.split("-")[0]
            if RANK.get(new, 0) > RANK.get(old, 0):
                self.alarms.append((a.t_s, a.source, new))

    def draw(self, ax: Any, subsystem: str = "", label_faults: bool = False,
             paths: Sequence[str] = ()) -> None:
        """Shade, line and mark ``ax``: the alarms of channels of ``subsystem`` or in
        ``paths``."""
        s = self.axis.scale
        for t0, t1 in self.eclipses:
            ax.axvspan(t0 / s, t1 / s, color="0.85", lw=0, zorder=0)
        for t, text in self.faults:
            ax.axvline(t / s, color="tab:red", lw=1.0, ls="--", zorder=1)
            if label_faults:
                ax.annotate(text, (t / s, 1.0), xycoords=("data", "axes fraction"),
                            xytext=(3, -3), textcoords="offset points", fontsize=7,
                            color="tab:red", va="top", rotation=0)
        for t in self.commands:
            ax.axvline(t / s, color="0.45", lw=0.8, ls=":", zorder=1)
        for level, color in (("yellow", "orange"), ("red", "red")):
            ts = [t / s for t, path, lv in self.alarms if lv == level and (
                path in paths or (subsystem and path.split(".")[0] == subsystem))]
            if ts:
                ax.plot(ts, [0.985] * len(ts), "v", color=color, ms=5, mec="k", mew=0.3,
                        transform=ax.get_xaxis_transform(), clip_on=False, zorder=3)


def _short_fault(message: str) -> str:
    """'fault 1 pump_failure on thermal.pump.2 injected' → 'F1 pump_failure thermal.pump.2'."""
    parts = message.split()
    if len(parts) >= 5 and parts[0] == "fault" and parts[3] == "on":
        return f"F{parts[1]} {parts[2]} {parts[4]}" + (" cleared" if "clear" in message else "")
    return message[:40]


def _legend(fig: Any, marks: _Marks) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    items = [Patch(color="0.85", label="eclipse"),
             Line2D([], [], color="tab:red", ls="--", label="fault"),
             Line2D([], [], color="0.45", ls=":", label="command"),
             Line2D([], [], marker="v", color="orange", ls="", mec="k", mew=0.3,
                    label="yellow alarm raised"),
             Line2D([], [], marker="v", color="red", ls="", mec="k", mew=0.3,
                    label="red alarm raised")]
    fig.legend(handles=items, loc="lower center", ncol=len(items), fontsize=8, frameon=False)


def plot_channels(run: RunReader, patterns: Sequence[str], out: str | Path,
                  t0: float | None = None, t1: float | None = None,
                  progress: bool = False) -> Path:
    """One PNG with the chosen channels over time (one panel per unit; the first
    :data:`MAX_PLOT` of them, the title says so when more matched)."""
    from twin.review.export import iter_channels, select_channels
    from twin.simulate import ProgressBar

    plt = _pyplot()
    matched = select_channels(run, patterns)
    chans = matched[:MAX_PLOT]
    units = list(dict.fromkeys(c.unit for c in chans))
    parts = list(iter_channels(run, [c.path for c in chans], t0, t1, progress=progress))
    times = np.concatenate([p[0] for p in parts])
    values = np.vstack([p[1] for p in parts])
    axis = _Axis(run)
    marks = _Marks(run, axis)
    per = [[j for j, c in enumerate(chans) if c.unit == u] for u in units]
    heights = [2.2 + 0.12 * max(0, len(js) - 6) for js in per]
    fig, axes = plt.subplots(len(units), 1, figsize=(12, sum(heights) + 1.2), sharex=True,
                             squeeze=False, gridspec_kw={"height_ratios": heights})
    bar = ProgressBar(len(units), enabled=progress, what="panels")
    for n, (ax, unit, js) in enumerate(zip(axes[:, 0], units, per, strict=True)):
        for j in js:
            ax.plot(times / axis.scale, values[:, j], lw=1.0, label=chans[j].path)
        ax.set_ylabel(unit or "-")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
                  ncol=1 if len(js) <= 14 else 2, frameon=False)
        marks.draw(ax, label_faults=n == 0, paths=[chans[j].path for j in js])
        bar.update(n + 1)
    bar.close()
    axes[-1, 0].set_xlabel(axis.label)
    cut = f" — the first {len(chans)} of {len(matched)} matching channels" \
        if len(matched) > len(chans) else ""
    fig.suptitle(f"{run.directory.name}{cut}", fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    _legend(fig, marks)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return Path(out)


# panel: title, left channels (globs), left unit and scale, right channels, right unit, subsystem
SHEET = (
    ("power", ["power.array.power_w", "power.bus.load_w"], "kW", 1e-3, [], "", "power"),
    ("battery and bus", ["power.battery.soc_pct", "power.battery.*.soc_pct"], "SOC (%)", 1.0,
     ["power.bus.voltage_v"], "bus (V)", "power"),
    ("load shedding", ["power.pcdu.shed_level", "power.pcdu.shed_level_cmd"], "level", 1.0,
     [], "", "power"),
    ("thermal", ["compute.hottest_gpu_temp_c", "thermal.loop.*.supply_temp_c"], "°C", 1.0,
     [], "", "thermal"),
    ("compute", ["compute.pflops"], "PFLOP/s", 1.0, ["compute.gpus_failed"],
     "GPUs failed/shut down", "compute"),
)


def incident_sheet(run: RunReader, out: str | Path, progress: bool = False) -> Path:
    """The standard incident sheet (see the module docstring)."""
    from twin.simulate import ProgressBar

    plt = _pyplot()
    axis = _Axis(run)
    marks = _Marks(run, axis)
    fig, axes = plt.subplots(len(SHEET), 1, figsize=(12, 14), sharex=True,
                             gridspec_kw={"height_ratios": [3, 3, 1.6, 3, 3]})
    bar = ProgressBar(len(SHEET), enabled=progress, what="panels")
    for n, (ax, (title, left, unit, scale, right, runit, sub)) in enumerate(
            zip(axes, SHEET, strict=True)):
        handles = _draw(ax, run, left, scale, axis, step=title == "load shedding")
        if right:
            ax2 = ax.twinx()
            handles += _draw(ax2, run, right, 1.0, axis, colors=["k"], ls="--")
            ax2.set_ylabel(runit)
            if title == "compute":  # a count: whole numbers, from 0
                from matplotlib.ticker import MaxNLocator

                ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
                ax2.set_ylim(-0.5, max(ax2.get_ylim()[1], 1.5))
        ax.set_title(title, fontsize=10, loc="left", fontweight="bold")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        if title == "load shedding":
            ax.set_ylim(-0.3, 4.5)
            ax.set_yticks(range(5))
        if handles:
            ax.legend(handles=handles, fontsize=7, loc="upper left",
                      bbox_to_anchor=(1.06 if right else 1.01, 1.0), borderaxespad=0,
                      frameon=False)
        marks.draw(ax, sub, label_faults=n == 0)
        bar.update(n + 1)
    bar.close()
    axes[-1].set_xlabel(axis.label)
    fig.suptitle(f"incident sheet: {run.directory.name}", fontsize=12)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    _legend(fig, marks)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return Path(out)


def _draw(ax: Any, run: RunReader, patterns: list[str], scale: float, axis: _Axis,
          colors: Sequence[str] = (), ls: str = "-", step: bool = False) -> list[Any]:
    """Plot the channels matching ``patterns`` (none: nothing); returns the legend handles.
    :data:`GROUP` or more numbered members beside their total (``power.battery.*.soc_pct``
    beside ``power.battery.soc_pct``) are drawn thin, grey and named once."""
    from twin.review.export import select_channels

    try:
        chans = select_channels(run, patterns)
    except TwinError:
        return []
    times, values = run.read_channels([c.path for c in chans])
    handles = []
    members = [c for c in chans if any(p.isdigit() for p in c.path.split("."))]
    grouped = len(members) >= GROUP and len(members) < len(chans)
    for j, c in enumerate(chans):
        kw: dict[str, Any] = {"ls": ls}
        if colors:
            kw["color"] = colors[j % len(colors)]
        if grouped and c in members:
            kw.update(lw=0.7, alpha=0.7, color="0.55")
            label = "_"  # named once, as the group
            if c is members[0]:
                label = ".".join("N" if p.isdigit() else p for p in c.path.split("."))
        else:
            kw["lw"] = 1.4 if grouped else 1.1
            label = c.path
        x, y = times / axis.scale, values[:, j] * scale
        (h,) = ax.step(x, y, where="post", label=label, **kw) if step else \
            ax.plot(x, y, label=label, **kw)
        if not label.startswith("_"):
            handles.append(h)
    return handles
