"""Logging of a flaky board, over real wires: the first failure of an outage is a warning
naming the board and the address, repeats go to debug, the recovery is logged at info with the
outage's length. The stub is killed and started again on the same pty or TCP port."""

from __future__ import annotations

import logging

import pytest
from hilkit import BOARDS, CAT, CFG, until

from firmware_stubs import make_stub
from firmware_stubs.sources import plant_source
from hil.poller import make_poller
from hil.transport import PtyPair
from twin.model.plant import Plant

LOGGER = "hil.poller"


def records(caplog, level):
    return [r for r in caplog.records if r.name == LOGGER and r.levelno == level]


@pytest.mark.parametrize("name", ["power", "thermal", "rack"])
async def test_first_failure_loud_repeats_quiet_recovery_logged(caplog, name):
    board = BOARDS[name]
    source = plant_source(Plant(CFG), CAT)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with PtyPair() as pty:
        tcp = board.protocol == "modbus_tcp"

        async def start(port: int = 0):
            kw = {"host": "127.0.0.1", "port": port} if tcp else {"device": pty.path}
            return await make_stub(board, source, noise=False, **kw).start()

        stub = await start()
        where_kw = {"host": "127.0.0.1", "port": stub.port} if tcp else {"device": pty.master_fd}
        poller = make_poller(board, **where_kw).start()
        try:
            await until(lambda: poller.link_state() == "good", 5.0)
            caplog.clear()
            await stub.close()  # the board dies
            outage = poller.stats.polls - poller.stats.ok
            await until(lambda: len(records(caplog, logging.DEBUG)) >= 2, 10.0)  # two repeats
            assert poller.stats.polls - poller.stats.ok >= outage + 3  # (and their retries)
            [loud] = records(caplog, logging.WARNING)  # one warning for the whole outage
            msg = loud.getMessage()
            assert f"board {name} ({poller.where}" in msg, msg
            if board.protocol != "ascii":  # the table and address of the request that failed
                assert "registers register 0" in msg or "bit 0" in msg, msg
            else:
                assert "RKQRY" in msg, msg
            assert "further failures logged at debug level" in msg
            assert all(f"board {name} ({poller.where}" in r.getMessage()
                       for r in records(caplog, logging.DEBUG))
            assert records(caplog, logging.INFO) == []
            stub = await start(stub.port if tcp else 0)  # the same pty, the same port
            await until(lambda: poller.link_state() == "good", 5.0)
            [back] = records(caplog, logging.INFO)
            text = back.getMessage()
            assert text.startswith(f"board {name} ({poller.where}): answering again after ")
            assert "failed polls" in text
            assert len(records(caplog, logging.WARNING)) == 1  # still one
        finally:
            await poller.close()
            await stub.close()
