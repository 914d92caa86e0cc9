"""All three stubs sensing a real Plant: over their wires they report its truth within the
quantisation each board file states (``Field.max_error``, the *quantisation ±* column of
docs/boards.md), with the plant's time stamp; their commands change the plant's inputs."""

from __future__ import annotations

import numpy as np
import pytest
from stubkit import BOARDS, CAT, CFG, RawPort, client

from firmware_stubs import make_stub
from firmware_stubs.core import BoardCore
from firmware_stubs.sources import plant_command_sink, plant_source
from hil.boardfile import Flag, decode_block, decode_sentence, format_sentence
from twin.model.plant import Plant


@pytest.fixture(scope="module")
def plant():
    p = Plant(CFG)
    p.run(600, 1.0)  # ten minutes in: loops, GPUs and battery have moved off their start
    return p


def truth(plant, path):
    return float(CAT.sample(plant)[CAT[path].index])


async def read_modbus(stub, board):
    out = {}
    async with client(stub) as c:
        for table, read in (("input_registers", c.read_input_registers),
                            ("holding_registers", c.read_holding_registers)):
            n = board.extent(table)
            for start in range(0, n, 125):
                r = await read(start, count=min(125, n - start), device_id=1)
                assert not r.isError()
                out.update(decode_block(board, table, start, r.registers))
        for table, read in (("coils", c.read_coils), ("discrete_inputs", c.read_discrete_inputs)):
            n = board.extent(table)
            if n:
                r = await read(0, count=n, device_id=1)
                out.update(decode_block(board, table, 0, [int(b) for b in r.bits[:n]]))
    return out


@pytest.mark.parametrize("name", ["power", "thermal"])
async def test_modbus_boards_report_the_plant_within_their_quantisation(plant, name):
    board = BOARDS[name]
    async with make_stub(board, plant_source(plant, CAT), noise=False, sample_rate_hz=0) as stub:
        got = await read_modbus(stub, board)
    frame = CAT.sample(plant)
    for f in board.fields:
        if f.kind != "channel":
            continue
        want = float(frame[CAT[f.key].index])
        if f.states is not None:
            want = float(want != f.states[0])
            assert got[f.key].raw == want, f.key
            continue
        assert abs(got[f.key].value - want) <= f.max_error + 1e-9, (f.key, got[f.key], want)
        assert got[f.key].flag == Flag.OK, f.key
    assert got["status.sample_time_s"].value == int(plant.t_s)


async def test_the_rack_controller_reports_every_gpu_within_its_quantisation(plant):
    board = BOARDS["rack"]
    async with make_stub(board, plant_source(plant, CAT), noise=False, sample_rate_hz=0) as stub:
        port = RawPort(stub.port)
        try:
            port.write(format_sentence(["RKQRY", "ALL"]))
            lines = [await port.readline() for _ in range(1 + 16 + 128)]
        finally:
            port.close()
    fields = {f.key: f for f in board.all_fields()}
    seen = 0
    for line in lines:
        _, values = decode_sentence(board, line)
        for key, d in values.items():
            if key.startswith("status."):
                continue
            assert abs(d.value - truth(plant, key)) <= fields[key].max_error + 1e-9, key
            seen += 1
    assert seen == 16 * 3 + 128 * 5


async def test_commands_through_the_boards_move_the_plant(plant):
    p = plant.fork()
    sink = plant_command_sink(p)
    src = plant_source(p, CAT)
    async with make_stub(BOARDS["thermal"], src, on_command=sink, noise=False,
                         sample_rate_hz=0) as thermal, client(thermal) as c:
        assert not (await c.write_register(0, 6000, device_id=1)).isError()  # pump 1: 60 %
        thermal.sample()  # the plant has not stepped: the board reads the command back
        assert (await c.read_input_registers(88, count=1, device_id=1)).registers == [6000]
        assert not (await c.write_register(17, 0, device_id=1)).isError()  # stow panel 2
    async with make_stub(BOARDS["power"], src, on_command=sink, noise=False,
                         sample_rate_hz=0) as power, client(power) as c:
        assert not (await c.write_coil(4, False, device_id=1)).isError()  # rack 5 off
    assert p.inputs.pump_speed[0] == pytest.approx(0.6)
    assert not p.inputs.panel_deploy[1] and not p.inputs.rack_enabled[4]
    p.run(30, 1.0)
    assert truth(p, "thermal.loop.1.flow_kg_s") == pytest.approx(0.6 * 2.5, rel=0.05)
    assert truth(p, "compute.rack.5.power_w") == 0.0


def test_noise_is_seeded_and_has_the_stated_sigma(plant):
    board = BOARDS["thermal"]
    runs = []
    for _ in range(2):
        core = BoardCore(board, plant_source(plant, CAT), seed=5)
        samples = []
        for _ in range(400):
            core.sample()
            samples.append(core.values["thermal.radiator.3.temp_c"])
        runs.append(np.array(samples))
    assert np.array_equal(runs[0], runs[1])
    sigma = next(f.noise for f in board.fields if f.key == "thermal.radiator.3.temp_c")
    assert np.std(runs[0]) == pytest.approx(sigma, rel=0.15)  # 400 samples: ±7 % (1σ)
    assert np.mean(runs[0]) == pytest.approx(truth(plant, "thermal.radiator.3.temp_c"),
                                             abs=4 * sigma / 20)
    other = BoardCore(board, plant_source(plant, CAT), seed=6)
    other.sample()
    assert other.values["thermal.radiator.3.temp_c"] != runs[0][0]
