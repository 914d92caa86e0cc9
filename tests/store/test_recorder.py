"""The recorder puts a real plant run into the store exactly as ``twin simulate`` sees it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _storehelp import same_bits

from twin.catalogue import build_catalogue
from twin.config import load_satellite
from twin.model.plant import Plant
from twin.simulate import run as simulate_run
from twin.simulate import run_in_memory
from twin.store import Recorder, RunStore, run_meta


@pytest.fixture(scope="module")
def cfg():
    return load_satellite().config


def test_a_simulated_run_stores_the_same_frames_as_the_in_memory_path(tmp_path, cfg):
    catalogue = build_catalogue(cfg)
    expected, _ = run_in_memory(Plant(cfg, seed=3), catalogue, 300.0, 1.0, 10.0)
    meta = run_meta(cfg, seed=3, step_s=1.0, record_every_s=10.0, scenario="nominal")
    with RunStore.create(tmp_path / "sim", catalogue, meta) as store:
        simulate_run(Plant(cfg, seed=3), catalogue, 300.0, 1.0, 10.0, store.append)
    with RunStore.open(tmp_path / "sim") as r:
        times, frames = r.read_frames()
        assert same_bits(frames, expected)
        assert same_bits(times, expected[:, catalogue["sim.time_s"].index])
        assert len(r) == len(catalogue)
        m = r.meta
    assert m.config_text == Path(cfg.source).read_text(encoding="utf-8")
    assert (m.seed, m.step_s, m.record_every_s, m.satellite) == (3, 1.0, 10.0,
                                                                 cfg.satellite.name)
    assert m.extra == {"scenario": "nominal"} and m.origin == "simulated"


def test_a_recorder_samples_every_channel_at_the_plant_time(tmp_path, cfg):
    catalogue = build_catalogue(cfg)
    plant = Plant(cfg, seed=1)
    with RunStore.create(tmp_path / "rec", catalogue) as store:
        rec = Recorder(store, catalogue)
        frames = []
        for _ in range(5):
            plant.run(2, 1.0)
            frames.append(rec.record(plant))
        assert same_bits(store.read_instant(plant.t_s), frames[-1])
        t, _ = store.read_channel("compute.pflops")
    assert same_bits(t, [2.0, 4.0, 6.0, 8.0, 10.0])
    assert np.isfinite(np.array(frames)).all()


def test_a_duration_that_is_not_whole_record_intervals_records_its_last_instant(tmp_path):
    from twin.cli import main

    assert main(["simulate", "--duration", "95s", "--out", str(tmp_path / "r"), "--quiet"]) == 0
    with RunStore.open(tmp_path / "r") as r:
        t, _ = r.read_channel("sim.time_s")
        summary = r.meta.extra["summary"]
    assert t.tolist() == [*range(0, 100, 10), 95.0]
    assert summary["duration_s"] == 95.0
