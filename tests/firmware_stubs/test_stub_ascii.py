"""The rack controller's sentences over a pty pair: telemetry, checksums, ACK/NAK, queries."""

from __future__ import annotations

import dataclasses
import time

import pytest
from stubkit import BOARDS, ManualClock, RawPort, constant

from firmware_stubs.ascii import AsciiStub
from hil.boardfile import checksum, decode_sentence, format_sentence, parse_reply, parse_sentence

RACK = BOARDS["rack"]


def rack_stub(period_s: float = 1.0, **kw) -> AsciiStub:
    board = dataclasses.replace(RACK, link=dataclasses.replace(RACK.link,
                                                                telemetry_period_s=period_s))
    kw.setdefault("noise", False)
    kw.setdefault("sample_rate_hz", 0)
    return AsciiStub(board, kw.pop("source", None) or constant(), **kw)


async def ask(port: RawPort, words: list[str]) -> bytes:
    port.write(format_sentence(words))
    return await port.readline()


async def test_periodic_telemetry_is_one_status_sentence_then_each_rack_and_gpu():
    async with rack_stub(period_s=0.05) as stub:
        port = RawPort(stub.port)
        try:
            while not (line := await port.readline()).startswith(b"$RKSTA"):
                pass  # a cycle may have started before the port opened
            ids = [parse_sentence(line)[0]]
            for _ in range(16 + 128):
                ids.append(parse_sentence(await port.readline())[0])
        finally:
            port.close()
    assert ids == ["RKSTA"] + ["RKRCK"] * 16 + ["RKGPU"] * 128


async def test_sentences_carry_the_sensed_values_with_valid_checksums():
    src = constant({"compute.rack.4.gpu.2.temp_c": 71.26, "compute.rack.4.gpu.2.state": 3.0})
    async with rack_stub(source=src) as stub:
        port = RawPort(stub.port)
        try:
            line = await ask(port, ["RKQRY", "RKGPU", "4", "2"])
            status = await ask(port, ["RKQRY", "RKSTA"])
        finally:
            port.close()
    sid, values = decode_sentence(RACK, line)
    assert sid == "RKGPU"
    assert values["compute.rack.4.gpu.2.temp_c"].value == 71.3
    assert values["compute.rack.4.gpu.2.state"].value == 3
    body = line[1:line.index(b"*")].decode()
    assert line.endswith(f"*{checksum(body)}\r\n".encode())
    _, st = decode_sentence(RACK, status)
    assert st["status.fw_version"].value == 0x0300 and st["status.rx_frames"].value == 2


async def test_good_commands_are_acknowledged_delivered_and_read_back():
    got = []
    async with rack_stub(on_command=lambda p, v: got.append((p, v))) as stub:
        port = RawPort(stub.port)
        try:
            ack = parse_reply(RACK, await ask(port, ["RKCMD", "CAP", "3", "5000"]))
            ack2 = parse_reply(RACK, await ask(port, ["RKCMD", "ENABLE", "16", "0"]))
            _, rack3 = decode_sentence(RACK, await ask(port, ["RKQRY", "RKRCK", "3"]))
        finally:
            port.close()
    assert (ack.ok, ack.name, ack.keys, ack.detail) == (True, "CAP", (3,), "5000")
    assert ack2.ok and ack2.keys == (16,)
    assert got == [("compute.rack.3.power_cap_w", 5000.0), ("compute.rack.16.enabled", 0.0)]
    assert rack3["compute.rack.3.power_cap_w"].value == 5000


@pytest.mark.parametrize(("line", "name", "reason"), [
    (b"$RKCMD,CAP,3,5000*00\r\n", "?", "CHECKSUM"),
    (format_sentence(["RKCMD", "BOOST", "3", "1"]), "BOOST", "UNKNOWN"),
    (format_sentence(["RKCMD", "CAP", "17", "1000"]), "CAP", "INDEX"),
    (format_sentence(["RKCMD", "CAP", "3", "99999"]), "CAP", "RANGE"),
    (format_sentence(["RKCMD", "ENABLE", "3", "0.5"]), "ENABLE", "RANGE"),
    (format_sentence(["RKCMD", "CAP", "3", "lots"]), "CAP", "FORMAT"),
    (format_sentence(["RKCMD", "CAP", "3"]), "CAP", "FORMAT"),
    (format_sentence(["RKHELLO"]), "RKHELLO", "UNKNOWN"),
    (format_sentence(["RKQRY", "RKXYZ"]), "QRY", "UNKNOWN"),
])
async def test_bad_commands_are_refused_with_a_reason(line, name, reason):
    got = []
    async with rack_stub(on_command=lambda p, v: got.append(p)) as stub:
        port = RawPort(stub.port)
        try:
            port.write(line)
            nak = parse_reply(RACK, await port.readline())
        finally:
            port.close()
    assert (nak.ok, nak.name, nak.detail) == (False, name, reason)
    assert got == []
    assert stub.counters["exceptions"] == 1
    assert stub.counters["frame_errors"] == (1 if reason == "CHECKSUM" else 0)


async def test_a_command_the_plant_refuses_is_nak_failed():
    def refuse(path, value):
        raise RuntimeError("no")

    async with rack_stub(on_command=refuse) as stub:
        port = RawPort(stub.port)
        try:
            nak = parse_reply(RACK, await ask(port, ["RKCMD", "ENABLE", "2", "0"]))
        finally:
            port.close()
    assert (nak.ok, nak.detail) == (False, "FAILED")


async def test_line_noise_before_a_sentence_is_counted_and_the_sentence_still_served():
    async with rack_stub() as stub:
        port = RawPort(stub.port)
        try:
            port.write(b"\x00\xff#noise" + format_sentence(["RKQRY", "RKSTA"]))
            line = await port.readline()
        finally:
            port.close()
    assert parse_sentence(line)[0] == "RKSTA"
    assert stub.counters["frame_errors"] == 1


async def test_a_slow_fault_holds_the_unsolicited_telemetry_back_by_its_delay():
    """Cycles taken after the fault (the board's clock jumps then: their uptime tells them
    apart from cycles already on their way) arrive ``delay_s`` late."""
    clock = ManualClock(0.0)
    delay = 0.4
    async with rack_stub(period_s=0.05, clock=clock) as stub:
        port = RawPort(stub.port)
        try:
            while not (await port.readline()).startswith(b"$RKSTA"):
                pass
            clock.t = 1000.0  # uptime 1000 s in every cycle taken from now on
            await stub.inject_fault("slow", params={"delay_s": delay})
            t0 = time.monotonic()
            while True:
                words = parse_sentence(await port.readline(timeout=5.0))
                if words[0] == "RKSTA" and int(words[2]) >= 1000:
                    break
            late = time.monotonic() - t0
            await stub.clear_fault(kind="slow")
            clock.t = 2000.0
            t1 = time.monotonic()
            while True:
                words = parse_sentence(await port.readline(timeout=5.0))
                if words[0] == "RKSTA" and int(words[2]) >= 2000:
                    break
            prompt = time.monotonic() - t1
        finally:
            port.close()
    assert late >= delay  # the cycle taken after the fault waited out its delay
    assert prompt < late  # cleared: the next cycle no longer waits
