"""Ten thousand bad frames on each kind of wire are counted by the poller's link statistics (the
``hil.<board>.*`` channels), never fatal, and the next good frame decodes, while the twin runs:

* Modbus RTU on a pty pair: bad CRC, a foreign device id, bytes that are no frame at all;
* Modbus TCP (MBAP) on loopback: garbage, a wrong unit id, an impossible MBAP length;
* the rack's ASCII line on a pty pair: bad checksums, noise without a sentence, malformed
  sentences.

Scripted boards answer (the stubs garble only randomly); the pollers poll back to back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import tty
from collections.abc import AsyncIterator

from hilkit import BOARDS, boards_twin, until

from hil.boardfile import format_sentence
from hil.modbus import mbap_frame, rtu_frame
from hil.poller import BoardPoller, ModbusPoller, make_poller
from hil.sync import HilSync
from hil.transport import PtyPair, RtuMaster, SerialBus, TcpMaster
from twin.runtime import Twin

N = 10_000


def good_pdu(request_pdu: bytes) -> bytes:
    """A zero-filled answer to a read request PDU."""
    fn, count = request_pdu[0], struct.unpack(">H", request_pdu[3:5])[0]
    n = (count + 7) // 8 if fn in (1, 2) else 2 * count
    return bytes([fn, n]) + bytes(n)


@contextlib.asynccontextmanager
async def twin_with(poller: BoardPoller, start: bool = True) -> AsyncIterator[Twin]:
    """A twin built with the shipped boards, running, with ``poller`` synced into its mirror."""
    twin = boards_twin(mode="realtime")
    sync = HilSync(twin, [poller])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(twin.run(stop)), loop.create_task(sync.run(stop))]
    if start:
        poller.start()
    try:
        yield twin
    finally:
        stop.set()
        await poller.close()
        await asyncio.gather(*tasks)


async def assert_counted_and_running(twin: Twin, poller: BoardPoller, t0: float) -> None:
    """The mirror's link channels are the poller's statistics: N errors, nothing else lost;
    the twin kept stepping."""
    name = poller.board.name
    await until(lambda: twin.plant.t_s > t0, 5.0)  # simulated time moved on meanwhile
    await until(lambda: twin.mirror.value(f"hil.{name}.errors") == poller.stats.errors, 5.0)
    assert twin.mirror.value(f"hil.{name}.errors") == N
    assert twin.mirror.value(f"hil.{name}.timeouts") == 0
    assert twin.mirror.value(f"hil.{name}.link_down") == 0
    assert dict(poller.stats.failures) == {"garbage": N}


async def test_ten_thousand_bad_rtu_answers_are_counted_by_the_poller_and_not_fatal():
    board = BOARDS["power"]
    with PtyPair() as pty:
        fd = os.open(pty.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        sent = 0

        def answer() -> None:
            nonlocal sent
            req = os.read(fd, 4096)
            good = rtu_frame(1, good_pdu(req[1:-2]))
            kind = sent % 3 if sent < N else 3
            frame = (good[:-1] + bytes([good[-1] ^ 0xFF]),  # bad CRC
                     rtu_frame(7, good[1:-2]),  # another device's answer
                     bytes([1, 0x2B, 0x99, 0x10, 0x00]),  # no Modbus frame at all
                     good)[kind]
            sent += 1
            os.write(fd, frame)

        loop = asyncio.get_running_loop()
        loop.add_reader(fd, answer)
        bus = SerialBus(pty.master_fd, gap_s=0.0)
        # back to back, no retries (each bad answer fails one poll), offline only after 5 s
        poller = ModbusPoller(board, RtuMaster(bus, 1, timeout_s=0.5, silence_s=0.0005),
                              period_s=0.0, retries=0, offline_after_s=5.0)
        try:
            async with twin_with(poller) as twin:
                t0 = twin.plant.t_s
                await until(lambda: poller.stats.ok >= len(poller.blocks), 120.0, every=0.05)
                assert poller.failing is None  # the first good poll decoded
                assert poller.values["power.bus.voltage_v"].value == 0.0
                await assert_counted_and_running(twin, poller, t0)
                await until(lambda: twin.mirror.value("hil.power.online") == 1.0, 2.0)  # next sync
        finally:
            loop.remove_reader(fd)
            os.close(fd)


async def test_ten_thousand_bad_mbap_answers_are_counted_by_the_poller_and_not_fatal():
    """Each bad answer makes the master drop the connection (its framing is lost) and connect
    again: ten thousand connections too."""
    board = BOARDS["thermal"]
    sent = 0

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        try:
            while True:
                tid, _, length, unit = struct.unpack(">HHHB", await reader.readexactly(7))
                pdu = await reader.readexactly(length - 1)
                kind = sent % 3 if sent < N else 3
                answer = (b"\x4d\x42\x41\x50\xff\xff\x00\x00\x13\x37\x00\x00",  # garbage
                          mbap_frame(tid, unit + 6, good_pdu(pdu)),  # a wrong unit id
                          struct.pack(">HHHB", tid, 0, 300, unit) + good_pdu(pdu),  # length
                          mbap_frame(tid, unit, good_pdu(pdu)))[kind]
                sent += 1
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    poller = ModbusPoller(board, TcpMaster("127.0.0.1", port, 1, timeout_s=0.5),
                          period_s=0.0, retries=0, offline_after_s=5.0)
    try:
        async with twin_with(poller) as twin:
            t0 = twin.plant.t_s
            await until(lambda: poller.stats.ok >= len(poller.blocks), 120.0, every=0.05)
            assert poller.failing is None
            assert poller.values["thermal.radiator.1.temp_c"].value == 0.0
            await assert_counted_and_running(twin, poller, t0)
            await until(lambda: twin.mirror.value("hil.thermal.online") == 1.0, 2.0)  # next sync
    finally:
        server.close()
        await server.wait_closed()


async def test_ten_thousand_bad_lines_on_the_rack_line_are_counted_and_not_fatal():
    board = BOARDS["rack"]
    with PtyPair() as pty:
        fd = os.open(pty.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        poller = make_poller(board, device=pty.master_fd)
        try:
            async with twin_with(poller, start=False) as twin:
                poller.listen()  # listen without polling: the test is the only talker
                t0 = twin.plant.t_s
                good = format_sentence(["RKRCK", "1", "1234", "1", "0"])
                bad = [good[:-4] + b"00\r\n",  # checksum
                       b"noise without a dollar\r\n",
                       b"$RKRCK,1,12*XX\r\n"]  # not a sentence
                blob = b"".join(bad[k % 3] for k in range(N)) + good
                await write_all(fd, blob)
                await until(lambda: "compute.rack.1.power_w" in poller.values, 10.0)
                assert poller.values["compute.rack.1.power_w"].value == 1234.0
                await assert_counted_and_running(twin, poller, t0)
        finally:
            os.close(fd)


async def write_all(fd: int, data: bytes) -> None:
    """Write ``data`` to a non-blocking pty as its reader drains it (it holds a few kB)."""
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view[:4096]):]
        except BlockingIOError:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_writer(fd, lambda f=ready: f.done() or f.set_result(None))
            try:
                await ready
            finally:
                loop.remove_writer(fd)
