"""Checkpoint files: a plant's :class:`~twin.model.plant.Checkpoint` on disk.

The model makes and restores checkpoints in memory; writing them is I/O, so it lives here. The
file is a pickle of the checkpoint (state, random generator, commands, faults), written to a
temporary name and renamed, so a crash never leaves half a file. Pickle executes code from the
file it reads: load only checkpoints you made.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from twin.errors import CheckpointError
from twin.model.plant import Checkpoint, Plant


def save_checkpoint(plant: Plant, path: str | Path) -> Path:
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(plant.checkpoint(), fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint file written by :func:`save_checkpoint`."""
    try:
        with open(path, "rb") as fh:
            cp = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from None
    if not isinstance(cp, Checkpoint):
        raise CheckpointError(f"{path}: not an orbital-twin checkpoint")
    return cp
