"""The recorder: a plant's frames into a run store, at the recording rule's rate.

Rule: every channel of the catalogue, every ``every``-th plant step (``record_every_s`` /
``step_s``; 1 by default, i.e. every tick), bit for bit. Commands, events and alarm transitions
are recorded by whoever handles them, through the same :class:`~twin.store.RunStore`.

:func:`run_meta` fills the run's metadata (config text, seed, step) from a config;
``twin simulate`` hands ``RunStore.append`` to :func:`twin.simulate.run` as its sink.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.store.errors import StoreError
from twin.store.runstore import RunStore
from twin.store.schema import RunMeta

if TYPE_CHECKING:
    from twin.catalogue import Catalogue
    from twin.config import SatelliteConfig
    from twin.model.plant import Plant


def run_meta(cfg: SatelliteConfig, seed: int, step_s: float, record_every_s: float | None = None,
             origin: str = "simulated", **extra: Any) -> RunMeta:
    """Metadata for a run of ``cfg`` (a ``SatelliteConfig``): enough to re-simulate it."""
    source = str(getattr(cfg, "source", "") or "")
    text = Path(source).read_text(encoding="utf-8") if source and Path(source).is_file() else ""
    return RunMeta(satellite=cfg.satellite.name, config_text=text, config_source=source,
                   seed=seed, step_s=float(step_s),
                   record_every_s=float(record_every_s if record_every_s else step_s),
                   origin=origin, extra=extra)


class Recorder:
    """Samples a plant into a store: one frame of every channel per call to :meth:`record`."""

    def __init__(self, store: RunStore, catalogue: Catalogue) -> None:
        if len(catalogue) != len(store):
            raise StoreError(f"{store.directory}: the catalogue has {len(catalogue)} channels, "
                             f"the run records {len(store)}")
        self.store = store
        self.catalogue = catalogue

    def record(self, plant: Plant) -> np.ndarray:
        """Append the plant's current frame at its current time; returns the frame."""
        frame = self.catalogue.sample(plant)
        self.store.append(plant.t_s, frame)
        return frame
