"""Line protocol made in a child process, so a batch run's plant keeps its core.

Turning a frame of the default satellite (903 channels) into line protocol costs about half a
millisecond of Python, holding the interpreter lock: a writer thread formatting in the twin's
process takes that time from the plant. A batch run (``twin simulate``, a scenario, a
re-simulation or a fork) produces frames as fast as the plant steps, so its sink hands chunks of
frames to one worker process instead and only sends and spools the text that comes back.

The worker is ``python -m twin.influx.formatter`` (a fresh interpreter: no fork of a threaded
process, and unlike ``multiprocessing``'s spawn it never re-runs the caller's main script),
talking over its stdin and stdout: length-prefixed pickles, first the sink's
:class:`~twin.influx.schema.LineSchema`, then one ``(times, frames)`` chunk per request, answered
in order by the chunk's :class:`~twin.influx.schema.FrameLines`. Only this module writes what the
worker reads, so unpickling is safe. A thread drains the worker's answers, so neither side can
block the other on a full pipe.

If the worker cannot start or dies, :class:`ProcessFormatter` says so once and the sink formats
in its own thread again: slower, never lossy.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import numpy as np

from twin.influx.schema import FrameLines, LineSchema

log = logging.getLogger("twin.influx")

CHUNK_FRAMES = 32  # frames per request to the worker: ~16 ms of work, ~230 kB of floats
_LEN = struct.Struct("<Q")
_EOF = object()


def _send(pipe: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(_LEN.pack(len(data)))
    pipe.write(data)
    pipe.flush()


def _recv(pipe: IO[bytes]) -> Any:
    head = pipe.read(_LEN.size)
    if len(head) < _LEN.size:
        return _EOF
    (n,) = _LEN.unpack(head)
    data = pipe.read(n)
    if len(data) < n:
        return _EOF
    return pickle.loads(data)  # our own parent or worker wrote it


class ProcessFormatter:
    """One worker process that turns chunks of frames into :class:`FrameLines`, in order."""

    chunk_frames = CHUNK_FRAMES

    def __init__(self, schema: LineSchema) -> None:
        self.schema = schema
        self._answers: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._proc: subprocess.Popen[bytes] | None = None
        self._failed = False
        self._ended = False  # the reader has seen the end of the worker's output

    @property
    def alive(self) -> bool:
        return not self._failed

    def submit(self, chunk: list[tuple[float, np.ndarray]]) -> bool:
        """Send ``chunk`` to the worker (started on first use); False if it is gone (then
        :meth:`result` formats the chunk here)."""
        if self._failed:
            return False
        try:
            proc = self._proc or self._start()
            assert proc.stdin is not None
            _send(proc.stdin, ([t for t, _ in chunk], np.stack([f for _, f in chunk])))
            return True
        except (OSError, ValueError, pickle.PickleError) as exc:
            self._lost(exc)
            return False

    def result(self, sent: bool, chunk: list[tuple[float, np.ndarray]]) -> list[FrameLines]:
        """The lines of the oldest chunk not yet collected (``sent`` as :meth:`submit` said)."""
        if sent and not (self._ended and self._answers.empty()):
            answer = self._answers.get()
            if answer is not _EOF:
                return answer  # type: ignore[no-any-return]
            self._ended = True
            self._lost(EOFError("the worker process ended"))
        return [self.schema.frame_lines(t, f) for t, f in chunk]

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.close()  # the worker ends at end of input
        except OSError:
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        self._reader.join(10)

    def _start(self) -> subprocess.Popen[bytes]:
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        proc = subprocess.Popen([sys.executable, "-m", "twin.influx.formatter"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self._proc = proc
        self._reader = threading.Thread(target=self._read, args=(proc,), daemon=True,
                                        name="influx-format-reader")
        self._reader.start()
        assert proc.stdin is not None
        _send(proc.stdin, self.schema)
        return proc

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        while True:
            try:
                answer = _recv(proc.stdout)
            except Exception:  # a torn pickle: the worker died mid-answer
                answer = _EOF
            self._answers.put(answer)
            if answer is _EOF:
                return

    def _lost(self, exc: BaseException) -> None:
        if not self._failed:
            log.error("influx sink: the line-protocol worker process failed (%s: %s); "
                      "formatting in the writer thread from now on", type(exc).__name__, exc)
        self._failed = True
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)


def main() -> None:
    """The worker: schema, then chunks until end of input."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    schema = _recv(inp)
    if not isinstance(schema, LineSchema):
        sys.exit("twin.influx.formatter: expected a LineSchema first")
    while (msg := _recv(inp)) is not _EOF:
        times, frames = msg
        _send(out, [schema.frame_lines(t, f) for t, f in zip(times, frames, strict=True)])


if __name__ == "__main__":
    main()
