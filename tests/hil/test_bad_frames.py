"""Ten thousand bad frames — bad CRC, a foreign device id, bytes that are no frame at all, bad
checksums and lines without a sentence — are counted as errors, and the next good frame decodes.
A scripted board answers on the far side of a pty pair (the stubs garble only randomly)."""

from __future__ import annotations

import asyncio
import os
import struct
import tty

from hilkit import BOARDS

from hil.boardfile import format_sentence
from hil.modbus import LinkError, parse_response, read_request, rtu_frame
from hil.poller import make_poller
from hil.stats import LinkStats
from hil.transport import PtyPair, RtuMaster, SerialBus

N = 10_000


async def test_ten_thousand_bad_rtu_answers_are_counted_and_not_fatal():
    with PtyPair() as pty:
        fd = os.open(pty.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        sent = 0

        def answer() -> None:
            nonlocal sent
            req = os.read(fd, 4096)
            count = struct.unpack(">H", req[4:6])[0]
            good = rtu_frame(1, bytes([4, 2 * count]) + bytes(range(2 * count)))
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
        master = RtuMaster(bus, 1, timeout_s=0.5, silence_s=0.0005)
        stats = LinkStats()
        pdu = read_request(4, 0, 2)
        try:
            for _ in range(N):
                try:
                    await master.transact(pdu, "scripted board")
                except LinkError as exc:
                    stats.failure(exc.reason)
            words = parse_response(pdu, await master.transact(pdu), "scripted board")
        finally:
            loop.remove_reader(fd)
            os.close(fd)
            bus.close()
    assert stats.errors == N and stats.timeouts == 0 and dict(stats.failures) == {"garbage": N}
    assert words == [0x0001, 0x0203]


async def test_ten_thousand_bad_lines_on_the_rack_line_are_counted_and_not_fatal():
    board = BOARDS["rack"]
    with PtyPair() as pty:
        fd = os.open(pty.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        poller = make_poller(board, device=pty.master_fd)
        poller.listen()  # listen without polling: the test is the only talker
        good = format_sentence(["RKRCK", "1", "1234", "1", "0"])
        bad = [good[:-4] + b"00\r\n",  # checksum
               b"noise without a dollar\r\n",
               b"$RKRCK,1,12*XX\r\n"]  # not a sentence
        blob = b"".join(bad[k % 3] for k in range(N)) + good
        view = memoryview(blob)
        while view:  # the pty holds a few kB: write as the poller reads
            try:
                view = view[os.write(fd, view[:4096]):]
            except BlockingIOError:
                await asyncio.sleep(0.001)
        async with asyncio.timeout(10):
            while "compute.rack.1.power_w" not in poller.values:
                poller.changed.clear()
                await poller.changed.wait()
        await poller.close()
        os.close(fd)
    assert poller.stats.errors == N
    assert poller.values["compute.rack.1.power_w"].value == 1234.0
