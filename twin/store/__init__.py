"""The embedded telemetry store: one crash-safe SQLite file per recorded run.

``RUN/run.sqlite`` holds the run's metadata (config text, seed, step, parent and fork time for
what-if branches), a copy of the channel catalogue, every tick of every channel in
compressed columnar blocks (lossless; 1.8 bytes per sample on a day of the default satellite),
and the commands, events and alarm transitions. Formats: :mod:`twin.store.schema` (tables),
:mod:`twin.store.codec` (blocks), :mod:`twin.store.files` (the directory); writing, the commit
protocol and the recording rule: :mod:`twin.store.runstore`; reading: :mod:`twin.store.reader`.

    store = RunStore.create("runs/day1", catalogue, run_meta(cfg, seed, step_s))
    store.append(t_s, frame)                     # or append_block(times, frames)
    store.record_command(t_s, "ops", "set_pump_speed", {"pump": 1, "pct": 80})
    store.close()
    run = RunStore.open("runs/day1")             # read-only; also while it is being written
    times, soc = run.read_channel("power.battery.1.soc_pct", 3600, 7200)
    frame = run.read_instant(5000.0)             # every channel at the latest tick ≤ 5000 s
"""

from twin.store.errors import StoreError
from twin.store.reader import RunReader
from twin.store.recorder import Recorder, run_meta
from twin.store.runstore import RunStore, default_block_ticks
from twin.store.schema import AlarmRecord, CommandRecord, EventRecord, RunMeta

__all__ = [
    "AlarmRecord",
    "CommandRecord",
    "EventRecord",
    "Recorder",
    "RunMeta",
    "RunReader",
    "RunStore",
    "StoreError",
    "default_block_ticks",
    "run_meta",
]
